// The mean squared error (NeuralNet's Loss.swift): the loops are in LossLoops.h, built here for
// Double and Float at every vector level.
#include "Vectors.h"

#define SCALAR double
#include "LossLoops.h"
#undef SCALAR
#define SCALAR float
#include "LossLoops.h"
#undef SCALAR

double finitewidth_squared_error_sum(finitewidth_precision precision, finitewidth_vectors vectors,
                                     const void *prediction, const void *target, size_t count) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        double sum;
        AT_LEVEL(level, squared_error_sum_double)(&sum, prediction, target, count);
        return sum;
    }
    float sum;
    AT_LEVEL(level, squared_error_sum_float)(&sum, prediction, target, count);
    return sum;
}

void finitewidth_squared_error_backward(finitewidth_precision precision, finitewidth_vectors vectors,
                                        void *prediction_gradient, int accumulate, double factor,
                                        const void *prediction, const void *target, size_t count) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, squared_error_backward_double)(prediction_gradient, accumulate, factor, prediction, target, count);
    } else {
        AT_LEVEL(level, squared_error_backward_float)(prediction_gradient, accumulate, (float)factor, prediction, target,
                                                      count);
    }
}
