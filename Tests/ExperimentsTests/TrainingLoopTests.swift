import Testing
import TestSupport
import Experiments

/// `TrainingLoop` used directly, as a program of a researcher's own would, checked against a
/// twin `Trainer` (same seeds, so the same numbers) driven epoch by epoch by hand.
@Suite struct TrainingLoopTests {
    /// 10 rows of 2 inputs in minibatches of 4 (a short last batch), LayerNorm after the first
    /// hidden layer; every call gives a trainer in the same state.
    static func trainer<Scalar: BLASScalar>(_ type: Scalar.Type = Scalar.self, learningRate: Double = 0.01) -> Trainer<Scalar> {
        var initialization = Xoshiro256StarStar(seed: 7)
        var description = MLPDescription(inputSize: 2, width: 8, hiddenLayers: 2)
        description.layerNormAfter = [0]
        let model: Sequential<Scalar> = description.build(generator: &initialization)
        var data = Xoshiro256StarStar(seed: 8)
        let inputs = Tensor<Scalar>.randomUniform([10, 2], low: -1, high: 1, using: &data)
        let targets = Tensor<Scalar>.randomUniform([10, 1], low: -1, high: 1, using: &data)
        return Trainer(model: model, optimizer: Adam(parameters: model.parameters, learningRate: learningRate),
                       inputs: inputs, targets: targets, batchSize: 4, generator: Xoshiro256StarStar(seed: 9))
    }

    /// The loss of every epoch from 1 to `epochs`, and the final full-data loss, by hand.
    static func lossesByHand<Scalar: BLASScalar>(_ type: Scalar.Type, epochs: Int) throws -> (epochs: [Double], final: Double) {
        let twin = trainer(Scalar.self)
        let losses = try (0..<epochs).map { _ in try twin.runEpoch() }
        return (losses, twin.evaluateLoss())
    }

    @Test(arguments: [false, true])
    func recordsTheLossEveryLogEveryEpochsAndAfterTheLast(float32: Bool) throws {
        if float32 { try check(Float.self) } else { try check(Double.self) }
        func check<Scalar: BLASScalar>(_ type: Scalar.Type) throws {
            let byHand = try Self.lossesByHand(Scalar.self, epochs: 23)
            let loop = TrainingLoop(trainer: Self.trainer(Scalar.self), schedule: .init(epochs: 23, logEvery: 5))
            var seen: [Double] = []
            let outcome = try loop.run { epoch, loss in
                #expect(epoch == seen.count + 1)
                seen.append(loss)
            }
            #expect(seen == byHand.epochs)
            #expect(outcome.lossCurve.map(\.epoch) == [5, 10, 15, 20, 23])
            #expect(outcome.lossCurve.map(\.loss) == [5, 10, 15, 20, 23].map { byHand.epochs[$0 - 1] })
            #expect(outcome.lossCurve == loop.lossCurve)
            #expect(outcome.finalLoss == byHand.final && outcome.epochsRun == 23 && !outcome.stoppedEarly)
            #expect(loop.trainer.epoch == 23)
        }
    }

    @Test func stopsAtTheFirstEpochWhoseLossReachesTheTarget() throws {
        let byHand = try Self.lossesByHand(Double.self, epochs: 200)
        let target = byHand.epochs[59]
        let firstAtTarget = byHand.epochs.firstIndex { $0 <= target }! + 1
        let loop = TrainingLoop(trainer: Self.trainer(Double.self), schedule: .init(epochs: 200, logEvery: 7, targetLoss: target))
        let outcome = try loop.run()
        #expect(outcome.stoppedEarly && outcome.epochsRun == firstAtTarget)
        let logged = Array(stride(from: 7, to: firstAtTarget, by: 7)) + [firstAtTarget]
        #expect(outcome.lossCurve.map(\.epoch) == logged)
        #expect(outcome.lossCurve.map(\.loss) == logged.map { byHand.epochs[$0 - 1] })
    }

    /// Checkpoints land every k epochs (not after the last), and a fresh trainer resumed from
    /// the last one ends with the numbers of the run that was never stopped.
    @Test func checkpointsEveryKEpochsAndResumesToTheSameNumbers() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/checkpoint.safetensors"
            let schedule = TrainingLoop<Double>.Schedule(epochs: 12, logEvery: 2, checkpointEvery: 5)
            let straight = TrainingLoop(trainer: Self.trainer(Double.self), schedule: schedule, checkpointPath: path)
            var savedEpochSeen: [String] = []
            let outcome = try straight.run { _, _ in
                savedEpochSeen.append(FileSystem.exists(path) ? (try? Safetensors.read(path))?.metadata?["epoch"] ?? "unreadable" : "none")
            }
            // Each epoch's callback comes before that epoch's checkpoint is saved.
            #expect(savedEpochSeen == Array(repeating: "none", count: 5) + Array(repeating: "5", count: 5) + ["10", "10"])

            let resumed = TrainingLoop(trainer: Self.trainer(Double.self), schedule: schedule, checkpointPath: path)
            let checkpoint = try #require(try resumed.resumeFromCheckpoint())
            #expect(checkpoint.epoch == 10 && resumed.trainer.epoch == 10)
            #expect(resumed.lossCurve == outcome.lossCurve.filter { $0.epoch <= 10 })
            let resumedOutcome = try resumed.run()
            #expect(resumedOutcome.lossCurve == outcome.lossCurve)
            #expect(resumedOutcome.finalLoss == outcome.finalLoss && resumedOutcome.epochsRun == 12)

            // Without a checkpoint there is nothing to resume; by default a tenth of the epochs apart.
            #expect(try TrainingLoop(trainer: Self.trainer(Double.self), schedule: schedule).resumeFromCheckpoint() == nil)
            #expect(TrainingLoop<Double>.Schedule(epochs: 30).checkpointEvery == 3)
            #expect(TrainingLoop<Double>.Schedule(epochs: 5).checkpointEvery == 1)
        }
    }

    /// Five sound epochs, then a learning rate of 1e308 (set from the epoch callback, as a
    /// schedule would): the loop stops with a DivergenceError and keeps the curve up to it.
    @Test func divergenceKeepsTheLossCurveUpToTheBlowUp() throws {
        let byHand = try Self.lossesByHand(Double.self, epochs: 5)
        let loop = TrainingLoop(trainer: Self.trainer(Double.self), schedule: .init(epochs: 50, logEvery: 1))
        do {
            _ = try loop.run { epoch, _ in
                if epoch == 5 { loop.trainer.optimizer.learningRate = 1e308 }
            }
            Issue.record("a learning rate of 1e308 trained without diverging")
        } catch let error as DivergenceError {
            #expect(error.epoch > 5 && loop.trainer.epoch == error.epoch)
            #expect(loop.lossCurve.prefix(5).map(\.loss) == byHand.epochs)
            let last = try #require(loop.lossCurve.last)
            #expect(last.epoch == error.epoch && last.loss.bitPattern == error.loss.bitPattern)
            #expect(loop.lossCurve.dropLast().map(\.epoch) == Array(1..<error.epoch))
            #expect(loop.lossCurve.dropLast().allSatisfy { $0.loss.isFinite })
        }
    }
}
