// Dense's bias, sums over rows (its gradient, and any broadcast row's) and outer products
// (NeuralNet's Dense.swift and Reductions.swift): the loops are in DenseLoops.h,
// built here for Double and Float at every vector level.
#include "Vectors.h"

/// What an outer product adds to: the output itself, the scaled bias row, or nothing.
enum outer_product_start { START_FROM_OUTPUT, START_FROM_BIAS, START_FROM_ZERO };

#define SCALAR double
#include "DenseLoops.h"
#undef SCALAR
#define SCALAR float
#include "DenseLoops.h"
#undef SCALAR

void finitewidth_dense_bias_rows(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                                 const void *bias, double bias_scale, size_t rows, size_t columns) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) AT_LEVEL(level, dense_bias_rows_double)(out, bias, bias_scale, rows, columns);
    else AT_LEVEL(level, dense_bias_rows_float)(out, bias, (float)bias_scale, rows, columns);
}

void finitewidth_sums_over_rows(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                                int accumulate, const void *matrix, double scale, size_t rows, size_t columns) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, sums_over_rows_double)(out, accumulate, matrix, scale, rows, columns);
    } else {
        AT_LEVEL(level, sums_over_rows_float)(out, accumulate, matrix, (float)scale, rows, columns);
    }
}

void finitewidth_outer_product(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                               int accumulate, const void *column, const void *row, double scale,
                               const void *bias, double bias_scale, size_t rows, size_t columns) {
    const finitewidth_vectors level = finitewidth_resolve_vectors(vectors);
    if (precision == FINITEWIDTH_FLOAT64) {
        AT_LEVEL(level, outer_product_double)(out, accumulate, column, row, scale, bias, bias_scale, rows, columns);
    } else {
        AT_LEVEL(level, outer_product_float)(out, accumulate, column, row, (float)scale, bias, (float)bias_scale,
                                             rows, columns);
    }
}
