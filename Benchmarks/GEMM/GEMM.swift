// The GEMM hot path: `Tensor.matmul(_:_:into:)` against a raw `cblas_?gemm` call on the same
// buffers, in Float and Double, on 1 and 2 BLAS threads.
//
// Shapes: C (m x n) = A (m x k) B (k x n), row-major, no transposes, alpha = 1, beta = 0;
// one product costs 2 m n k floating-point operations.
//
// Each case has three benchmarks, named `<s|d>gemm <shape> t=<threads> <kind>`:
// - `matmul`: `matmul(a, b, into: &c)` with `c` preallocated; GFLOP/s and wall clock per call.
// - `cblas`: `cblas_sgemm`/`cblas_dgemm` on the same three buffers; GFLOP/s and wall clock.
// - `ratio`: both calls timed back to back in every iteration (the order alternates), reporting
//   `matmul/cblas x1000 wall` = 1000 * t_cblas / t_matmul, so 1000 means equal speed and 970
//   means matmul runs at 0.97x raw. Pairs taken close in time cancel much of the noise from other
//   work on the machine, which separate benchmarks cannot. `matmul/cblas x1000 CPU` is the same
//   ratio from the process's CPU time, which time spent preempted by other processes does not
//   inflate: the steadier of the two on a shared machine.
// At t=2, `matmul` runs products below `BLASRuntime.multiThreadingThreshold` (2^20 multiply-adds,
// n = 64 here) on one thread while raw cblas uses two: that ratio measures the threshold's choice
// (above 1000 where one thread is the faster), not the wrapper's overhead.

import Benchmark
// `cblas_?gemm` for the raw baseline. Tensors depends on this system library without exporting
// it; SwiftPM passes the module map on to everything that depends on Tensors, so it imports here.
import COpenBLAS
import Glibc
import Synchronization
import Tensors

// MARK: - Cases

/// One product C (m x n) = A (m x k) B (k x n) and its place in the benchmark names.
struct GEMMShape: Sendable {
    let m: Int, n: Int, k: Int
    /// The shape part of a benchmark name, zero-padded so names sort by size.
    let label: String

    /// A square product of side n.
    static func square(_ n: Int) -> GEMMShape {
        GEMMShape(m: n, n: n, k: n, label: "n=\(padded(n))")
    }

    /// An MLP layer's forward product: a batch of `batch` rows through a `width` x `width` weight.
    static func layer(batch: Int, width: Int) -> GEMMShape {
        GEMMShape(m: batch, n: width, k: width, label: "m=\(batch) k=n=\(padded(width))")
    }

    private static func padded(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Floating-point operations in one product.
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

let shapes: [GEMMShape] = [64, 128, 256, 512, 1024, 2048].map(GEMMShape.square)
    + [128, 512, 1024].map { GEMMShape.layer(batch: 256, width: $0) }
let threadCounts = [1, 2]

// MARK: - The raw baseline

/// A scalar with a direct `cblas_?gemm` call, written out here rather than taken from `Tensors`
/// so the baseline shares no code with the path it measures.
protocol RawGEMMScalar: BLASScalar {
    /// The BLAS routine's name, also the prefix of the benchmark names.
    static var routine: String { get }
    /// C = A B through `cblas_?gemm`: row-major, no transposes, alpha 1, beta 0.
    static func rawGEMM(m: Int, n: Int, k: Int,
                        a: UnsafePointer<Self>, b: UnsafePointer<Self>, c: UnsafeMutablePointer<Self>)
}

extension Float: RawGEMMScalar {
    static var routine: String { "sgemm" }

    @inline(__always)
    static func rawGEMM(m: Int, n: Int, k: Int,
                        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    }
}

extension Double: RawGEMMScalar {
    static var routine: String { "dgemm" }

    @inline(__always)
    static func rawGEMM(m: Int, n: Int, k: Int,
                        a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    }
}

// MARK: - Operands

/// The three matrices of one case, made in a benchmark's setup and dropped in its teardown, so
/// a process holds only the operands of the benchmark it runs.
final class GEMMOperands<Scalar: RawGEMMScalar> {
    let shape: GEMMShape
    let a: Tensor<Scalar>
    let b: Tensor<Scalar>
    var c: Tensor<Scalar>
    // The tensors' storage, for the raw call. Each tensor owns one allocation that does not move,
    // and `c` stays uniquely referenced (matmul writes it in place, never copying), so these stay
    // valid for the object's lifetime.
    private let pointerA: UnsafePointer<Scalar>
    private let pointerB: UnsafePointer<Scalar>
    private let pointerC: UnsafeMutablePointer<Scalar>

    init(_ shape: GEMMShape) {
        self.shape = shape
        var generator = Xoshiro256StarStar(seed: 0x6E6D)
        a = .randomUniform([shape.m, shape.k], low: -1, high: 1, using: &generator)
        b = .randomUniform([shape.k, shape.n], low: -1, high: 1, using: &generator)
        c = .zeros([shape.m, shape.n])
        pointerA = a.withUnsafeBufferPointer { $0.baseAddress! }
        pointerB = b.withUnsafeBufferPointer { $0.baseAddress! }
        pointerC = c.withUnsafeMutableBufferPointer { $0.baseAddress! }
    }

    /// The library's path: shape checks, then `?gemm` on the tensors' storage.
    @inline(__always)
    func runMatmul() {
        matmul(a, b, into: &c)
    }

    /// The baseline: `cblas_?gemm` on the same buffers, nothing else.
    @inline(__always)
    func runRaw() {
        Scalar.rawGEMM(m: shape.m, n: shape.n, k: shape.k, a: pointerA, b: pointerB, c: pointerC)
    }

    /// Whether both paths write the same C, bit for bit (same routine, same operands).
    func pathsAgree() -> Bool {
        runMatmul()
        let fromMatmul = c.scalars
        runRaw()
        return c.scalars == fromMatmul && c.withUnsafeBufferPointer { $0.baseAddress! } == pointerC
    }
}

/// Holds the operands between a benchmark's setup, its iterations and its teardown. Benchmarks
/// of one process run one after another on one thread, so plain storage suffices.
final class OperandSlot<Scalar: RawGEMMScalar> {
    var operands: GEMMOperands<Scalar>?
}

// MARK: - Timing and metrics

/// Nanoseconds on the monotonic clock.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Nanoseconds of CPU time used by all threads of this process (BLAS workers included).
@inline(__always)
func processCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// The nanoseconds `body` takes (at least 1).
@inline(__always)
func nanoseconds(_ body: () -> Void) -> UInt64 {
    let start = monotonicNanoseconds()
    body()
    return max(monotonicNanoseconds() &- start, 1)
}

/// The wall-clock and CPU nanoseconds `body` takes (each at least 1).
@inline(__always)
func wallAndCPUNanoseconds(_ body: () -> Void) -> (wall: UInt64, cpu: UInt64) {
    let wallStart = monotonicNanoseconds()
    let cpuStart = processCPUNanoseconds()
    body()
    let cpuEnd = processCPUNanoseconds()
    let wallEnd = monotonicNanoseconds()
    return (max(wallEnd &- wallStart, 1), max(cpuEnd &- cpuStart, 1))
}

let gflopsMetric = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
let wallRatioMetric = BenchmarkMetric.custom("matmul/cblas x1000 wall", polarity: .prefersLarger,
                                              useScalingFactor: false)
let cpuRatioMetric = BenchmarkMetric.custom("matmul/cblas x1000 CPU", polarity: .prefersLarger,
                                             useScalingFactor: false)

// MARK: - Header

/// Set once any benchmark's setup runs in this process.
let ranBenchmark = Atomic<Bool>(false)

/// What OpenBLAS runs in this process; the suite's first output.
func printHeader() {
    print("""
        GEMM benchmarks: Tensor.matmul (into a preallocated result) against raw cblas_?gemm on the same buffers
        \(BLASRuntime.check())
        OpenBLAS config: \(BLASRuntime.configuration)
        OPENBLAS_CORETYPE: \(BLASRuntime.coreTypeOverride ?? "(not set)")
        matmul/cblas x1000 = 1000 * t_cblas / t_matmul per interleaved pair, from wall-clock and from process CPU time
          (1000: same speed; the target is >= 970 for n >= 256)

        """)
}

// MARK: - Registration

func registerCases<Scalar: RawGEMMScalar>(_: Scalar.Type) {
    for shape in shapes {
        for threads in threadCounts {
            let name = "\(Scalar.routine) \(shape.label) t=\(threads)"
            // n = 2048 (17 GFLOP a product) takes 0.1-1 s a call, depending on the kernels: one
            // warmup call, and more time so that even slow kernels give a few samples.
            let large = shape.flops > 4e9
            let warmup = large ? 1 : 3
            let singleDuration: Duration = large ? .milliseconds(1500) : .milliseconds(500)
            let pairDuration: Duration = large ? .seconds(3) : .seconds(1)

            func register(_ kind: String, metrics: [BenchmarkMetric], maxDuration: Duration,
                          check: Bool = false,
                          body: @escaping (Benchmark, GEMMOperands<Scalar>) -> Void) {
                let slot = OperandSlot<Scalar>()
                Benchmark(
                    "\(name) \(kind)",
                    configuration: .init(metrics: metrics, warmupIterations: warmup,
                                         maxDuration: maxDuration, maxIterations: 10_000),
                    closure: { benchmark in body(benchmark, slot.operands!) },
                    setup: {
                        ranBenchmark.store(true, ordering: .relaxed)
                        BLASRuntime.setThreadCount(threads)
                        let operands = GEMMOperands<Scalar>(shape)
                        if check && !operands.pathsAgree() {
                            throw GEMMBenchmarkError.pathsDisagree(name)
                        }
                        slot.operands = operands
                    },
                    teardown: { slot.operands = nil }
                )
            }

            register("matmul", metrics: [.wallClock, gflopsMetric], maxDuration: singleDuration) {
                benchmark, operands in
                let elapsed = nanoseconds { operands.runMatmul() }
                benchmark.measurement(gflopsMetric, Int((shape.flops / Double(elapsed)).rounded()))
            }
            register("cblas", metrics: [.wallClock, gflopsMetric], maxDuration: singleDuration) {
                benchmark, operands in
                let elapsed = nanoseconds { operands.runRaw() }
                benchmark.measurement(gflopsMetric, Int((shape.flops / Double(elapsed)).rounded()))
            }
            register("ratio", metrics: [wallRatioMetric, cpuRatioMetric], maxDuration: pairDuration,
                     check: true) { benchmark, operands in
                let matmulTime: (wall: UInt64, cpu: UInt64), rawTime: (wall: UInt64, cpu: UInt64)
                if benchmark.currentIteration.isMultiple(of: 2) {
                    matmulTime = wallAndCPUNanoseconds { operands.runMatmul() }
                    rawTime = wallAndCPUNanoseconds { operands.runRaw() }
                } else {
                    rawTime = wallAndCPUNanoseconds { operands.runRaw() }
                    matmulTime = wallAndCPUNanoseconds { operands.runMatmul() }
                }
                benchmark.measurement(wallRatioMetric, perMille(rawTime.wall, matmulTime.wall))
                benchmark.measurement(cpuRatioMetric, perMille(rawTime.cpu, matmulTime.cpu))
            }
        }
    }
}

/// 1000 * numerator / denominator, rounded (custom metrics take integers).
func perMille(_ numerator: UInt64, _ denominator: UInt64) -> Int {
    Int((1000 * Double(numerator) / Double(denominator)).rounded())
}

enum GEMMBenchmarkError: Error, CustomStringConvertible {
    case pathsDisagree(String)

    var description: String {
        switch self {
        case .pathsDisagree(let name):
            "\(name): Tensor.matmul and cblas_?gemm wrote different results on the same operands"
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    if CommandLine.arguments.contains("--input-fd") {
        // Under `swift package benchmark` one process lists the benchmarks, then each runs in a
        // process of its own. Print the header once: from the listing process, as it exits.
        atexit {
            if !ranBenchmark.load(ordering: .relaxed) { printHeader() }
        }
    } else {
        printHeader()
    }
    registerCases(Float.self)
    registerCases(Double.self)
}
