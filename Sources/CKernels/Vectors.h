// What the loops of CKernels share (private to the target): 64-byte vectors, their loads, stores
// and sums, and the three builds of every loop, one per vector level (see `finitewidth_vectors`).
//
// A loop is written once, over `Lanes_double` (8 Doubles) or `Lanes_float` (16 Floats): the
// widths of NeuralNet's `Scalar.Lanes`. Clang lowers a 64-byte vector to four SSE2 registers, two
// AVX2 registers or one AVX-512 register, depending on the build, so every build adds a row's
// terms into the same 8 (16) partial sums and reduces them in the same order (`lane_sum`).
// A loop finishes the last `count % lanes` elements with the same vector code on a padded
// copy (`load_first`, `store_first`), so an element's result never depends on where it falls, nor
// on the alignment of the buffers.
//
// FMA: `a * b + c` written in one expression may be computed as one fused multiply-add (rounded
// once, not twice; `FP_CONTRACT ON`). The AVX2 and AVX-512 builds do, both the same way, so
// they agree bit for bit; the baseline build, on CPUs without FMA, rounds twice, as Swift does.
#ifndef FINITEWIDTH_VECTORS_H
#define FINITEWIDTH_VECTORS_H

#include <stddef.h>
#include <string.h>

#include "CKernels.h"

#pragma STDC FP_CONTRACT ON
// Clang warns that passing 64-byte vectors by value differs between builds with and without
// AVX-512; every function here that takes or returns one is inlined, so no call passes one.
#pragma clang diagnostic ignored "-Wpsabi"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define OVERLOADED ALWAYS_INLINE __attribute__((overloadable))

typedef double Lanes_double __attribute__((vector_size(64)));
typedef float Lanes_float __attribute__((vector_size(64)));
typedef long long Mask_double __attribute__((vector_size(64)));
typedef int Mask_float __attribute__((vector_size(64)));

OVERLOADED Lanes_double load(const double *source) {
    Lanes_double lanes;
    memcpy(&lanes, source, sizeof lanes);
    return lanes;
}

OVERLOADED Lanes_float load(const float *source) {
    Lanes_float lanes;
    memcpy(&lanes, source, sizeof lanes);
    return lanes;
}

OVERLOADED void store(double *target, Lanes_double lanes) { memcpy(target, &lanes, sizeof lanes); }
OVERLOADED void store(float *target, Lanes_float lanes) { memcpy(target, &lanes, sizeof lanes); }

/// The first `count` elements of `source` (fewer than a vector holds), the other lanes `padding`.
OVERLOADED Lanes_double load_first(const double *source, size_t count, double padding) {
    Lanes_double lanes = (Lanes_double){0} + padding;
    memcpy(&lanes, source, count * sizeof *source);
    return lanes;
}

OVERLOADED Lanes_float load_first(const float *source, size_t count, float padding) {
    Lanes_float lanes = (Lanes_float){0} + padding;
    memcpy(&lanes, source, count * sizeof *source);
    return lanes;
}

/// Stores the first `count` lanes only.
OVERLOADED void store_first(double *target, size_t count, Lanes_double lanes) {
    memcpy(target, &lanes, count * sizeof *target);
}

OVERLOADED void store_first(float *target, size_t count, Lanes_float lanes) {
    memcpy(target, &lanes, count * sizeof *target);
}

/// In a step function called for full vectors (`count` = the lane count, a constant that folds
/// the test away) and for the tail: `load` or `load_first`, `store` or `store_first`.
OVERLOADED Lanes_double load_part(const double *source, size_t count, double padding) {
    return count == 8 ? load(source) : load_first(source, count, padding);
}

OVERLOADED Lanes_float load_part(const float *source, size_t count, float padding) {
    return count == 16 ? load(source) : load_first(source, count, padding);
}

OVERLOADED void store_part(double *target, size_t count, Lanes_double lanes) {
    if (count == 8) store(target, lanes);
    else store_first(target, count, lanes);
}

OVERLOADED void store_part(float *target, size_t count, Lanes_float lanes) {
    if (count == 16) store(target, lanes);
    else store_first(target, count, lanes);
}

/// The sum of the lanes, halving the vector each time: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
OVERLOADED double lane_sum(Lanes_double lanes) {
    double half[4], quarter[2];
    for (int i = 0; i < 4; i++) half[i] = lanes[i] + lanes[i + 4];
    for (int i = 0; i < 2; i++) quarter[i] = half[i] + half[i + 2];
    return quarter[0] + quarter[1];
}

OVERLOADED float lane_sum(Lanes_float lanes) {
    float half[8], quarter[4], eighth[2];
    for (int i = 0; i < 8; i++) half[i] = lanes[i] + lanes[i + 8];
    for (int i = 0; i < 4; i++) quarter[i] = half[i] + half[i + 4];
    for (int i = 0; i < 2; i++) eighth[i] = quarter[i] + quarter[i + 2];
    return eighth[0] + eighth[1];
}

/// `values` where `condition > 0`, else +0 (also where the condition is NaN).
OVERLOADED Lanes_double keep_where_positive(Lanes_double values, Lanes_double condition) {
    return (Lanes_double)((Mask_double)values & (Mask_double)(condition > 0));
}

OVERLOADED Lanes_float keep_where_positive(Lanes_float values, Lanes_float condition) {
    return (Lanes_float)((Mask_float)values & (Mask_float)(condition > 0));
}

// The square root instruction (`sqrt` from libm would also set errno for negative inputs).
OVERLOADED double square_root(double x) { return __builtin_elementwise_sqrt(x); }
OVERLOADED float square_root(float x) { return __builtin_elementwise_sqrt(x); }

#define CONCATENATE_(a, b) a##_##b
#define CONCATENATE(a, b) CONCATENATE_(a, b)

/// In a file included once per scalar type with `SCALAR` defined (double, then float):
/// `NAME(loop)` is `loop_double` or `loop_float`, `LANES` the vector type, `WIDTH` its lanes.
#define NAME(name) CONCATENATE(name, SCALAR)
#define LANES CONCATENATE(Lanes, SCALAR)
#define WIDTH (sizeof(LANES) / sizeof(SCALAR))

/// The vector level a call runs at: the one asked for, or the widest the CPU has if that is
/// lower (or if `FINITEWIDTH_VECTORS_WIDEST` was asked for).
finitewidth_vectors finitewidth_resolve_vectors(finitewidth_vectors requested);

/// Whether the CPU has AVX and the OS saves its registers (for Adam's AVX loop).
int finitewidth_cpu_has_avx(void);

/// `BUILD_EVERY_LEVEL(loop, (parameters), (arguments))` defines `loop_baseline`, `loop_avx2` and
/// `loop_avx512`: the always-inline function `loop` compiled for the x86-64 baseline, for AVX2 and
/// FMA, and for AVX-512F. `AT_LEVEL(level, loop)` is the one for a resolved level.
#define BUILD_EVERY_LEVEL(name, parameters, arguments) BUILD_EVERY_LEVEL_(name, parameters, arguments)
#if defined(__x86_64__)
#define BUILD_EVERY_LEVEL_(name, parameters, arguments)                                            \
    static void name##_baseline parameters { name arguments; }                                     \
    __attribute__((target("avx2,fma"))) static void name##_avx2 parameters { name arguments; }     \
    __attribute__((target("avx512f"))) static void name##_avx512 parameters { name arguments; }
#define AT_LEVEL(level, name) AT_LEVEL_(level, name)
#define AT_LEVEL_(level, name)                                                                     \
    ((level) == FINITEWIDTH_VECTORS_AVX512 ? name##_avx512                                         \
     : (level) == FINITEWIDTH_VECTORS_AVX2_FMA ? name##_avx2 : name##_baseline)
#else
// Elsewhere one build, for the compiler's default target.
#define BUILD_EVERY_LEVEL_(name, parameters, arguments) static void name##_baseline parameters { name arguments; }
#define AT_LEVEL(level, name) AT_LEVEL_(level, name)
#define AT_LEVEL_(level, name) name##_baseline
#endif

#endif
