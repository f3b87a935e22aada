/*
 * fallback_avx512.c: the AVX-512 kernels recompiled with every tile routed
 * through the generic one-row fallback (see fallback_avx2.c).
 */
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,f16c")
#define KERNELS_FALLBACK_ONLY 1
#define hark__kernels_avx512  fallback_kernels_avx512
#include "asr/whisper/kernels_avx512.c"
#pragma GCC pop_options

#include "kt.h"

void fallback_check(const hark__kimpl *k);

TEST(avx512_fallback_tiles_match_scalar)
{
    if (!fallback_kernels_avx512.supported())
        SKIP("no AVX-512 on this CPU");
    fallback_check(&fallback_kernels_avx512);
}

#else

#include "kt.h"

TEST(avx512_fallback_tiles_match_scalar)
{
    SKIP("needs GCC on x86 (#pragma GCC target)");
}

#endif
