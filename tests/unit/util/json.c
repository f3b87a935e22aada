#include "harness.h"
#include "util/util.h"

TEST(jsonw_nested_compact)
{
    hark_buf b = HARK_BUF_INIT;
    hark_jsonw w;
    hark_jsonw_init(&w, &b, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "a");
    hark_jsonw_int(&w, -3);
    hark_jsonw_key(&w, "b");
    hark_jsonw_array(&w);
    hark_jsonw_fixed(&w, 1.5, 2);
    hark_jsonw_str(&w, "x\"y\n");
    hark_jsonw_object(&w);
    hark_jsonw_close(&w);
    hark_jsonw_array(&w);
    hark_jsonw_close(&w);
    hark_jsonw_null(&w);
    hark_jsonw_bool(&w, 1);
    hark_jsonw_close(&w);
    hark_jsonw_close(&w);
    ASSERT_OK(hark_jsonw_end(&w));
    ASSERT_STREQ(b.ptr, "{\"a\":-3,\"b\":[1.50,\"x\\\"y\\n\",{},[],null,true]}");
    hark_buf_dispose(&b);
}

TEST(jsonw_pretty_indents)
{
    hark_buf b = HARK_BUF_INIT;
    hark_jsonw w;
    hark_jsonw_init(&w, &b, 1);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "k");
    hark_jsonw_array(&w);
    hark_jsonw_int(&w, 1);
    hark_jsonw_int(&w, 2);
    hark_jsonw_close(&w);
    hark_jsonw_close(&w);
    ASSERT_OK(hark_jsonw_end(&w));
    ASSERT_STREQ(b.ptr, "{\n  \"k\": [\n    1,\n    2\n  ]\n}");
    hark_buf_dispose(&b);
}

TEST(json_escape_keeps_utf8_and_escapes_invalid_bytes)
{
    hark_buf b = HARK_BUF_INIT;
    const char s[] = "caf\xc3\xa9 \xe2\x82\xac \xff\xc3 \x01";
    ASSERT_OK(hark_json_escape(&b, s, sizeof(s) - 1));
    ASSERT_STREQ(b.ptr, "\"caf\xc3\xa9 \xe2\x82\xac \\u00ff\\u00c3 \\u0001\"");
    hark_buf_dispose(&b);
}

TEST(jsonw_fixed_has_no_negative_zero_and_nan_is_null)
{
    hark_buf b = HARK_BUF_INIT;
    hark_jsonw w;
    hark_jsonw_init(&w, &b, 0);
    hark_jsonw_array(&w);
    hark_jsonw_fixed(&w, -0.0001, 3);
    hark_jsonw_fixed(&w, NAN, 3);
    hark_jsonw_num(&w, 0.1);
    hark_jsonw_close(&w);
    ASSERT_OK(hark_jsonw_end(&w));
    ASSERT_STREQ(b.ptr, "[0.000,null,0.1]");
    hark_buf_dispose(&b);
}

TEST(jsonw_unbalanced_is_an_error)
{
    hark_buf b = HARK_BUF_INIT;
    hark_jsonw w;
    hark_jsonw_init(&w, &b, 0);
    hark_jsonw_object(&w);
    ASSERT_ERR(hark_jsonw_end(&w), HARK_EINVAL);
    hark_buf_dispose(&b);
}
