// LayerNorm's loops for one scalar type: LayerNorm.c includes this file with SCALAR defined as
// double, then as float (see Vectors.h). Each row is normalised on its own over its n = `columns`
// values; a row (1 KiB at width 128 in Doubles) stays in the L1 cache across the passes over it.
//
// Forward per row: mu = sum(x) / n; rstd = 1 / sqrt(sum((x - mu)^2) / n + eps), two passes as
// PyTorch does (stable for large offsets); out = (x - mu) rstd gamma + beta.
// Backward per row, with xhat = (x - mu) rstd and g = dout gamma:
// dx = rstd (g - mean(g) - xhat mean(g xhat)), dgamma += dout xhat, dbeta += dout.
//
// A row's sums are chains of dependent additions, so the forward takes rows two at a time, their
// passes interleaved (the last row of an odd count alone), which changes no row's arithmetic
// (measured on one Zen 3 core, 100 x 128 Doubles with AVX2: 8.0 to 5.7 us; the backward, whose
// first pass does more per element, was slower so: 7.0 to 8.3 us, and takes rows one by one).
// Each pass runs a step function over the full vectors, then over the padded tail.

/// out = (x - mu) s gamma + beta (or (x - mu) s) for one vector of `together` rows, `n` apart.
ALWAYS_INLINE void NAME(layer_norm_forward_step)(
    SCALAR *y, const SCALAR *x, const SCALAR *weight, const SCALAR *bias, const SCALAR *mu, const SCALAR *s,
    int together, size_t n, size_t count) {
    for (int r = 0; r < together; r++) {
        LANES xhat = (load_part(x + r * n, count, 0) - mu[r]) * s[r];
        if (weight) store_part(y + r * n, count, xhat * load_part(weight, count, 0) + load_part(bias, count, 0));
        else store_part(y + r * n, count, xhat);
    }
}

/// The mean and rstd of a row whose squares overflow (entries beyond sqrt(greatest), 1e154 in
/// Double), from the row divided by its largest magnitude a: var = a^2 v with v the scaled
/// variance, so rstd = 1 / (a sqrt(v + eps / a^2)), all finite. NaN for a row holding NaN or an
/// infinity. Plain loops: such rows are rare (lambda x far out along a ray).
static void NAME(layer_norm_statistics_scaled)(const SCALAR *x, size_t n, SCALAR epsilon, SCALAR *mean, SCALAR *rstd) {
    SCALAR largest = 0;
    for (size_t j = 0; j < n; j++) {
        const SCALAR magnitude = x[j] < 0 ? -x[j] : x[j];
        if (!(magnitude <= largest)) largest = magnitude;  // a NaN is kept
    }
    if (!__builtin_isfinite(largest) || largest == 0) {
        *mean = *rstd = (SCALAR)__builtin_nan("");
        return;
    }
    SCALAR sum = 0;
    for (size_t j = 0; j < n; j++) sum += x[j] / largest;
    const SCALAR scaled_mean = sum / (SCALAR)n;
    SCALAR squares = 0;
    for (size_t j = 0; j < n; j++) {
        const SCALAR deviation = x[j] / largest - scaled_mean;
        squares = deviation * deviation + squares;
    }
    *mean = scaled_mean * largest;
    *rstd = 1 / (largest * square_root(squares / (SCALAR)n + epsilon / largest / largest));
}

/// The forward of rows `first` ..< `first + together` (together: 1 or 2).
ALWAYS_INLINE void NAME(layer_norm_forward_rows)(
    SCALAR *out, SCALAR *mean, SCALAR *rstd, const SCALAR *input, const SCALAR *weight, const SCALAR *bias,
    size_t first, int together, size_t n, SCALAR epsilon) {
    const size_t full = n - n % WIDTH, tail = n - full;
    const SCALAR *x = input + first * n;
    LANES partial[2] = {{0}}, squares[2] = {{0}};
    SCALAR mu[2], s[2];
    for (size_t j = 0; j < full; j += WIDTH) {
        for (int r = 0; r < together; r++) partial[r] += load(x + r * n + j);
    }
    for (int r = 0; r < together; r++) {
        if (tail) partial[r] += load_first(x + r * n + full, tail, 0);
        mu[r] = lane_sum(partial[r]) / (SCALAR)n;
    }
    for (size_t j = 0; j < full; j += WIDTH) {
        for (int r = 0; r < together; r++) {
            LANES deviation = load(x + r * n + j) - mu[r];
            squares[r] = deviation * deviation + squares[r];
        }
    }
    for (int r = 0; r < together; r++) {
        if (tail) {
            // Padded with mu: the padding adds zeros.
            LANES deviation = load_first(x + r * n + full, tail, mu[r]) - mu[r];
            squares[r] = deviation * deviation + squares[r];
        }
        const SCALAR sum_of_squares = lane_sum(squares[r]);
        s[r] = 1 / square_root(sum_of_squares / (SCALAR)n + epsilon);
        // Squares that overflow would make rstd 0 and the row's output silently beta.
        if (!__builtin_isfinite(sum_of_squares)) NAME(layer_norm_statistics_scaled)(x + r * n, n, epsilon, &mu[r], &s[r]);
        mean[first + r] = mu[r];
        rstd[first + r] = s[r];
    }
    SCALAR *y = out + first * n;
    for (size_t j = 0; j < full; j += WIDTH) {
        NAME(layer_norm_forward_step)(y + j, x + j, weight ? weight + j : 0, bias ? bias + j : 0, mu, s, together, n,
                                      WIDTH);
    }
    if (tail) {
        NAME(layer_norm_forward_step)(y + full, x + full, weight ? weight + full : 0, bias ? bias + full : 0, mu, s,
                                      together, n, tail);
    }
}

ALWAYS_INLINE void NAME(layer_norm_forward)(
    SCALAR *out, SCALAR *mean, SCALAR *rstd, const SCALAR *input, const SCALAR *weight, const SCALAR *bias,
    size_t rows, size_t columns, SCALAR epsilon) {
    size_t i = 0;
    for (; i + 2 <= rows; i += 2) NAME(layer_norm_forward_rows)(out, mean, rstd, input, weight, bias, i, 2, columns, epsilon);
    if (i < rows) NAME(layer_norm_forward_rows)(out, mean, rstd, input, weight, bias, i, 1, columns, epsilon);
}

BUILD_EVERY_LEVEL(NAME(layer_norm_forward),
    (SCALAR *out, SCALAR *mean, SCALAR *rstd, const SCALAR *input, const SCALAR *weight, const SCALAR *bias,
     size_t rows, size_t columns, SCALAR epsilon),
    (out, mean, rstd, input, weight, bias, rows, columns, epsilon))

/// The backward's first pass over one vector of a row (at offset j): adds g and g xhat to the
/// partial sums, dout xhat to dgamma and dout to dbeta (either may be NULL). The tail pads dout
/// and gamma with zeros, so it adds nothing there.
ALWAYS_INLINE void NAME(layer_norm_backward_sums)(
    LANES *sum_g, LANES *sum_g_xhat, SCALAR *weight_gradient, SCALAR *bias_gradient,
    const SCALAR *dy, const SCALAR *x, const SCALAR *weight, SCALAR mu, SCALAR s, size_t j, size_t count) {
    LANES dout = load_part(dy + j, count, 0);
    LANES xhat = (load_part(x + j, count, 0) - mu) * s;
    LANES g = weight ? dout * load_part(weight + j, count, 0) : dout;
    *sum_g += g;
    *sum_g_xhat = g * xhat + *sum_g_xhat;
    if (weight_gradient) store_part(weight_gradient + j, count, dout * xhat + load_part(weight_gradient + j, count, 0));
    if (bias_gradient) store_part(bias_gradient + j, count, load_part(bias_gradient + j, count, 0) + dout);
}

/// The backward's second pass over one vector of a row: dx (+)= s (g - mean(g) - xhat mean(g xhat)).
ALWAYS_INLINE void NAME(layer_norm_backward_input)(
    SCALAR *dx, int accumulate, const SCALAR *dy, const SCALAR *x, const SCALAR *weight,
    SCALAR mu, SCALAR s, SCALAR mean_g, SCALAR mean_g_xhat, size_t count) {
    LANES xhat = (load_part(x, count, 0) - mu) * s;
    LANES g = load_part(dy, count, 0);
    if (weight) g *= load_part(weight, count, 0);
    LANES contribution = s * (g - mean_g - xhat * mean_g_xhat);
    store_part(dx, count, accumulate ? load_part(dx, count, 0) + contribution : contribution);
}

ALWAYS_INLINE void NAME(layer_norm_backward)(
    SCALAR *input_gradient, int accumulate_input_gradient, SCALAR *weight_gradient, SCALAR *bias_gradient,
    const SCALAR *out_gradient, const SCALAR *input, const SCALAR *weight, const SCALAR *mean, const SCALAR *rstd,
    size_t rows, size_t columns) {
    const size_t n = columns, full = n - n % WIDTH, tail = n - full;
    for (size_t i = 0; i < rows; i++) {
        const SCALAR *x = input + i * n, *dy = out_gradient + i * n;
        const SCALAR mu = mean[i], s = rstd[i];
        LANES sum_g = {0}, sum_g_xhat = {0};
        for (size_t j = 0; j < full; j += WIDTH) {
            NAME(layer_norm_backward_sums)(&sum_g, &sum_g_xhat, weight_gradient, bias_gradient, dy, x, weight,
                                           mu, s, j, WIDTH);
        }
        if (tail) {
            NAME(layer_norm_backward_sums)(&sum_g, &sum_g_xhat, weight_gradient, bias_gradient, dy, x, weight,
                                           mu, s, full, tail);
        }
        if (!input_gradient) continue;
        const SCALAR mean_g = lane_sum(sum_g) / (SCALAR)n, mean_g_xhat = lane_sum(sum_g_xhat) / (SCALAR)n;
        SCALAR *dx = input_gradient + i * n;
        for (size_t j = 0; j < full; j += WIDTH) {
            NAME(layer_norm_backward_input)(dx + j, accumulate_input_gradient, dy + j, x + j, weight ? weight + j : 0,
                                            mu, s, mean_g, mean_g_xhat, WIDTH);
        }
        if (tail) {
            NAME(layer_norm_backward_input)(dx + full, accumulate_input_gradient, dy + full, x + full,
                                            weight ? weight + full : 0, mu, s, mean_g, mean_g_xhat, tail);
        }
    }
}

BUILD_EVERY_LEVEL(NAME(layer_norm_backward),
    (SCALAR *input_gradient, int accumulate_input_gradient, SCALAR *weight_gradient, SCALAR *bias_gradient,
     const SCALAR *out_gradient, const SCALAR *input, const SCALAR *weight, const SCALAR *mean, const SCALAR *rstd,
     size_t rows, size_t columns),
    (input_gradient, accumulate_input_gradient, weight_gradient, bias_gradient, out_gradient, input, weight,
     mean, rstd, rows, columns))
