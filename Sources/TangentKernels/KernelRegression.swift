import NeuralNet

/// Kernel regression: `f(x*) = K(x*, X) K(X, X)^-1 y`.
///
/// With the NTK this is the function an infinitely wide network converges to when trained by
/// gradient descent on the mean squared error from a zero-output start; with the NNGP kernel it
/// is the posterior mean of the Bayesian network. The system is solved by Cholesky (LAPACK's
/// `?potrf`/`?potrs`). A kernel matrix that is singular to working precision (duplicate points,
/// or points a network cannot tell apart) gets a jitter on its diagonal: none at first, then
/// `1e-12` times the mean diagonal entry, ten times more at each further attempt. The jitter used
/// is reported in `jitter`.
public struct KernelRegression<Scalar: BLASScalar>: Sendable {
    /// The Cholesky factor of `K(X, X) + jitter I`.
    public let factor: CholeskyFactor<Scalar>
    /// `alpha = (K(X, X) + jitter I)^-1 y`: one row per training point, one column per target
    /// (a vector for a vector of targets).
    public let coefficients: Tensor<Scalar>
    /// The jitter added to every diagonal entry: 0 when `K(X, X)` factorised as it is.
    public let jitter: Scalar
    /// How many factorisations were tried (1 when no jitter was needed).
    public let attempts: Int

    /// Fits the targets.
    /// - Parameters:
    ///   - kernel: `K(X, X)`, N x N, symmetric positive semi-definite (only its lower triangle is read).
    ///   - targets: y, N values or N x k.
    ///   - firstJitter: the first jitter tried, relative to the mean diagonal entry.
    ///   - maximumAttempts: factorisations tried before giving up, the first without jitter.
    /// - Throws: `KernelRegressionError` when the kernel has non-finite entries or a diagonal
    ///   that is not positive, or when no jitter in the schedule makes it positive definite.
    public init(kernel: Tensor<Scalar>, targets: Tensor<Scalar>, firstJitter: Scalar = 1e-12, maximumAttempts: Int = 11) throws {
        precondition(kernel.rank == 2 && kernel.shape[0] == kernel.shape[1],
                     "KernelRegression: the kernel matrix must be square, got shape \(kernel.shape)")
        precondition(targets.shape.first == kernel.shape[0] && targets.rank <= 2,
                     "KernelRegression: \(kernel.shape[0]) training points but targets of shape \(targets.shape)")
        precondition(maximumAttempts >= 1, "KernelRegression: maximumAttempts must be at least 1")
        let n = kernel.shape[0]
        guard kernel.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else {
            throw KernelRegressionError.nonFiniteKernel
        }
        let meanDiagonal = n == 0 ? 1 : (0..<n).reduce(Scalar(0)) { $0 + kernel[$1, $1] } / Scalar(n)
        guard meanDiagonal > 0 else { throw KernelRegressionError.diagonalNotPositive(mean: Double(meanDiagonal)) }

        var jitter: Scalar = 0
        var attempt = 1
        while true {
            var jittered = kernel
            if jitter > 0 {
                jittered.withUnsafeMutableBufferPointer { k in
                    for i in 0..<n { k[i &* n &+ i] += jitter }
                }
            }
            let factor: CholeskyFactor<Scalar>?
            do {
                factor = try CholeskyFactor(jittered)
            } catch let error as LinearAlgebraError {
                guard case .notPositiveDefinite = error else { throw error }
                factor = nil
            }
            if let factor, !Self.isSingular(factor, kernelDiagonalMaximum: Self.diagonalMaximum(jittered)) {
                self.factor = factor
                self.jitter = jitter
                self.attempts = attempt
                coefficients = try factor.solve(targets)
                return
            }
            guard attempt < maximumAttempts else {
                throw KernelRegressionError.notPositiveDefinite(size: n, largestJitter: Double(jitter), attempts: attempt)
            }
            // Attempt k (from 2 on) adds firstJitter * mean diagonal * 10^(k - 2).
            jitter = firstJitter * meanDiagonal * Scalar(Double.pow(10, Double(attempt - 1)))
            attempt += 1
        }
    }

    /// `K(x*, X) alpha`: one row per point x*, as many columns as the targets had (a vector for a
    /// vector of targets).
    /// - Parameter crossKernel: `K(x*, X)`, M x N.
    public func predict(crossKernel: Tensor<Scalar>) -> Tensor<Scalar> {
        let n = factor.lower.shape[0]
        precondition(crossKernel.rank == 2 && crossKernel.shape[1] == n,
                     "KernelRegression.predict: the cross kernel must be [points, \(n)], got \(crossKernel.shape)")
        if coefficients.rank == 1 {
            return matmul(crossKernel, coefficients.reshaped([n, 1])).reshaped([crossKernel.shape[0]])
        }
        return matmul(crossKernel, coefficients)
    }

    /// A factorisation whose smallest pivot L_ii^2 is below n ulp times the largest diagonal entry
    /// counts as singular: such a pivot is rounding noise (an exactly duplicated point can leave a
    /// pivot of 1e-16 relative, positive or not), and solving with it would amplify the targets by
    /// ~1e16.
    static func isSingular(_ factor: CholeskyFactor<Scalar>, kernelDiagonalMaximum: Scalar) -> Bool {
        let n = factor.lower.shape[0]
        let threshold = Scalar(max(n, 1)) * Scalar.ulpOfOne * kernelDiagonalMaximum
        return factor.lower.withUnsafeBufferPointer { l in
            (0..<n).contains { l[$0 &* n &+ $0] * l[$0 &* n &+ $0] < threshold }
        }
    }

    static func diagonalMaximum(_ matrix: Tensor<Scalar>) -> Scalar {
        let n = matrix.shape[0]
        return matrix.withUnsafeBufferPointer { k in (0..<n).reduce(Scalar(0)) { max($0, k[$1 &* n &+ $1]) } }
    }
}

/// Why a kernel regression could not be fitted.
public enum KernelRegressionError: Error, CustomStringConvertible, Equatable {
    /// The kernel matrix holds NaN or infinity.
    case nonFiniteKernel
    /// The kernel matrix's diagonal has this mean, not positive: it cannot be a kernel of distinct
    /// functions, and no relative jitter can help.
    case diagonalNotPositive(mean: Double)
    /// Every factorisation failed, the last with this jitter.
    case notPositiveDefinite(size: Int, largestJitter: Double, attempts: Int)

    public var description: String {
        switch self {
        case .nonFiniteKernel:
            return "kernel regression: the kernel matrix holds NaN or infinite entries"
        case let .diagonalNotPositive(mean):
            return "kernel regression: the kernel matrix's diagonal has mean \(mean), not positive"
        case let .notPositiveDefinite(size, jitter, attempts):
            return "kernel regression: the \(size)x\(size) kernel matrix is not positive definite even with \(jitter) "
                + "added to its diagonal (\(attempts) attempts); it is far from a kernel matrix, or needs a larger jitter"
        }
    }
}

/// Which infinite-width kernel a regression uses.
public enum InfiniteWidthKernelKind: String, Sendable, Codable, CaseIterable {
    /// The NTK: the network trained to convergence by gradient descent.
    case ntk
    /// The NNGP kernel: the Bayesian posterior mean.
    case nngp
}

/// Kernel regression with a network's analytic infinite-width kernel: the predictions of the
/// infinitely wide version of `network`, trained on (inputs, targets). Float64 throughout.
public struct InfiniteWidthRegression<Network: Layer> {
    public let network: Network
    public let inputs: Tensor<Network.Scalar>
    public let kind: InfiniteWidthKernelKind
    /// The fitted regression, with the jitter it needed.
    public let regression: KernelRegression<Double>

    /// Fits `targets` at `inputs` with the network's NTK (or NNGP kernel).
    /// - Throws: `InfiniteWidthKernelError` for a network without closed-form kernels,
    ///   `KernelRegressionError` when the kernel matrix cannot be factorised.
    public init(network: Network, inputs: Tensor<Network.Scalar>, targets: Tensor<Double>, kind: InfiniteWidthKernelKind = .ntk) throws {
        let kernel = try network.infiniteWidthKernel(inputs)
        self.network = network
        self.inputs = inputs
        self.kind = kind
        regression = try KernelRegression(kernel: kind == .ntk ? kernel.ntk : kernel.nngp, targets: targets)
    }

    /// The predictions at the rows of `x`.
    public func predict(_ x: Tensor<Network.Scalar>) throws -> Tensor<Double> {
        let kernel = try network.infiniteWidthKernel(x, inputs)
        return regression.predict(crossKernel: kind == .ntk ? kernel.ntk : kernel.nngp)
    }
}
