// Pointwise nonlinearities (NeuralNet's Activations.swift): the loops are in ActivationLoops.h,
// built here for Double and Float at every vector level.
#include "Vectors.h"

#define SCALAR double
#include "ActivationLoops.h"
#undef SCALAR
#define SCALAR float
#include "ActivationLoops.h"
#undef SCALAR

void finitewidth_relu_forward(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                              const void *input, size_t count) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) AT_LEVEL(level, relu_forward_double)(out, input, count);
    else AT_LEVEL(level, relu_forward_float)(out, input, count);
}

void finitewidth_activation_backward(
    finitewidth_precision precision, finitewidth_vectors vectors, finitewidth_activation activation,
    void *input_gradient, int accumulate, const void *out_gradient, const void *input, const void *output,
    size_t count) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, activation_backward_double)(activation, input_gradient, accumulate, out_gradient, input,
                                                    output, count);
    } else {
        AT_LEVEL(level, activation_backward_float)(activation, input_gradient, accumulate, out_gradient, input,
                                                   output, count);
    }
}
