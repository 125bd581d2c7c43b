// Loops that need wider vectors than Swift compiles for (SSE2, the x86-64 baseline): each
// checks the CPU once and uses 256-bit AVX where it has it. And one instruction Swift cannot emit.
#ifndef FINITEWIDTH_CKERNELS_H
#define FINITEWIDTH_CKERNELS_H

#include <stddef.h>

/// Adam's update (NeuralNet's `adamUpdate`, the same operations in the same order per element)
/// over the leading elements of the buffers, 4 Doubles or 8 Floats at a time with AVX. Returns
/// how many it updated: a multiple of 4 (8), or 0 on a CPU without AVX; the caller does the rest.
size_t finitewidth_adam_update_avx_f64(
    double *parameter, const double *gradient, double *firstMoment, double *secondMoment, size_t count,
    double stepSize, double biasCorrection2Sqrt, double beta1, double beta2, double epsilon,
    double weightDecay, double decayFactor);

size_t finitewidth_adam_update_avx_f32(
    float *parameter, const float *gradient, float *firstMoment, float *secondMoment, size_t count,
    float stepSize, float biasCorrection2Sqrt, float beta1, float beta2, float epsilon,
    float weightDecay, float decayFactor);

/// A hint to the CPU that this thread is spinning on a flag (x86 `pause`; nothing elsewhere):
/// it saves power and leaves the core's resources to a sibling hyperthread.
static inline void finitewidth_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
