// The pointwise nonlinearities' loops for one scalar type: Activations.c includes this file with
// SCALAR defined as double, then as float (see Vectors.h). Those without transcendental functions
// only: tanh, sigmoid and GELU call libm per element in NeuralNet's Activations.swift.

/// ReLU forward over one vector: out = x where x > 0, else +0 (also for NaN, as before).
ALWAYS_INLINE void NAME(relu_forward_step)(SCALAR *out, const SCALAR *input, size_t count) {
    LANES x = load_part(input, count, 0);
    store_part(out, count, keep_where_positive(x, x));
}

ALWAYS_INLINE void NAME(relu_forward)(SCALAR *out, const SCALAR *input, size_t count) {
    const size_t full = count - count % WIDTH;
    for (size_t i = 0; i < full; i += WIDTH) NAME(relu_forward_step)(out + i, input + i, WIDTH);
    if (count > full) NAME(relu_forward_step)(out + full, input + full, count - full);
}

BUILD_EVERY_LEVEL(NAME(relu_forward), (SCALAR *out, const SCALAR *input, size_t count), (out, input, count))

/// dx (+)= dy f'(x) over one vector, f' read from the input x (ReLU: 1 where x > 0, else 0, as
/// PyTorch at 0) or from the output y (tanh: 1 - y^2; sigmoid: y (1 - y)).
ALWAYS_INLINE void NAME(activation_backward_step)(
    finitewidth_activation activation, SCALAR *input_gradient, int accumulate, const SCALAR *out_gradient,
    const SCALAR *input, const SCALAR *output, size_t count) {
    LANES dy = load_part(out_gradient, count, 0), contribution;
    switch (activation) {
    case FINITEWIDTH_TANH: {
        LANES y = load_part(output, count, 0);
        contribution = dy * (1 - y * y);
        break;
    }
    case FINITEWIDTH_SIGMOID: {
        LANES y = load_part(output, count, 0);
        contribution = dy * y * (1 - y);
        break;
    }
    default:
        contribution = keep_where_positive(dy, load_part(input, count, 0));
    }
    // Adding ReLU's zeros leaves dx as it was (but for the sign of a zero).
    store_part(input_gradient, count, accumulate ? load_part(input_gradient, count, 0) + contribution : contribution);
}

ALWAYS_INLINE void NAME(activation_backward_loop)(
    finitewidth_activation activation, SCALAR *input_gradient, int accumulate, const SCALAR *out_gradient,
    const SCALAR *input, const SCALAR *output, size_t count) {
    const size_t full = count - count % WIDTH;
    for (size_t i = 0; i < full; i += WIDTH) {
        NAME(activation_backward_step)(activation, input_gradient + i, accumulate, out_gradient + i,
                                       input ? input + i : 0, output ? output + i : 0, WIDTH);
    }
    if (count > full) {
        NAME(activation_backward_step)(activation, input_gradient + full, accumulate, out_gradient + full,
                                       input ? input + full : 0, output ? output + full : 0, count - full);
    }
}

/// One loop for each nonlinearity and value of `accumulate`, so that neither is tested per vector.
ALWAYS_INLINE void NAME(activation_backward)(
    finitewidth_activation activation, SCALAR *input_gradient, int accumulate, const SCALAR *out_gradient,
    const SCALAR *input, const SCALAR *output, size_t count) {
    // Constant arguments, which fold away the tests in the step.
    switch (activation) {
    case FINITEWIDTH_TANH:
        if (accumulate) NAME(activation_backward_loop)(FINITEWIDTH_TANH, input_gradient, 1, out_gradient, input, output, count);
        else NAME(activation_backward_loop)(FINITEWIDTH_TANH, input_gradient, 0, out_gradient, input, output, count);
        break;
    case FINITEWIDTH_SIGMOID:
        if (accumulate) NAME(activation_backward_loop)(FINITEWIDTH_SIGMOID, input_gradient, 1, out_gradient, input, output, count);
        else NAME(activation_backward_loop)(FINITEWIDTH_SIGMOID, input_gradient, 0, out_gradient, input, output, count);
        break;
    default:
        if (accumulate) NAME(activation_backward_loop)(FINITEWIDTH_RELU, input_gradient, 1, out_gradient, input, output, count);
        else NAME(activation_backward_loop)(FINITEWIDTH_RELU, input_gradient, 0, out_gradient, input, output, count);
    }
}

BUILD_EVERY_LEVEL(NAME(activation_backward),
    (finitewidth_activation activation, SCALAR *input_gradient, int accumulate, const SCALAR *out_gradient,
     const SCALAR *input, const SCALAR *output, size_t count),
    (activation, input_gradient, accumulate, out_gradient, input, output, count))
