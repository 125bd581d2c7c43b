// Dense's per-element loops for one scalar type: Dense.c includes this file with SCALAR defined
// as double, then as float (see Vectors.h). The products themselves go through BLAS, except
// those with one inner dimension (an input or output of width 1), which are outer products:
// per-element work, which a GEMM call pays packing and a zero fill for.

/// out[i][j] = bias_scale bias[j] for every row: the bias a forward's GEMM then adds to.
ALWAYS_INLINE void NAME(dense_bias_rows)(SCALAR *out, const SCALAR *bias, SCALAR bias_scale, size_t rows, size_t columns) {
    const size_t full = columns - columns % WIDTH, tail = columns - full;
    for (size_t i = 0; i < rows; i++) {
        SCALAR *row = out + i * columns;
        for (size_t j = 0; j < full; j += WIDTH) store(row + j, bias_scale * load(bias + j));
        if (tail) store_first(row + full, tail, bias_scale * load_first(bias + full, tail, 0));
    }
}

BUILD_EVERY_LEVEL(NAME(dense_bias_rows),
    (SCALAR *out, const SCALAR *bias, SCALAR bias_scale, size_t rows, size_t columns),
    (out, bias, bias_scale, rows, columns))

/// Sums over rows for `vectors` (1 or 4) consecutive vectors of columns from j, the last one
/// holding `count` lanes: out[j] (+)= the sum over rows i, in order, of scale matrix[i][j]. The
/// columns' sums are independent chains, kept in registers across all rows.
ALWAYS_INLINE void NAME(sums_over_rows_columns)(
    SCALAR *out, int accumulate, const SCALAR *matrix, SCALAR scale, size_t rows, size_t columns,
    size_t j, int vectors, size_t count) {
    LANES sums[4];
    for (int v = 0; v < vectors; v++) {
        const size_t lanes = v == vectors - 1 ? count : WIDTH;
        sums[v] = accumulate ? load_part(out + j + v * WIDTH, lanes, 0) : (LANES){0};
    }
    for (size_t i = 0; i < rows; i++) {
        const SCALAR *row = matrix + i * columns + j;
        for (int v = 0; v < vectors; v++) {
            const size_t lanes = v == vectors - 1 ? count : WIDTH;
            sums[v] = scale * load_part(row + v * WIDTH, lanes, 0) + sums[v];
        }
    }
    for (int v = 0; v < vectors; v++) store_part(out + j + v * WIDTH, v == vectors - 1 ? count : WIDTH, sums[v]);
}

/// The gradient of a row broadcast over `rows` (Dense's bias): see `finitewidth_sums_over_rows`.
ALWAYS_INLINE void NAME(sums_over_rows)(
    SCALAR *out, int accumulate, const SCALAR *matrix, SCALAR scale, size_t rows, size_t columns) {
    const size_t full = columns - columns % WIDTH, tail = columns - full;
    size_t j = 0;
    for (; j + 4 * WIDTH <= full; j += 4 * WIDTH) {
        NAME(sums_over_rows_columns)(out, accumulate, matrix, scale, rows, columns, j, 4, WIDTH);
    }
    for (; j < full; j += WIDTH) NAME(sums_over_rows_columns)(out, accumulate, matrix, scale, rows, columns, j, 1, WIDTH);
    if (tail) NAME(sums_over_rows_columns)(out, accumulate, matrix, scale, rows, columns, full, 1, tail);
}

BUILD_EVERY_LEVEL(NAME(sums_over_rows),
    (SCALAR *out, int accumulate, const SCALAR *matrix, SCALAR scale, size_t rows, size_t columns),
    (out, accumulate, matrix, scale, rows, columns))

/// out[i][j] = start + a row[j] over one vector of a row, with a = scale column[i] (the start:
/// see `outer_product_start` in Dense.c).
ALWAYS_INLINE void NAME(outer_product_step)(
    SCALAR *out, enum outer_product_start start, const SCALAR *row, const SCALAR *bias, SCALAR bias_scale,
    SCALAR a, size_t count) {
    LANES base = start == START_FROM_OUTPUT ? load_part(out, count, 0)
               : start == START_FROM_BIAS ? bias_scale * load_part(bias, count, 0) : (LANES){0};
    store_part(out, count, a * load_part(row, count, 0) + base);
}

ALWAYS_INLINE void NAME(outer_product_rows)(
    SCALAR *out, enum outer_product_start start, const SCALAR *column, const SCALAR *row, SCALAR scale,
    const SCALAR *bias, SCALAR bias_scale, size_t rows, size_t columns) {
    const size_t full = columns - columns % WIDTH, tail = columns - full;
    for (size_t i = 0; i < rows; i++) {
        SCALAR *out_row = out + i * columns;
        const SCALAR a = scale * column[i];
        for (size_t j = 0; j < full; j += WIDTH) {
            NAME(outer_product_step)(out_row + j, start, row + j, bias ? bias + j : 0, bias_scale, a, WIDTH);
        }
        if (tail) NAME(outer_product_step)(out_row + full, start, row + full, bias ? bias + full : 0, bias_scale, a, tail);
    }
}

/// One loop per start, so that it is not tested per vector.
ALWAYS_INLINE void NAME(outer_product)(
    SCALAR *out, int accumulate, const SCALAR *column, const SCALAR *row, SCALAR scale,
    const SCALAR *bias, SCALAR bias_scale, size_t rows, size_t columns) {
    if (accumulate) NAME(outer_product_rows)(out, START_FROM_OUTPUT, column, row, scale, 0, 0, rows, columns);
    else if (bias) NAME(outer_product_rows)(out, START_FROM_BIAS, column, row, scale, bias, bias_scale, rows, columns);
    else NAME(outer_product_rows)(out, START_FROM_ZERO, column, row, scale, 0, 0, rows, columns);
}

BUILD_EVERY_LEVEL(NAME(outer_product),
    (SCALAR *out, int accumulate, const SCALAR *column, const SCALAR *row, SCALAR scale,
     const SCALAR *bias, SCALAR bias_scale, size_t rows, size_t columns),
    (out, accumulate, column, row, scale, bias, bias_scale, rows, columns))
