import COpenBLAS

/// The eigenvalues of a symmetric matrix, ascending (LAPACK's `dsyevd`, values only), in Float64.
/// Only the lower triangle is read.
/// - Throws: `LinearAlgebraError.illegalArgument` for an argument LAPACK refuses, and
///   `LinearAlgebraError.eigenvaluesDidNotConverge` when its iteration fails (NaN entries).
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
    if info > 0 { throw LinearAlgebraError.eigenvaluesDidNotConverge(size: n) }
    return eigenvalues
}
