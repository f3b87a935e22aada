/*
 * fallback_avx2.c: the AVX2 kernels recompiled with every tile routed
 * through the generic one-row fallback (KERNELS_FALLBACK_ONLY), which no
 * planned shape reaches; it must give the same bits as the scalar kernels.
 */
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define KERNELS_FALLBACK_ONLY 1
#define hark__kernels_avx2    fallback_kernels_avx2
#include "asr/whisper/kernels_avx2.c"
#pragma GCC pop_options

#include "kt.h"

void fallback_check(const hark__kimpl *k);

TEST(avx2_fallback_tiles_match_scalar)
{
    if (!fallback_kernels_avx2.supported())
        SKIP("no AVX2 on this CPU");
    fallback_check(&fallback_kernels_avx2);
}

#else

#include "kt.h"

TEST(avx2_fallback_tiles_match_scalar)
{
    SKIP("needs GCC on x86 (#pragma GCC target)");
}

#endif
