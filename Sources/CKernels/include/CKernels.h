// Loops that need wider vectors than Swift compiles for (SSE2, the x86-64 baseline): each
// checks the CPU once and uses AVX, AVX2 with FMA or AVX-512 where it has them. And one
// instruction Swift cannot emit.
//
// The per-element loops of a training step (LayerNorm, activations, Dense's bias, the loss) take
// their buffers as `void *` with the `finitewidth_precision` they hold, scalar arguments as
// double (converted to float for Float buffers, exactly: they come from Floats), and the
// `finitewidth_vectors` level to run at. Shapes: row-major, `rows` x `columns`, contiguous.
#ifndef FINITEWIDTH_CKERNELS_H
#define FINITEWIDTH_CKERNELS_H

#include <stddef.h>

/// The scalars a buffer holds.
typedef enum {
    FINITEWIDTH_FLOAT32 = 4,
    FINITEWIDTH_FLOAT64 = 8,
} finitewidth_precision;

/// How wide a loop's vectors are. Results agree to rounding between levels: the AVX2 and
/// AVX-512 builds fuse multiply-adds (FMA, rounded once) and agree bit for bit; the baseline
/// build rounds each product and sum (see Vectors.h).
typedef enum {
    /// The widest level the CPU has (what NeuralNet asks for).
    FINITEWIDTH_VECTORS_WIDEST = 0,
    /// The x86-64 baseline (128-bit SSE2), or the compiler's default target elsewhere.
    FINITEWIDTH_VECTORS_BASELINE = 1,
    /// 256-bit AVX2 with FMA.
    FINITEWIDTH_VECTORS_AVX2_FMA = 2,
    /// 512-bit AVX-512F.
    FINITEWIDTH_VECTORS_AVX512 = 3,
} finitewidth_vectors;

/// The widest level this CPU (and its OS) supports; a loop asked for a wider one runs at this one.
finitewidth_vectors finitewidth_widest_vectors(void);

/// LayerNorm forward over each row of `input`: mu = mean(x), rstd = 1 / sqrt(var(x) + epsilon),
/// out = (x - mu) rstd weight + bias (weight and bias both given, or both NULL). Writes `mean`
/// and `rstd` per row (`rows` each) for the backward.
void finitewidth_layer_norm_forward(
    finitewidth_precision precision, finitewidth_vectors vectors, void *out, void *mean, void *rstd,
    const void *input, const void *weight, const void *bias, size_t rows, size_t columns, double epsilon);

/// LayerNorm backward, with g = out_gradient weight (or out_gradient without weight):
/// input_gradient (+)= rstd (g - mean(g) - xhat mean(g xhat)) per row (`+=` if
/// `accumulate_input_gradient`, else `=`); weight_gradient (+)= column sums of out_gradient xhat,
/// bias_gradient (+)= column sums of out_gradient (`+=` if `accumulate_parameter_gradients`).
/// Any of the three gradients may be NULL.
void finitewidth_layer_norm_backward(
    finitewidth_precision precision, finitewidth_vectors vectors,
    void *input_gradient, int accumulate_input_gradient,
    void *weight_gradient, void *bias_gradient, int accumulate_parameter_gradients,
    const void *out_gradient, const void *input, const void *weight, const void *mean, const void *rstd,
    size_t rows, size_t columns);

/// Adam's update (NeuralNet's `adamUpdate`, the same operations in the same order per element)
/// over the leading elements of the buffers, 4 Doubles or 8 Floats at a time with AVX. Returns
/// how many it updated: a multiple of 4 (8), or 0 on a CPU without AVX; the caller does the rest.
size_t finitewidth_adam_update_avx_f64(
    double *parameter, const double *gradient, double *firstMoment, double *secondMoment, size_t count,
    double stepSize, double biasCorrection2Sqrt, double beta1, double beta2, double epsilon,
    double weightDecay, double decayFactor);

size_t finitewidth_adam_update_avx_f32(
    float *parameter, const float *gradient, float *firstMoment, float *secondMoment, size_t count,
    float stepSize, float biasCorrection2Sqrt, float beta1, float beta2, float epsilon,
    float weightDecay, float decayFactor);

/// Dense's bias in the forward: every row of `out` (`rows` x `columns`) = bias_scale bias.
void finitewidth_dense_bias_rows(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                                 const void *bias, double bias_scale, size_t rows, size_t columns);

/// Sums over rows, the gradient of a row broadcast (Dense's bias): out[j] (+)= the sum over rows i,
/// in order, of scale matrix[i][j] (`+=` if `accumulate`, else `=`).
void finitewidth_sums_over_rows(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                                int accumulate, const void *matrix, double scale, size_t rows, size_t columns);

/// A product with one inner dimension: out[i][j] = start + scale column[i] row[j] (`rows` x
/// `columns`), where start is out[i][j] if `accumulate`, else bias_scale bias[j] if `bias` is
/// not NULL, else 0.
void finitewidth_outer_product(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                               int accumulate, const void *column, const void *row, double scale,
                               const void *bias, double bias_scale, size_t rows, size_t columns);

/// The nonlinearities whose derivative `finitewidth_activation_backward` computes.
typedef enum {
    /// f'(x) = 1 where x > 0, else 0 (PyTorch's value at 0); reads the input.
    FINITEWIDTH_RELU = 0,
    /// f'(x) = 1 - y^2 with y = tanh(x); reads the output.
    FINITEWIDTH_TANH = 1,
    /// f'(x) = y (1 - y) with y = sigmoid(x); reads the output.
    FINITEWIDTH_SIGMOID = 2,
} finitewidth_activation;

/// ReLU: out = x where x > 0, else +0 (NaN gives 0), over `count` scalars.
void finitewidth_relu_forward(finitewidth_precision precision, finitewidth_vectors vectors, void *out,
                              const void *input, size_t count);

/// input_gradient (+)= out_gradient f'(x) over `count` scalars (`+=` if `accumulate`, else `=`),
/// f' read from `input` (ReLU) or `output` (tanh, sigmoid); the other may be NULL.
void finitewidth_activation_backward(
    finitewidth_precision precision, finitewidth_vectors vectors, finitewidth_activation activation,
    void *input_gradient, int accumulate, const void *out_gradient, const void *input, const void *output,
    size_t count);

/// The nonlinearities whose kernel maps are computed by quadrature and have a vector loop here.
typedef enum {
    FINITEWIDTH_QUADRATURE_TANH = 0,
    FINITEWIDTH_QUADRATURE_SIGMOID = 1,
    /// x sigmoid(x).
    FINITEWIDTH_QUADRATURE_SILU = 2,
} finitewidth_quadrature_function;

/// values = f(x) and derivatives = f'(x) over `count` Doubles, within 4 ulp
/// (QuadratureActivations.c): for the numerical kernel maps, which evaluate them at every
/// quadrature node.
void finitewidth_quadrature_values_and_derivatives(finitewidth_vectors vectors, finitewidth_quadrature_function function,
                                                   double *values, double *derivatives, const double *input,
                                                   size_t count);

/// The sum of (prediction - target)^2 over `count` scalars, accumulated in the buffers' precision
/// (a Float sum is returned exactly as a double).
double finitewidth_squared_error_sum(finitewidth_precision precision, finitewidth_vectors vectors,
                                     const void *prediction, const void *target, size_t count);

/// prediction_gradient (+)= factor (prediction - target) over `count` scalars (`+=` if
/// `accumulate`, else `=`): the mean squared error's backward with factor = 2 dloss / count.
void finitewidth_squared_error_backward(finitewidth_precision precision, finitewidth_vectors vectors,
                                        void *prediction_gradient, int accumulate, double factor,
                                        const void *prediction, const void *target, size_t count);

/// A hint to the CPU that this thread is spinning on a flag (x86 `pause`; nothing elsewhere):
/// it saves power and leaves the core's resources to a sibling hyperthread.
static inline void finitewidth_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
