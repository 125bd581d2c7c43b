#include "Vectors.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Per element, in this order: p *= decay; g' = g + wd p; m += (g' - m)(1 - beta1);
// v = beta2 v + ((1 - beta2) g') g'; p -= (stepSize m) / (sqrt(v) / c2 + eps).
// Plain AVX has no FMA, so every product and sum is rounded as in the scalar loop.
__attribute__((target("avx")))
static size_t adam_avx_f64(double *p, const double *g, double *m, double *v, size_t count,
                           double stepSize, double c2, double beta1, double beta2, double epsilon,
                           double weightDecay, double decayFactor) {
    const __m256d oneMinusBeta1 = _mm256_set1_pd(1 - beta1), oneMinusBeta2 = _mm256_set1_pd(1 - beta2);
    const __m256d b2 = _mm256_set1_pd(beta2), step = _mm256_set1_pd(stepSize), c = _mm256_set1_pd(c2);
    const __m256d eps = _mm256_set1_pd(epsilon), wd = _mm256_set1_pd(weightDecay), decay = _mm256_set1_pd(decayFactor);
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        __m256d parameter = _mm256_mul_pd(_mm256_loadu_pd(p + i), decay);
        __m256d gradient = _mm256_add_pd(_mm256_loadu_pd(g + i), _mm256_mul_pd(wd, parameter));
        __m256d first = _mm256_loadu_pd(m + i);
        first = _mm256_add_pd(first, _mm256_mul_pd(_mm256_sub_pd(gradient, first), oneMinusBeta1));
        __m256d second = _mm256_add_pd(_mm256_mul_pd(b2, _mm256_loadu_pd(v + i)),
                                       _mm256_mul_pd(_mm256_mul_pd(oneMinusBeta2, gradient), gradient));
        __m256d denominator = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(second), c), eps);
        _mm256_storeu_pd(m + i, first);
        _mm256_storeu_pd(v + i, second);
        _mm256_storeu_pd(p + i, _mm256_sub_pd(parameter, _mm256_div_pd(_mm256_mul_pd(step, first), denominator)));
    }
    return i;
}

__attribute__((target("avx")))
static size_t adam_avx_f32(float *p, const float *g, float *m, float *v, size_t count,
                           float stepSize, float c2, float beta1, float beta2, float epsilon,
                           float weightDecay, float decayFactor) {
    const __m256 oneMinusBeta1 = _mm256_set1_ps(1 - beta1), oneMinusBeta2 = _mm256_set1_ps(1 - beta2);
    const __m256 b2 = _mm256_set1_ps(beta2), step = _mm256_set1_ps(stepSize), c = _mm256_set1_ps(c2);
    const __m256 eps = _mm256_set1_ps(epsilon), wd = _mm256_set1_ps(weightDecay), decay = _mm256_set1_ps(decayFactor);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 parameter = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay);
        __m256 gradient = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(wd, parameter));
        __m256 first = _mm256_loadu_ps(m + i);
        first = _mm256_add_ps(first, _mm256_mul_ps(_mm256_sub_ps(gradient, first), oneMinusBeta1));
        __m256 second = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                      _mm256_mul_ps(_mm256_mul_ps(oneMinusBeta2, gradient), gradient));
        __m256 denominator = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(second), c), eps);
        _mm256_storeu_ps(m + i, first);
        _mm256_storeu_ps(v + i, second);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(parameter, _mm256_div_ps(_mm256_mul_ps(step, first), denominator)));
    }
    return i;
}
#endif

size_t finitewidth_adam_update_avx_f64(
    double *parameter, const double *gradient, double *firstMoment, double *secondMoment, size_t count,
    double stepSize, double biasCorrection2Sqrt, double beta1, double beta2, double epsilon,
    double weightDecay, double decayFactor) {
#if defined(__x86_64__)
    if (finitewidth_cpu_has_avx()) {
        return adam_avx_f64(parameter, gradient, firstMoment, secondMoment, count, stepSize, biasCorrection2Sqrt,
                            beta1, beta2, epsilon, weightDecay, decayFactor);
    }
#endif
    return 0;
}

size_t finitewidth_adam_update_avx_f32(
    float *parameter, const float *gradient, float *firstMoment, float *secondMoment, size_t count,
    float stepSize, float biasCorrection2Sqrt, float beta1, float beta2, float epsilon,
    float weightDecay, float decayFactor) {
#if defined(__x86_64__)
    if (finitewidth_cpu_has_avx()) {
        return adam_avx_f32(parameter, gradient, firstMoment, secondMoment, count, stepSize, biasCorrection2Sqrt,
                            beta1, beta2, epsilon, weightDecay, decayFactor);
    }
#endif
    return 0;
}
