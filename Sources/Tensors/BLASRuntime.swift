import COpenBLAS
import Glibc
import Synchronization

/// The thread count set with `BLASRuntime.setThreadCount`, 0 until it is.
private let requestedThreadCount = Atomic<Int>(0)
/// OpenBLAS's count before any call changed it (OPENBLAS_NUM_THREADS, else the cores), read once.
private let initialThreadCount = Int(openblas_get_num_threads())

/// What the loaded OpenBLAS says about itself, and whether the core it chose fits this CPU.
///
/// Debian's OpenBLAS 0.3.21 does not recognise some newer CPUs and falls back to its Prescott
/// (SSE3) kernels, 5-9x below the machine. The core is chosen when the library loads, from
/// `OPENBLAS_CORETYPE` if set, so a running process cannot change its own kernels: the fix is to
/// start again with the variable set (the `train` command does that once, by itself).
public enum BLASRuntime {
    /// The build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The name of the kernel set OpenBLAS chose at load time, e.g. "Prescott", "Haswell", "SkylakeX".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The OpenBLAS version, parsed from the configuration string ("0.3.21").
    public static var version: String {
        let words = configuration.split(separator: " ")
        guard let index = words.firstIndex(of: "OpenBLAS"), index + 1 < words.count else { return "unknown" }
        return String(words[index + 1])
    }

    /// The number of threads BLAS calls may use: the count set with `setThreadCount`, else
    /// OpenBLAS's own (OPENBLAS_NUM_THREADS, else the cores). `matmul` runs products below
    /// `multiThreadingThreshold` on one thread whatever this says.
    public static var threadCount: Int {
        let requested = requestedThreadCount.load(ordering: .relaxed)
        return requested > 0 ? requested : initialThreadCount
    }

    /// Sets the number of threads BLAS calls may use (1 for parallel sweeps). A process-wide
    /// setting, as OpenBLAS's is.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLASRuntime.setThreadCount: expected at least 1 thread, got \(count)")
        requestedThreadCount.store(count, ordering: .relaxed)
        openblas_set_num_threads(Int32(clamping: count))
    }

    /// The multiply-adds (m n k) below which `matmul` runs a product on one thread. Measured on
    /// a 2-core AMD EPYC Zen4 with OpenBLAS 0.3.21, the second core idle: below it a second
    /// thread gains at most 16% (0.4-0.9M), from 1.6M it gains 48-66%; with that core busy it
    /// loses at every size. OpenBLAS's own cut-offs are lower (64^3 for GEMM, 9216 m n for GEMV).
    public static let multiThreadingThreshold = 1 << 20

    /// Runs `body`, a BLAS call of `multiplyAdds` multiply-adds, on one thread if it is below
    /// `multiThreadingThreshold` and more than one is set; on the set count otherwise. OpenBLAS
    /// splits a product's output, not its sums, between threads, so this changes speed only.
    /// Setting OpenBLAS's count is a store to one global (measured 12 ns); a call on another
    /// thread that starts meanwhile may run on one thread, which again changes speed only.
    @inlinable
    public static func withThreads<R>(forMultiplyAdds multiplyAdds: Int, _ body: () -> R) -> R {
        guard multiplyAdds < multiThreadingThreshold else { return body() }
        let count = threadCount
        guard threads(forMultiplyAdds: multiplyAdds, threadCount: count) < count else { return body() }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(clamping: count)) }
        return body()
    }

    /// The threads a BLAS call of `multiplyAdds` multiply-adds runs on when `threadCount` are set.
    @inlinable
    public static func threads(forMultiplyAdds multiplyAdds: Int, threadCount: Int) -> Int {
        multiplyAdds < multiThreadingThreshold ? 1 : threadCount
    }

    /// The value of `OPENBLAS_CORETYPE` in this process's environment, if any.
    public static var coreTypeOverride: String? {
        guard let value = getenv("OPENBLAS_CORETYPE") else { return nil }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }

    /// The verdict for this process: the loaded core against this CPU's features.
    public static func check() -> BLASCoreCheck {
        BLASCoreCheck(coreName: coreName, cpuFlags: CPUFeatures.current(),
                      coreTypeOverride: coreTypeOverride)
    }
}

/// The instruction-set classes OpenBLAS kernels are written for, in increasing order.
public enum KernelClass: Int, Comparable, Sendable, CustomStringConvertible {
    /// SSE2/SSE3 kernels (Prescott, Core2, Nehalem, Atom, generic).
    case sse = 0
    /// AVX without FMA (Sandybridge, Bulldozer family).
    case avx = 1
    /// AVX2 and FMA (Haswell, Zen).
    case avx2 = 2
    /// AVX-512 (SkylakeX, Cooperlake, Sapphirerapids).
    case avx512 = 3

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .sse: "SSE"
        case .avx: "AVX"
        case .avx2: "AVX2+FMA"
        case .avx512: "AVX-512"
        }
    }

    /// The OpenBLAS core name that runs this class's kernels (the value for `OPENBLAS_CORETYPE`).
    public var recommendedCoreType: String {
        switch self {
        case .sse: "Prescott"
        case .avx: "Sandybridge"
        case .avx2: "Haswell"
        case .avx512: "SkylakeX"
        }
    }

    /// The class of kernels an OpenBLAS core name runs (case-insensitive; unknown names are `sse`).
    public init(coreName: String) {
        switch coreName.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": self = .avx512
        case "haswell", "zen", "zen2", "zen3", "zen4", "skylake", "excavator": self = .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": self = .avx
        default: self = .sse
        }
    }

    /// The best class a CPU with these `/proc/cpuinfo` flags can run.
    public init(cpuFlags: Set<String>) {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(cpuFlags.contains) {
            self = .avx512
        } else if cpuFlags.contains("avx2") && cpuFlags.contains("fma") {
            self = .avx2
        } else if cpuFlags.contains("avx") {
            self = .avx
        } else {
            self = .sse
        }
    }
}

/// Reads the CPU's feature flags.
public enum CPUFeatures {
    /// The flags of the first processor in `/proc/cpuinfo` (empty where that file is missing).
    public static func current() -> Set<String> {
        guard let text = try? AtomicFile.readText("/proc/cpuinfo") else { return [] }
        return flags(fromCPUInfo: text)
    }

    /// Parses the first `flags` line of a `/proc/cpuinfo` text.
    public static func flags(fromCPUInfo text: String) -> Set<String> {
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

}

/// Whether OpenBLAS runs kernels that fit the CPU, and what to do if not.
public struct BLASCoreCheck: Sendable, CustomStringConvertible {
    /// The core OpenBLAS chose.
    public let coreName: String
    /// The kernel class of that core.
    public let loadedClass: KernelClass
    /// The best kernel class the CPU supports.
    public let cpuClass: KernelClass
    /// `OPENBLAS_CORETYPE` as set in the environment, if it was.
    public let coreTypeOverride: String?

    public init(coreName: String, cpuFlags: Set<String>, coreTypeOverride: String?) {
        self.coreName = coreName
        self.loadedClass = KernelClass(coreName: coreName)
        self.cpuClass = KernelClass(cpuFlags: cpuFlags)
        self.coreTypeOverride = coreTypeOverride
    }

    /// True when the loaded kernels are at least two classes below the CPU (SSE on an AVX2 or
    /// AVX-512 machine): the case measured at 5-9x below the machine's GEMM speed.
    public var isFarBelowCPU: Bool { cpuClass.rawValue - loadedClass.rawValue >= 2 }

    /// The `OPENBLAS_CORETYPE` value that would run the CPU's best kernels.
    public var recommendedCoreType: String { cpuClass.recommendedCoreType }

    /// True when the process should restart itself with `OPENBLAS_CORETYPE` set: the core is far
    /// below the CPU and the user has not already chosen a core.
    public var shouldRelaunch: Bool { isFarBelowCPU && coreTypeOverride == nil }

    /// One line: the core, the CPU, and the fix if one is needed.
    public var description: String {
        var line = "BLAS core: \(coreName) (\(loadedClass) kernels); CPU supports \(cpuClass)"
        if let override = coreTypeOverride { line += "; OPENBLAS_CORETYPE=\(override) is set" }
        if isFarBelowCPU {
            line += coreTypeOverride == nil
                ? ". GEMM runs several times below this machine: set OPENBLAS_CORETYPE=\(recommendedCoreType)"
                : ". The core set by OPENBLAS_CORETYPE is far below this CPU: try OPENBLAS_CORETYPE=\(recommendedCoreType)"
        } else {
            line += ": ok"
        }
        return line
    }
}
