// Helpers for the hot loops, which are plain C++ left for the compiler to vectorize.
//
// x86-64's portable baseline is SSE2, which has no 32-bit integer multiply, so the fixed-point
// resampling sums vectorize poorly there. A hot function is therefore written twice (C++
// function multiversioning, GCC and Clang): FASTPIX_VERSION_AVX2 marks the body for AVX2 CPUs,
// FASTPIX_VERSION_DEFAULT the one for any other, and the loader picks one by the CPU it runs
// on (glibc ifunc). Elsewhere (aarch64: NEON multiplies 32-bit lanes) there is one body and
// FASTPIX_VERSION_AVX2 is undefined. The results are the same integers either way.
// (Multiversioning rather than target_clones: clang 14 exports target_clones' resolver from
// the shared module even with -fvisibility=hidden.)
#pragma once

#include <cstdint>  // defines __GLIBC__ on glibc systems

// -DFASTPIX_NO_VECTOR_CLONES builds the default body only (to test it on an AVX2 machine).
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute) && \
    !defined(FASTPIX_NO_VECTOR_CLONES)
#if __has_attribute(target)
#define FASTPIX_VERSION_AVX2 __attribute__((target("avx2")))
#define FASTPIX_VERSION_DEFAULT __attribute__((target("default")))
#endif
#endif
#ifndef FASTPIX_VERSION_DEFAULT
#define FASTPIX_VERSION_DEFAULT
#endif

// Whether 4-lane 32-bit vector code (multiply, min/max, byte shuffles) is fast in a build with
// no multiversioning: not on plain x86-64 (SSE2 emulates those), yes on aarch64 (NEON).
#if defined(__x86_64__) && !defined(__SSE4_1__)
constexpr bool kFastLanes = false;
#else
constexpr bool kFastLanes = true;
#endif

// Forces a helper template into its (possibly cloned) caller, so each clone vectorizes it for
// its own instruction set.
#define FASTPIX_ALWAYS_INLINE inline __attribute__((always_inline))
