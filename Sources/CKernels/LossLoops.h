// The mean squared error's loops for one scalar type: Loss.c includes this file with SCALAR
// defined as double, then as float (see Vectors.h).

/// *sum = the sum of (prediction - target)^2, over WIDTH partial sums (the tail padded with zeros
/// on both sides, which adds nothing).
ALWAYS_INLINE void NAME(squared_error_sum)(SCALAR *sum, const SCALAR *prediction, const SCALAR *target, size_t count) {
    const size_t full = count - count % WIDTH, tail = count - full;
    LANES squares = {0};
    for (size_t i = 0; i < full; i += WIDTH) {
        LANES difference = load(prediction + i) - load(target + i);
        squares = difference * difference + squares;
    }
    if (tail) {
        LANES difference = load_first(prediction + full, tail, 0) - load_first(target + full, tail, 0);
        squares = difference * difference + squares;
    }
    *sum = lane_sum(squares);
}

BUILD_EVERY_LEVEL(NAME(squared_error_sum),
    (SCALAR *sum, const SCALAR *prediction, const SCALAR *target, size_t count), (sum, prediction, target, count))

/// dprediction (+)= factor (prediction - target) over one vector.
ALWAYS_INLINE void NAME(squared_error_backward_step)(
    SCALAR *prediction_gradient, int accumulate, SCALAR factor, const SCALAR *prediction, const SCALAR *target,
    size_t count) {
    LANES contribution = factor * (load_part(prediction, count, 0) - load_part(target, count, 0));
    store_part(prediction_gradient, count,
               accumulate ? load_part(prediction_gradient, count, 0) + contribution : contribution);
}

ALWAYS_INLINE void NAME(squared_error_backward)(
    SCALAR *prediction_gradient, int accumulate, SCALAR factor, const SCALAR *prediction, const SCALAR *target,
    size_t count) {
    const size_t full = count - count % WIDTH;
    for (size_t i = 0; i < full; i += WIDTH) {
        NAME(squared_error_backward_step)(prediction_gradient + i, accumulate, factor, prediction + i, target + i, WIDTH);
    }
    if (count > full) {
        NAME(squared_error_backward_step)(prediction_gradient + full, accumulate, factor, prediction + full,
                                          target + full, count - full);
    }
}

BUILD_EVERY_LEVEL(NAME(squared_error_backward),
    (SCALAR *prediction_gradient, int accumulate, SCALAR factor, const SCALAR *prediction, const SCALAR *target,
     size_t count),
    (prediction_gradient, accumulate, factor, prediction, target, count))
