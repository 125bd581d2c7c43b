/// Root-mean-square normalization over the last axis, as one fused op (PyTorch's `nn.RMSNorm`,
/// Zhang and Sennrich 2019): LayerNorm without the mean subtraction and without beta.
///
/// Shapes: x and out are [m, n] (m rows normalised independently over n features); gamma is [n];
/// the forward caches rstd per row (m scalars) for the backward.
/// Per row: rstd = 1 / sqrt(mean(x^2) + eps), xhat = x * rstd, out = gamma * xhat (or xhat
/// without the affine part). Row sums go a `Lanes` at a time, as LayerNorm's do.

/// Forward: writes `out`, and `rstd[i]` for each row (what the backward needs).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func rmsNormForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, rstd: UnsafeMutablePointer<Scalar>,
    input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?, m: Int, n: Int, epsilon: Scalar
) {
    let count = Scalar(n)
    let lanes = Scalar.Lanes.scalarCount
    for i in 0..<m {
        let x = input + i &* n
        let y = out + i &* n
        let s = 1 / Scalar.sqrt(laneSumOfSquaredDeviations(x, count: n, from: 0) / count + epsilon)
        rstd[i] = s
        var j = 0
        if let weight {
            while j &+ lanes <= n {
                storeLanes(loadLanes(x + j) * s * loadLanes(weight + j), y + j)
                j &+= lanes
            }
            while j < n {
                y[j] = x[j] * s * weight[j]
                j &+= 1
            }
        } else {
            while j &+ lanes <= n {
                storeLanes(loadLanes(x + j) * s, y + j)
                j &+= lanes
            }
            while j < n {
                y[j] = x[j] * s
                j &+= 1
            }
        }
    }
}

/// Backward with g = dout * gamma: dx += rstd * (g - xhat * mean(g * xhat)) (dx = ... when
/// `accumulateInputGradient` is false), dgamma += sum over rows of dout * xhat.
/// (From d rstd / dx_k = -rstd^3 x_k / n: dx_k = rstd g_k - rstd^3 x_k / n * sum_j g_j x_j.)
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func rmsNormBackward<Scalar: BLASScalar>(
    inputGradient: UnsafeMutablePointer<Scalar>?, accumulateInputGradient: Bool = true,
    weightGradient: UnsafeMutablePointer<Scalar>?, outGradient: UnsafePointer<Scalar>,
    input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?, rstd: UnsafePointer<Scalar>, m: Int, n: Int
) {
    let count = Scalar(n)
    let lanes = Scalar.Lanes.scalarCount
    for i in 0..<m {
        let x = input + i &* n
        let dy = outGradient + i &* n
        let s = rstd[i]
        var sumGXhat = Scalar.Lanes()
        var j = 0
        while j &+ lanes <= n {
            let xhat = loadLanes(x + j) * s
            sumGXhat += scaledLanes(dy, by: weight, at: j) * xhat
            if let weightGradient { storeLanes(loadLanes(weightGradient + j) + loadLanes(dy + j) * xhat, weightGradient + j) }
            j &+= lanes
        }
        var meanGXhat = sumGXhat.sum()
        while j < n {
            let xhat = x[j] * s
            meanGXhat += scaledScalar(dy, by: weight, at: j) * xhat
            if let weightGradient { weightGradient[j] += dy[j] * xhat }
            j &+= 1
        }
        meanGXhat /= count
        guard let inputGradient else { continue }
        let dx = inputGradient + i &* n
        j = 0
        while j &+ lanes <= n {
            let contribution = s * (scaledLanes(dy, by: weight, at: j) - loadLanes(x + j) * s * meanGXhat)
            storeLanes(accumulateInputGradient ? loadLanes(dx + j) + contribution : contribution, dx + j)
            j &+= lanes
        }
        while j < n {
            let contribution = s * (scaledScalar(dy, by: weight, at: j) - x[j] * s * meanGXhat)
            dx[j] = accumulateInputGradient ? dx[j] + contribution : contribution
            j &+= 1
        }
    }
}

extension Tape {
    /// Records RMS normalization of each row of `x`, with an optional affine weight (gamma).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func rmsNorm(_ x: Variable<Scalar>, weight: Parameter<Scalar>?, epsilon: Scalar = 1e-5) -> Variable<Scalar> {
        let input = node(of: x, in: "rmsNorm")
        precondition(input.value.rank == 2, "rmsNorm: expected a matrix [rows, features], got \(input.value.shape)")
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        if let weight { precondition(weight.shape == [n], "rmsNorm: weight of shape \(weight.shape) for \(n) features") }
        let node = nextNode(shape: input.value.shape, operation: .rmsNorm(input: x.index, weight: weight))
        node.prepareCache(count: m)
        rmsNormForward(out: node.value.unsafeMutableBaseAddress(), rstd: node.cache.unsafeMutableBaseAddress(),
                       input: input.value.unsafeBaseAddress, weight: weight?.value.unsafeBaseAddress,
                       m: m, n: n, epsilon: epsilon)
        node.requiresGradient = input.requiresGradient || weight != nil
        return recordedVariable()
    }

    func rmsNormBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?) {
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let inputGradient = input.requiresGradient ? input.gradientForContribution() : nil
        rmsNormBackward(
            inputGradient: inputGradient?.pointer, accumulateInputGradient: inputGradient?.accumulate ?? true,
            weightGradient: parameterGradient(weight), outGradient: node.gradient.unsafeBaseAddress,
            input: input.value.unsafeBaseAddress, weight: weight?.value.unsafeBaseAddress,
            rstd: node.cache.unsafeBaseAddress, m: m, n: n)
    }
}

/// Root-mean-square normalization over the features of each sample, as PyTorch's
/// `nn.RMSNorm(width, eps=epsilon, elementwise_affine=affine)`: `y = x / sqrt(mean(x^2) + eps) * gamma`.
public struct RMSNorm<Scalar: BLASScalar>: Layer {
    public let width: Int
    public let epsilon: Scalar
    /// gamma, initialised to ones; nil without the affine part.
    public let weight: Parameter<Scalar>?

    /// - Parameters:
    ///   - width: the number of features normalised together.
    ///   - epsilon: added to the mean square. 1e-5 by default, as LayerNorm's; PyTorch's default
    ///     (`eps=None`) is the machine epsilon of the input's dtype, `Scalar.ulpOfOne` here.
    ///   - affine: learn gamma (PyTorch's `elementwise_affine`); RMSNorm has no beta.
    public init(_ width: Int, epsilon: Scalar = 1e-5, affine: Bool = true) {
        precondition(width > 0, "RMSNorm: width must be positive, got \(width)")
        self.width = width
        self.epsilon = epsilon
        weight = affine ? Parameter(.ones([width])) : nil
    }

    public var isAffine: Bool { weight != nil }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.tape.rmsNorm(x, weight: weight, epsilon: epsilon)
    }

    /// The tangent gamma .* d xhat, as LayerNorm's without the centring (`NormalizationTangent.swift`).
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        ValueAndTangents(value: self(x.value), tangents: x.tape.normalizationTangent(
            x.value, tangents: x.tangents, weight: weight, centred: false, epsilon: epsilon))
    }

    public var providesTangents: Bool { true }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        weight.map { [("weight", $0)] } ?? []
    }
}

// MARK: - Infinite-width kernel map

extension InfiniteWidthKernel {
    /// Applies the map of an RMSNorm without affine parameters: every unit divided by
    /// sqrt(K(x, x) + eps), `K12' = K12 r1 r2` and `Theta12' = Theta12 r1 r2` with
    /// `r = 1 / sqrt(K(x, x) + eps)`.
    ///
    /// Why: over infinitely many units the mean of the squares of a row tends to K(x, x), the
    /// NNGP kernel being the second moment of a unit, so rstd becomes a constant per point. On
    /// centred Gaussian units (after a Dense) this is LayerNorm's map, since the row mean that
    /// LayerNorm subtracts tends to 0 there; unlike LayerNorm's it needs no centring, so it also
    /// holds after a nonlinearity, and on the raw inputs, where mean(x^2) = |x|^2 / d is exactly
    /// the input kernel's diagonal. The NTK's extra terms (from d rstd / dx) are rank one across
    /// units and vanish per unit as 1 / width, as LayerNorm's do. The units stay centred Gaussian
    /// if they were.
    public mutating func applyRMSNorm(epsilon: Double) {
        divideUnitsByRootOfDiagonal(epsilon: epsilon)
        layers.append("RMSNorm")
    }
}

extension RMSNorm {
    /// `InfiniteWidthKernel.applyRMSNorm` with this layer's epsilon.
    /// - Throws: `InfiniteWidthKernelError` for affine parameters.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        guard !isAffine else {
            throw InfiniteWidthKernelError(
                layer: "RMSNorm(\(width), affine: true)",
                reason: "the gradients with respect to gamma add a term to the NTK that is correlated, unit by "
                    + "unit, with the next nonlinearity's derivative, so it does not factor into the layer-by-layer "
                    + "maps implemented here (as for affine LayerNorm); use RMSNorm(_:affine: false)")
        }
        kernel.applyRMSNorm(epsilon: Double(epsilon))
    }
}

// MARK: - Empirical-NTK factors

extension Tape {
    /// gamma's part of the empirical NTK as per-point features: the point's gradient with respect
    /// to gamma is `D_i .* xhat_i` (D the gradient at the output, xhat = x * rstd), so the part is
    /// the Gram product of the rows of `D .* Xhat`. Nil without gamma or without a gradient.
    func rmsNormKernelContribution(_ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?) -> KernelContribution<Scalar> {
        guard let weight else { return .noParameters }
        guard let features = rmsNormKernelFeatures(node, input: input, weight: weight) else { return .terms([], parameters: [weight]) }
        return .terms([.perSampleGradients(features)], parameters: [weight])
    }

    func rmsNormKernelFeatures(_ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?) -> Tensor<Scalar>? {
        guard weight != nil, node.requiresGradient, node.gradient.shape == node.value.shape else { return nil }
        let (rows, width) = (input.value.shape[0], input.value.shape[1])
        var features = Tensor<Scalar>(uninitializedShape: [rows, width])
        let (x, d, rstd) = (input.value.unsafeBaseAddress, node.gradient.unsafeBaseAddress, node.cache.unsafeBaseAddress)
        let target = features.unsafeMutableBaseAddress()
        for i in 0..<rows {
            let (row, xRow, dRow, s) = (target + i &* width, x + i &* width, d + i &* width, rstd[i])
            for j in 0..<width { row[j] = dRow[j] * (xRow[j] * s) }
        }
        return features
    }
}
