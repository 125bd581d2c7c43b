import CKernels

/// Layer normalization over the last axis, as one fused op.
///
/// Shapes: x and out are [m, n] (m rows normalised independently over n features); gamma and
/// beta are [n]; the forward caches mean and rstd per row (2m scalars) for the backward.
/// Per row: mu = mean(x), rstd = 1 / sqrt(var(x) + eps), xhat = (x - mu) * rstd,
/// out = gamma * xhat + beta (or xhat without the affine part: the theory's LN).

/// The loops are C (CKernels' LayerNorm.c, with AVX2+FMA or AVX-512 where the CPU has them).
/// They sum a row over 8 (Float: 16) partial sums, added at the end in a fixed order, rather than
/// left to right (which is latency-bound): this reassociates the sums of the mean, the variance
/// and the backward's two row means, each within the usual n-term rounding bound. With FMA a
/// product and the sum it feeds are rounded once. An element's result does not depend on its
/// position in the row or on the buffers' alignment.

/// Forward: writes `out`, and `mean[i]`, `rstd[i]` for each row (what the backward needs).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func layerNormForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, mean: UnsafeMutablePointer<Scalar>, rstd: UnsafeMutablePointer<Scalar>,
    input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?, bias: UnsafePointer<Scalar>?,
    m: Int, n: Int, epsilon: Scalar
) {
    finitewidth_layer_norm_forward(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, out, mean, rstd, input,
                                   weight, bias, m, n, Double(epsilon))
}

/// Backward with g = dout * gamma: dx += rstd * (g - mean(g) - xhat * mean(g * xhat))
/// (dx = ... when `accumulateInputGradient` is false), dgamma += sum over rows of dout * xhat,
/// dbeta += sum over rows of dout (= when `accumulateParameterGradients` is false).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func layerNormBackward<Scalar: BLASScalar>(
    inputGradient: UnsafeMutablePointer<Scalar>?, accumulateInputGradient: Bool = true,
    weightGradient: UnsafeMutablePointer<Scalar>?, biasGradient: UnsafeMutablePointer<Scalar>?,
    accumulateParameterGradients: Bool = true,
    outGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?,
    mean: UnsafePointer<Scalar>, rstd: UnsafePointer<Scalar>, m: Int, n: Int
) {
    finitewidth_layer_norm_backward(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST,
                                    inputGradient, accumulateInputGradient ? 1 : 0, weightGradient, biasGradient,
                                    accumulateParameterGradients ? 1 : 0, outGradient, input, weight, mean, rstd, m, n)
}

extension Tape {
    /// Records layer normalization of each row of `x`, with optional affine weight and bias.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func layerNorm(
        _ x: Variable<Scalar>, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?, epsilon: Scalar = 1e-5
    ) -> Variable<Scalar> {
        let input = node(of: x, in: "layerNorm")
        precondition(input.value.rank == 2, "layerNorm: expected a matrix [rows, features], got \(input.value.shape)")
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        precondition((weight == nil) == (bias == nil), "layerNorm: give both weight and bias, or neither")
        if let weight { precondition(weight.shape == [n], "layerNorm: weight of shape \(weight.shape) for \(n) features") }
        if let bias { precondition(bias.shape == [n], "layerNorm: bias of shape \(bias.shape) for \(n) features") }
        let node = nextNode(shape: input.value.shape, operation: .layerNorm(input: x.index, weight: weight, bias: bias))
        node.prepareCache(count: 2 * m)
        let cache = node.cache.unsafeMutableBaseAddress()
        layerNormForward(out: node.value.unsafeMutableBaseAddress(), mean: cache, rstd: cache + m,
                         input: input.value.unsafeBaseAddress, weight: weight?.value.unsafeBaseAddress,
                         bias: bias?.value.unsafeBaseAddress, m: m, n: n, epsilon: epsilon)
        node.requiresGradient = input.requiresGradient || weight != nil
        return recordedVariable()
    }

    func layerNormBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?) {
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let cache = node.cache.unsafeBaseAddress
        let inputGradient = input.requiresGradient ? input.gradientForContribution() : nil
        let gradients = parameterGradients(weight, bias)
        layerNormBackward(
            inputGradient: inputGradient?.pointer, accumulateInputGradient: inputGradient?.accumulate ?? true,
            weightGradient: gradients.weight, biasGradient: gradients.bias,
            accumulateParameterGradients: gradients.accumulate,
            outGradient: node.gradient.unsafeBaseAddress, input: input.value.unsafeBaseAddress,
            weight: weight?.value.unsafeBaseAddress, mean: cache, rstd: cache + m, m: m, n: n)
    }

    /// The empirical-NTK term of gamma and beta: sample i's gradients are `D_i .* xhat_i` and
    /// `D_i` (D: the gradients at the output), so `G = [D .* Xhat, D]` (`.perSampleGradients`).
    func layerNormKernelContribution(
        _ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?
    ) -> KernelContribution<Scalar> {
        guard weight != nil || bias != nil else { return .noParameters }
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let cache = node.cache.unsafeBaseAddress
        let features = layerNormPerSampleGradients(
            input: input.value.unsafeBaseAddress, outputGradients: node.gradient.unsafeBaseAddress, mean: cache,
            rstd: cache + m, m: m, n: n, hasWeight: weight != nil, hasBias: bias != nil)
        return .terms([.perSampleGradients(features)], parameters: [weight, bias].compactMap { $0 })
    }
}

/// `[D .* xhat, D]` for m rows of n features (either part alone if the other parameter is absent),
/// with xhat = (x - mean) * rstd per row.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func layerNormPerSampleGradients<Scalar: BLASScalar>(
    input x: UnsafePointer<Scalar>, outputGradients d: UnsafePointer<Scalar>, mean: UnsafePointer<Scalar>,
    rstd: UnsafePointer<Scalar>, m: Int, n: Int, hasWeight: Bool, hasBias: Bool
) -> Tensor<Scalar> {
    let parts = (hasWeight ? 1 : 0) + (hasBias ? 1 : 0)
    var features = Tensor<Scalar>(uninitializedShape: [m, parts * n])
    let target = features.unsafeMutableBaseAddress()
    for i in 0..<m {
        let row = target + i &* parts &* n
        let (xRow, dRow) = (x + i &* n, d + i &* n)
        var column = 0
        if hasWeight {
            for j in 0..<n { row[j] = dRow[j] * ((xRow[j] - mean[i]) * rstd[i]) }
            column = n
        }
        if hasBias { (row + column).update(from: dRow, count: n) }
    }
    return features
}

/// Layer normalization over the features of each sample, as PyTorch's `nn.LayerNorm(width)`.
public struct LayerNorm<Scalar: BLASScalar>: Layer {
    public let width: Int
    public let epsilon: Scalar
    /// gamma and beta, initialised to ones and zeros; nil without the affine part.
    public let weight: Parameter<Scalar>?, bias: Parameter<Scalar>?

    /// - Parameters:
    ///   - width: the number of features normalised together.
    ///   - epsilon: added to the variance (PyTorch's default 1e-5).
    ///   - affine: learn gamma and beta (PyTorch's `elementwise_affine`); `false` is the theory's LN.
    public init(_ width: Int, epsilon: Scalar = 1e-5, affine: Bool = true) {
        precondition(width > 0, "LayerNorm: width must be positive, got \(width)")
        self.width = width
        self.epsilon = epsilon
        weight = affine ? Parameter(.ones([width])) : nil
        bias = affine ? Parameter(.zeros([width])) : nil
    }

    public var isAffine: Bool { weight != nil }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.tape.layerNorm(x, weight: weight, bias: bias, epsilon: epsilon)
    }

    /// The tangent gamma .* d xhat, LayerNorm's derivative with its second-order terms in the
    /// backward, as one fused op (`NormalizationTangent.swift`).
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        ValueAndTangents(value: self(x.value), tangents: x.tape.normalizationTangent(
            x.value, tangents: x.tangents, weight: weight, centred: true, epsilon: epsilon))
    }

    public var providesTangents: Bool { true }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }
}

// MARK: - Infinite-width kernel map

/// LayerNorm's kernel map for centred Gaussian units (its input is a Dense layer's output, or a
/// LayerNorm's after one). Over infinitely many units a row's mean tends to 0 and its variance to
/// K(x, x), so LayerNorm divides every unit by sqrt(K(x, x) + eps), and
/// `K12' = K12 r1 r2`, `Theta12' = Theta12 r1 r2` with `r = 1 / sqrt(K(x, x) + eps)`
/// (neural-tangents divides by `sqrt((eps + K11)(eps + K22))`, the same up to rounding). Each
/// diagonal entry is mapped by the same expression with both factors its own.
/// `reciprocalRoots1`, `reciprocalRoots2` hold r for the rows and the columns.
func layerNormKernelMap(
    nngp: UnsafeMutablePointer<Double>, ntk: UnsafeMutablePointer<Double>,
    reciprocalRoots1: UnsafePointer<Double>, reciprocalRoots2: UnsafePointer<Double>, rows: Int, columns: Int
) {
    for i in 0..<rows {
        let r1 = reciprocalRoots1[i]
        let k = nngp + i &* columns, theta = ntk + i &* columns
        for j in 0..<columns {
            let factor = r1 * reciprocalRoots2[j]
            k[j] *= factor
            theta[j] *= factor
        }
    }
}

/// `1 / sqrt(K(x, x) + eps)` for each diagonal entry.
func layerNormReciprocalRoots(_ diagonal: UnsafePointer<Double>, count: Int, epsilon: Double) -> [Double] {
    (0..<count).map { 1 / (diagonal[$0] + epsilon).squareRoot() }
}

extension InfiniteWidthKernel {
    /// Applies the map of a LayerNorm without affine parameters.
    /// - Parameter epsilon: the LayerNorm's variance epsilon (neural-tangents uses 1e-12).
    /// - Throws: `InfiniteWidthKernelError` unless the units are centred Gaussian (the LayerNorm
    ///   follows a Dense layer, directly or through other LayerNorms).
    public mutating func applyLayerNorm(epsilon: Double) throws {
        guard hasCentredGaussianUnits else {
            throw InfiniteWidthKernelError(
                layer: "LayerNorm after \(previousLayer)",
                reason: "its limit divides by sqrt(K(x, x)) only when the units it normalises are centred "
                    + "Gaussian, as a Dense layer's outputs are; after a nonlinearity their mean is not zero, "
                    + "and on the raw inputs it is not determined by the kernel")
        }
        divideUnitsByRootOfDiagonal(epsilon: epsilon)
        layers.append("LayerNorm")
    }

    /// Divides every unit by sqrt(K(x, x) + eps), the cross entries and both diagonals: the limit
    /// of LayerNorm on centred Gaussian units and of RMSNorm (see `layerNormKernelMap`).
    mutating func divideUnitsByRootOfDiagonal(epsilon: Double) {
        let (rows, columns) = (count1, count2)
        withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
            let roots1 = layerNormReciprocalRoots(nngpDiagonal1, count: rows, epsilon: epsilon)
            let roots2 = layerNormReciprocalRoots(nngpDiagonal2, count: columns, epsilon: epsilon)
            layerNormKernelMap(nngp: nngp, ntk: ntk, reciprocalRoots1: roots1, reciprocalRoots2: roots2,
                               rows: rows, columns: columns)
            for i in 0..<rows {
                let factor = roots1[i] * roots1[i]
                nngpDiagonal1[i] *= factor
                ntkDiagonal1[i] *= factor
            }
            for j in 0..<columns {
                let factor = roots2[j] * roots2[j]
                nngpDiagonal2[j] *= factor
                ntkDiagonal2[j] *= factor
            }
        }
    }
}

extension LayerNorm {
    /// `InfiniteWidthKernel.applyLayerNorm` with this layer's epsilon.
    /// - Throws: `InfiniteWidthKernelError` for affine parameters, or when the layer does not
    ///   follow a Dense layer.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        guard !isAffine else {
            throw InfiniteWidthKernelError(
                layer: "LayerNorm(\(width), affine: true)",
                reason: "the gradients with respect to gamma and beta add a term to the NTK that is "
                    + "correlated, unit by unit, with the next nonlinearity's derivative, so it does not "
                    + "factor into the layer-by-layer maps implemented here (the NNGP alone would be "
                    + "unchanged at gamma = 1, beta = 0); use LayerNorm(_:affine: false), the theory's LayerNorm")
        }
        try kernel.applyLayerNorm(epsilon: Double(epsilon))
    }
}
