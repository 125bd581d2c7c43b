import Foundation
import Testing
import Experiments
import TestSupport

/// Tiny configs, one per kind, that train in well under a second even in a debug build.
enum TinyConfig {
    /// 1-D synthetic data, one run.
    static let single = """
        { "name": "tiny", "seed": 1,
          "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 20 },
          "model": { "hiddenLayers": 2, "width": 8, "layerNorm": "first" },
          "training": { "optimizer": "adam", "learningRate": 0.01, "epochs": 20, "logEvery": 5 },
          "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 1 },
                          "curve": { "from": -10, "to": 10, "points": 41 } } }
        """

    /// 1-D synthetic sweep: three variants in two groups (`sin.`, `linear.`), two seeds.
    static let sweep = """
        { "name": "sweep",
          "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 16 },
          "model": { "hiddenLayers": 2, "width": 8, "layerNormAffine": false },
          "training": { "optimizer": "adam", "learningRate": 0.01, "epochs": 20, "logEvery": 10 },
          "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 1 },
                          "curve": { "from": -5, "to": 5, "points": 21 } },
          "variants": [ { "name": "sin.no-ln", "model": { "layerNorm": "none" } },
                        { "name": "sin.ln-first", "model": { "layerNorm": "first" } },
                        { "name": "linear.ln-first", "data": { "target": "linear" }, "model": { "layerNorm": "first" } } ],
          "seeds": [0, 1] }
        """

    /// CSV data (the shipped diabetes file) with the covariate-shift split, in Float32, minibatches.
    static let csv = """
        { "name": "diabetes", "precision": "float32",
          "data": { "kind": "csv", "path": "\(projectRoot)/data/diabetes.csv", "features": ["bmi", "bp", "s5"],
                    "target": "progression", "split": { "column": "bmi", "below": 30, "validationFraction": 0.2 } },
          "model": { "hiddenLayers": 1, "width": 8, "layerNorm": "first" },
          "training": { "optimizer": "adamw", "learningRate": 0.01, "epochs": 20, "batchSize": 64 },
          "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 }, "directions": { "random": 8 } } }
        """

    /// 3-D synthetic data along random directions, SGD with momentum on minibatches, two seeds
    /// and no variants.
    static let threeDimensional = """
        { "name": "cube",
          "data": { "kind": "synthetic", "target": "quadratic", "inputDim": 3, "trainSize": 20, "domain": [-2, 2] },
          "model": { "hiddenLayers": 2, "width": 8, "activation": "tanh", "layerNorm": [1] },
          "training": { "optimizer": "sgd", "momentum": 0.9, "learningRate": 0.01, "epochs": 20, "batchSize": 8, "logEvery": 3 },
          "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 1 }, "directions": { "random": 6 } },
          "seeds": [3, 4] }
        """
}

@Suite struct RunFolderTests {
    /// The default folder is `runs/<name>`, then `runs/<name>-2`: a second run never overwrites
    /// the first, and gives the same model byte for byte.
    @Test func singleSyntheticRun() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.single, to: folder + "/tiny.json")
            let first = try runTrain(["--config", "tiny.json", "--threads", "1"], in: folder)
            #expect(first.exitCode == 0, "\(first)")
            #expect(first.standardOutput.contains("growth exponent over the last decade"))
            #expect(first.standardOutput.contains("run folder: runs/tiny\n"))
            let plan = try ExperimentPlan.load(path: folder + "/runs/tiny/config.json")
            #expect(plan.runs.count == 1 && plan.base.name == "tiny" && plan.base.seed == 1)
            try RunFolderCheck(run: plan.runs[0]).check(folder + "/runs/tiny", alsoThere: ["config.json"])

            let second = try runTrain(["--config", "tiny.json", "--threads", "1", "--quiet"], in: folder)
            #expect(second.exitCode == 0, "\(second)")
            #expect(second.standardOutput.contains("run folder: runs/tiny-2\n"))
            #expect(try readBytes(folder + "/runs/tiny/model.safetensors") == readBytes(folder + "/runs/tiny-2/model.safetensors"))
            #expect(try readText(folder + "/runs/tiny/extrapolation.csv") == readText(folder + "/runs/tiny-2/extrapolation.csv"))
        }
    }

    @Test func syntheticSweepWithVariantsAndSeeds() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.sweep, to: folder + "/sweep.json")
            let result = try runTrain(["--config", "sweep.json", "--output", "out", "--threads", "2", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 0, "\(result)")
            let output = folder + "/out"
            let plan = try ExperimentPlan.load(path: output + "/config.json")
            #expect(plan.runs.map(ExperimentRunner.identifier) == ["sin.no-ln-seed0", "sin.no-ln-seed1", "sin.ln-first-seed0",
                                                                   "sin.ln-first-seed1", "linear.ln-first-seed0", "linear.ln-first-seed1"])
            try checkSweepReport(output, plan: plan, plots: ["extrapolation.svg", "extrapolation-sin.svg", "extrapolation-linear.svg",
                                                             "prediction.svg", "prediction-sin.svg", "prediction-linear.svg"])
            for run in plan.runs {
                try RunFolderCheck(run: run).check(output + "/runs/" + ExperimentRunner.identifier(run))
            }
        }
    }

    @Test func csvDataWithASplit() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.csv, to: folder + "/diabetes.json")
            let result = try runTrain(["--config", "diabetes.json", "--output", "out", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.standardOutput.contains("trainR2") && result.standardOutput.contains("testR2"))
            let plan = try ExperimentPlan.load(path: folder + "/out/config.json")
            var check = RunFolderCheck(run: plan.runs[0])
            check.resultKeys = ["stoppedEarly", "stopReason", "minimumTrainLoss", "trainR2", "validationR2", "testR2"]
            check.tolerance = 1e-5
            let metrics = try check.check(folder + "/out", alsoThere: ["config.json"])
            #expect(metrics.extra.filter { $0.key.hasSuffix("R2") }.allSatisfy { $0.value.doubleValue?.isFinite ?? false })
        }
    }

    @Test func threeDimensionalDataAlongRandomDirections() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.threeDimensional, to: folder + "/cube.json")
            let result = try runTrain(["--config", "cube.json", "--output", "out", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 0, "\(result)")
            let output = folder + "/out"
            let plan = try ExperimentPlan.load(path: output + "/config.json")
            #expect(plan.runs.map(ExperimentRunner.identifier) == ["seed3", "seed4"])
            try checkSweepReport(output, plan: plan, plots: ["extrapolation.svg"])
            for run in plan.runs {
                try RunFolderCheck(run: run).check(output + "/runs/" + ExperimentRunner.identifier(run))
            }
        }
    }

    /// A learning rate of 10^6 with SGD: exit code 1, and the folder keeps the resolved config
    /// and the metrics up to the blow-up, but no model and no metrics.json (which would claim
    /// the run finished).
    @Test func divergingRunExitsWithOne() throws {
        try withTemporaryFolder { folder in
            try writeFile("""
                { "name": "boom", "data": { "trainSize": 20 }, "model": { "width": 8 },
                  "training": { "optimizer": "sgd", "learningRate": 1e6, "epochs": 50 },
                  "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 } } }
                """, to: folder + "/boom.json")
            let result = try runTrain(["--config", "boom.json", "--output", "out", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.standardError.contains("1 run(s) failed"))
            #expect(result.standardError.contains("training diverged at epoch"))
            let files = try listing(folder + "/out")
            #expect(files.contains("config.json") && files.contains("metrics-partial.json"))
            #expect(!files.contains("metrics.json") && !files.contains("model.safetensors"))
            #expect(files.allSatisfy { !$0.contains(".tmp") })
            #expect(try ExperimentPlan.load(path: folder + "/out/config.json").base.training.learningRate == 1e6)
            let partial = try readJSON(folder + "/out/metrics-partial.json")
            #expect(partial["status"] == .string("diverged"))
            #expect((partial["epochsRun"]?.integerValue ?? 0) >= 1)
            #expect(partial["finalTrainLoss"] == .null)
            if case .string(let message)? = partial["error"] { #expect(message.contains("learning rate")) } else { Issue.record("no error") }
        }
    }
}
