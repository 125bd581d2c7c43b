import Glibc

/// Matrix products through BLAS `?gemm` (and `?gemv` when one side is a vector).
///
/// Shapes: `op(A)` is m x k, `op(B)` is k x n, `C` is m x n, where `op` transposes when asked.
extension Tensor {
    @inlinable
    static func productShape(
        _ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool
    ) -> (m: Int, n: Int, k: Int) {
        precondition(a.rank == 2 && b.rank == 2,
                     "matmul: expected two matrices, got shapes \(a.shape) and \(b.shape)")
        let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        precondition(ka == kb, """
            matmul: shapes \(a.shape)\(transposeA ? "ᵀ" : "") and \(b.shape)\(transposeB ? "ᵀ" : "") \
            not aligned: \(ka) (dim \(transposeA ? 0 : 1)) != \(kb) (dim \(transposeB ? 1 : 0))
            """)
        return (m, n, ka)
    }
}

/// Writes `C = alpha * op(A) op(B) + beta * C` into a preallocated `c` (no allocation when `c`
/// is uniquely referenced). `beta = 1` accumulates, as a backward pass does.
@inlinable
public func matmul<Scalar: BLASScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Scalar = 1, beta: Scalar = 0, into c: inout Tensor<Scalar>
) {
    let (m, n, k) = Tensor.productShape(a, b, transposeA: transposeA, transposeB: transposeB)
    precondition(c.shape == [m, n],
                 "matmul: result has shape \(c.shape) but \(a.shape) x \(b.shape) gives [\(m), \(n)]")
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                matmul(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!,
                       m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                       alpha: alpha, beta: beta)
            }
        }
    }
}

/// `op(A) op(B)` as a new matrix.
@inlinable
public func matmul<Scalar: BLASScalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<Scalar> {
    let (m, n, _) = Tensor.productShape(a, b, transposeA: transposeA, transposeB: transposeB)
    var c = Tensor<Scalar>(uninitializedShape: [m, n])
    matmul(a, b, transposeA: transposeA, transposeB: transposeB, into: &c)
    return c
}

/// The buffer-level product for contiguous row-major operands (leading dimensions are the
/// stored column counts). Uses `?gemv` when the result is a single row or column, and one
/// BLAS thread for small products (`BLASRuntime.withThreads`).
@inlinable
public func matmul<Scalar: BLASScalar>(
    _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, alpha: Scalar = 1, beta: Scalar = 0
) {
    if m == 0 || n == 0 { return }
    let lda = transposeA ? m : k
    let ldb = transposeB ? k : n
    if k == 0 {
        // BLAS leaves C untouched for k = 0 only when beta = 1; make the empty sum explicit.
        if beta == 0 { c.update(repeating: 0, count: m * n) } else if beta != 1 { Scalar.scal(n: m * n, alpha: beta, x: c) }
        return
    }
    BLASRuntime.withThreads(forMultiplyAdds: m &* n &* k) {
        if n == 1 {
            // C (m x 1) = op(A) b: a matrix-vector product; b is k contiguous values either way.
            Scalar.gemv(transposeA: transposeA, m: transposeA ? k : m, n: transposeA ? m : k,
                        alpha: alpha, a: a, lda: lda, x: b, beta: beta, y: c)
        } else if m == 1 {
            // C (1 x n) = a op(B), i.e. Cᵀ = op(B)ᵀ aᵀ: gemv on B with the flag flipped.
            Scalar.gemv(transposeA: !transposeB, m: transposeB ? n : k, n: transposeB ? k : n,
                        alpha: alpha, a: b, lda: ldb, x: a, beta: beta, y: c)
        } else if beta == 0 {
            // OpenBLAS zero-fills C in its own loop, then adds the product: on one Zen 3 core its
            // Zen kernels took 8 us more than memset does for 100 x 128 Doubles (88 against 80 us
            // with the product), and 30 us more for 256 x 512 Floats. So zero it here and add.
            memset(c, 0, m &* n &* MemoryLayout<Scalar>.stride)
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: n)
        } else {
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: n)
        }
    }
}
