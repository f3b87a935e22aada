/*
 * models_catalog.c: the built-in table of downloadable Whisper ggml models.
 *
 * Names: whisper.cpp's models/download-ggml-model.sh (ggml-org/whisper.cpp,
 * 2025: tiny ... large-v3-turbo-q8_0, small.en-tdrz), plus the four
 * English-only q8_0 files the same Hugging Face repository also hosts
 * (tiny.en-q8_0, base.en-q8_0, small.en-q8_0, medium.en-q8_0), which
 * hark__model_default already prefers.
 *
 * Checksums and sizes, never invented; an entry without a source has none:
 * - sha1: whisper.cpp models/README.md, table "Available models", column
 *   "SHA" (40 hex digits: SHA-1 of the whole file), at whisper.cpp commit
 *   1126d80632d8ace91f5393bcf8f15f056cc2bc20. Published there for the 16
 *   models listed; the quantised q5_1/q8_0 files (and medium*-q5_0) have
 *   none.
 * - size, sha256: the Hugging Face model API for ggerganov/whisper.cpp at
 *   revision 5359861c739e955e79d9a303bcbc70fb988958b1, fields "size" and
 *   "lfs.sha256" (the LFS object id, which is the SHA-256 of the file
 *   content), as captured verbatim in public repositories' tests, and
 *   cross-checked against two further independently published tables (all
 *   agree byte for byte). small.en-tdrz: akashmjn/tinydiarize-whisper.cpp at
 *   revision d44ba793fc67e509623a88a409723311fa677744, likewise corroborated.
 * A pull checks the size and the SHA-256, which pins the file completely;
 * SHA-1 is checked only for a file whose SHA-256 is unknown (none here, but
 * possible through hark_models_pull_options.sha1), since hashing both
 * doubles the verification time (bench/bench_models.c). The SHA-1 values
 * are kept so `hark models list` can show what whisper.cpp publishes.
 *
 * Invariants: names are unique and valid model names; the table order is
 * the order `hark models list` shows (by family, plain before quantised).
 */
#include <string.h>

#include "models.h"
#include "../util/util.h"

#define HF   "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-"
#define TDRZ "https://huggingface.co/akashmjn/tinydiarize-whisper.cpp/resolve/main/ggml-"

/* M(name, family, quant, english_only, size, sha1, sha256, url_prefix) */
#define M(n, fam, q, en, size, sha1, sha256, pfx)                                                  \
    {                                                                                              \
        n, fam, q, en, size, sha1, sha256, pfx n ".bin"                                            \
    }

static const hark_model_info catalog[] = {
    M("tiny", "tiny", "f16", 0, 77691713u, "bd577a113a864445d4c299885e0cb97d4ba92b5f",
      "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21", HF),
    M("tiny.en", "tiny", "f16", 1, 77704715u, "c78c86eb1a8faa21b369bcd33207cc90d64ae9df",
      "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f", HF),
    M("tiny-q5_1", "tiny", "q5_1", 0, 32152673u, NULL,
      "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7", HF),
    M("tiny.en-q5_1", "tiny", "q5_1", 1, 32166155u, NULL,
      "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b", HF),
    M("tiny-q8_0", "tiny", "q8_0", 0, 43537433u, NULL,
      "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca", HF),
    M("tiny.en-q8_0", "tiny", "q8_0", 1, 43550795u, NULL,
      "5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94", HF),

    M("base", "base", "f16", 0, 147951465u, "465707469ff3a37a2b9b8d8f89f2f99de7299dac",
      "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe", HF),
    M("base.en", "base", "f16", 1, 147964211u, "137c40403d78fd54d454da0f9bd998f78703390c",
      "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002", HF),
    M("base-q5_1", "base", "q5_1", 0, 59707625u, NULL,
      "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898", HF),
    M("base.en-q5_1", "base", "q5_1", 1, 59721011u, NULL,
      "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f", HF),
    M("base-q8_0", "base", "q8_0", 0, 81768585u, NULL,
      "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9", HF),
    M("base.en-q8_0", "base", "q8_0", 1, 81781811u, NULL,
      "a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e", HF),

    M("small", "small", "f16", 0, 487601967u, "55356645c2b361a969dfd0ef2c5a50d530afd8d5",
      "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b", HF),
    M("small.en", "small", "f16", 1, 487614201u, "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022",
      "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d", HF),
    M("small.en-tdrz", "small", "f16", 1, 487614184u, "b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1",
      "ceac3ec06d1d98ef71aec665283564631055fd6129b79d8e1be4f9cc33cc54b4", TDRZ),
    M("small-q5_1", "small", "q5_1", 0, 190085487u, NULL,
      "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb", HF),
    M("small.en-q5_1", "small", "q5_1", 1, 190098681u, NULL,
      "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30", HF),
    M("small-q8_0", "small", "q8_0", 0, 264464607u, NULL,
      "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f", HF),
    M("small.en-q8_0", "small", "q8_0", 1, 264477561u, NULL,
      "67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067", HF),

    M("medium", "medium", "f16", 0, 1533763059u, "fd9727b6e1217c2f614f9b698455c4ffd82463b4",
      "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208", HF),
    M("medium.en", "medium", "f16", 1, 1533774781u, "8c30f0e44ce9560643ebd10bbe50cd20eafd3723",
      "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356", HF),
    M("medium-q5_0", "medium", "q5_0", 0, 539212467u, NULL,
      "19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f", HF),
    M("medium.en-q5_0", "medium", "q5_0", 1, 539225533u, NULL,
      "76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0", HF),
    M("medium-q8_0", "medium", "q8_0", 0, 823369779u, NULL,
      "42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502", HF),
    M("medium.en-q8_0", "medium", "q8_0", 1, 823382461u, NULL,
      "43fa2cd084de5a04399a896a9a7a786064e221365c01700cea4666005218f11c", HF),

    M("large-v1", "large-v1", "f16", 0, 3094623691u, "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299",
      "7d99f41a10525d0206bddadd86760181fa920438b6b33237e3118ff6c83bb53d", HF),
    M("large-v2", "large-v2", "f16", 0, 3094623691u, "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6",
      "9a423fe4d40c82774b6af34115b8b935f34152246eb19e80e376071d3f999487", HF),
    M("large-v2-q5_0", "large-v2", "q5_0", 0, 1080732091u,
      "00e39f2196344e901b3a2bd5814807a769bd1630",
      "3a214837221e4530dbc1fe8d734f302af393eb30bd0ed046042ebf4baf70f6f2", HF),
    M("large-v2-q8_0", "large-v2", "q8_0", 0, 1656129691u, NULL,
      "fef54e6d898246a65c8285bfa83bd1807e27fadf54d5d4e81754c47634737e8c", HF),
    M("large-v3", "large-v3", "f16", 0, 3095033483u, "ad82bf6a9043ceed055076d0fd39f5f186ff8062",
      "64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2", HF),
    M("large-v3-q5_0", "large-v3", "q5_0", 0, 1081140203u,
      "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de",
      "d75795ecff3f83b5faa89d1900604ad8c780abd5739fae406de19f23ecd98ad1", HF),
    M("large-v3-turbo", "large-v3-turbo", "f16", 0, 1624555275u,
      "4af2b29d7ec73d781377bfd1758ca957a807e941",
      "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69", HF),
    M("large-v3-turbo-q5_0", "large-v3-turbo", "q5_0", 0, 574041195u,
      "e050f7970618a659205450ad97eb95a18d69c9ee",
      "394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2", HF),
    M("large-v3-turbo-q8_0", "large-v3-turbo", "q8_0", 0, 874188075u, NULL,
      "317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1", HF),
};

size_t hark_models_catalog_count(void)
{
    return HARK_ARRAY_SIZE(catalog);
}

const hark_model_info *hark_models_catalog_at(size_t i)
{
    return i < HARK_ARRAY_SIZE(catalog) ? &catalog[i] : NULL;
}

const hark_model_info *hark__models_catalog_findn(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(catalog); i++)
        if (strlen(catalog[i].name) == len && memcmp(catalog[i].name, name, len) == 0)
            return &catalog[i];
    return NULL;
}

const hark_model_info *hark_models_catalog_find(const char *name)
{
    const char *bare;
    size_t len;
    if (!name)
        return NULL;
    bare = hark__models_bare_name(name, &len);
    return hark__models_catalog_findn(bare, len);
}
