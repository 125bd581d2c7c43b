/// Training by gradient flow (`"optimizer": "gradientFlow"`): a ``GradientFlow`` over the
/// ``Trainer``'s full-batch loss and gradient, from t = 0 to ``TrainingConfig/flowTime``.
///
/// Where gradient descent counts epochs, the flow counts accepted steps: the loss curve records
/// the loss every `logEvery` accepted steps (and at T), its `epoch` field is the accepted step's
/// number and ``FlowRecord/time`` its t; a checkpoint is saved every `checkpointEvery` accepted
/// steps with the parameters, t, the proposed step size and the counts, so a resumed flow takes
/// the steps an unstopped one takes.
public final class GradientFlowTraining<Scalar: BLASScalar> {
    public let trainer: Trainer<Scalar>
    public let flow: GradientFlow<Scalar>
    public let endTime: Double
    public let logEvery: Int
    public let checkpointEvery: Int
    public let checkpointPath: String?
    /// The recorded points so far (restored ones included).
    public private(set) var records: [FlowRecord] = []
    /// The least loss of any accepted step (since a resume: the checkpoint keeps the logged records only).
    public private(set) var minimumLoss = Double.infinity
    private var earlierSeconds = 0.0
    private let start = monotonicSeconds()

    public static var checkpointFormat: String { "finitewidth-gradient-flow-checkpoint-1" }

    /// - Parameters:
    ///   - tolerance: the flow's relative tolerance; `absoluteTolerance` nil for the same value.
    ///   - checkpointEvery: accepted steps between checkpoints.
    public init(trainer: Trainer<Scalar>, endTime: Double, tolerance: Double, absoluteTolerance: Double?,
                logEvery: Int, checkpointEvery: Int, checkpointPath: String?) {
        precondition(trainer.batchSize == trainer.inputs.rows,
                     "GradientFlowTraining: gradient flow follows the full-batch loss; the trainer has batches of \(trainer.batchSize) of \(trainer.inputs.rows) rows")
        self.trainer = trainer
        self.endTime = endTime
        self.logEvery = logEvery
        self.checkpointEvery = checkpointEvery
        self.checkpointPath = checkpointPath
        flow = GradientFlow(parameters: trainer.optimizer.parameters, relativeTolerance: tolerance,
                            absoluteTolerance: absoluteTolerance) { [unowned trainer] in trainer.lossAndGradient() }
    }

    /// The same, with the settings of a config's `training` section (which must be gradient flow's).
    public convenience init(trainer: Trainer<Scalar>, training: TrainingConfig, checkpointPath: String?) {
        guard case let .gradientFlow(tolerance, absoluteTolerance) = training.optimizer else {
            preconditionFailure("GradientFlowTraining: the config's optimizer is \(training.optimizer.name), not gradientFlow")
        }
        self.init(trainer: trainer, endTime: training.flowTime, tolerance: tolerance, absoluteTolerance: absoluteTolerance,
                  logEvery: training.logEvery, checkpointEvery: training.checkpointEvery ?? 100, checkpointPath: checkpointPath)
    }

    public var wallTimeSeconds: Double { earlierSeconds + monotonicSeconds() - start }

    /// Flows to the end time. `onStep(acceptedSteps, time, loss)` after every accepted step.
    /// - Throws: ``DivergenceError`` (a loss that is not a number), ``GradientFlowError``, checkpoint errors.
    public func run(onStep: (Int, Double, Double) -> Void = { _, _, _ in }) throws -> TrainingLoop<Scalar>.Outcome {
        trainer.model.setTraining(true)
        do {
            while flow.time < endTime {
                let loss = try flow.step(until: endTime)
                minimumLoss = min(minimumLoss, loss)
                let step = flow.acceptedSteps
                trainer.epoch = step
                if step % logEvery == 0 || flow.time >= endTime { records.append(FlowRecord(step: step, time: flow.time, loss: loss)) }
                onStep(step, flow.time, loss)
                if let checkpointPath, step % checkpointEvery == 0, flow.time < endTime { try save(to: checkpointPath) }
            }
        } catch let error as GradientFlowError {
            throw DivergenceError(epoch: flow.acceptedSteps, loss: flow.loss, learningRate: trainer.optimizer.learningRate,
                                  flowProblem: error.description)
        }
        trainer.model.setTraining(false)
        let finalLoss = trainer.evaluateLoss()
        guard finalLoss.isFinite else {
            throw DivergenceError(epoch: flow.acceptedSteps, loss: finalLoss, learningRate: trainer.optimizer.learningRate)
        }
        // The flow runs to its end time: it stops for nothing else.
        return .init(epochsRun: flow.acceptedSteps, finalLoss: finalLoss, stoppedEarly: false, stopReason: .epochs,
                     minimumLoss: min(minimumLoss, finalLoss), lossCurve: records.map { LossRecord(epoch: $0.step, loss: $0.loss) })
    }

    /// What `metrics.json` reports of the flow.
    public var summary: GradientFlowSummary {
        GradientFlowSummary(time: flow.time, relativeTolerance: flow.relativeTolerance, absoluteTolerance: flow.absoluteTolerance,
                            gradientEvaluations: flow.gradientEvaluations, acceptedSteps: flow.acceptedSteps,
                            rejectedSteps: flow.rejectedSteps, recordTimes: records.map(\.time))
    }

    /// Writes the parameters and the flow's state to `path` atomically.
    public func save(to path: String) throws {
        let tensors = trainer.model.namedParameters.map { (name: "model.\($0.name)", tensor: AnyTensor($0.parameter.value)) }
        let state = flow.state
        let metadata = [
            "format": Self.checkpointFormat,
            "time": "\(state.time)", "stepSize": state.stepSize.map { "\($0)" } ?? "",
            "gradientEvaluations": "\(state.gradientEvaluations)", "acceptedSteps": "\(state.acceptedSteps)",
            "rejectedSteps": "\(state.rejectedSteps)",
            // Swift prints a Double with the fewest digits that read back to the same value.
            "records": records.map { "\($0.step):\($0.time):\($0.loss)" }.joined(separator: ","),
            "wallTimeSeconds": "\(wallTimeSeconds)",
        ]
        try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    /// Continues from the checkpoint at ``checkpointPath`` if there is one; returns whether it did.
    /// - Throws: `CheckpointError` naming the field of a damaged file or one from another config.
    @discardableResult
    public func resumeFromCheckpoint() throws -> Bool {
        guard let path = checkpointPath, FileSystem.exists(path) else { return false }
        let file = try Safetensors.read(path)
        func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: problem) }
        guard let metadata = file.metadata, metadata["format"] == Self.checkpointFormat else {
            throw fail("not a FiniteWidth gradient-flow checkpoint (metadata \"format\" is not \"\(Self.checkpointFormat)\")")
        }
        func number(_ key: String) throws -> Double {
            guard let value = metadata[key].flatMap(Double.init), value.isFinite, value >= 0 else {
                throw fail("metadata \"\(key)\" should be a finite number >= 0, found \(metadata[key].map { "\"\($0)\"" } ?? "nothing")")
            }
            return value
        }
        func count(_ key: String) throws -> Int {
            guard let value = metadata[key].flatMap({ Int($0) }), value >= 0 else {
                throw fail("metadata \"\(key)\" should be an integer >= 0, found \(metadata[key].map { "\"\($0)\"" } ?? "nothing")")
            }
            return value
        }
        let time = try number("time")
        guard time <= endTime else { throw fail("it is at t = \(time), past the config's end time \(endTime); was it written with another config?") }
        let stepText = metadata["stepSize"] ?? ""
        let stepSize = stepText.isEmpty ? nil : Double(stepText)
        guard stepText.isEmpty || (stepSize.map { $0.isFinite && $0 > 0 } ?? false) else {
            throw fail("metadata \"stepSize\" should be a positive number, found \"\(stepText)\"")
        }
        var restored: [FlowRecord] = []
        let recordsText = metadata["records"] ?? ""
        for entry in recordsText.isEmpty ? [] : recordsText.split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 3, let step = Int(parts[0]), let t = Double(parts[1]), let loss = Double(parts[2]) else {
                throw fail("metadata \"records\" has a malformed entry \"\(entry.prefix(40))\" (expected step:time:loss)")
            }
            restored.append(FlowRecord(step: step, time: t, loss: loss))
        }
        var parameters: [String: Tensor<Scalar>] = [:]
        for (name, tensor) in file.tensors {
            guard name.hasPrefix("model.") else { throw fail("unexpected tensor '\(name)' (expected model.* only)") }
            let converted: Tensor<Scalar>
            do { converted = try tensor.tensor(as: Scalar.self) } catch { throw fail("tensor '\(name)': \(error)") }
            guard converted.allFinite else { throw fail("tensor '\(name)' holds infinite or NaN values") }
            parameters[String(name.dropFirst("model.".count))] = converted
        }
        do { try trainer.model.load(stateDict: parameters) } catch { throw fail("\(error)") }
        flow.state = GradientFlow.State(time: time, stepSize: stepSize, gradientEvaluations: try count("gradientEvaluations"),
                                        acceptedSteps: try count("acceptedSteps"), rejectedSteps: try count("rejectedSteps"))
        trainer.epoch = flow.acceptedSteps
        records = restored
        earlierSeconds = (try? number("wallTimeSeconds")) ?? 0
        return true
    }
}

/// One recorded point of a gradient flow: the accepted step's number, its t and the loss there.
public struct FlowRecord: Sendable, Equatable {
    public var step: Int
    public var time: Double
    public var loss: Double
}

/// The flow's counts in `metrics.json` (`"gradientFlow"`).
public struct GradientFlowSummary: Sendable, Equatable {
    /// t reached (the end time T of a finished run).
    public var time: Double
    public var relativeTolerance: Double, absoluteTolerance: Double
    public var gradientEvaluations: Int, acceptedSteps: Int, rejectedSteps: Int
    /// t of each loss-curve record (the curve's `epoch` is the accepted step's number).
    public var recordTimes: [Double]

    public var json: JSONValue {
        .object([
            JSONMember("time", .number(time)),
            JSONMember("tolerance", .number(relativeTolerance)),
            JSONMember("absoluteTolerance", .number(absoluteTolerance)),
            JSONMember("gradientEvaluations", .number(gradientEvaluations)),
            JSONMember("acceptedSteps", .number(acceptedSteps)),
            JSONMember("rejectedSteps", .number(rejectedSteps)),
            JSONMember("lossCurveTime", .array(recordTimes.map { .number($0) })),
        ])
    }
}
