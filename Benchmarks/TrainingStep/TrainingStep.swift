// One full training step (forward, MSE loss, backward, Adam update) of the MLPs this field
// studies, with and without LayerNorm: time per step and heap allocations per step.
//
// Cases, named `<precision> width=<w> hidden=<h> batch=<b> <ln|no-ln> t=<threads>[ blas]`; with
// 2 threads, `t=2` splits each batch's rows over them (`DataParallelTraining`) and `t=2 blas` runs
// one tape and lets BLAS split each product (`train` picks one by the network's size:
// `DataParallelTraining.threadsWorthUsing`):
// - width 128, 2 hidden layers, batch 100, Float64: the paper's toy networks (per-op overhead rules);
// - width 512, 4 hidden layers, batch 256, Float32: GEMM-bound;
// - width 2048, 2 hidden layers, batch 256, Float32: GEMM-bound and large.
// LN sits after the first hidden Dense. Then networks of the other layers, at width 128, batch 100,
// Float64, named `f64 width=128 batch=100 <network> t=<threads>`: `pre-ln-residual` (two pre-LN
// residual blocks and a final LayerNorm), `batchnorm` (training mode: never split, t=2 runs whole on
// one thread), `batchnorm-eval`, `rmsnorm-silu`. Steady state should allocate nothing: the package's
// malloc counter (`mallocCountTotal`) reports allocations per step; the harness adds its own few
// per sample, which a 0-step baseline benchmark (`harness baseline`) shows. The Jacobian penalty:
// `f64 width=128 hidden=2 batch=100 ln t=<threads> jacobian-penalty` is the paper's LN-first
// network's step with lambda = 0.1 (`Tape.jacobianPenalizedLoss`: the tangent pass forward and its
// backward), to set against the same name without the suffix.

import Benchmark
import Glibc
import BenchmarkWorkloads  // the training step, shared with PeerWorkloads
import NeuralNet

struct StepCase: Sendable {
    let width: Int, hiddenLayers: Int, batch: Int, layerNorm: Bool, double: Bool, threads: Int
    /// With 2+ threads: split the batch over them (`DataParallelTraining`, what `train` does), or
    /// run one tape and let BLAS split each product (`blas`).
    var dataParallel = true
    /// Train with a Jacobian penalty (lambda 0.1).
    var jacobianPenalty = false

    var name: String {
        "\(double ? "f64" : "f32") width=\(width) hidden=\(hiddenLayers) batch=\(batch) \(layerNorm ? "ln" : "no-ln") t=\(threads)"
            + (threads > 1 && !dataParallel ? " blas" : "") + (jacobianPenalty ? " jacobian-penalty" : "")
    }
}

final class StateSlot: @unchecked Sendable {
    // One benchmark runs at a time in a process; setup fills this, teardown empties it.
    var step: (() -> Void)?
}

let cases: [StepCase] = [
    (128, 2, 100, true), (512, 4, 256, false), (2048, 2, 256, false),
].flatMap { width, hidden, batch, double in
    [false, true].flatMap { ln in
        [StepCase(width: width, hiddenLayers: hidden, batch: batch, layerNorm: ln, double: double, threads: 1),
         StepCase(width: width, hiddenLayers: hidden, batch: batch, layerNorm: ln, double: double, threads: 2),
         StepCase(width: width, hiddenLayers: hidden, batch: batch, layerNorm: ln, double: double, threads: 2, dataParallel: false)]
    }
} + [1, 2].map { StepCase(width: 128, hiddenLayers: 2, batch: 100, layerNorm: true, double: true, threads: $0, jacobianPenalty: true) }

extension TrainingStepWorkload {
    /// The case's workload, warmed: its tape's buffers exist from here on.
    convenience init(_ stepCase: StepCase) {
        self.init(width: stepCase.width, hiddenLayers: stepCase.hiddenLayers, batch: stepCase.batch,
                  layerNorm: stepCase.layerNorm,
                  threads: stepCase.threads > 1 && stepCase.dataParallel ? .splitOver(stepCase.threads) : .blas,
                  jacobianPenalty: stepCase.jacobianPenalty ? 0.1 : 0)
        for _ in 0..<3 { step() }
    }
}

/// A network of the newer layers (see the header), 1 input, 1 output, Kaiming-uniform as PyTorch.
func layerNetwork<Scalar: BLASScalar>(_ kind: String, width: Int, generator: inout Xoshiro256StarStar) -> Sequential<Scalar> {
    func dense(_ fanIn: Int = width, _ fanOut: Int = width) -> Dense<Scalar> { Dense(fanIn, fanOut, generator: &generator) }
    switch kind {
    case "pre-ln-residual":
        return Sequential(dense(1), Residual(Sequential(LayerNorm(width), dense(), ReLU(), dense())),
                          Residual(Sequential(LayerNorm(width), dense(), ReLU(), dense())), LayerNorm(width), dense(width, 1))
    case "batchnorm", "batchnorm-eval":
        let network = Sequential<Scalar>(dense(1), BatchNorm(width), ReLU(), dense(), BatchNorm(width), ReLU(), dense(width, 1))
        network.setTraining(kind == "batchnorm")
        return network
    case "rmsnorm-silu":
        return Sequential(dense(1), RMSNorm(width), SiLU(), dense(), SiLU(), dense(width, 1))
    default:
        fatalError("unknown network \(kind)")
    }
}

let layerCases = ["pre-ln-residual", "batchnorm", "batchnorm-eval", "rmsnorm-silu"].flatMap { kind in [1, 2].map { (kind, $0) } }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .throughput],
                                           warmupIterations: 5, maxDuration: .seconds(2), maxIterations: 2000)
    Benchmark("harness baseline") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }
    for stepCase in cases {
        let slot = StateSlot()
        Benchmark(stepCase.name,
                  closure: { benchmark in
                      let step = slot.step!
                      for _ in benchmark.scaledIterations { step() }
                  },
                  setup: {
                      BLASRuntime.setThreadCount(stepCase.threads)
                      if stepCase.double {
                          let state = TrainingStepWorkload<Double>(stepCase)
                          slot.step = state.step
                      } else {
                          let state = TrainingStepWorkload<Float>(stepCase)
                          slot.step = state.step
                      }
                  },
                  teardown: { slot.step = nil })
    }
    for (kind, threads) in layerCases {
        let slot = StateSlot()
        Benchmark("f64 width=128 batch=100 \(kind) t=\(threads)",
                  closure: { benchmark in
                      let step = slot.step!
                      for _ in benchmark.scaledIterations { step() }
                  },
                  setup: {
                      BLASRuntime.setThreadCount(threads)
                      var generator = Xoshiro256StarStar(seed: 1)
                      let model: Sequential<Double> = layerNetwork(kind, width: 128, generator: &generator)
                      let state = TrainingStepWorkload(model: model, batch: 100,
                                                       threads: threads > 1 ? .splitOver(threads) : .blas, generator: &generator)
                      for _ in 0..<3 { state.step() }
                      slot.step = state.step
                  },
                  teardown: { slot.step = nil })
    }
}
