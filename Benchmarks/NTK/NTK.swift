// Neural tangent kernels of one network with LayerNorm, Float64: the finite network's empirical
// NTK (the structured method: one forward and one backward per block of points, then GEMMs) and
// the infinite-width analytic NTK (with the NNGP kernel it needs), each of N points with themselves.
//
// Network (`TangentKernelWorkloads.layerNormNetwork`): 8 inputs, 3 x (Dense, LayerNorm, ReLU),
// Dense to one output; NTK parameterization, sigma_w = sqrt(2), sigma_b = 0.1; LayerNorm without
// affine parameters, epsilon 1e-12 (neural-tangents' `stax.LayerNorm`). Inputs N(0, 1).
//
// Cases, named `<kind> N=<points> t=<threads>`:
// - `empirical width=512 N=0256` and `N=1024`: the N x N empirical NTK at width 512;
// - `analytic N=1024` and `N=4096`: the N x N analytic NTK (only one triangle is mapped, then mirrored).
// Threads are BLAS threads; the analytic kernel spreads its tiles over as many threads.
// The same workloads against PyTorch and neural-tangents: `scripts/compare-peers`.

import Benchmark
import Glibc
import Synchronization
import BenchmarkWorkloads
import TangentKernels

struct KernelCase: Sendable {
    enum Kind: Sendable { case empirical, analytic }
    let kind: Kind, points: Int, threads: Int

    static let width = 512

    var name: String {
        let padded = String(repeating: "0", count: max(0, 4 - String(points).count)) + String(points)
        switch kind {
        case .empirical: return "empirical width=\(Self.width) N=\(padded) t=\(threads)"
        case .analytic: return "analytic N=\(padded) t=\(threads)"
        }
    }

    /// The operation to time, with its network and inputs built.
    func workload() -> () throws -> Void {
        switch kind {
        case .empirical: TangentKernelWorkloads.structuredEmpiricalNTK(points: points, width: Self.width, hiddenLayers: 3)
        case .analytic: TangentKernelWorkloads.analyticNTK(points: points, hiddenLayers: 3)
        }
    }
}

let cases: [KernelCase] = [1, 2].flatMap { threads in
    [256, 1024].map { KernelCase(kind: .empirical, points: $0, threads: threads) }
        + [1024, 4096].map { KernelCase(kind: .analytic, points: $0, threads: threads) }
}

final class WorkloadSlot: @unchecked Sendable {
    // One benchmark runs at a time in a process; setup fills this, teardown empties it.
    var run: (() throws -> Void)?
}

/// Set once any benchmark's setup runs in this process.
let ranBenchmark = Atomic<Bool>(false)

/// What OpenBLAS runs in this process, and the peers' times to compare with; the suite's first output.
func printHeader() {
    print("""
        NTK benchmarks: empirical (structured) and analytic NTK, Float64, 3 hidden layers with LayerNorm
        \(BLASRuntime.check())
        OpenBLAS config: \(BLASRuntime.configuration)
        OPENBLAS_CORETYPE: \(BLASRuntime.coreTypeOverride ?? "(not set)")
        For comparison, measured in Float64 on the same workloads (the targets are 3x faster):
          empirical N=1024: torch.func (jacrev + vmap) 19.3 s, neural-tangents default 41.0 s, structured 339 ms
          analytic: neural-tangents 67 ms (N=1024), 1118 ms (N=4096)
          side by side in one run: scripts/compare-peers

        """)
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
    for kernelCase in cases {
        // The large cases take 0.1-1 s a call: one warmup and a few samples keep the suite quick.
        let large = kernelCase.points >= 4096 || (kernelCase.kind == .empirical && kernelCase.points >= 1024)
        let slot = WorkloadSlot()
        Benchmark(kernelCase.name,
                  configuration: .init(metrics: [.wallClock, .cpuTotal], warmupIterations: 1,
                                       maxDuration: large ? .seconds(3) : .seconds(1), maxIterations: 200),
                  closure: { _ in try slot.run!() },
                  setup: {
                      ranBenchmark.store(true, ordering: .relaxed)
                      BLASRuntime.setThreadCount(kernelCase.threads)
                      slot.run = kernelCase.workload()
                  },
                  teardown: { slot.run = nil })
    }
}
