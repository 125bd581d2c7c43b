/// Read access to what a tape recorded, for algorithms built on one forward and one backward pass
/// that need per-layer quantities rather than parameter gradients. The structured empirical NTK in
/// `TangentKernels` reads, for each Dense layer, its input and the gradient at its output.
///
/// This is SPI (`@_spi(TangentKernels) import NeuralNet`): it mirrors the tape's internal record and
/// changes with it.

/// One recorded operation, as seen from outside the tape. Indices name other records of the same
/// step (`Variable`s hold them as `recordIndex`).
@_spi(TangentKernels)
public enum RecordedOperation<Scalar: BLASScalar> {
    /// A constant input.
    case input
    /// `weightScale * x Wᵀ + biasScale * b`, x being the value recorded at `input`.
    case dense(input: Int, weight: Parameter<Scalar>, bias: Parameter<Scalar>?, weightScale: Scalar, biasScale: Scalar)
    /// Layer normalization of each row of the value at `input`, with optional gamma and beta.
    case layerNorm(input: Int, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?)
    /// A pointwise nonlinearity of the value at `input`.
    case activation(input: Int, Activation)
    /// A layer whose parameters' part of the kernel is the Gram product of per-point features
    /// the layer computes from its record (`Tape.kernelFeatures(at:)`): RMSNorm's gamma, an
    /// evaluation-mode BatchNorm's gamma and beta.
    case gramFeatures(parameters: [Parameter<Scalar>])
    /// An operation without parameters whose output row r depends only on row r of its inputs
    /// (elementwise arithmetic, scaling by a constant).
    case rowwise(inputs: [Int])
    /// Anything else (a parameter used as a variable, a matrix product, a reduction, a loss),
    /// described in words.
    case other(String)
}

@_spi(TangentKernels)
extension Tape {
    /// The operation recorded at `index` in the current step.
    public func recordedOperation(at index: Int) -> RecordedOperation<Scalar> {
        precondition(index >= 0 && index < recorded, "recordedOperation(at:): \(index) is not a record of this step (\(recorded) recorded)")
        switch nodes[index].operation {
        case .input: return .input
        case let .parameter(parameter): return .other("a parameter of shape \(parameter.shape) used as a variable")
        case let .dense(input, weight, bias, weightScale, biasScale):
            return .dense(input: input, weight: weight, bias: bias, weightScale: weightScale, biasScale: biasScale)
        case let .layerNorm(input, weight, bias): return .layerNorm(input: input, weight: weight, bias: bias)
        case let .activation(input, activation): return .activation(input: input, activation)
        case let .rmsNorm(_, weight): return .gramFeatures(parameters: weight.map { [$0] } ?? [])
        case .batchNorm(_, _, _, usesBatchStatistics: true):
            return .other("a BatchNorm in training mode (its batch statistics couple the points)")
        case let .batchNorm(_, weight, bias, usesBatchStatistics: false):
            return .gramFeatures(parameters: [weight, bias].compactMap { $0 })
        case let .elementwise(a, b, _): return .rowwise(inputs: [a, b])
        case let .scale(input, _): return .rowwise(inputs: [input])
        case .matmul: return .other("a matrix product of two variables")
        case .sum: return .other("a sum or mean over all elements")
        case .meanSquaredError: return .other("a mean squared error")
        }
    }

    /// The value recorded at `index` (shares storage with the tape until either is written).
    public func recordedValue(at index: Int) -> Tensor<Scalar> {
        precondition(index >= 0 && index < recorded, "recordedValue(at:): \(index) is not a record of this step")
        return nodes[index].value
    }

    /// The gradient the last `backward` left at `index`, or nil when that record needs none
    /// (a constant, or a function of constants only).
    public func recordedGradient(at index: Int) -> Tensor<Scalar>? {
        precondition(index >= 0 && index < recorded, "recordedGradient(at:): \(index) is not a record of this step")
        let node = nodes[index]
        return node.requiresGradient && node.gradient.shape == node.value.shape ? node.gradient : nil
    }

    /// The per-point features whose Gram product is the kernel's part from the parameters of the
    /// `.gramFeatures` record at `index` (see each layer's file), or nil when it has no gradient.
    public func kernelFeatures(at index: Int) -> Tensor<Scalar>? {
        precondition(index >= 0 && index < recorded, "kernelFeatures(at:): \(index) is not a record of this step")
        let node = nodes[index]
        switch node.operation {
        case let .rmsNorm(input, weight): return rmsNormKernelFeatures(node, input: nodes[input], weight: weight)
        case let .batchNorm(input, weight, _, usesBatchStatistics: false):
            return batchNormKernelFeatures(node, input: nodes[input], weight: weight)
        default: preconditionFailure("kernelFeatures(at:): record \(index) has no Gram features")
        }
    }

    /// The per-row mean and 1/sqrt(var + eps) that the LayerNorm recorded at `index` cached for
    /// its backward, as vectors of one entry per row.
    public func layerNormStatistics(at index: Int) -> (mean: Tensor<Scalar>, reciprocalStandardDeviation: Tensor<Scalar>) {
        precondition(index >= 0 && index < recorded, "layerNormStatistics(at:): \(index) is not a record of this step")
        let node = nodes[index]
        guard case .layerNorm = node.operation else {
            preconditionFailure("layerNormStatistics(at:): record \(index) is not a LayerNorm")
        }
        let rows = node.value.shape[0]
        let cache = node.cache.scalars
        return (Tensor(shape: [rows], scalars: Array(cache[0..<rows])),
                Tensor(shape: [rows], scalars: Array(cache[rows..<(2 * rows)])))
    }
}

extension Variable {
    /// The position of this variable's record on its tape (for `Tape.recordedOperation(at:)`).
    @_spi(TangentKernels)
    public var recordIndex: Int { index }
}
