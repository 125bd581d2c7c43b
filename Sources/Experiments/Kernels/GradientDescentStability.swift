/// Whether plain gradient descent (full batch, no momentum) can be stable for a network at its
/// initialisation: the number `eta * lambda_max(Theta_0) / n`.
///
/// The loss is `L = (1/n) sum_i (f(x_i) - y_i)^2` (no 1/2), so a step moves the outputs of the
/// linearised network by `-(2 eta / n) Theta (f - y)`, and the residual is multiplied by
/// `I - (2 eta / n) Theta`: it shrinks along every eigenvector only while
/// `2 eta lambda_max / n < 2`, that is while the number is below 1 (``criticalValue``). (For a
/// loss with a factor 1/2 the same bound reads `eta lambda_max / n < 2`.) Above it the
/// linearised dynamics diverge; a finite network then diverges, or its kernel moves until the
/// step fits (the catapult phase, Lewkowycz et al. 2020): either way it leaves the NTK regime.
public struct GradientDescentStability: Sendable, Equatable {
    /// The number at which the linearised gradient-descent dynamics of this project's loss diverge.
    public static let criticalValue = 1.0
    /// The kernel is computed on at most this many training points (8 MiB in Float64).
    public static let largestKernelPoints = 1024

    /// `eta * lambda_max / m`, m the points the kernel was computed on.
    public var number: Double
    /// lambda_max of Theta_0 on those points.
    public var largestEigenvalue: Double
    public var learningRate: Double
    /// The training points the kernel was computed on: all n, or the first ``largestKernelPoints``
    /// (then lambda_max / m estimates lambda_max / n: the top eigenvalue of a kernel with a large
    /// mean grows in proportion to the points).
    public var points: Int
    public var trainingPoints: Int

    /// Measures the number for `model` as it is now (at initialisation) on `inputs`' first rows.
    public static func measure<Scalar: BLASScalar>(_ model: Sequential<Scalar>, inputs: Tensor<Scalar>,
                                                   learningRate: Double) throws -> GradientDescentStability {
        let points = min(inputs.rows, largestKernelPoints)
        let kernel = try model.empiricalTangentKernel(leadingRows(inputs, points)).converted(to: Double.self)
        let top = try kernel.largestSymmetricEigenvalue()
        return GradientDescentStability(number: learningRate * top / Double(points), largestEigenvalue: top,
                                        learningRate: learningRate, points: points, trainingPoints: inputs.rows)
    }

    /// Whether the number describes a run: plain gradient descent (SGD without momentum on full
    /// batches) on the mean squared error of one output (the scalar NTK; cross-entropy's step
    /// bound involves its own Hessian, and several outputs a block kernel).
    public static func applies(to config: ExperimentConfig) -> Bool {
        let training = config.training
        guard training.loss == .meanSquaredError, config.data.outputSize == 1 else { return false }
        if case .sgd(let momentum, _) = training.optimizer, momentum == 0, training.batchSize == .full { return true }
        return false
    }

    /// The warning to print when the number is above ``criticalValue``, or nil.
    public var warning: String? {
        guard number > Self.criticalValue else { return nil }
        return "warning: gradient descent is unstable at initialisation: learningRate * lambda_max(Theta_0) / n = "
            + "\(compact(learningRate)) * \(compact(largestEigenvalue)) / \(points) = \(compact(number)), above "
            + "\(compact(Self.criticalValue)) (where the linearised dynamics of the mean squared error diverge): the run "
            + "will diverge or leave the NTK regime; a learning rate below \(compact(Double(points) / largestEigenvalue)) is stable"
    }
}
