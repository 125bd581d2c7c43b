import Foundation
import Testing
@testable import Experiments

/// A BatchNorm network trains on batch statistics and is measured in evaluation mode, by its
/// running statistics: then it is an affine map of each feature, and a ReLU network with it grows
/// linearly along rays, as one without any norm does.
@Suite struct BatchNormRunTests {
    static let config = """
        { "name": "bn", "seed": 4, "data": { "target": "sin", "trainSize": 24 },
          "model": { "hiddenLayers": 2, "width": 12, "normalization": "batchNorm", "layerNorm": "every", "finalNorm": true },
          "training": { "epochs": 40, "learningRate": 0.01, "batchSize": 8 },
          "evaluation": { "lambdas": { "from": 1, "to": 10000, "perDecade": 4 },
                          "curve": { "from": -5, "to": 5, "points": 11 } } }
        """

    @Test func measuresTheTrainedNetworkInEvaluationMode() throws {
        let folder = "/tmp/finitewidth-batchnorm-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plan = try ExperimentPlan.parse(Self.config, file: "bn.json")
        var options = RunnerOptions(output: folder, threads: 1)
        options.quiet = true
        let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
        let measured = try #require(report.records.first).metrics

        // The saved network, running statistics included, recomputed by hand in each mode.
        let config = plan.base
        let data = try ExperimentData<Double>.load(config.data, seed: config.seed)
        func savedNetwork() throws -> Sequential<Double> {
            var generator = Xoshiro256StarStar(seed: 99)
            let network: Sequential<Double> = config.model.mlpDescription(inputSize: 1, width: 12).build(generator: &generator)
            try network.loadCheckpoint(from: folder + "/model.safetensors")
            return network
        }
        let evaluation = try savedNetwork()
        // 40 epochs of 3 batches moved the running statistics of each of the three norms.
        let counts = evaluation.namedBuffers.filter { $0.name.hasSuffix("num_batches_tracked") }.map { $0.buffer.value.scalars }
        #expect(counts == [[120], [120], [120]])
        evaluation.setTraining(false)
        func table(_ network: Sequential<Double>) -> ExtrapolationTable {
            ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: config.seed) { network($0) }
        }
        #expect(table(evaluation) == measured.extrapolation)
        #expect(evaluation(data.train.inputs).scalars.count == 24)
        let training = try savedNetwork()
        #expect(table(training) != measured.extrapolation, "training mode (batch statistics) would give other numbers")

        // Far out every ReLU's sign is fixed along each ray and the eval-mode BatchNorms are affine,
        // so max |f| is an affine function of lambda with a positive slope: linear growth.
        let far = measured.extrapolation.points.suffix(5)
        let slopes = zip(far.dropFirst(), far).map { ($0.maxAbs - $1.maxAbs) / ($0.lambda - $1.lambda) }
        #expect(slopes[0] > 0)
        for slope in slopes { #expect(abs(slope / slopes[0] - 1) < 1e-9, "\(slopes)") }
        #expect(abs(measured.extrapolation.growthExponent - 1) < 0.01)
    }

    /// A training-mode BatchNorm couples the rows of a batch, so a trainer given threads keeps
    /// each batch whole: the same bits as one thread, where a LayerNorm network's batches split.
    @Test func trainerKeepsBatchNormBatchesWhole() throws {
        func trainer(_ normalization: Normalization, threads: Int) -> Trainer<Double> {
            var description = MLPDescription(inputSize: 2, width: 8, hiddenLayers: 2)
            description.normalization = normalization
            description.layerNormAfter = [0, 1]
            var generator = Xoshiro256StarStar(seed: 3)
            let model: Sequential<Double> = description.build(generator: &generator)
            var data = Xoshiro256StarStar(seed: 4)
            let inputs = Tensor<Double>.randomUniform([64, 2], low: -1, high: 1, using: &data)
            let targets = Tensor<Double>.randomUniform([64, 1], low: -1, high: 1, using: &data)
            return Trainer(model: model, optimizer: Adam(parameters: model.parameters, learningRate: 0.01), inputs: inputs,
                           targets: targets, batchSize: 32, generator: Xoshiro256StarStar(seed: 5), threads: threads)
        }
        let (one, four) = (trainer(.batchNorm, threads: 1), trainer(.batchNorm, threads: 4))
        #expect(!four.splitsBatches)
        for _ in 0..<5 { #expect(try one.runEpoch() == four.runEpoch()) }
        #expect(one.model.stateDict.mapValues(\.scalars) == four.model.stateDict.mapValues(\.scalars))
        // The same network with LayerNorm splits its batches wherever the machine has a second core.
        let cores = DataParallelTraining<Double>.threadsWorthUsing(available: 4, rows: 32, parameters: one.optimizer.parameters)
        #expect(trainer(.layerNorm, threads: 4).splitsBatches == (cores > 1))
    }
}

/// CSV data's training rows are known once the file is read: a BatchNorm batch of 1 row is
/// refused then, before any run starts, naming the config file and the key.
@Suite struct BatchNormCSVTests {
    @Test func aLastBatchOfOneRowIsAUsageError() throws {
        let folder = "/tmp/finitewidth-batchnorm-csv-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try AtomicFile.write("a,b\n" + (0..<11).map { "\($0),\($0 * 2)" }.joined(separator: "\n") + "\n", to: folder + "/eleven.csv")
        let text = #"{ "data": { "kind": "csv", "path": "\#(folder)/eleven.csv", "features": ["a"], "target": "b" }, "model": { "normalization": "batchNorm", "layerNorm": "first" }, "training": { "batchSize": 5, "epochs": 1 } }"#
        var options = RunnerOptions(output: folder + "/run", threads: 1)
        options.quiet = true
        do {
            try ExperimentRunner.run(try ExperimentPlan.parse(text, file: "bn.json"), options: options,
                                     progress: ProgressReporter(quiet: true, isTerminal: false))
            Issue.record("a BatchNorm network trained on a last batch of 1 row")
        } catch let error as UsageError {
            #expect(error.message == #"bn.json: training.batchSize: "batchNorm" (model.normalization) normalises each feature over a batch's rows and needs at least 2 rows in every training batch, but batches of 5 from 11 training rows leave a last batch of 1 row; choose another batch size (run seed0)"#)
        }
        #expect(!FileSystem.exists(folder + "/run/config.json"), "refused before any work")
    }
}

/// Width "infinite" with the new architectures: kernel regression with their analytic NTK, which
/// extrapolates as the finite networks do.
@Suite struct InfiniteWidthArchitectureTests {
    @Test func analyticKernelsOfRMSNormAndResidualNetworksBoundOrGrowAsTheFiniteOnes() throws {
        let folder = "/tmp/finitewidth-infinite-architectures-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plan = try ExperimentPlan.parse("""
            { "name": "inf", "data": { "target": "sin", "trainSize": 20 },
              "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "layerNormAffine": false },
              "evaluation": { "lambdas": { "from": 1, "to": 100000, "perDecade": 2 } },
              "variants": [ { "name": "rmsnorm", "model": { "normalization": "rmsNorm", "layerNorm": "first" } },
                            { "name": "pre-ln", "model": { "residual": "preNorm", "layerNorm": "every" } },
                            { "name": "pre-ln-final", "model": { "residual": "preNorm", "layerNorm": "every", "finalNorm": true } },
                            { "name": "post-rmsnorm", "model": { "residual": "postNorm", "normalization": "rmsNorm", "layerNorm": "every" } } ] }
            """, file: "inf.json")
        var options = RunnerOptions(output: folder, threads: 1)
        options.quiet = true
        let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
        let exponents = Dictionary(uniqueKeysWithValues: report.records.map { ($0.metrics.variant!, $0.metrics.extrapolation.growthExponent) })
        #expect(report.records.allSatisfy { $0.metrics.finalTrainLoss < 1e-10 })
        #expect(abs(exponents["rmsnorm"]!) < 0.01, "\(exponents)")
        #expect(abs(exponents["pre-ln"]! - 1) < 0.01, "\(exponents)")
        #expect(abs(exponents["pre-ln-final"]!) < 0.01, "\(exponents)")
        #expect(abs(exponents["post-rmsnorm"]!) < 0.01, "\(exponents)")
    }
}
