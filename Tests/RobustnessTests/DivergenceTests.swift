import Experiments
import Testing
import TestSupport

@Suite struct TrainerDivergenceTests {
    /// Adam's first full-batch step with a learning rate of 1e308 is lr / (1 - beta1) = infinity: the loss
    /// measured before that step is finite, so only a look at the parameters sees it, in the same
    /// epoch, before a checkpoint could save them.
    @Test func anUpdateThatOverflowsStopsItsOwnEpoch() throws {
        for precision in ["float32", "float64"] {
            let error: DivergenceError?
            if precision == "float32" {
                let trainer = tinyTrainer(Float.self, learningRate: 1e308, batchSize: nil)
                error = #expect(throws: DivergenceError.self) { try trainer.runEpoch() }
                #expect(!trainer.parametersAreFinite)
            } else {
                let trainer = tinyTrainer(Double.self, learningRate: 1e308, batchSize: nil)
                error = #expect(throws: DivergenceError.self) { try trainer.runEpoch() }
                #expect(!trainer.parametersAreFinite)
            }
            #expect(error?.epoch == 1 && error?.parametersNonFinite == true, "\(precision)")
            #expect(error?.loss.isFinite == true, "\(precision)")
            let text = error?.description ?? ""
            #expect(text.hasPrefix("training diverged at epoch 1: a parameter became infinite or NaN"), "\(text)")
            #expect(text.contains("learning rate") && text.contains("try 1e+307 or lower"), "\(text)")
        }
    }

    /// The same two ways to diverge with each batch split over two threads.
    @Test func splitBatchesDivergeAsOneThreadDoes() throws {
        func trainer(learningRate: Double, corruptTarget: Bool) -> Trainer<Double> {
            var generator = Xoshiro256StarStar(seed: 8)
            let model: Sequential<Double> = MLPDescription(inputSize: 2, width: 8, hiddenLayers: 2).build(generator: &generator)
            let inputs = Tensor<Double>.randomUniform([40, 2], low: -1, high: 1, using: &generator)
            var targets = Tensor<Double>.randomUniform([40, 1], low: -1, high: 1, using: &generator)
            if corruptTarget { targets[33, 0] = .nan }  // in the second thread's rows
            return Trainer(model: model, optimizer: Adam(parameters: model.parameters, learningRate: learningRate),
                           inputs: inputs, targets: targets, generator: Xoshiro256StarStar(seed: 9), threads: 2)
        }
        let overflowing = trainer(learningRate: 1e308, corruptTarget: false)
        #expect(overflowing.splitsBatches)
        let overflow = #expect(throws: DivergenceError.self) { try overflowing.runEpoch() }
        #expect(overflow?.epoch == 1 && overflow?.parametersNonFinite == true)

        let notANumber = trainer(learningRate: 1e-3, corruptTarget: true)
        let before = notANumber.model.parameters.map(\.value)
        let nan = #expect(throws: DivergenceError.self) { try notANumber.runEpoch() }
        #expect(nan?.loss.isNaN == true && nan?.parametersNonFinite == false)
        #expect(notANumber.model.parameters.map(\.value) == before, "a step whose loss is NaN must not update")
    }

    @Test func aSoundEpochKeepsFiniteParameters() throws {
        let trainer = tinyTrainer(Double.self)
        for _ in 0..<5 { try trainer.runEpoch() }
        #expect(trainer.parametersAreFinite)
    }
}

/// A run whose learning rate blows the loss up stops with the epoch and a hint (exit 1), and its
/// folder keeps the config, the metrics so far and the last checkpoint, which holds finite numbers.
@Suite struct RunDivergenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let settings: String
        let checkpointEvery: Int
        let hint: String
        var testDescription: String { name }
    }

    static let cases = [
        // In float32 the loss passes 3.4e38 within a few epochs.
        Case(name: "sgd, loss overflows", settings: #""optimizer": "sgd", "learningRate": 100"#, checkpointEvery: 2,
             hint: "try 10.0 or lower"),
        // The first update is infinite while the loss before it was not: the checkpoint after
        // that epoch would have held infinities.
        Case(name: "adam, update overflows", settings: #""optimizer": "adam", "learningRate": 1e308"#, checkpointEvery: 1,
             hint: "try 1e+307 or lower"),
    ]

    @Test(.timeLimit(.minutes(2)), arguments: cases) func divergenceStopsWithAHintAndKeepsTheFolder(_ divergent: Case) throws {
        let config = """
            { "name": "diverge", "precision": "float32", "data": { "trainSize": 40 }, "model": { "width": 16 },
              "training": { \(divergent.settings), "checkpointEvery": \(divergent.checkpointEvery), "epochs": 300 },
              "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 2 } } }
            """
        try withTemporaryFolder { folder in
            try AtomicFile.write(config, to: folder + "/diverge.json")
            let result = try runTrain(["--config", "diverge.json", "--output", "run", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 1, "\(result)")
            let message = result.standardError
            #expect(message.contains("error: 1 run(s) failed:"), "\(message)")
            #expect(message.contains("training diverged at epoch "), "\(message)")
            #expect(message.contains("learning rate too large") && message.contains(divergent.hint), "\(message)")

            let run = folder + "/run"
            let problems = runFolderProblems(run, allowTemporaries: false)
            #expect(problems.isEmpty, "\(problems)")
            #expect(FileSystem.exists(run + "/config.json"))
            #expect(!FileSystem.exists(run + "/model.safetensors") && !FileSystem.exists(run + "/metrics.json"))
            let partial = try JSONValue.parse(AtomicFile.readText(run + "/metrics-partial.json"))
            let metrics = try #require(RunMetrics(json: partial))
            #expect(partial["status"] == .string("diverged"))
            #expect(message.contains("training diverged at epoch \(metrics.epochsRun):"), "\(message)")
            #expect(metrics.lossCurve.last?.epoch == metrics.epochsRun)
            #expect(metrics.lossCurve.dropLast().allSatisfy { $0.loss.isFinite && $0.epoch < metrics.epochsRun })

            // The last checkpoint, if one was due before the blow-up, is finite and from before it.
            if FileSystem.exists(run + "/checkpoint.safetensors") {
                let checkpoint = try Safetensors.read(run + "/checkpoint.safetensors")
                let epoch = Int(checkpoint.metadata?["epoch"] ?? "") ?? -1
                #expect(epoch >= 1 && epoch < metrics.epochsRun)
                for (name, tensor) in checkpoint.tensors where name.hasPrefix("model.") {
                    let finite = tensor.converted(to: Double.self).scalars.allSatisfy { $0.isFinite }
                    #expect(finite, "\(name) holds infinities or NaN")
                }
            } else {
                #expect(metrics.epochsRun <= divergent.checkpointEvery, "no checkpoint although one was due")
            }
        }
    }
}
