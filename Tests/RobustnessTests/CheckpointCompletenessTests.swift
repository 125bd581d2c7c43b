import Experiments
import Testing
import TestSupport

/// A training checkpoint holds everything the next epochs depend on: resuming from it gives the
/// bits of never stopping, and leaving out any one piece (Adam's moments, the step count, the
/// batch-order generator, the epoch) gives other bits, so the comparison would notice.
@Suite struct CheckpointCompletenessTests {
    enum Loss: String, CaseIterable {
        case nothing, optimizerBuffers, stepCount, generator
    }

    static let optimizers: [OptimizerConfig] = [
        .sgd(momentum: 0.9, weightDecay: 0.01), .adam(), .adamw(beta1: 0.8, beta2: 0.99, eps: 1e-7, weightDecay: 0.1),
    ]

    /// The state after `epochs` epochs: parameters, optimizer state, generator and epoch.
    struct Snapshot: Equatable {
        var parameters: [[UInt64]]
        var optimizer: [[String: [UInt64]]]
        var step: Int
        var generator: Xoshiro256StarStar
        var epoch: Int

        init<Scalar>(_ trainer: Trainer<Scalar>) {
            func bits(_ tensor: Tensor<Scalar>) -> [UInt64] { tensor.scalars.map { Double($0).bitPattern } }
            parameters = trainer.model.parameters.map { bits($0.value) }
            optimizer = trainer.optimizer.state.buffers.map { $0.mapValues(bits) }
            step = trainer.optimizer.state.step
            generator = trainer.generator
            epoch = trainer.epoch
        }
    }

    /// Trains 7 epochs straight, and 3 + checkpoint + restore into a fresh trainer + 4, with
    /// one piece of the restored state thrown away.
    func straightAndResumed<Scalar: BLASScalar>(_ type: Scalar.Type, _ optimizer: OptimizerConfig, losing loss: Loss) throws -> (Snapshot, Snapshot) {
        let straight = tinyTrainer(Scalar.self, optimizer: optimizer)
        for _ in 0..<7 { try straight.runEpoch() }

        let first = tinyTrainer(Scalar.self, optimizer: optimizer)
        for _ in 0..<3 { try first.runEpoch() }
        let curve = [LossRecord(epoch: 1, loss: 0.75), LossRecord(epoch: 3, loss: 0.1 + 0.2)]
        return try withTemporaryFolder { folder in
            let path = folder + "/checkpoint.safetensors"
            try TrainingCheckpoint.save(first, lossCurve: curve, wallTimeSeconds: 2.5, to: path)
            // A fresh trainer on the same data, with other initial weights: they would show if the
            // parameters were not restored.
            let second = tinyTrainer(Scalar.self, optimizer: optimizer, initializationSeed: 99)
            let restored = try TrainingCheckpoint.restore(second, from: path)
            #expect(restored.epoch == 3 && restored.lossCurve == curve && restored.wallTimeSeconds == 2.5)
            #expect(Snapshot(second) == Snapshot(first))
            switch loss {
            case .nothing: break
            case .optimizerBuffers:
                let fresh = tinyTrainer(Scalar.self, optimizer: optimizer)
                second.optimizer.state = OptimizerState(step: second.optimizer.state.step, buffers: fresh.optimizer.state.buffers)
            case .stepCount:
                second.optimizer.state = OptimizerState(step: 0, buffers: second.optimizer.state.buffers)
            case .generator:
                second.generator = Xoshiro256StarStar(seed: 201)
            }
            for _ in 0..<4 { try second.runEpoch() }
            return (Snapshot(straight), Snapshot(second))
        }
    }

    @Test(arguments: optimizers) func resumingGivesTheBitsOfNeverStopping(_ optimizer: OptimizerConfig) throws {
        let (straight, resumed) = try straightAndResumed(Double.self, optimizer, losing: .nothing)
        #expect(straight == resumed)
        let (straight32, resumed32) = try straightAndResumed(Float.self, optimizer, losing: .nothing)
        #expect(straight32 == resumed32)
    }

    @Test(arguments: optimizers) func everyPieceOfTheCheckpointMatters(_ optimizer: OptimizerConfig) throws {
        for loss in Loss.allCases.dropFirst() {
            // Plain SGD's step count only decides the first momentum step, already taken.
            if case .sgd = optimizer, loss == .stepCount { continue }
            let (straight, resumed) = try straightAndResumed(Double.self, optimizer, losing: loss)
            #expect(straight.parameters != resumed.parameters, "losing \(loss.rawValue) went unnoticed")
        }
    }
}
