// tanh and its derivative on Double vectors, for the numerical kernel maps (NeuralNet's
// NumericalKernelMap.swift): one kernel entry evaluates tanh at ~20,000 quadrature nodes, where
// libm's scalar tanh took 88% of the time. Training keeps libm's tanh (Activations.swift).
//
// tanh|x| = e / (e + 2) with e = expm1(2|x|), the sign put back; no cancellation anywhere:
// - 2|x| < 0.6: expm1 by its Taylor series to degree 18 (the next term is below 2e-20 relative);
// - otherwise exp(y) - 1 (exp(0.6) - 1 = 0.82, so the subtraction loses under a bit), exp by
//   y = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to degree 13 (next term < 5e-18),
//   times 2^n built from its bits; ln2 in two parts (fdlibm's), so n ln2 is exact to 2^-80;
// - |x| clamped at 20, where tanh is 1 in double (from 19.1 on), so exp stays finite.
// Within 4 ulp of libm over the line (3 measured, TanhVectorTests); -0, infinities and NaN as libm.
#include "Vectors.h"

/// tanh over one vector of 8 Doubles.
ALWAYS_INLINE Lanes_double tanh_lanes(Lanes_double x) {
    const Lanes_double zero = {0};
    const Mask_double signBit = (Mask_double)(-zero);  // -0.0: the sign bit alone
    const Mask_double sign = (Mask_double)x & signBit;
    Lanes_double magnitude = (Lanes_double)((Mask_double)x & ~signBit);
    const Mask_double large = (Mask_double)(magnitude > 20);  // false for NaN, which passes through
    magnitude = (Lanes_double)(((Mask_double)magnitude & ~large) | ((Mask_double)(zero + 20) & large));
    const Lanes_double y = 2 * magnitude;

    // expm1(y) for small y: y (1 + y/2! + y^2/3! + ... + y^17/18!), Horner from the top.
    Lanes_double series = zero + 1.0 / 6402373705728000.0;
    const double inverseFactorials[] = {
        1.0 / 355687428096000.0, 1.0 / 20922789888000.0, 1.0 / 1307674368000.0, 1.0 / 87178291200.0,
        1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 1.0 / 2.0, 1.0,
    };
    for (int k = 0; k < 17; k++) series = series * y + inverseFactorials[k];
    const Lanes_double small = series * y;

    // exp(y) - 1 for the rest: n = round(y / ln2), r = y - n ln2, e^r (1 + r + ... + r^13/13!) 2^n.
    const double ln2High = 6.93147180369123816490e-01, ln2Low = 1.90821492927058770002e-10;
    const Lanes_double n = __builtin_elementwise_roundeven(y * 1.44269504088896338700e+00);
    const Lanes_double r = (y - n * ln2High) - n * ln2Low;
    Lanes_double power = zero + 1.0 / 6227020800.0;
    for (int k = 5; k < 17; k++) power = power * r + inverseFactorials[k];
    power = power * r + 1;
    const Mask_double exponent = (__builtin_convertvector(n, Mask_double) + 1023) << 52;
    const Lanes_double expm1Large = power * (Lanes_double)exponent - 1;

    const Mask_double useSeries = (Mask_double)(y < 0.6);
    const Lanes_double expm1 = (Lanes_double)(((Mask_double)small & useSeries) | ((Mask_double)expm1Large & ~useSeries));
    const Lanes_double t = expm1 / (expm1 + 2);
    return (Lanes_double)((Mask_double)t | sign);
}

/// values = tanh(x), derivatives = 1 - tanh(x)^2.
ALWAYS_INLINE void tanh_values_and_derivatives_step(double *values, double *derivatives, const double *input,
                                                    size_t count) {
    const Lanes_double t = tanh_lanes(load_part(input, count, 0));
    store_part(values, count, t);
    store_part(derivatives, count, 1 - t * t);
}

ALWAYS_INLINE void tanh_values_and_derivatives(double *values, double *derivatives, const double *input, size_t count) {
    const size_t full = count - count % 8;
    for (size_t i = 0; i < full; i += 8) tanh_values_and_derivatives_step(values + i, derivatives + i, input + i, 8);
    if (count > full) tanh_values_and_derivatives_step(values + full, derivatives + full, input + full, count - full);
}

BUILD_EVERY_LEVEL(tanh_values_and_derivatives, (double *values, double *derivatives, const double *input, size_t count),
                  (values, derivatives, input, count))

void finitewidth_tanh_values_and_derivatives(finitewidth_vectors vectors, double *values, double *derivatives,
                                             const double *input, size_t count) {
    AT_LEVEL(finitewidth_resolve_vectors(vectors), tanh_values_and_derivatives)(values, derivatives, input, count);
}
