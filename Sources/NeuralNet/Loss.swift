import CKernels

/// Mean squared error, as PyTorch's `mse_loss`: the mean over all elements of (prediction - target)^2.
/// The target is a constant; the forward keeps a copy of it for the backward.

/// The loops are C (CKernels' Loss.c), at the widest vectors the CPU has; the sum runs over 8
/// (Float: 16) partial sums added in a fixed order.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func meanSquaredErrorForward<Scalar: BLASScalar>(
    prediction: UnsafePointer<Scalar>, target: UnsafePointer<Scalar>, count: Int
) -> Scalar {
    // The sum is a Scalar's, returned as a Double exactly.
    Scalar(finitewidth_squared_error_sum(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, prediction, target, count))
        / Scalar(count)
}

/// dprediction += dloss * 2 (prediction - target) / count (= when `accumulate` is false).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func meanSquaredErrorBackward<Scalar: BLASScalar>(
    predictionGradient: UnsafeMutablePointer<Scalar>, accumulate: Bool = true, lossGradient: Scalar,
    prediction: UnsafePointer<Scalar>, target: UnsafePointer<Scalar>, count: Int
) {
    let factor = 2 * lossGradient / Scalar(count)
    finitewidth_squared_error_backward(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, predictionGradient,
                                       accumulate ? 1 : 0, Double(factor), prediction, target, count)
}

extension Tape {
    func meanSquaredErrorBackwardStep(_ node: Node<Scalar>, prediction: Node<Scalar>) {
        guard prediction.requiresGradient else { return }
        let (predictionGradient, accumulate) = prediction.gradientForContribution()
        meanSquaredErrorBackward(predictionGradient: predictionGradient, accumulate: accumulate,
                                 lossGradient: node.gradient.unsafeBaseAddress.pointee,
                                 prediction: prediction.value.unsafeBaseAddress,
                                 target: node.cache.unsafeBaseAddress, count: prediction.value.count)
    }
}

/// The mean over all elements of `(prediction - target)^2`, as a scalar variable.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func meanSquaredError<Scalar: BLASScalar>(_ prediction: Variable<Scalar>, _ target: Tensor<Scalar>) -> Variable<Scalar> {
    let tape = prediction.tape
    let predicted = tape.node(of: prediction, in: "meanSquaredError")
    precondition(predicted.value.shape == target.shape,
                 "meanSquaredError: prediction of shape \(predicted.value.shape) but target of shape \(target.shape)")
    let node = tape.nextNode(shape: [], operation: .meanSquaredError(prediction: prediction.index))
    node.prepareCache(count: target.count)
    let cached = node.cache.unsafeMutableBaseAddress()
    target.withUnsafeBufferPointer { cached.update(from: $0.baseAddress!, count: $0.count) }
    node.value.unsafeMutableBaseAddress().pointee = meanSquaredErrorForward(
        prediction: predicted.value.unsafeBaseAddress, target: cached, count: target.count)
    node.requiresGradient = predicted.requiresGradient
    return tape.recordedVariable()
}

/// The training losses a ``Trainer``-style loop chooses between (the config's `training.loss`).
public enum LossFunction: String, Sendable, CaseIterable {
    /// `meanSquaredError`: the mean over every element of (prediction - target)^2; targets [rows, outputs].
    case meanSquaredError = "mse"
    /// `crossEntropy`: softmax over the outputs, the mean over rows; targets [rows, 1] of class indices.
    case crossEntropy

    /// The loss of `prediction` against `target`, recorded on the prediction's tape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func callAsFunction<Scalar: BLASScalar>(_ prediction: Variable<Scalar>, _ target: Tensor<Scalar>) -> Variable<Scalar> {
        switch self {
        case .meanSquaredError: NeuralNet.meanSquaredError(prediction, target)
        case .crossEntropy: NeuralNet.crossEntropy(prediction, classes: target)
        }
    }
}
