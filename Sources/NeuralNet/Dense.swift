import CKernels

/// The fully connected layer: one GEMM plus a bias add forward, two GEMMs and a column sum back.
///
/// Shapes: x is [m, k] (m samples, k inputs), W is [n, k] (PyTorch's `[out, in]`), b is [n],
/// out is [m, n]. `out = weightScale * x Wᵀ + biasScale * b`; the scales are 1 in the standard
/// parameterization and sigma_w / sqrt(k), sigma_b in the NTK parameterization.

/// Forward: writes `out` from the bias row then accumulates the GEMM into it (one pass over out).
/// With one input (k = 1) the product is an outer product, written with the bias in one pass
/// (CKernels' Dense.c): a GEMM call with k = 1 costs several times that in packing.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func denseForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>,
    bias: UnsafePointer<Scalar>?, m: Int, k: Int, n: Int, weightScale: Scalar, biasScale: Scalar
) {
    if k == 1 {
        finitewidth_outer_product(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, out, 0, input, weight,
                                  Double(weightScale), bias, Double(biasScale), m, n)
        return
    }
    if let bias {
        finitewidth_dense_bias_rows(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, out, bias, Double(biasScale), m, n)
    }
    matmul(input, weight, out, m: m, n: n, k: k, transposeA: false, transposeB: true,
           alpha: weightScale, beta: bias == nil ? 0 : 1)
}

/// Backward: dW += weightScale * doutᵀ x, db += biasScale * column sums of dout (each `=` when
/// `accumulateParameterGradients` is false; either may be skipped), and dx += weightScale * dout W
/// (dx = ... when `accumulateInputGradient` is false). With one output (n = 1), dx is an outer
/// product, in one pass (CKernels' Dense.c).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func denseBackward<Scalar: BLASScalar>(
    inputGradient: UnsafeMutablePointer<Scalar>?, accumulateInputGradient: Bool = true,
    weightGradient: UnsafeMutablePointer<Scalar>?, biasGradient: UnsafeMutablePointer<Scalar>?,
    accumulateParameterGradients: Bool = true,
    outGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>,
    m: Int, k: Int, n: Int, weightScale: Scalar, biasScale: Scalar
) {
    if let weightGradient {
        matmul(outGradient, input, weightGradient, m: n, n: k, k: m, transposeA: true, transposeB: false,
               alpha: weightScale, beta: accumulateParameterGradients ? 1 : 0)
    }
    if let biasGradient {
        addSumsOverRows(of: outGradient, rows: m, columns: n, scale: biasScale, into: biasGradient,
                        accumulate: accumulateParameterGradients)
    }
    if let inputGradient {
        if n == 1 {
            finitewidth_outer_product(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, inputGradient,
                                      accumulateInputGradient ? 1 : 0, outGradient, weight, Double(weightScale),
                                      nil, 0, m, k)
        } else {
            matmul(outGradient, weight, inputGradient, m: m, n: k, k: n, transposeA: false, transposeB: false,
                   alpha: weightScale, beta: accumulateInputGradient ? 1 : 0)
        }
    }
}

extension Tape {
    /// Records `weightScale * x Wᵀ + biasScale * b` for W of shape [out, in] and b of shape [out].
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func dense(
        _ x: Variable<Scalar>, weight: Parameter<Scalar>, bias: Parameter<Scalar>?,
        weightScale: Scalar = 1, biasScale: Scalar = 1
    ) -> Variable<Scalar> {
        let input = node(of: x, in: "dense")
        precondition(input.value.rank == 2 && weight.value.rank == 2 && input.value.shape[1] == weight.shape[1],
                     "dense: input of shape \(input.value.shape) does not match weight of shape \(weight.shape) ([out, in])")
        if let bias {
            precondition(bias.shape == [weight.shape[0]],
                         "dense: bias of shape \(bias.shape) does not match weight of shape \(weight.shape)")
        }
        let (m, k, n) = (input.value.shape[0], input.value.shape[1], weight.shape[0])
        let node = nextNode(rows: m, columns: n, operation: .dense(
            input: x.index, weight: weight, bias: bias, weightScale: weightScale, biasScale: biasScale))
        denseForward(out: node.value.unsafeMutableBaseAddress(), input: input.value.unsafeBaseAddress,
                     weight: weight.value.unsafeBaseAddress, bias: bias?.value.unsafeBaseAddress,
                     m: m, k: k, n: n, weightScale: weightScale, biasScale: biasScale)
        node.requiresGradient = true
        return recordedVariable()
    }

    func denseBackwardStep(
        _ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>, bias: Parameter<Scalar>?,
        weightScale: Scalar, biasScale: Scalar
    ) {
        let (m, k, n) = (input.value.shape[0], input.value.shape[1], weight.shape[0])
        let inputGradient = input.requiresGradient ? input.gradientForContribution() : nil
        let gradients = parameterGradients(weight, bias)
        denseBackward(
            inputGradient: inputGradient?.pointer, accumulateInputGradient: inputGradient?.accumulate ?? true,
            weightGradient: gradients.weight, biasGradient: gradients.bias,
            accumulateParameterGradients: gradients.accumulate,
            outGradient: node.gradient.unsafeBaseAddress, input: input.value.unsafeBaseAddress,
            weight: weight.value.unsafeBaseAddress, m: m, k: k, n: n,
            weightScale: weightScale, biasScale: biasScale)
    }

    /// The empirical-NTK term of W and b (`TangentKernelTerm.linear`): the layer's inputs and
    /// the gradients at its output, with the squared scales.
    func denseKernelContribution(
        _ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>, bias: Parameter<Scalar>?,
        weightScale: Scalar, biasScale: Scalar
    ) -> KernelContribution<Scalar> {
        let term = TangentKernelTerm.linear(inputs: input.value, outputGradients: node.gradient,
                                            weightScaleSquared: weightScale * weightScale,
                                            biasScaleSquared: bias == nil ? 0 : biasScale * biasScale)
        return .terms([term], parameters: [weight] + (bias.map { [$0] } ?? []))
    }
}

/// How a `Dense` layer scales its parameters.
public enum Parameterization: String, Sendable, Codable, CaseIterable {
    /// `y = x Wᵀ + b`, as PyTorch's `nn.Linear`.
    case standard
    /// `y = (sigma_w / sqrt(fan_in)) x Wᵀ + sigma_b b` with W, b ~ N(0, 1): the parameterization
    /// the infinite-width kernels describe.
    case ntk
}

/// How a `Dense` layer draws its initial weights (standard parameterization).
public enum WeightInitialization: Sendable, Equatable {
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's `nn.Linear` default (kaiming_uniform, a = sqrt(5)).
    case kaimingUniform
    /// N(0, 2 / fan_in): He initialisation for ReLU networks (`kaiming_normal_`, fan_in mode).
    case kaimingNormal
    /// N(0, std^2).
    case normal(standardDeviation: Double)
    /// U(-a, a), a = sqrt(6 / (fan_in + fan_out)): Glorot's, `torch.nn.init.xavier_uniform_` (gain 1).
    case xavierUniform
    /// N(0, sigma_w^2 / fan_in): the standard-parameterization twin of the NTK parameterization's
    /// start (sigma_w = sqrt(2) is Kaiming-normal).
    case normalScaledByFanIn(weightStandardDeviation: Double)
}

/// How a `Dense` layer draws its initial bias (standard parameterization).
public enum BiasInitialization: Sendable, Equatable {
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch's `nn.Linear`.
    case pytorch
    /// N(0, std^2) (the paper uses std 0.1).
    case normal(standardDeviation: Double)
    case zeros
}

/// A fully connected layer, `y = x Wᵀ + b`, with W stored as PyTorch stores it: `[out, in]`.
public struct Dense<Scalar: BLASScalar>: Layer {
    public let weight: Parameter<Scalar>
    public let bias: Parameter<Scalar>?
    public let parameterization: Parameterization
    /// sigma_w and sigma_b of the NTK parameterization (unused in the standard one).
    public let weightStandardDeviation: Double, biasStandardDeviation: Double

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    /// A standard-parameterization layer.
    /// - Parameters:
    ///   - inputSize: features in; `outputSize`: features out.
    ///   - weightInitialization: defaults to PyTorch's; `biasInitialization` likewise.
    ///   - generator: the seeded generator the initial values are drawn from.
    public init(
        _ inputSize: Int, _ outputSize: Int, bias: Bool = true,
        weightInitialization: WeightInitialization = .kaimingUniform,
        biasInitialization: BiasInitialization = .pytorch,
        generator: inout Xoshiro256StarStar
    ) {
        precondition(inputSize > 0 && outputSize > 0, "Dense: sizes must be positive, got \(inputSize) -> \(outputSize)")
        let fanIn = Double(inputSize)
        let shape = [outputSize, inputSize]
        let w: Tensor<Scalar>
        switch weightInitialization {
        case .kaimingUniform:
            let bound = Scalar(1 / fanIn.squareRoot())
            w = .randomUniform(shape, low: -bound, high: bound, using: &generator)
        case .kaimingNormal:
            w = .randomNormal(shape, standardDeviation: Scalar((2 / fanIn).squareRoot()), using: &generator)
        case let .normal(std):
            w = .randomNormal(shape, standardDeviation: Scalar(std), using: &generator)
        case .xavierUniform:
            let bound = Scalar((6 / (fanIn + Double(outputSize))).squareRoot())
            w = .randomUniform(shape, low: -bound, high: bound, using: &generator)
        case let .normalScaledByFanIn(sigma):
            w = .randomNormal(shape, standardDeviation: Scalar(sigma / fanIn.squareRoot()), using: &generator)
        }
        weight = Parameter(w)
        if bias {
            switch biasInitialization {
            case .pytorch:
                let bound = Scalar(1 / fanIn.squareRoot())
                self.bias = Parameter(.randomUniform([outputSize], low: -bound, high: bound, using: &generator))
            case let .normal(std):
                self.bias = Parameter(.randomNormal([outputSize], standardDeviation: Scalar(std), using: &generator))
            case .zeros:
                self.bias = Parameter(.zeros([outputSize]))
            }
        } else {
            self.bias = nil
        }
        parameterization = .standard
        weightStandardDeviation = 1
        biasStandardDeviation = 1
    }

    /// An NTK-parameterization layer: W, b ~ N(0, 1), scaled by sigma_w / sqrt(fan_in) and sigma_b
    /// in the forward pass.
    public init(
        ntk inputSize: Int, _ outputSize: Int, weightStandardDeviation: Double, biasStandardDeviation: Double,
        bias: Bool = true, generator: inout Xoshiro256StarStar
    ) {
        precondition(inputSize > 0 && outputSize > 0, "Dense: sizes must be positive, got \(inputSize) -> \(outputSize)")
        weight = Parameter(.randomNormal([outputSize, inputSize], using: &generator))
        self.bias = bias ? Parameter(.randomNormal([outputSize], using: &generator)) : nil
        parameterization = .ntk
        self.weightStandardDeviation = weightStandardDeviation
        self.biasStandardDeviation = biasStandardDeviation
    }

    /// A layer around given parameters (W of shape [out, in], b of shape [out]).
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?, parameterization: Parameterization = .standard,
                weightStandardDeviation: Double = 1, biasStandardDeviation: Double = 1) {
        precondition(weight.rank == 2, "Dense: weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]],
                     "Dense: bias of shape \(bias!.shape) does not match weight of shape \(weight.shape)")
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        self.parameterization = parameterization
        self.weightStandardDeviation = weightStandardDeviation
        self.biasStandardDeviation = biasStandardDeviation
    }

    /// The factor on `x Wᵀ`: 1, or sigma_w / sqrt(fan_in).
    public var weightScale: Scalar {
        parameterization == .standard ? 1 : Scalar(weightStandardDeviation / Double(inputSize).squareRoot())
    }
    /// The factor on `b`: 1, or sigma_b.
    public var biasScale: Scalar { parameterization == .standard ? 1 : Scalar(biasStandardDeviation) }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.tape.dense(x, weight: weight, bias: bias, weightScale: weightScale, biasScale: biasScale)
    }

    /// The tangent of `s x Wᵀ + b` along dx is `s dx Wᵀ`: the same op on the same W, without the
    /// bias, over all d B tangent rows at once (one GEMM; W's gradient gets both contributions).
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        ValueAndTangents(value: self(x.value),
                         tangents: x.tape.dense(x.tangents, weight: weight, bias: nil, weightScale: weightScale))
    }

    public var providesTangents: Bool { true }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

// MARK: - Infinite-width kernel map

/// Dense's kernel map in the NTK parameterization, over `count` entries (cross entries and
/// diagonals alike). With W, b ~ N(0, 1) and the output `(sigma_w / sqrt(fan_in)) x Wᵀ + sigma_b b`:
/// - `K' = sigma_w^2 K + sigma_b^2`: the output's covariance over W and b, as fan_in grows;
/// - `Theta' = K' + sigma_w^2 Theta`: the gradients with respect to this layer's own W and b
///   contribute `sigma_w^2 K + sigma_b^2 = K'`, and those with respect to earlier layers reach
///   the output through W, which scales their kernel by sigma_w^2.
func denseKernelMap(
    nngp: UnsafeMutablePointer<Double>, ntk: UnsafeMutablePointer<Double>, count: Int,
    weightVariance: Double, biasVariance: Double
) {
    for i in 0..<count {
        let k = weightVariance * nngp[i] + biasVariance
        nngp[i] = k
        ntk[i] = k + weightVariance * ntk[i]
    }
}

extension InfiniteWidthKernel {
    /// Applies a Dense layer's map (NTK parameterization, see `Dense(ntk:...)`).
    /// - Parameters:
    ///   - weightStandardDeviation: sigma_w.
    ///   - biasStandardDeviation: sigma_b (0 for a layer without bias).
    public mutating func applyDense(weightStandardDeviation: Double, biasStandardDeviation: Double) {
        let weightVariance = weightStandardDeviation * weightStandardDeviation
        let biasVariance = biasStandardDeviation * biasStandardDeviation
        let (rows, columns) = (count1, count2)
        withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
            denseKernelMap(nngp: nngp, ntk: ntk, count: rows &* columns,
                           weightVariance: weightVariance, biasVariance: biasVariance)
            denseKernelMap(nngp: nngpDiagonal1, ntk: ntkDiagonal1, count: rows,
                           weightVariance: weightVariance, biasVariance: biasVariance)
            denseKernelMap(nngp: nngpDiagonal2, ntk: ntkDiagonal2, count: columns,
                           weightVariance: weightVariance, biasVariance: biasVariance)
        }
        hasCentredGaussianUnits = true
        layers.append("Dense")
    }
}

extension Dense {
    /// The NTK-parameterization map (`InfiniteWidthKernel.applyDense`).
    /// - Throws: `InfiniteWidthKernelError` for a standard-parameterization layer.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        guard parameterization == .ntk else {
            throw InfiniteWidthKernelError(
                layer: "Dense(\(inputSize), \(outputSize)) in the standard parameterization",
                reason: "its NTK has no width-independent limit (the gradients with respect to its weights "
                    + "sum over the layer's width, so Theta grows with it); build the layer with "
                    + "Dense(ntk:_:weightStandardDeviation:biasStandardDeviation:)")
        }
        kernel.applyDense(weightStandardDeviation: weightStandardDeviation,
                          biasStandardDeviation: bias == nil ? 0 : biasStandardDeviation)
    }
}

// MARK: - Factors of the empirical Jacobian NTK

/// A Dense op recorded on a tape: its parameters and scales, the rows it multiplied and (after a
/// `backward` pass) the gradients at its output. Sample rows r of one point give its parameters'
/// gradients `s_w sum_r D_rᵀ A_r` (W) and `s_b sum_r D_r` (b): the factors the structured
/// empirical Jacobian NTK multiplies (TangentKernels' `empiricalJacobianTangentKernel`).
public struct RecordedDenseProduct<Scalar: BLASScalar> {
    public let weight: Parameter<Scalar>
    public let bias: Parameter<Scalar>?
    public let weightScale: Scalar, biasScale: Scalar
    /// [rows, in]: the op's input.
    public let inputs: Tensor<Scalar>
    /// [rows, out]: the gradient at its output from the last `backward` (stale if it did not reach it).
    public let outputGradients: Tensor<Scalar>
}

extension Tape {
    /// The Dense ops of the current step in recording order (a Dense layer's tangent forward
    /// records its value's op, then its tangents' op on the same weight, without bias).
    public var recordedDenseProducts: [RecordedDenseProduct<Scalar>] {
        nodes[0..<recorded].compactMap { node in
            guard case let .dense(input, weight, bias, weightScale, biasScale) = node.operation else { return nil }
            return RecordedDenseProduct(weight: weight, bias: bias, weightScale: weightScale, biasScale: biasScale,
                                        inputs: nodes[input].value, outputGradients: node.gradient)
        }
    }
}
