// LayerNorm over the last axis (NeuralNet's LayerNorm.swift): the loops are in LayerNormLoops.h,
// built here for Double and Float at every vector level.
#include "Vectors.h"

#define SCALAR double
#include "LayerNormLoops.h"
#undef SCALAR
#define SCALAR float
#include "LayerNormLoops.h"
#undef SCALAR

void finitewidth_layer_norm_forward(
    finitewidth_precision precision, finitewidth_vectors vectors, void *out, void *mean, void *rstd,
    const void *input, const void *weight, const void *bias, size_t rows, size_t columns, double epsilon) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, layer_norm_forward_double)(out, mean, rstd, input, weight, bias, rows, columns, epsilon);
    } else {
        AT_LEVEL(level, layer_norm_forward_float)(out, mean, rstd, input, weight, bias, rows, columns, (float)epsilon);
    }
}

void finitewidth_layer_norm_backward(
    finitewidth_precision precision, finitewidth_vectors vectors,
    void *input_gradient, int accumulate_input_gradient,
    void *weight_gradient, void *bias_gradient, int accumulate_parameter_gradients,
    const void *out_gradient, const void *input, const void *weight, const void *mean, const void *rstd,
    size_t rows, size_t columns) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    const size_t scalar_size = precision;
    // Written from zero: the first row's terms are added to zeros, which gives them exactly.
    if (!accumulate_parameter_gradients) {
        if (weight_gradient) memset(weight_gradient, 0, columns * scalar_size);
        if (bias_gradient) memset(bias_gradient, 0, columns * scalar_size);
    }
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, layer_norm_backward_double)(input_gradient, accumulate_input_gradient, weight_gradient,
                                                    bias_gradient, out_gradient, input, weight, mean, rstd, rows, columns);
    } else {
        AT_LEVEL(level, layer_norm_backward_float)(input_gradient, accumulate_input_gradient, weight_gradient,
                                                   bias_gradient, out_gradient, input, weight, mean, rstd, rows, columns);
    }
}
