import COpenBLAS
import Glibc
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// A floating-point type that OpenBLAS and LAPACKE handle: `Float` (the `s` routines) or
/// `Double` (the `d` routines). Each requirement is a thin wrapper over one C call, so generic
/// code specialised for a concrete type costs exactly the C call.
public protocol BLASScalar: BinaryFloatingPoint, Sendable, Codable, LosslessStringConvertible
where Self.RawSignificand: FixedWidthInteger {
    /// The safetensors dtype name: "F32" or "F64".
    static var safetensorsDType: String { get }

    /// C = alpha * op(A) * op(B) + beta * C, row-major.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// The lower triangle of C = alpha * A Aᵀ + beta * C, row-major A of n rows and k columns
    /// (half of `gemm`'s work for a Gram matrix; the strict upper triangle of C is left as it was).
    static func syrkLower(
        n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y = alpha * op(A) * x + beta * y, row-major A of m rows and n columns.
    static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    /// y += alpha * x over n contiguous elements.
    static func axpy(n: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// x *= alpha over n contiguous elements.
    static func scal(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>)
    /// The dot product of n contiguous elements.
    static func dot(n: Int, x: UnsafePointer<Self>, y: UnsafePointer<Self>) -> Self
    /// Lower Cholesky factor in place (row-major, n x n); returns LAPACK's info.
    static func potrf(n: Int, a: UnsafeMutablePointer<Self>, lda: Int) -> Int32
    /// Solves A X = B from the lower Cholesky factor of A; B is n x nrhs row-major, overwritten.
    static func potrs(n: Int, nrhs: Int, factor: UnsafePointer<Self>, ldf: Int,
                      b: UnsafeMutablePointer<Self>, ldb: Int) -> Int32

    /// 64 bytes of this type as one SIMD value (8 Doubles, 16 Floats): the unit of work of the
    /// vectorised loops, which specialise for `Float` and `Double` to packed instructions.
    associatedtype Lanes: SIMD where Lanes.Scalar == Self
    /// The square root of each lane, correctly rounded as `sqrt` is. Packed (`sqrtpd`, `sqrtps`)
    /// on x86-64: `squareRoot()` on Linux carries an errno check per element that keeps a loop
    /// scalar.
    static func squareRoots(_ x: Lanes) -> Lanes
    /// Each lane of `values` where the same lane of `condition` is greater than zero, and zero
    /// elsewhere (NaN conditions give zero): ReLU's forward and backward. A requirement so that
    /// each type compiles it on its concrete SIMD type, to packed compares and ands; the generic
    /// `replacing(with:where:)` went lane by lane through the stack (85 us against 3 us on
    /// 12800 Doubles).
    static func keepingWherePositive(_ values: Lanes, _ condition: Lanes) -> Lanes

    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func acos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

@inline(__always) @usableFromInline
func cblasTranspose(_ transposed: Bool) -> CBLAS_TRANSPOSE {
    transposed ? CblasTrans : CblasNoTrans
}

extension Float: BLASScalar {
    public static var safetensorsDType: String { "F32" }

    public typealias Lanes = SIMD16<Float>

    @_transparent
    public static func keepingWherePositive(_ values: Lanes, _ condition: Lanes) -> Lanes {
        Lanes().replacing(with: values, where: condition .> 0)
    }

    @_transparent
    public static func squareRoots(_ x: Lanes) -> Lanes {
#if arch(x86_64)
        Lanes(lowHalf: SIMD8(lowHalf: _mm_sqrt_ps(x.lowHalf.lowHalf), highHalf: _mm_sqrt_ps(x.lowHalf.highHalf)),
              highHalf: SIMD8(lowHalf: _mm_sqrt_ps(x.highHalf.lowHalf), highHalf: _mm_sqrt_ps(x.highHalf.highHalf)))
#else
        var result = x
        for lane in x.indices { result[lane] = x[lane].squareRoot() }
        return result
#endif
    }

    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @inlinable
    public static func syrkLower(
        n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    @inlinable
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, cblasTranspose(transposeA), Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, 1, beta, y, 1)
    }

    @inlinable
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    @inlinable
    public static func scal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(n), alpha, x, 1)
    }

    @inlinable
    public static func dot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }

    public static func potrf(n: Int, a: UnsafeMutablePointer<Float>, lda: Int) -> Int32 {
        LAPACKE_spotrf(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), a, Int32(lda))
    }

    public static func potrs(n: Int, nrhs: Int, factor: UnsafePointer<Float>, ldf: Int,
                             b: UnsafeMutablePointer<Float>, ldb: Int) -> Int32 {
        LAPACKE_spotrs(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), Int32(nrhs),
                       factor, Int32(ldf), b, Int32(ldb))
    }

    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable public static func erf(_ x: Float) -> Float { erff(x) }
    @inlinable public static func acos(_ x: Float) -> Float { acosf(x) }
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: BLASScalar {
    public static var safetensorsDType: String { "F64" }

    public typealias Lanes = SIMD8<Double>

    @_transparent
    public static func keepingWherePositive(_ values: Lanes, _ condition: Lanes) -> Lanes {
        Lanes().replacing(with: values, where: condition .> 0)
    }

    @_transparent
    public static func squareRoots(_ x: Lanes) -> Lanes {
#if arch(x86_64)
        Lanes(lowHalf: SIMD4(lowHalf: _mm_sqrt_pd(x.lowHalf.lowHalf), highHalf: _mm_sqrt_pd(x.lowHalf.highHalf)),
              highHalf: SIMD4(lowHalf: _mm_sqrt_pd(x.highHalf.lowHalf), highHalf: _mm_sqrt_pd(x.highHalf.highHalf)))
#else
        var result = x
        for lane in x.indices { result[lane] = x[lane].squareRoot() }
        return result
#endif
    }

    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @inlinable
    public static func syrkLower(
        n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    @inlinable
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(CblasRowMajor, cblasTranspose(transposeA), Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, 1, beta, y, 1)
    }

    @inlinable
    public static func axpy(n: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(Int32(n), alpha, x, 1, y, 1)
    }

    @inlinable
    public static func scal(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>) {
        cblas_dscal(Int32(n), alpha, x, 1)
    }

    @inlinable
    public static func dot(n: Int, x: UnsafePointer<Double>, y: UnsafePointer<Double>) -> Double {
        cblas_ddot(Int32(n), x, 1, y, 1)
    }

    public static func potrf(n: Int, a: UnsafeMutablePointer<Double>, lda: Int) -> Int32 {
        LAPACKE_dpotrf(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), a, Int32(lda))
    }

    public static func potrs(n: Int, nrhs: Int, factor: UnsafePointer<Double>, ldf: Int,
                             b: UnsafeMutablePointer<Double>, ldb: Int) -> Int32 {
        LAPACKE_dpotrs(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), Int32(nrhs),
                       factor, Int32(ldf), b, Int32(ldb))
    }

    @inlinable public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inlinable public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    @inlinable public static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    @inlinable public static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    @inlinable public static func acos(_ x: Double) -> Double { Glibc.acos(x) }
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
}
