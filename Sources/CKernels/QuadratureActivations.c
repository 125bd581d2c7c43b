// tanh, sigmoid and SiLU with their derivatives on Double vectors, for the numerical kernel maps
// (NeuralNet's NumericalKernelMap.swift): one kernel entry evaluates phi and phi' at ~20,000
// quadrature nodes, where libm's scalar tanh took 88% of the time. Training keeps libm.
//
// Both from exp(y), y >= 0: y = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to degree 13
// (the next term is below 5e-18 relative), times 2^n built from its bits; ln2 in two parts
// (fdlibm's), so n ln2 is exact for the n here. No cancellation anywhere:
// - tanh|x| = e / (e + 2), e = expm1(2|x|): by its Taylor series to degree 18 below 0.6 (next term
//   < 2e-20 relative), exp(2|x|) - 1 above (exp(0.6) - 1 = 0.82: under a bit lost); |x| clamped
//   at 20, where tanh is 1 in double (from 19.1 on); the sign put back.
// - sigmoid: with e = exp(-|x|) (2^-n applied in two factors, so e reaches the subnormals and 0
//   as libm's does), the two numbers 1 / (1 + e) and e / (1 + e) are sigmoid(x) and 1 - sigmoid(x),
//   in the order of x's sign, each to a few ulp: so s (1 - s) and SiLU's s (1 + x (1 - s)) never
//   subtract.
// Against libm's 80-bit forms of the same (QuadratureActivationTests): values and derivatives
// within 4 ulp (at most 3 measured); tanh's -0, infinities and NaN as libm's (the quadrature's
// arguments are finite).
#include "Vectors.h"

/// Lanes where `mask` is set from `yes`, the others from `no`.
ALWAYS_INLINE Lanes_double select_lanes(Mask_double mask, Lanes_double yes, Lanes_double no) {
    return (Lanes_double)(((Mask_double)yes & mask) | ((Mask_double)no & ~mask));
}

/// 1/k! for k = 17 down to 0, the Taylor coefficients of the series below.
static const double inverseFactorials[18] = {
    1.0 / 355687428096000.0, 1.0 / 20922789888000.0, 1.0 / 1307674368000.0, 1.0 / 87178291200.0,
    1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
    1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 1.0 / 2.0, 1.0, 1.0,
};

/// y = n ln2 + r, |r| <= ln2 / 2: returns e^(sign r) by its Taylor series and sets n.
ALWAYS_INLINE Lanes_double exp_reduced(Lanes_double y, double sign, Mask_double *n) {
    const double ln2High = 6.93147180369123816490e-01, ln2Low = 1.90821492927058770002e-10;
    const Lanes_double multiple = __builtin_elementwise_roundeven(y * 1.44269504088896338700e+00);
    const Lanes_double r = sign * ((y - multiple * ln2High) - multiple * ln2Low);
    Lanes_double power = (Lanes_double){0} + inverseFactorials[4];  // 1/13!
    for (int k = 5; k < 18; k++) power = power * r + inverseFactorials[k];
    // NaN to 0 before converting (out of range it would be undefined); power is NaN there anyway.
    *n = __builtin_convertvector(select_lanes((Mask_double)(multiple == multiple), multiple, (Lanes_double){0}), Mask_double);
    return power;
}

/// exp(y) for 0 <= y <= 709 (or NaN).
ALWAYS_INLINE Lanes_double exp_lanes(Lanes_double y) {
    Mask_double n;
    const Lanes_double power = exp_reduced(y, 1, &n);
    return power * (Lanes_double)((n + 1023) << 52);
}

/// exp(-y) for 0 <= y <= 760 (or NaN), into the subnormals and to 0: 2^-n in two normal factors,
/// so that only the last product rounds into the subnormal range.
ALWAYS_INLINE Lanes_double exp_negative_lanes(Lanes_double y) {
    Mask_double n;
    const Lanes_double power = exp_reduced(y, -1, &n);
    const Mask_double half = n >> 1;
    return power * (Lanes_double)((1023 - half) << 52) * (Lanes_double)((1023 - (n - half)) << 52);
}

/// |x| and the sign bit of x.
ALWAYS_INLINE Lanes_double magnitude_and_sign(Lanes_double x, Mask_double *sign) {
    const Mask_double signBit = (Mask_double)(-(Lanes_double){0});  // -0.0: the sign bit alone
    *sign = (Mask_double)x & signBit;
    return (Lanes_double)((Mask_double)x & ~signBit);
}

/// tanh over one vector.
ALWAYS_INLINE Lanes_double tanh_lanes(Lanes_double x) {
    Mask_double sign;
    Lanes_double magnitude = magnitude_and_sign(x, &sign);
    magnitude = select_lanes((Mask_double)(magnitude > 20), (Lanes_double){0} + 20, magnitude);  // NaN passes
    const Lanes_double y = 2 * magnitude;
    // expm1(y) for small y: y (1 + y/2! + ... + y^17/18!), Horner from the top.
    Lanes_double series = (Lanes_double){0} + 1.0 / 6402373705728000.0;
    for (int k = 0; k < 17; k++) series = series * y + inverseFactorials[k];
    const Lanes_double expm1 = select_lanes((Mask_double)(y < 0.6), series * y, exp_lanes(y) - 1);
    return (Lanes_double)((Mask_double)(expm1 / (expm1 + 2)) | sign);
}

/// sigmoid(x) and 1 - sigmoid(x) over one vector.
ALWAYS_INLINE void sigmoid_lanes(Lanes_double x, Lanes_double *sigmoid, Lanes_double *complement) {
    Mask_double sign;
    Lanes_double magnitude = magnitude_and_sign(x, &sign);
    magnitude = select_lanes((Mask_double)(magnitude > 760), (Lanes_double){0} + 760, magnitude);  // e = 0 from 745
    const Lanes_double e = exp_negative_lanes(magnitude);
    const Lanes_double large = 1 / (1 + e), small = e * large;  // 1 / (1 + e) and e / (1 + e)
    const Mask_double negative = (Mask_double)(sign != 0);
    *sigmoid = select_lanes(negative, small, large);
    *complement = select_lanes(negative, large, small);
}

ALWAYS_INLINE void quadrature_step(finitewidth_quadrature_function function, double *values, double *derivatives,
                                   const double *input, size_t count) {
    const Lanes_double x = load_part(input, count, 0);
    Lanes_double value, derivative, s, complement;
    switch (function) {
    case FINITEWIDTH_QUADRATURE_TANH:
        value = tanh_lanes(x);
        derivative = 1 - value * value;
        break;
    case FINITEWIDTH_QUADRATURE_SIGMOID:
        sigmoid_lanes(x, &s, &complement);
        value = s;
        derivative = s * complement;
        break;
    case FINITEWIDTH_QUADRATURE_SILU:
    default:
        sigmoid_lanes(x, &s, &complement);
        value = x * s;
        derivative = s * (1 + x * complement);
        break;
    }
    store_part(values, count, value);
    store_part(derivatives, count, derivative);
}

/// One loop per function, so that the switch is not taken per vector.
ALWAYS_INLINE void quadrature_values_and_derivatives(finitewidth_quadrature_function function, double *values,
                                                     double *derivatives, const double *input, size_t count) {
    const size_t full = count - count % 8;
#define QUADRATURE_LOOP(f)                                                                                   \
    for (size_t i = 0; i < full; i += 8) quadrature_step(f, values + i, derivatives + i, input + i, 8);      \
    if (count > full) quadrature_step(f, values + full, derivatives + full, input + full, count - full);
    switch (function) {
    case FINITEWIDTH_QUADRATURE_TANH: QUADRATURE_LOOP(FINITEWIDTH_QUADRATURE_TANH) break;
    case FINITEWIDTH_QUADRATURE_SIGMOID: QUADRATURE_LOOP(FINITEWIDTH_QUADRATURE_SIGMOID) break;
    default: QUADRATURE_LOOP(FINITEWIDTH_QUADRATURE_SILU) break;
    }
#undef QUADRATURE_LOOP
}

BUILD_EVERY_LEVEL(quadrature_values_and_derivatives,
                  (finitewidth_quadrature_function function, double *values, double *derivatives, const double *input,
                   size_t count),
                  (function, values, derivatives, input, count))

void finitewidth_quadrature_values_and_derivatives(finitewidth_vectors vectors, finitewidth_quadrature_function function,
                                                   double *values, double *derivatives, const double *input,
                                                   size_t count) {
    AT_LEVEL(finitewidth_resolve_vectors(vectors), quadrature_values_and_derivatives)(function, values, derivatives,
                                                                                      input, count);
}
