#include "harness.h"
#include "util/util.h"

TEST(buf_appends_and_terminates)
{
    hark_buf b = HARK_BUF_INIT;
    ASSERT_OK(hark_buf_puts(&b, "hello"));
    ASSERT_OK(hark_buf_printf(&b, " %d", 42));
    ASSERT_EQ(b.len, 8);
    ASSERT_STREQ(b.ptr, "hello 42");
    hark_buf_clear(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.ptr, "");
    hark_buf_dispose(&b);
    ASSERT(b.ptr == NULL);
}

TEST(buf_grows_across_many_doublings)
{
    hark_buf b = HARK_BUF_INIT;
    int i;
    for (i = 0; i < 100000; i++)
        ASSERT_OK(hark_buf_putc(&b, (char)('a' + i % 26)));
    ASSERT_EQ(b.len, 100000);
    ASSERT_EQ(b.ptr[99999], 'a' + 99999 % 26);
    ASSERT_EQ(b.ptr[100000], 0);
    hark_buf_dispose(&b);
}

TEST(buf_cap_is_enforced)
{
    hark_buf b;
    hark_buf_init(&b, 10);
    ASSERT_OK(hark_buf_puts(&b, "0123456789"));
    ASSERT_ERR(hark_buf_putc(&b, 'x'), HARK_ETOOBIG);
    ASSERT_EQ(b.len, 10);
    ASSERT_CONTAINS(hark_error_last(), "limit");
    hark_buf_dispose(&b);
}

TEST(buf_detach_hands_over_the_string)
{
    hark_buf b = HARK_BUF_INIT;
    char *s;
    s = hark_buf_detach(&b);
    ASSERT_STREQ(s, "");
    hark__free(s);
    ASSERT_OK(hark_buf_puts(&b, "abc"));
    s = hark_buf_detach(&b);
    ASSERT_STREQ(s, "abc");
    ASSERT(b.ptr == NULL);
    hark__free(s);
}

TEST(errors_have_names_and_messages)
{
    ASSERT_STREQ(hark_err_name(HARK_EDECODE), "EDECODE");
    ASSERT_STREQ(hark_strerror(HARK_ENOAUDIO), "no audio stream");
    ASSERT_STREQ(hark_strerror(12345), "unknown error");
    ASSERT_EQ(hark_error_set(HARK_EIO, "x.wav: %s", "cannot read"), HARK_EIO);
    ASSERT_STREQ(hark_error_last(), "x.wav: cannot read");
    ASSERT_EQ(hark_error_last_code(), HARK_EIO);
    hark_error_prefix("batch");
    ASSERT_STREQ(hark_error_last(), "batch: x.wav: cannot read");
    hark_error_clear();
    ASSERT_STREQ(hark_error_last(), "");
}

TEST(trim_and_strcasecmp)
{
    size_t len = 7;
    const char *s = hark__trim("  ab c\n", &len);
    ASSERT_EQ(len, 4);
    ASSERT(memcmp(s, "ab c", 4) == 0);
    ASSERT_EQ(hark__strcasecmp("SRT", "srt"), 0);
    ASSERT(hark__strcasecmp("a", "b") < 0);
}

TEST(alloc_failure_injection_hits_the_nth_allocation)
{
    void *a, *b, *c;
    hark__alloc_fail_at(2);
    a = hark__malloc(8);
    b = hark__malloc(8);
    c = hark__malloc(8);
    hark__alloc_fail_at(0);
    ASSERT(a != NULL);
    ASSERT(b == NULL);
    ASSERT(c != NULL);
    hark__free(a);
    hark__free(c);
}
