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
    ///
    /// The factorisation works in the kernel's own storage: pass a matrix nobody else holds (the
    /// last use of a variable, or `consume kernel`) and no second N x N matrix is allocated, which
    /// is what lets N = 16,384 in Float64 (2 GiB a matrix) fit beside the kernel computation. A
    /// factorisation that fails overwrote only the lower triangle, so the next attempt restores
    /// it from the upper one (the kernel is first made symmetric from its lower triangle).
    /// - Parameters:
    ///   - kernel: `K(X, X)`, N x N, symmetric positive semi-definite (only its lower triangle is read).
    ///   - targets: y, N values or N x k.
    ///   - firstJitter: the first jitter tried, relative to the mean diagonal entry.
    ///   - maximumAttempts: factorisations tried before giving up, the first without jitter.
    /// - Throws: `KernelRegressionError` when the kernel has non-finite entries or a diagonal
    ///   that is not positive, or when no jitter in the schedule makes it positive definite.
    public init(kernel: consuming Tensor<Scalar>, targets: Tensor<Scalar>, firstJitter: Scalar = 1e-12, maximumAttempts: Int = 11) throws {
        precondition(kernel.rank == 2 && kernel.shape[0] == kernel.shape[1],
                     "KernelRegression: the kernel matrix must be square, got shape \(kernel.shape)")
        precondition(targets.shape.first == kernel.shape[0] && targets.rank <= 2,
                     "KernelRegression: \(kernel.shape[0]) training points but targets of shape \(targets.shape)")
        precondition(maximumAttempts >= 1, "KernelRegression: maximumAttempts must be at least 1")
        let n = kernel.shape[0]
        var matrix = kernel
        let k = matrix.unsafeMutableBaseAddress()
        guard Self.lowerTriangleIsFinite(k, n: n) else { throw KernelRegressionError.nonFiniteKernel }
        Self.mirrorLowerOntoUpper(k, n: n)
        let diagonal = (0..<n).map { k[$0 &* n &+ $0] }
        let meanDiagonal = n == 0 ? 1 : diagonal.reduce(0, +) / Scalar(n)
        guard meanDiagonal > 0 else { throw KernelRegressionError.diagonalNotPositive(mean: Double(meanDiagonal)) }

        var jitter: Scalar = 0
        var attempt = 1
        while true {
            if attempt > 1 {
                // The failed attempt overwrote the lower triangle: restore it, with the new jitter.
                Self.restoreLowerFromUpper(k, n: n)
                for i in 0..<n { k[i &* n &+ i] = diagonal[i] + jitter }
            }
            // A pivot below n ulp of the largest diagonal entry is rounding noise (an exactly
            // duplicated point can leave one of 1e-16 relative, positive or not): count it singular.
            let diagonalMaximum = diagonal.reduce(0) { max($0, $1) } + jitter
            let smallestPivot = Scalar(max(n, 1)) * Scalar.ulpOfOne * diagonalMaximum
            let accepted: CholeskyFactor<Scalar>?
            do {
                accepted = try CholeskyFactor(factoringInPlace: &matrix, smallestPivot: smallestPivot)
            } catch let error as LinearAlgebraError {
                guard case .notPositiveDefinite = error else { throw error }
                accepted = nil
            }
            if let accepted {
                factor = accepted
                self.jitter = jitter
                self.attempts = attempt
                coefficients = try accepted.solve(targets)
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

    static func lowerTriangleIsFinite(_ k: UnsafeMutablePointer<Scalar>, n: Int) -> Bool {
        for i in 0..<n {
            for j in 0...i where !k[i &* n &+ j].isFinite { return false }
        }
        return true
    }

    /// Makes the matrix symmetric from its lower triangle, in 64 x 64 blocks.
    static func mirrorLowerOntoUpper(_ k: UnsafeMutablePointer<Scalar>, n: Int) {
        let block = 64
        for i0 in stride(from: 0, to: n, by: block) {
            for j0 in stride(from: 0, through: i0, by: block) {
                for i in i0..<min(i0 + block, n) {
                    for j in j0..<min(j0 + block, i) { k[j &* n &+ i] = k[i &* n &+ j] }
                }
            }
        }
    }

    /// Copies the strict upper triangle back onto the lower one (the inverse of the mirror).
    static func restoreLowerFromUpper(_ k: UnsafeMutablePointer<Scalar>, n: Int) {
        let block = 64
        for i0 in stride(from: 0, to: n, by: block) {
            for j0 in stride(from: 0, through: i0, by: block) {
                for i in i0..<min(i0 + block, n) {
                    for j in j0..<min(j0 + block, i) { k[i &* n &+ j] = k[j &* n &+ i] }
                }
            }
        }
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
        // The kernels go out of scope before the fit, so the fit factorises the one it needs in place.
        var matrix = try { () throws -> Tensor<Double> in
            let kernel = try network.infiniteWidthKernel(inputs)
            return kind == .ntk ? kernel.ntk : kernel.nngp
        }()
        self.network = network
        self.inputs = inputs
        self.kind = kind
        regression = try KernelRegression(kernel: consume matrix, targets: targets)
    }

    /// The predictions at the rows of `x`.
    public func predict(_ x: Tensor<Network.Scalar>) throws -> Tensor<Double> {
        let kernel = try network.infiniteWidthKernel(x, inputs)
        return regression.predict(crossKernel: kind == .ntk ? kernel.ntk : kernel.nngp)
    }
}
