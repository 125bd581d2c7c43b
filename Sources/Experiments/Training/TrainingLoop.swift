/// The epoch loop around a ``Trainer``: runs the scheduled epochs, records the loss every
/// `logEvery` epochs (and after the last), stops early once the loss reaches a target or stops
/// falling (``EarlyStopConfig``), runs an ``Observation`` every k epochs (the kernel drift), saves a
/// ``TrainingCheckpoint`` every `checkpointEvery` epochs, and stops with a ``DivergenceError``
/// when the loss or a parameter stops being a number. `train` runs every finite network through
/// it; a program of your own can too:
/// ```swift
/// let trainer = Trainer(model: model, optimizer: Adam(parameters: model.parameters, learningRate: 1e-3),
///                       inputs: x, targets: y, generator: Xoshiro256StarStar(seed: 0))
/// let loop = TrainingLoop(trainer: trainer, schedule: .init(epochs: 2000, targetLoss: 1e-4),
///                         checkpointPath: "run/checkpoint.safetensors")
/// try loop.resumeFromCheckpoint()          // continues a killed run; does nothing without a checkpoint
/// let outcome = try loop.run { epoch, loss in print(epoch, loss) }
/// ```
/// After a ``DivergenceError`` the loop keeps what it recorded (``lossCurve`` ends with the
/// diverged epoch) and the last checkpoint, saved before the blow-up, holds finite parameters.
public final class TrainingLoop<Scalar: BLASScalar> {
    /// How long to train, what to record, when to stop early and when to save.
    public struct Schedule: Sendable, Equatable {
        /// Epochs in all, counting those before a resume; 0 trains nothing. The cap: early stops end sooner.
        public var epochs: Int
        /// Record the loss every this many epochs (and after the last).
        public var logEvery: Int
        /// Stop once an epoch's loss is at or below this.
        public var targetLoss: Double?
        /// Stop once the loss has not fallen by `minDecrease` below its best within `window` epochs.
        public var earlyStop: EarlyStopConfig?
        /// Save a checkpoint every this many epochs (not after the last: the caller saves the model).
        public var checkpointEvery: Int

        /// - Parameter checkpointEvery: nil for a tenth of the epochs (at least 1).
        public init(epochs: Int, logEvery: Int = TrainingConfig.defaultLogEvery, targetLoss: Double? = nil,
                    earlyStop: EarlyStopConfig? = nil, checkpointEvery: Int? = nil) {
            precondition(epochs >= 0 && logEvery >= 1 && (checkpointEvery ?? 1) >= 1,
                         "TrainingLoop.Schedule: epochs (\(epochs)) must be >= 0, logEvery (\(logEvery)) and checkpointEvery (\(checkpointEvery ?? 1)) >= 1")
            precondition((earlyStop?.window ?? 1) >= 1, "TrainingLoop.Schedule: earlyStop.window must be >= 1, got \(earlyStop?.window ?? 1)")
            self.epochs = epochs
            self.logEvery = logEvery
            self.targetLoss = targetLoss
            self.earlyStop = earlyStop
            self.checkpointEvery = checkpointEvery ?? max(epochs / 10, 1)
        }

        /// The schedule a config's `training` section sets.
        public init(_ training: TrainingConfig) {
            self.init(epochs: training.epochs, logEvery: training.logEvery, targetLoss: training.targetLoss,
                      earlyStop: training.earlyStop, checkpointEvery: training.checkpointEvery)
        }
    }

    /// How a finished loop ended.
    public struct Outcome: Sendable {
        /// Epochs completed, counting those before a resume.
        public var epochsRun: Int
        /// The mean squared error on every training row after the last epoch.
        public var finalLoss: Double
        /// Whether the target loss or the early stop ended training before the scheduled epochs.
        public var stoppedEarly: Bool
        /// Why training ended.
        public var stopReason: StopReason
        /// The smallest loss of any epoch (each epoch's loss, not only the logged ones) and the final loss.
        public var minimumLoss: Double
        public var lossCurve: [LossRecord]
    }

    /// Something to do every `every` epochs while training, and after the last epoch (however
    /// training ended): measure the network (the kernel drift). It runs between epochs, outside
    /// the steady-state step, and may allocate.
    public struct Observation {
        public var every: Int
        /// Called with the number of epochs completed; an error stops training and is rethrown.
        public var observe: (_ epoch: Int) throws -> Void

        public init(every: Int, observe: @escaping (_ epoch: Int) throws -> Void) {
            precondition(every >= 1, "TrainingLoop.Observation: every must be >= 1, got \(every)")
            self.every = every
            self.observe = observe
        }
    }

    public let trainer: Trainer<Scalar>
    public let schedule: Schedule
    /// Where checkpoints are saved and resumed from; nil saves none.
    public let checkpointPath: String?
    /// The recorded losses so far, including those restored by ``resumeFromCheckpoint()``.
    public private(set) var lossCurve: [LossRecord] = []
    /// Called every `observation.every` epochs and after the last; nil for nothing.
    public var observation: Observation?
    /// The early stop's best loss and its epoch so far (restored from a checkpoint).
    public private(set) var earlyStopState = EarlyStopState()
    /// The smallest epoch loss so far (restored from a checkpoint).
    public private(set) var minimumLoss = Double.infinity
    /// Seconds trained before this loop, restored from a checkpoint.
    private var earlierSeconds = 0.0
    private let start = monotonicSeconds()

    public init(trainer: Trainer<Scalar>, schedule: Schedule, checkpointPath: String? = nil) {
        self.trainer = trainer
        self.schedule = schedule
        self.checkpointPath = checkpointPath
    }

    /// Seconds since the loop was made, plus those trained before a resume.
    public var wallTimeSeconds: Double { earlierSeconds + monotonicSeconds() - start }

    /// Continues from the checkpoint at ``checkpointPath``, if there is one: the trainer's
    /// parameters, optimizer state, batch-order generator and epoch, and this loop's loss curve
    /// and time so far. Returns the checkpoint, or nil when there is none to resume from.
    /// - Throws: `CheckpointError` for a damaged file or one from another config.
    @discardableResult
    public func resumeFromCheckpoint() throws -> TrainingCheckpoint? {
        guard let checkpointPath, FileSystem.exists(checkpointPath) else { return nil }
        let restored = try TrainingCheckpoint.restore(trainer, from: checkpointPath)
        guard restored.epoch <= schedule.epochs else {
            throw CheckpointError(path: checkpointPath, problem: "it is at epoch \(restored.epoch), past the config's "
                + "\(schedule.epochs) epochs; was it written with another config?")
        }
        lossCurve = restored.lossCurve
        earlierSeconds = restored.wallTimeSeconds
        earlyStopState = restored.earlyStop
        minimumLoss = restored.minimumLoss
        return restored
    }

    /// Trains from the trainer's current epoch to the schedule's last (or the target loss), with
    /// the model in training mode (PyTorch's `model.train()`), then switches it to evaluation mode
    /// (`model.eval()`), in which the final loss is measured and everything after training
    /// evaluates the model: a BatchNorm then normalises by its running statistics. (Layers without
    /// a mode, as in the paper's networks, are unaffected.)
    /// - Parameter onEpoch: called after every epoch with its number and loss (for progress).
    /// - Throws: ``DivergenceError`` (``lossCurve`` then ends with the diverged epoch); errors
    ///   writing a checkpoint.
    public func run(onEpoch: (_ epoch: Int, _ loss: Double) -> Void = { _, _ in }) throws -> Outcome {
        let epochs = schedule.epochs
        trainer.model.setTraining(true)
        var stopReason = StopReason.epochs
        var observedEpoch = -1
        do {
            while trainer.epoch < epochs {
                let loss = try trainer.runEpoch()
                let epoch = trainer.epoch
                minimumLoss = min(minimumLoss, loss)
                if epoch % schedule.logEvery == 0 || epoch == epochs { lossCurve.append(LossRecord(epoch: epoch, loss: loss)) }
                onEpoch(epoch, loss)
                if let observation, epoch % observation.every == 0 || epoch == epochs {
                    trainer.model.setTraining(false)
                    try observation.observe(epoch)
                    observedEpoch = epoch
                    trainer.model.setTraining(true)
                }
                if let target = schedule.targetLoss, loss <= target { stopReason = .targetLoss }
                if let earlyStop = schedule.earlyStop, earlyStopState.shouldStop(after: epoch, loss: loss, earlyStop),
                   stopReason == .epochs, epoch < epochs {
                    stopReason = .earlyStop
                }
                if stopReason != .epochs {
                    if lossCurve.last?.epoch != epoch { lossCurve.append(LossRecord(epoch: epoch, loss: loss)) }
                    break
                }
                if let checkpointPath, epoch % schedule.checkpointEvery == 0 && epoch < epochs {
                    try TrainingCheckpoint.save(trainer, lossCurve: lossCurve, wallTimeSeconds: wallTimeSeconds,
                                                earlyStop: earlyStopState, minimumLoss: minimumLoss, to: checkpointPath)
                }
            }
            trainer.model.setTraining(false)
            // An early stop ends between observations: the last state is observed too.
            if let observation, stopReason != .epochs, observedEpoch != trainer.epoch { try observation.observe(trainer.epoch) }
            let finalLoss = trainer.evaluateLoss()
            guard finalLoss.isFinite else {
                throw DivergenceError(epoch: trainer.epoch, loss: finalLoss, learningRate: trainer.optimizer.learningRate)
            }
            return Outcome(epochsRun: trainer.epoch, finalLoss: finalLoss, stoppedEarly: trainer.epoch < epochs, stopReason: stopReason,
                           minimumLoss: min(minimumLoss, finalLoss), lossCurve: lossCurve)
        } catch let divergence as DivergenceError {
            if lossCurve.last?.epoch != divergence.epoch { lossCurve.append(LossRecord(epoch: divergence.epoch, loss: divergence.loss)) }
            throw divergence
        }
    }
}

/// Why training ended (`stopReason` in `metrics.json`).
public enum StopReason: String, Sendable, CaseIterable {
    /// It ran every scheduled epoch (`training.epochs`).
    case epochs
    /// The loss reached `training.targetLoss`.
    case targetLoss
    /// The loss stopped falling (`training.earlyStop`).
    case earlyStop
    /// The loss or a parameter stopped being a number, or the loss grew past ``ResultCheck/lossGrowthLimit``.
    case diverged
}
