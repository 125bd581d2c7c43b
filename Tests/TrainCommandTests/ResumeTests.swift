import Foundation
import Testing
import Experiments
import TestSupport

/// A training setup to interrupt and resume.
struct ResumeCase: Sendable, CustomTestStringConvertible {
    let label: String
    let precision: String
    /// The `training` section, without `epochs`, `checkpointEvery` and `logEvery`.
    let training: String
    /// The `model` section.
    var model = #""hiddenLayers": 2, "width": 8, "layerNorm": "first""#
    var testDescription: String { label }

    /// 30 epochs, a checkpoint every 10, the loss every 5.
    var config: String {
        """
        { "name": "resumable", "seed": 2, "precision": "\(precision)",
          "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 20 },
          "model": { \(model) },
          "training": { \(training), "epochs": 30, "checkpointEvery": 10, "logEvery": 5 },
          "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 1 },
                          "curve": { "from": -10, "to": 10, "points": 41 } } }
        """
    }
}

/// The state a run killed mid-way leaves in its folder, made through the library exactly as
/// the runner makes it: `config.json`, then `checkpoint.safetensors` after `epochs` epochs.
func writeInterruptedRun(_ plan: ExperimentPlan, _ run: ExperimentPlan.Run, folder: String, output: String, after epochs: Int) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try plan.writeResolvedConfig(to: output + "/config.json")
    switch run.config.precision {
    case .float32: try writeCheckpoint(run, folder: folder, after: epochs, as: Float.self)
    case .float64: try writeCheckpoint(run, folder: folder, after: epochs, as: Double.self)
    }
}

func writeCheckpoint<Scalar: BLASScalar>(_ run: ExperimentPlan.Run, folder: String, after epochs: Int, as: Scalar.Type) throws {
    let config = run.config
    let data = try ExperimentData<Scalar>.load(config.data, seed: run.seed)
    guard case .finite(let width) = config.model.width else { throw FileError(path: folder, problem: "not a finite network") }
    var initialization = Xoshiro256StarStar(seed: run.seed, stream: .initialization)
    let model: Sequential<Scalar> = config.model.mlpDescription(inputSize: data.train.inputDim, width: width)
        .build(generator: &initialization)
    let trainer = Trainer(model: model, optimizer: config.training.makeOptimizer(parameters: model.parameters),
                          inputs: data.train.inputs, targets: data.train.targets,
                          batchSize: config.training.batchSize.resolved(trainingSamples: data.train.count),
                          generator: Xoshiro256StarStar(seed: run.seed, stream: .batchOrder))
    var lossCurve: [LossRecord] = []
    while trainer.epoch < epochs {
        let loss = try trainer.runEpoch()
        if trainer.epoch % config.training.logEvery == 0 { lossCurve.append(LossRecord(epoch: trainer.epoch, loss: loss)) }
    }
    try TrainingCheckpoint.save(trainer, lossCurve: lossCurve, wallTimeSeconds: 0.25, to: folder + "/checkpoint.safetensors")
}

@Suite struct ResumeTests {
    static let cases = [
        ResumeCase(label: "Adam, minibatches of 8 (20 rows: a short last batch)", precision: "float64",
                   training: #""optimizer": "adam", "learningRate": 0.01, "batchSize": 8"#),
        ResumeCase(label: "SGD with momentum, full batch", precision: "float64",
                   training: #""optimizer": "sgd", "learningRate": 0.05, "momentum": 0.9"#),
        ResumeCase(label: "AdamW in Float32, minibatches of 6", precision: "float32",
                   training: #""optimizer": "adamw", "learningRate": 0.01, "batchSize": 6"#),
        // The running statistics (buffers, not parameters) must come back too: training never reads
        // them, but the evaluation after it does.
        ResumeCase(label: "BatchNorm everywhere in a pre-norm residual MLP, minibatches of 8", precision: "float64",
                   training: #""optimizer": "adam", "learningRate": 0.01, "batchSize": 8"#,
                   model: #""hiddenLayers": 2, "width": 8, "residual": "preNorm", "normalization": "batchNorm", "layerNorm": "every", "finalNorm": true"#),
        ResumeCase(label: "BatchNorm after the first hidden layer in Float32, full batch", precision: "float32",
                   training: #""optimizer": "adam", "learningRate": 0.01"#,
                   model: #""hiddenLayers": 2, "width": 8, "normalization": "batchNorm", "layerNorm": "first""#),
    ]

    /// Stopped after epoch 10 of 30 and resumed with `--resume`, a run ends exactly where the
    /// uninterrupted run ends: the same model.safetensors and extrapolation.csv byte for byte,
    /// the same metrics.json but for the wall time, and no checkpoint left.
    @Test(arguments: cases) func resumedRunEqualsUninterruptedRun(_ setup: ResumeCase) throws {
        BLASRuntime.setThreadCount(1)
        try withTemporaryFolder { folder in
            try writeFile(setup.config, to: folder + "/resumable.json")
            let common = ["--config", "resumable.json", "--threads", "1", "--blas-core", "keep"]
            let whole = try runTrain(common + ["--output", "whole", "--quiet"], in: folder)
            #expect(whole.exitCode == 0, "\(whole)")

            let plan = try ExperimentPlan.load(path: folder + "/resumable.json")
            try writeInterruptedRun(plan, plan.runs[0], folder: folder + "/cut", output: folder + "/cut", after: 10)
            let resumed = try runTrain(common + ["--output", "cut", "--resume", "--quiet"], in: folder)
            #expect(resumed.exitCode == 0, "\(resumed)")
            #expect(resumed.standardError.contains("resuming at epoch 10"), "\(resumed)")

            let (a, b) = (folder + "/whole", folder + "/cut")
            #expect(try listing(b) == listing(a))
            for file in ["model.safetensors", "extrapolation.csv", "prediction.csv", "config.json"] {
                #expect(try readBytes(a + "/" + file) == readBytes(b + "/" + file), "\(file) differs")
            }
            #expect(withoutWallTime(try readJSON(a + "/metrics.json")) == withoutWallTime(try readJSON(b + "/metrics.json")))
            // The wall time carries on from the checkpoint's.
            #expect((try readJSON(b + "/metrics.json")["wallTimeSeconds"]?.doubleValue ?? 0) >= 0.25)
        }
    }

    /// A sweep resumed with one run finished (kept as it is), one stopped mid-way (continued)
    /// and one never started (trained) ends with the report of an uninterrupted sweep.
    @Test func resumedSweepEqualsUninterruptedSweep() throws {
        BLASRuntime.setThreadCount(1)
        try withTemporaryFolder { folder in
            let config = TinyConfig.threeDimensional.replacingOccurrences(of: #""seeds": [3, 4]"#, with: #""seeds": [3, 4, 5]"#)
            try writeFile(config, to: folder + "/cube.json")
            let common = ["--config", "cube.json", "--threads", "1", "--quiet", "--blas-core", "keep"]
            let whole = try runTrain(common + ["--output", "whole"], in: folder)
            #expect(whole.exitCode == 0, "\(whole)")

            let plan = try ExperimentPlan.load(path: folder + "/cube.json")
            let cut = folder + "/cut"
            try FileManager.default.createDirectory(atPath: cut + "/runs", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: folder + "/whole/runs/seed3", toPath: cut + "/runs/seed3")
            try writeInterruptedRun(plan, plan.runs[1], folder: cut + "/runs/seed4", output: cut, after: 7)
            let resumed = try runTrain(common + ["--output", "cut", "--resume"], in: folder)
            #expect(resumed.exitCode == 0, "\(resumed)")
            #expect(resumed.standardError.contains("seed3: already finished, kept as it is"), "\(resumed)")
            #expect(resumed.standardError.contains("seed4: resuming at epoch 7"), "\(resumed)")

            #expect(try listing(cut) == listing(folder + "/whole"))
            for file in try listing(cut) where file != "metrics.json" && file != "runs" {
                #expect(try readBytes(cut + "/" + file) == readBytes(folder + "/whole/" + file), "\(file) differs")
            }
            #expect(withoutWallTime(try readJSON(cut + "/metrics.json")) == withoutWallTime(try readJSON(folder + "/whole/metrics.json")))
            for identifier in ["seed3", "seed4", "seed5"] {
                let (a, b) = (folder + "/whole/runs/" + identifier, cut + "/runs/" + identifier)
                #expect(try listing(b) == listing(a))
                #expect(try readBytes(a + "/model.safetensors") == readBytes(b + "/model.safetensors"), "\(identifier)")
            }
        }
    }
}
