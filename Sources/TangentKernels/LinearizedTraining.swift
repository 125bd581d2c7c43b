import Glibc
import NeuralNet

/// Gradient descent on the mean squared error of a network linearised at its initialisation,
/// `f_lin(x; θ) = f_0(x) + J_0(x) (θ - θ_0)`, solved in closed form through the eigendecomposition
/// of its tangent kernel on the training points, `Θ = Θ_0(X, X) = V diag(λ) Vᵀ`.
///
/// The loss is FiniteWidth's (and PyTorch's) mean squared error, the mean over the n training rows
/// and the k outputs: `L = (1 / (n k)) Σ_ik (f_ik - y_ik)^2`, so `∇_θ L = (2 / (n k)) J_0ᵀ (f - y)`
/// and one step of size η moves the training outputs by `-c Θ (f - y)` with
///
///     c = 2 η / (n k)
///
/// (Θ acting on each output column alone, as the analytic kernel `Θ ⊗ I` does; a finite network's
/// kernel couples its outputs, so callers give it one output). With `r_t = f_t(X) - y`:
///
///     gradient descent, t steps:  r_t = V diag((1 - c λ)^t) Vᵀ r_0
///     gradient flow, time η t:    r_t = V diag(exp(-c λ t)) Vᵀ r_0
///
/// and at any other point, summing the steps' updates `-c Θ(x, X) r_s`,
///
///     f_t(x) = f_0(x) + Θ(x, X) w_t,   w_t = V diag(h_t(λ)) Vᵀ r_0,
///     h_t(λ) = ((1 - c λ)^t - 1) / λ   (descent),   expm1(-c λ t) / λ   (flow).
///
/// For λ = 0 both are their limits, `h_t(0) = -c t` (the sum of t unit steps): the exact value of
/// `-c Σ_{s<t} (1 - c λ)^s`, not a pseudo-inverse that drops the direction. (For an empirical
/// kernel `Θ = J Jᵀ` a null-space direction v has `Jᵀ v = 0`, so `Θ(x, X) v = 0` and it adds
/// nothing; for eigenvalues that are rounding noise the bounded limit keeps the answer bounded.)
/// The powers are taken as `expm1(t log1p(-c λ))` where `1 - c λ > 0`, so a small `c λ` loses no
/// digits to `1 - (1 - c λ)^t`.
///
/// Neural-tangents' `predict.gradient_descent_mse` solves the flow for the loss
/// `(1 / (2 n k)) Σ (f - y)^2`; with `learning_rate = 2 η` its `predict_fn(t, ...)` is this type's
/// `.gradientFlow` after t epochs.
public struct LinearizedTraining: Sendable {
    /// Discrete steps (what `train` runs) or their continuous limit.
    public enum Dynamics: String, Sendable, Equatable {
        /// t steps of full-batch gradient descent with step η.
        case gradientDescent
        /// Gradient flow `dθ/dτ = -∇L` up to time `τ = η t` (neural-tangents' convention).
        case gradientFlow
    }

    /// Θ(X, X)'s eigenvalues (ascending) and eigenvectors.
    public let eigendecomposition: SymmetricEigendecomposition
    public let learningRate: Double
    public let dynamics: Dynamics
    /// `c = 2 η / (n k)`: the rate at which the kernel moves the training outputs.
    public let stepFactor: Double
    /// `Vᵀ r_0`, n x k: the initial residual in the eigenbasis.
    let projectedResidual: Tensor<Double>

    /// - Parameters:
    ///   - kernel: Θ(X, X), n x n, symmetric positive semi-definite (its lower triangle is read).
    ///   - initialResidual: `f_0(X) - y`, n x k.
    ///   - learningRate: η, the step of gradient descent.
    /// - Throws: `LinearAlgebraError.nonFiniteEntries` for a kernel with non-finite entries.
    public init(kernel: Tensor<Double>, initialResidual: Tensor<Double>, learningRate: Double, dynamics: Dynamics) throws {
        precondition(kernel.rank == 2 && kernel.shape[0] == kernel.shape[1],
                     "LinearizedTraining: the kernel must be square, got shape \(kernel.shape)")
        precondition(initialResidual.rank == 2 && initialResidual.shape[0] == kernel.shape[0],
                     "LinearizedTraining: \(kernel.shape[0]) training points but a residual of shape \(initialResidual.shape)")
        precondition(learningRate > 0 && learningRate.isFinite, "LinearizedTraining: the learning rate must be positive, got \(learningRate)")
        eigendecomposition = try SymmetricEigendecomposition(kernel)
        self.learningRate = learningRate
        self.dynamics = dynamics
        stepFactor = 2 * learningRate / Double(initialResidual.count)
        projectedResidual = matmul(eigendecomposition.vectors, initialResidual, transposeA: true)
    }

    /// The learning rate below which gradient descent on the linearised network converges:
    /// `|1 - c λ_max| < 1`, i.e. `η < n k / λ_max` (infinite for a zero kernel; gradient flow always converges).
    public var largestStableLearningRate: Double {
        let largest = eigendecomposition.values.last ?? 0
        return largest > 0 ? learningRate * 2 / (stepFactor * largest) : .infinity
    }

    /// How the component along an eigenvalue λ decays in t epochs: `(1 - c λ)^t` or `exp(-c λ t)`.
    public func decay(eigenvalue lambda: Double, epochs t: Int) -> Double {
        1 + decayMinusOne(eigenvalue: lambda, epochs: t)
    }

    /// `h_t(λ)`: the coefficient of the eigendirection in `w_t` per unit of initial residual.
    public func spectralFactor(eigenvalue lambda: Double, epochs t: Int) -> Double {
        if lambda == 0 { return -stepFactor * Double(t) }
        return decayMinusOne(eigenvalue: lambda, epochs: t) / lambda
    }

    /// `decay - 1`, without the cancellation when the decay is close to 1.
    func decayMinusOne(eigenvalue lambda: Double, epochs t: Int) -> Double {
        let rate = stepFactor * lambda
        switch dynamics {
        case .gradientFlow:
            return expm1(-rate * Double(t))
        case .gradientDescent:
            // log1p needs 1 - c λ > 0; past it (steps that overshoot) there is no cancellation to avoid.
            return rate < 1 ? expm1(Double(t) * log1p(-rate)) : pow(1 - rate, Double(t)) - 1
        }
    }

    /// `w_t`, n x k: the linearised network after t epochs is `f_0(x) + Θ(x, X) w_t`.
    public func coefficients(epochs t: Int) -> Tensor<Double> {
        inEigenbasis(epochs: t) { spectralFactor(eigenvalue: $0, epochs: t) }
    }

    /// `r_t = f_t(X) - y`, n x k, on the training points.
    public func trainingResidual(epochs t: Int) -> Tensor<Double> {
        inEigenbasis(epochs: t) { decay(eigenvalue: $0, epochs: t) }
    }

    /// `V diag(g(λ)) Vᵀ r_0`.
    func inEigenbasis(epochs t: Int, _ g: (Double) -> Double) -> Tensor<Double> {
        let values = eigendecomposition.values
        let factors = values.map(g)
        var scaled = projectedResidual
        let columns = scaled.shape[1]
        scaled.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<values.count {
                for column in 0..<columns { buffer[row &* columns &+ column] *= factors[row] }
            }
        }
        return matmul(eigendecomposition.vectors, scaled)
    }
}
