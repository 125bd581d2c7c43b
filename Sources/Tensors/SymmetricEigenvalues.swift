import COpenBLAS

extension Tensor where Scalar == Double {
    /// The largest eigenvalue of a symmetric matrix, through LAPACKE's `dsyevr` asked for the top
    /// one only (eigenvalue index n, no eigenvectors): O(n^3 / 3) for the tridiagonal reduction, far
    /// less than all eigenvalues with their vectors. Only the lower triangle is read.
    /// - Throws: `LinearAlgebraError.illegalArgument` for an argument LAPACK refuses (a bug on our
    ///   side); `.notConverged` when the iteration fails (a matrix holding NaN or infinities).
    public func largestSymmetricEigenvalue() throws -> Double {
        precondition(rank == 2 && shape[0] == shape[1] && shape[0] > 0,
                     "largestSymmetricEigenvalue: expected a non-empty square matrix, got shape \(shape)")
        let n = shape[0]
        var copy = self  // dsyevr overwrites its input
        var found: Int32 = 0
        var eigenvalues = [Double](repeating: 0, count: n)
        var unusedVectors = 0.0
        var support = [Int32](repeating: 0, count: 2)
        let info = copy.withUnsafeMutableBufferPointer { a in
            LAPACKE_dsyevr(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "I")), CChar(UInt8(ascii: "L")),
                           Int32(n), a.baseAddress!, Int32(n), 0, 0, Int32(n), Int32(n), 0, &found, &eigenvalues,
                           &unusedVectors, 1, &support)
        }
        if info < 0 { throw LinearAlgebraError.illegalArgument(routine: "dsyevr", position: Int(-info)) }
        if info > 0 || found != 1 { throw LinearAlgebraError.notConverged(routine: "dsyevr", size: n) }
        return eigenvalues[0]
    }
}


/// The eigenvalues of a symmetric matrix, ascending (LAPACK's `dsyevd`, values only), in Float64.
/// Only the lower triangle is read.
/// - Throws: `LinearAlgebraError.illegalArgument` for an argument LAPACK refuses, and
///   `LinearAlgebraError.notConverged` when its iteration fails (NaN entries).
public func symmetricEigenvalues(_ matrix: Tensor<Double>) throws -> [Double] {
    precondition(matrix.rank == 2 && matrix.shape[0] == matrix.shape[1],
                 "symmetricEigenvalues: expected a square matrix, got shape \(matrix.shape)")
    let n = matrix.shape[0]
    if n == 0 { return [] }
    var work = matrix  // dsyevd overwrites its input
    var eigenvalues = [Double](repeating: 0, count: n)
    let info = work.withUnsafeMutableBufferPointer { a in
        eigenvalues.withUnsafeMutableBufferPointer { w in
            LAPACKE_dsyevd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "L")), Int32(n), a.baseAddress!, Int32(n),
                           w.baseAddress!)
        }
    }
    if info < 0 { throw LinearAlgebraError.illegalArgument(routine: "dsyevd", position: Int(-info)) }
    if info > 0 { throw LinearAlgebraError.notConverged(routine: "dsyevd", size: n) }
    return eigenvalues
}
