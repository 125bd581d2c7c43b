// The Swift side of `scripts/compare-peers`: times the workloads that `peers/torch_workloads.py`
// and `peers/neural_tangents_workloads.py` time, the same way, and prints one JSON object a line.
//
//   swift run -c release PeerWorkloads [--threads N] [--seconds S | --calls N] WORKLOAD...
//   swift run -c release PeerWorkloads --list
//
// Workloads (names shared with the Python scripts):
// - `step-w<width>-h<hidden>-b<batch>-<f32|f64>-<ln|noln>`: one training step (forward, MSE,
//   backward, Adam update) of `MLPDescription`'s MLP with 1 input, Kaiming-normal weights, biases
//   N(0, 0.1^2), LayerNorm (affine, epsilon 1e-5) after the first hidden Dense or none; full batch.
//   The shapes of `Benchmarks/TrainingStep`: w128 h2 b100 f64, w512 h4 b256 f32, w2048 h2 b256 f32.
// - `entk-n<N>`: the structured empirical NTK, N x N, of `TangentKernelWorkloads.layerNormNetwork`
//   (8 inputs, 3 x (Dense 512, LayerNorm, ReLU), Dense 1; NTK parameterization; Float64);
//   `entk-n<N>-w<W>`: the same at width W.
// - `antk-n<N>`: the analytic NTK (and NNGP kernel) of the same architecture, N x N, Float64.
// - `antk-fit-n<N>`: the analytic NTK of N points and a kernel regression fitted on it (Cholesky in
//   place: the kernel's storage becomes the factor), as an infinite-width run does; Float64.
// - `gemm-floor-w<width>-h<hidden>-b<batch>-<f32|f64>`: the GEMM floor of the step of the same name:
//   only its width x width products, as raw `cblas_?gemm` calls on preallocated buffers (per hidden
//   Dense after the first: forward X Wᵀ, input gradient dY W, weight gradient dYᵀ X; each result
//   zeroed by memset and the product added, beta = 1, the fastest way on OpenBLAS and the calls
//   `matmul` makes), 3 (hidden - 1) batch width^2 multiply-adds in all. No step can be faster than
//   this on the same BLAS; compare-peers divides it by the step's time.
//
// Timing (`sample` below; the Python scripts do the same): a warmup of `--warmup` seconds (at
// least one call), then single calls timed on the monotonic clock until `--seconds` have passed
// and at least 5 were timed (or 4 x `--seconds` have passed); reported: the median, min and
// quartiles in seconds. `--calls N` times exactly N calls instead (with `--warmup 0`, N + 1 calls
// in all): for instruction counts under valgrind, where the difference of two N gives one call's
// count without the setup's. The paper-toy sweep is not here: compare-peers times the
// `train` executable on configs/paper-toy.json as a whole.
//
// Output: first `{"runtime": {...}}` (BLAS core and its check, threads), then one
// `{"workload": ..., "median_s": ..., "peak_rss_bytes": ...}` a workload; the peak resident size is
// the process's so far (`getrusage`), so `scripts/scaling` runs one workload a process.

// `cblas_?gemm` for the GEMM floor (Tensors depends on it; SwiftPM passes its module map on).
import COpenBLAS
import Glibc
import BenchmarkWorkloads
import TangentKernels

// MARK: - Workloads

/// The workloads compare-peers runs by default, in its order.
let knownWorkloads = [
    "step-w128-h2-b100-f64-ln", "step-w128-h2-b100-f64-noln",
    "step-w512-h4-b256-f32-ln", "step-w512-h4-b256-f32-noln",
    "step-w2048-h2-b256-f32-ln", "step-w2048-h2-b256-f32-noln",
    "entk-n256", "entk-n1024", "antk-n1024", "antk-n4096",
]

/// A workload parsed from its name; `build()` makes the operation to time.
enum Workload {
    case step(width: Int, hiddenLayers: Int, batch: Int, double: Bool, layerNorm: Bool)
    case empiricalNTK(points: Int, width: Int)
    case analyticNTK(points: Int)
    case analyticNTKRegression(points: Int)
    case gemmFloor(width: Int, hiddenLayers: Int, batch: Int, double: Bool)

    init?(_ name: String) {
        let parts = name.split(separator: "-").map(String.init)
        func number(_ part: String, after prefix: String) -> Int? {
            guard part.hasPrefix(prefix), let value = Int(part.dropFirst(prefix.count)), value > 0 else { return nil }
            return value
        }
        switch parts.first {
        case "step":
            guard parts.count == 6, let width = number(parts[1], after: "w"), let hidden = number(parts[2], after: "h"),
                  let batch = number(parts[3], after: "b"), ["f32", "f64"].contains(parts[4]), ["ln", "noln"].contains(parts[5])
            else { return nil }
            self = .step(width: width, hiddenLayers: hidden, batch: batch, double: parts[4] == "f64", layerNorm: parts[5] == "ln")
        case "gemm":
            guard parts.count == 6, parts[1] == "floor", let width = number(parts[2], after: "w"),
                  let hidden = number(parts[3], after: "h"), hidden >= 2, let batch = number(parts[4], after: "b"),
                  ["f32", "f64"].contains(parts[5])
            else { return nil }
            self = .gemmFloor(width: width, hiddenLayers: hidden, batch: batch, double: parts[5] == "f64")
        case "entk":
            guard parts.count == 2 || parts.count == 3, let points = number(parts[1], after: "n") else { return nil }
            guard let width = parts.count == 3 ? number(parts[2], after: "w") : 512 else { return nil }
            self = .empiricalNTK(points: points, width: width)
        case "antk":
            if parts.count == 3, parts[1] == "fit", let points = number(parts[2], after: "n") {
                self = .analyticNTKRegression(points: points)
                return
            }
            guard parts.count == 2, let points = number(parts[1], after: "n") else { return nil }
            self = .analyticNTK(points: points)
        default:
            return nil
        }
    }

    /// The operation to time, with its network and data built.
    func build(threads: Int) -> () throws -> Void {
        switch self {
        case let .step(width, hiddenLayers, batch, double, layerNorm):
            if double {
                return TrainingStepWorkload<Double>(width: width, hiddenLayers: hiddenLayers, batch: batch, layerNorm: layerNorm,
                                                    threads: .asTrainDoes(threads)).step
            }
            return TrainingStepWorkload<Float>(width: width, hiddenLayers: hiddenLayers, batch: batch, layerNorm: layerNorm,
                                                    threads: .asTrainDoes(threads)).step
        case let .empiricalNTK(points, width):
            return TangentKernelWorkloads.structuredEmpiricalNTK(points: points, width: width, hiddenLayers: 3)
        case .analyticNTK(let points):
            return TangentKernelWorkloads.analyticNTK(points: points, hiddenLayers: 3)
        case .analyticNTKRegression(let points):
            return TangentKernelWorkloads.analyticNTKRegression(points: points, hiddenLayers: 3)
        case let .gemmFloor(width, hiddenLayers, batch, double):
            return double ? GEMMFloor<Double>(width: width, products: hiddenLayers - 1, batch: batch, gemm: cblas_dgemm).run
                          : GEMMFloor<Float>(width: width, products: hiddenLayers - 1, batch: batch, gemm: cblas_sgemm).run
        }
    }
}

/// The width x width products of a training step, on raw BLAS: X (batch x width) times Wᵀ, dY times
/// W, dYᵀ times X, once per hidden-to-hidden Dense, row-major with the transposes Dense uses.
final class GEMMFloor<Scalar: BinaryFloatingPoint> {
    typealias GEMM = (CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint, Scalar,
                      UnsafePointer<Scalar>?, blasint, UnsafePointer<Scalar>?, blasint, Scalar,
                      UnsafeMutablePointer<Scalar>?, blasint) -> Void
    let width: Int32, batch: Int32, products: Int, gemm: GEMM
    var input: [Scalar], weight: [Scalar], output: [Scalar], outputGradient: [Scalar]
    var inputGradient: [Scalar], weightGradient: [Scalar]

    init(width: Int, products: Int, batch: Int, gemm: @escaping GEMM) {
        self.width = Int32(width)
        self.batch = Int32(batch)
        self.products = products
        self.gemm = gemm
        // Values of the size a trained network has; the BLAS kernels' speed does not depend on them.
        input = (0..<batch * width).map { Scalar($0 % 17) / 17 - 0.5 }
        weight = (0..<width * width).map { Scalar($0 % 13) / 13 - 0.5 }
        outputGradient = (0..<batch * width).map { Scalar($0 % 11) / 11 - 0.5 }
        output = Array(repeating: 0, count: batch * width)
        inputGradient = Array(repeating: 0, count: batch * width)
        weightGradient = Array(repeating: 0, count: width * width)
    }

    func run() {
        let (w, b) = (width, batch)
        for _ in 0..<products {
            zero(&output)
            gemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, w, w, 1, input, w, weight, w, 1, &output, w)
            zero(&inputGradient)
            gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, w, w, 1, outputGradient, w, weight, w, 1, &inputGradient, w)
            zero(&weightGradient)
            gemm(CblasRowMajor, CblasTrans, CblasNoTrans, w, w, b, 1, outputGradient, w, input, w, 1, &weightGradient, w)
        }
    }

    private func zero(_ values: inout [Scalar]) {
        values.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, $0.count) }
    }
}

// MARK: - Timing

/// The process's peak resident set size so far, in bytes (Linux reports kilobytes).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Times single calls of `body` after a warmup; returns the sorted call times in seconds.
/// Warmup: at least one call, then calls until `warmup` seconds have passed. Samples: calls until
/// `seconds` have passed and at least 5 were timed, or 4 x `seconds` have passed (a call that
/// long is timed once or twice). The Python scripts in `peers/` follow the same rule.
/// With `calls`, exactly that many calls are timed, whatever the time.
func sample(_ body: () throws -> Void, warmup: Double, seconds: Double, calls: Int? = nil) rethrows -> [Double] {
    let warmupStart = monotonicSeconds()
    repeat { try body() } while monotonicSeconds() - warmupStart < warmup
    var times: [Double] = []
    let start = monotonicSeconds()
    repeat {
        let callStart = monotonicSeconds()
        try body()
        times.append(monotonicSeconds() - callStart)
        let elapsed = monotonicSeconds() - start
        if let calls {
            if times.count >= calls { break }
        } else if elapsed >= 4 * seconds || (elapsed >= seconds && times.count >= 5) || times.count >= 100_000 {
            break
        }
    } while true
    return times.sorted()
}

/// The value at fraction `q` of sorted `values` (linear between neighbours).
func quantile(_ values: [Double], _ q: Double) -> Double {
    let position = q * Double(values.count - 1)
    let below = Int(position.rounded(.down)), above = min(below + 1, values.count - 1)
    return values[below] + (values[above] - values[below]) * (position - Double(below))
}

// MARK: - Output

/// A JSON string literal.
func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case _ where scalar.value < 0x20: result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// One JSON object from already-encoded members.
func object(_ members: [(String, String)]) -> String {
    "{" + members.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
}

func number(_ value: Double) -> String { String(value) }

func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

// MARK: - Main

@main
struct PeerWorkloads {
    static let usage = """
        usage: PeerWorkloads [--threads N] [--seconds S | --calls N] [--warmup S] WORKLOAD...
               PeerWorkloads --list
        Times each workload (see the top of Benchmarks/PeerWorkloads/PeerWorkloads.swift) and prints
        one JSON object a line, after a first line describing the runtime.
        """

    static func fail(_ message: String) -> Never {
        writeStandardError("error: \(message)\n\(usage)\n")
        exit(2)
    }

    static func main() {
        var threads = 1, seconds = 2.0, warmupSeconds = 0.3
        var calls: Int?
        var workloads: [(name: String, workload: Workload)] = []
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--list":
                print(knownWorkloads.joined(separator: "\n"))
                exit(0)
            case "--help", "-h":
                print(usage)
                exit(0)
            case "--threads":
                guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 1 else { fail("--threads expects a positive integer") }
                threads = value
            case "--seconds":
                guard let value = arguments.popFirst().flatMap({ Double($0) }), value >= 0 else { fail("--seconds expects a non-negative number") }
                seconds = value
            case "--calls":
                guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 1 else { fail("--calls expects a positive integer") }
                calls = value
            case "--warmup":
                guard let value = arguments.popFirst().flatMap({ Double($0) }), value >= 0 else { fail("--warmup expects a non-negative number") }
                warmupSeconds = value
            case _ where argument.hasPrefix("-"):
                fail("unknown option \(argument)")
            default:
                guard let workload = Workload(argument) else { fail("unknown workload \(argument) (--list shows them)") }
                workloads.append((argument, workload))
            }
        }
        if workloads.isEmpty { fail("name at least one workload (--list shows them)") }

        BLASRuntime.setThreadCount(threads)
        let check = BLASRuntime.check()
        print(object([
            ("runtime", object([
                ("side", quoted("FiniteWidth")),
                ("threads", String(threads)),
                ("blas_core", quoted(check.coreName)),
                ("blas_check", quoted("\(check)")),
                ("blas_config", quoted(BLASRuntime.configuration)),
                ("openblas_coretype", BLASRuntime.coreTypeOverride.map(quoted) ?? "null"),
            ])),
        ]))
        fflush(nil)
        for (name, workload) in workloads {
            do {
                // A data-parallel step leaves BLAS on one thread (DataParallelTraining): reset it.
                BLASRuntime.setThreadCount(threads)
                let times = try sample(workload.build(threads: threads), warmup: warmupSeconds, seconds: seconds, calls: calls)
                print(object([
                    ("workload", quoted(name)), ("impl", quoted("FiniteWidth")), ("threads", String(threads)),
                    ("median_s", number(quantile(times, 0.5))), ("min_s", number(times[0])),
                    ("p25_s", number(quantile(times, 0.25))), ("p75_s", number(quantile(times, 0.75))),
                    ("samples", String(times.count)), ("peak_rss_bytes", String(peakResidentBytes())),
                ]))
            } catch {
                print(object([("workload", quoted(name)), ("impl", quoted("FiniteWidth")), ("error", quoted("\(error)"))]))
            }
            fflush(nil)
        }
    }
}
