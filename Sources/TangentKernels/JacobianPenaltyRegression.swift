import COpenBLAS
import Glibc
import NeuralNet

/// The infinitely wide network trained by gradient flow on the Jacobian-penalised loss
/// `L = (1/N) sum_i (f(x_i) - y_i)^2 + lambda (1/N) sum_i |df/dx(x_i)|^2` (the repository's MSE,
/// a mean over rows and the one output, plus `training.jacobianPenalty` times the mean squared
/// Jacobian norm over the full batch), from the zero function (the mean over initialisations,
/// as `InfiniteWidthRegression`).
///
/// With the Jacobian NTK Theta_J constant, the joint outputs G = (f, df/dx) move by
/// `dG(x)/dt = -(2/N) Theta_J(x, X) Lambda (G(X) - Yhat)`, with `Lambda = diag(1, lambda I_d)` per
/// point and targets `Yhat = (y_i, 0)` (docs/jacobian-kernels.md). So, with `A = (2/N) Theta_J(X, X) Lambda`,
/// `G_t(x) = Theta_J(x, X) Lambda (Theta_J(X, X) Lambda)^-1 (I - e^{-tA}) Yhat`, computed through
/// the symmetric `S = Lambda^(1/2) Theta_J(X, X) Lambda^(1/2) = U diag(s) Uᵀ` as
/// `G_t(x) = Theta_J(x, X) Lambda^(1/2) U diag((1 - e^{-(2/N) t s}) / s) Uᵀ Lambda^(1/2) Yhat`,
/// which stays finite for eigenvalues s near 0. At t = infinity this is
/// `Theta_J(x, X) Theta_J(X, X)^-1 Yhat`: it interpolates y, has zero input gradient at every
/// training point, and does not depend on lambda.
///
/// The Jacobian NTK's Gram is far worse conditioned than the NTK's; when its smallest eigenvalue is
/// not above `n ulp` of its largest (n = N (1 + d)), a jitter is added to its diagonal: `1e-12`
/// times the mean diagonal entry, ten times more at each further attempt, as `KernelRegression`
/// does. `eigenvalueRange` and `jitter` report both.
public struct JacobianPenaltyRegression<Network: Layer> {
    public let network: Network
    public let inputs: Tensor<Network.Scalar>
    /// lambda.
    public let penalty: Double
    /// The smallest and largest eigenvalues of Theta_J(X, X), before any jitter.
    public let eigenvalueRange: (minimum: Double, maximum: Double)
    /// Added to every diagonal entry of Theta_J(X, X): 0 when it was well enough conditioned.
    public let jitter: Double
    let targets: [Double]
    /// The decomposition of S (with the jitter), and whether S is Theta_J(X, X) itself (lambda = 1).
    let decomposition: (values: [Double], vectors: Tensor<Double>)
    let inputDimension: Int

    /// Decomposes the Jacobian NTK Gram of the training inputs.
    /// - Parameters:
    ///   - targets: y, one value a training point.
    ///   - penalty: lambda > 0 (without a penalty use `InfiniteWidthRegression`).
    /// - Throws: `JacobianKernelError` for a network without a Jacobian NTK, `KernelRegressionError`
    ///   when the Gram holds non-finite entries or no jitter in the schedule makes it positive definite.
    public init(network: Network, inputs: Tensor<Network.Scalar>, targets: Tensor<Double>, penalty: Double, maximumAttempts: Int = 11) throws {
        precondition(penalty > 0 && penalty.isFinite, "JacobianPenaltyRegression: the penalty must be positive and finite, got \(penalty)")
        precondition(targets.count == inputs.shape[0],
                     "JacobianPenaltyRegression: \(inputs.shape[0]) training points but \(targets.count) targets")
        let gram = try network.infiniteWidthJacobianKernel(inputs).ntk
        let (n, size) = (gram.shape[0], 1 + inputs.shape[1])
        guard gram.scalars.allSatisfy({ $0.isFinite }) else { throw KernelRegressionError.nonFiniteKernel }
        // Eigenvectors only where they are used as they are (lambda = 1); else just the range.
        let unscaled = penalty == 1 ? try SymmetricEigendecomposition(gram) : nil
        let values = try unscaled?.values ?? symmetricEigenvalues(gram)
        let (minimum, maximum) = (values.first ?? 0, values.last ?? 0)
        var diagonalSum = 0.0
        for i in 0..<n { diagonalSum += gram[i, i] }
        let meanDiagonal = diagonalSum / Double(max(n, 1))
        guard meanDiagonal > 0 else { throw KernelRegressionError.diagonalNotPositive(mean: meanDiagonal) }
        // The jitter schedule: none, then 1e-12, 1e-11, ... times the mean diagonal entry.
        var jitter = 0.0, attempt = 1
        while minimum + jitter <= Double(n) * Double.ulpOfOne * (maximum + jitter) {
            guard attempt < maximumAttempts else {
                throw KernelRegressionError.notPositiveDefinite(size: n, largestJitter: jitter, attempts: attempt)
            }
            jitter = 1e-12 * meanDiagonal * Double.pow(10, Double(attempt - 1))
            attempt += 1
        }
        if penalty == 1 {
            decomposition = (values.map { $0 + jitter }, unscaled!.vectors)
        } else {
            // S = Lambda^(1/2) (Theta_J + jitter I) Lambda^(1/2).
            var scaled = gram
            let root = penalty.squareRoot()
            scaled.withUnsafeMutableBufferPointer { s in
                for r in 0..<n {
                    s[r * n + r] += jitter
                    for c in 0..<n { s[r * n + c] *= (r % size == 0 ? 1 : root) * (c % size == 0 ? 1 : root) }
                }
            }
            let scaledDecomposition = try SymmetricEigendecomposition(scaled)
            decomposition = (scaledDecomposition.values, scaledDecomposition.vectors)
        }
        self.network = network
        self.inputs = inputs
        self.penalty = penalty
        self.eigenvalueRange = (minimum, maximum)
        self.jitter = jitter
        self.inputDimension = inputs.shape[1]
        self.targets = targets.scalars
    }

    /// `G_t(x)` at the rows of `x`: one row a point, `1 + d` columns (f, df/dx_1, ..., df/dx_d).
    /// - Parameter time: t >= 0 in units of the gradient flow on L; `.infinity` for the limit.
    public func predict(_ x: Tensor<Network.Scalar>, time: Double = .infinity) throws -> Tensor<Double> {
        precondition(time >= 0, "JacobianPenaltyRegression.predict: the time must be >= 0, got \(time)")
        let size = 1 + inputDimension, n = targets.count * size
        let c = 2 / Double(targets.count)
        let scale = (0..<n).map { $0 % size == 0 ? 1 : penalty.squareRoot() }
        // alpha = Lambda^(1/2) U diag(phi_t(s)) Uᵀ Lambda^(1/2) Yhat, phi_t(s) = (1 - e^{-c t s}) / s.
        let (values, vectors) = decomposition
        let u = vectors.unsafeBaseAddress
        var projected = [Double](repeating: 0, count: n)
        for i in 0..<targets.count {
            let row = i * size  // Yhat has y_i at the point's first entry, zeros elsewhere; Lambda^(1/2) is 1 there.
            for k in 0..<n { projected[k] += u[row * n + k] * targets[i] }
        }
        for k in 0..<n {
            let s = values[k]
            let phi = time == .infinity ? 1 / s : (s > 0 ? -expm1(-c * time * s) / s : c * time)
            projected[k] *= phi
        }
        var alpha = [Double](repeating: 0, count: n)
        for r in 0..<n {
            var sum = 0.0
            for k in 0..<n { sum += u[r * n + k] * projected[k] }
            alpha[r] = scale[r] * sum
        }
        let cross = try network.infiniteWidthJacobianKernel(x, inputs).ntk
        let predictions = matmul(cross, Tensor(shape: [n, 1], scalars: alpha))
        return predictions.reshaped([x.shape[0], size])
    }
}
