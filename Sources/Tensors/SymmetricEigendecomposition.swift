import COpenBLAS

/// The eigendecomposition `A = V diag(values) Vᵀ` of a real symmetric matrix, by LAPACK's
/// divide-and-conquer `dsyevd`. Float64 only: its callers (the linearised network's closed form)
/// raise eigenvalues to powers in the thousands, where single precision's 1e-7 is not enough.
public struct SymmetricEigendecomposition: Sendable {
    /// The eigenvalues, ascending.
    public let values: [Double]
    /// V, n x n, row-major: column j is the unit eigenvector of `values[j]`.
    public let vectors: Tensor<Double>

    /// Decomposes `matrix` (n x n; only its lower triangle is read, so a matrix symmetric up to
    /// rounding is treated as its lower triangle mirrored).
    /// - Throws: `LinearAlgebraError.nonFiniteEntries` for NaN or infinite entries,
    ///   `.notConverged` when LAPACK's iteration does not converge.
    public init(_ matrix: Tensor<Double>) throws {
        precondition(matrix.rank == 2 && matrix.shape[0] == matrix.shape[1],
                     "SymmetricEigendecomposition: the matrix must be square, got shape \(matrix.shape)")
        let n = matrix.shape[0]
        guard matrix.allFinite else { throw LinearAlgebraError.nonFiniteEntries(size: n) }
        var work = matrix
        var eigenvalues = [Double](repeating: 0, count: n)
        guard n > 0 else {
            values = []
            vectors = work
            return
        }
        let info = eigenvalues.withUnsafeMutableBufferPointer { w in
            LAPACKE_dsyevd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n),
                           work.unsafeMutableBaseAddress(), Int32(n), w.baseAddress)
        }
        if info < 0 { throw LinearAlgebraError.illegalArgument(routine: "dsyevd", position: Int(-info)) }
        if info > 0 { throw LinearAlgebraError.notConverged(routine: "dsyevd", size: n) }
        values = eigenvalues
        vectors = work
    }
}
