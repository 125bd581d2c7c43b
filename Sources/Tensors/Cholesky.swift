/// Cholesky factorisation and solves through LAPACKE (`?potrf`, `?potrs`).
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    /// LAPACK's `info > 0`: the leading minor of this order (1-based) is not positive definite.
    case notPositiveDefinite(leadingMinor: Int, size: Int)
    /// LAPACK's `info < 0`: an argument was illegal (a bug on our side, reported rather than hidden).
    case illegalArgument(routine: String, position: Int)
    /// An eigenvalue iteration that did not converge on this n x n matrix (it holds NaN or infinities).
    case notConverged(routine: String, size: Int)
    /// The n x n matrix holds NaN or infinite entries (checked before LAPACK sees it).
    case nonFiniteEntries(size: Int)

    public var description: String {
        switch self {
        case let .notPositiveDefinite(minor, size):
            return "Cholesky: the \(size)x\(size) matrix is not positive definite "
                + "(its leading minor of order \(minor) is not positive)"
        case let .illegalArgument(routine, position):
            return "\(routine): argument \(position) was illegal"
        case let .notConverged(routine, size):
            return "\(routine): the eigenvalues of the \(size)x\(size) matrix did not converge (does it hold NaN or infinities?)"
        case let .nonFiniteEntries(size):
            return "eigendecomposition: the \(size)x\(size) matrix holds NaN or infinite entries"
        }
    }
}

/// The lower-triangular Cholesky factor L of a symmetric positive definite matrix (A = L Lᵀ),
/// with the strict upper triangle zeroed.
public struct CholeskyFactor<Scalar: BLASScalar>: Sendable {
    /// L, n x n, lower triangular.
    public let lower: Tensor<Scalar>

    /// Factors `matrix`; only its lower triangle is read.
    /// - Throws: `LinearAlgebraError.notPositiveDefinite` naming the failing leading minor.
    public init(_ matrix: Tensor<Scalar>) throws {
        var copy = matrix
        try self.init(factoringInPlace: &copy)
    }

    /// Factors `matrix` in its own storage (no copy when nobody else holds it) and takes it: on
    /// success `matrix` is left empty ([0]) and `lower` holds the factor. On failure `matrix`
    /// keeps its shape, its lower triangle overwritten by LAPACK's partial factorisation and its
    /// strict upper triangle untouched (so a caller can restore a symmetric matrix and retry).
    /// - Parameter smallestPivot: a factorisation with a pivot `L_ii^2` below this counts as failed
    ///   at that minor: such a pivot is rounding noise, and solving with it amplifies the
    ///   right-hand side by its inverse.
    /// - Throws: `LinearAlgebraError.notPositiveDefinite` naming the failing leading minor.
    public init(factoringInPlace matrix: inout Tensor<Scalar>, smallestPivot: Scalar = 0) throws {
        precondition(matrix.rank == 2 && matrix.shape[0] == matrix.shape[1],
                     "Cholesky: expected a square matrix, got shape \(matrix.shape)")
        let n = matrix.shape[0]
        let info = matrix.withUnsafeMutableBufferPointer { Scalar.potrf(n: n, a: $0.baseAddress!, lda: max(n, 1)) }
        if info > 0 { throw LinearAlgebraError.notPositiveDefinite(leadingMinor: Int(info), size: n) }
        if info < 0 { throw LinearAlgebraError.illegalArgument(routine: "potrf", position: Int(-info)) }
        let tinyPivot = matrix.withUnsafeBufferPointer { l in
            (0..<n).first { l[$0 &* n &+ $0] * l[$0 &* n &+ $0] < smallestPivot }
        }
        if let tinyPivot { throw LinearAlgebraError.notPositiveDefinite(leadingMinor: tinyPivot + 1, size: n) }
        matrix.withUnsafeMutableBufferPointer { l in
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { l[i &* n &+ j] = 0 } }
        }
        lower = matrix
        matrix = Tensor(uninitializedShape: [0])
    }

    /// Solves A X = B for X; `rightHandSide` is n x r (or a vector of n).
    public func solve(_ rightHandSide: Tensor<Scalar>) throws -> Tensor<Scalar> {
        let n = lower.shape[0]
        precondition(rightHandSide.shape.first == n,
                     "Cholesky solve: factor is \(lower.shape) but right-hand side has shape \(rightHandSide.shape)")
        let columnsOfB = rightHandSide.rank == 1 ? 1 : rightHandSide.shape[1]
        var solution = rightHandSide
        let info = lower.withUnsafeBufferPointer { l in
            solution.withUnsafeMutableBufferPointer { b in
                Scalar.potrs(n: n, nrhs: columnsOfB, factor: l.baseAddress!, ldf: max(n, 1),
                             b: b.baseAddress!, ldb: max(columnsOfB, 1))
            }
        }
        if info < 0 { throw LinearAlgebraError.illegalArgument(routine: "potrs", position: Int(-info)) }
        return solution
    }
}

extension Tensor {
    /// Solves `self * X = rightHandSide` for a symmetric positive definite `self` by Cholesky.
    public func choleskySolve(_ rightHandSide: Tensor) throws -> Tensor {
        try CholeskyFactor(self).solve(rightHandSide)
    }
}
