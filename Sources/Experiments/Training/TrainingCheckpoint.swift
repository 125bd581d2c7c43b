/// Everything needed to continue a run exactly where it stopped, in one safetensors file written
/// atomically: the parameters and the model's buffers (`model.<name>`: BatchNorm's running
/// statistics, which training moves too), the optimizer's buffers (`optimizer.<i>.<buffer>`),
/// and in the metadata the epoch, the optimizer's step count, the batch-order generator's state
/// and the loss curve so far. Resuming from it gives the same final numbers as never stopping.
public struct TrainingCheckpoint {
    public static let format = "finitewidth-training-checkpoint-1"

    public var epoch: Int
    public var lossCurve: [LossRecord]
    public var wallTimeSeconds: Double
    /// The early stop's best loss and its epoch (`TrainingLoop`), so a resumed run stops where an unstopped one does.
    public var earlyStop = EarlyStopState()
    /// The smallest epoch loss so far.
    public var minimumLoss = Double.infinity

    /// Writes the trainer's state to `path` atomically.
    public static func save<Scalar>(_ trainer: Trainer<Scalar>, lossCurve: [LossRecord], wallTimeSeconds: Double,
                                    earlyStop: EarlyStopState = .init(), minimumLoss: Double = .infinity, to path: String) throws {
        var tensors: [(name: String, tensor: AnyTensor)] = trainer.model.namedParameters.map {
            ("model.\($0.name)", AnyTensor($0.parameter.value))
        }
        tensors += trainer.model.namedBuffers.map { ("model.\($0.name)", AnyTensor($0.buffer.value)) }
        let state = trainer.optimizer.state
        for (index, buffers) in state.buffers.enumerated() {
            for (key, tensor) in buffers { tensors.append(("optimizer.\(index).\(key)", AnyTensor(tensor))) }
        }
        let generator = trainer.generator
        let (s0, s1, s2, s3) = generator.state
        var metadata = [
            "format": format,
            "epoch": "\(trainer.epoch)",
            "optimizerStep": "\(state.step)",
            "generatorState": "\(s0),\(s1),\(s2),\(s3)",
            // Swift prints a Double with the fewest digits that read back to the same value.
            "lossCurve": lossCurve.map { "\($0.epoch):\($0.loss)" }.joined(separator: ","),
            "wallTimeSeconds": "\(wallTimeSeconds)",
            // Before the first epoch these are infinity, which Double reads back as "inf".
            "earlyStopBestLoss": "\(earlyStop.bestLoss)",
            "earlyStopBestEpoch": "\(earlyStop.bestEpoch)",
            "minimumLoss": "\(minimumLoss)",
        ]
        if let spare = generator.spareNormal { metadata["generatorSpareNormal"] = "\(spare)" }
        try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    /// Restores a trainer (built from the same config) from `path`; every name, shape and
    /// metadata field is checked before anything changes.
    public static func restore<Scalar>(_ trainer: Trainer<Scalar>, from path: String) throws -> TrainingCheckpoint {
        let file = try Safetensors.read(path)
        func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: problem) }
        guard let metadata = file.metadata, metadata["format"] == format else {
            throw fail("not a FiniteWidth training checkpoint (metadata \"format\" is not \"\(format)\")")
        }
        func integer(_ key: String) throws -> Int {
            guard let text = metadata[key], let value = Int(text), value >= 0 else {
                throw fail("metadata \"\(key)\" should be a non-negative integer, found \(metadata[key].map { "\"\($0)\"" } ?? "nothing")")
            }
            return value
        }
        let epoch = try integer("epoch"), step = try integer("optimizerStep")
        // The trainer advances both together, so a step count that does not match is a file
        // from another batch size, or a damaged one (Int.max would overflow on the next epoch).
        guard epoch <= largestSize else { throw fail("metadata \"epoch\" is \(epoch), more epochs than any config allows") }
        let (expectedStep, overflow) = epoch.multipliedReportingOverflow(by: trainer.batchesPerEpoch)
        guard !overflow, step == expectedStep else {
            throw fail("metadata \"optimizerStep\" is \(step), but \(epoch) epochs of \(trainer.batchesPerEpoch) batches make "
                + "\(overflow ? "more than 64 bits can count" : "\(expectedStep)") steps (was the checkpoint written with another batch size?)")
        }
        let wordTexts = (metadata["generatorState"] ?? "").split(separator: ",", omittingEmptySubsequences: false)
        let words = wordTexts.compactMap { UInt64($0) }
        guard wordTexts.count == 4, words.count == 4, words != [0, 0, 0, 0] else {
            throw fail("metadata \"generatorState\" should be four 64-bit words, not all zero")
        }
        var spareNormal: Double?
        if let text = metadata["generatorSpareNormal"] {
            guard let value = Double(text), value.isFinite else {
                throw fail("metadata \"generatorSpareNormal\" should be a finite number, found \"\(text)\"")
            }
            spareNormal = value
        }
        var lossCurve: [LossRecord] = []
        let curveText = metadata["lossCurve"] ?? ""
        for entry in curveText.isEmpty ? [] : curveText.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let e = Int(parts[0]), let loss = Double(parts[1]),
                  e >= 1, e <= epoch, e > (lossCurve.last?.epoch ?? 0) else {
                throw fail("metadata \"lossCurve\" has a malformed entry \"\(entry.prefix(40))\" (expected epoch:loss, "
                    + "epochs ascending from 1 to the checkpoint's \(epoch))")
            }
            lossCurve.append(LossRecord(epoch: e, loss: loss))
        }
        var wallTime = 0.0
        if let text = metadata["wallTimeSeconds"] {
            guard let value = Double(text), value.isFinite, value >= 0 else {
                throw fail("metadata \"wallTimeSeconds\" should be a number of seconds, found \"\(text)\"")
            }
            wallTime = value
        }

        // Absent from checkpoints written before the early stop existed: then as before any epoch.
        func loss(_ key: String) throws -> Double {
            guard let text = metadata[key] else { return .infinity }
            guard let value = Double(text), !value.isNaN, value >= 0 else {
                throw fail("metadata \"\(key)\" should be a loss (a number >= 0 or inf), found \"\(text)\"")
            }
            return value
        }
        let earlyStop = EarlyStopState(bestLoss: try loss("earlyStopBestLoss"),
                                       bestEpoch: metadata["earlyStopBestEpoch"] == nil ? 0 : try integer("earlyStopBestEpoch"))
        guard earlyStop.bestEpoch <= epoch else {
            throw fail("metadata \"earlyStopBestEpoch\" is \(earlyStop.bestEpoch), after the checkpoint's epoch \(epoch)")
        }
        let minimumLoss = try loss("minimumLoss")

        var modelDict: [String: Tensor<Scalar>] = [:]
        var optimizerBuffers = trainer.optimizer.state.buffers.map { _ in [String: Tensor<Scalar>]() }
        let expected = trainer.optimizer.state
        for (name, tensor) in file.tensors {
            let converted: Tensor<Scalar>
            do { converted = try tensor.tensor(as: Scalar.self) } catch { throw fail("tensor '\(name)': \(error)") }
            if name.hasPrefix("model.") {
                // Training stops before saving a parameter that is not a number (and running
                // statistics of finite values are finite), so this file was damaged.
                guard converted.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else {
                    throw fail("tensor '\(name)' holds infinite or NaN values; a checkpoint is only written with finite parameters")
                }
                modelDict[String(name.dropFirst("model.".count))] = converted
            } else if name.hasPrefix("optimizer.") {
                let parts = name.split(separator: ".", maxSplits: 2)
                guard parts.count == 3, let index = Int(parts[1]), optimizerBuffers.indices.contains(index),
                      let expectedBuffer = expected.buffers[index][String(parts[2])] else {
                    throw fail("tensor '\(name)' does not belong to this run's \(type(of: trainer.optimizer)) optimizer")
                }
                guard expectedBuffer.shape == converted.shape else {
                    throw fail("tensor '\(name)' has shape \(converted.shape) but the optimizer expects \(expectedBuffer.shape)")
                }
                optimizerBuffers[index][String(parts[2])] = converted
            } else {
                throw fail("unexpected tensor '\(name)' (expected model.* and optimizer.* only)")
            }
        }
        for (index, buffers) in expected.buffers.enumerated() where Set(buffers.keys) != Set(optimizerBuffers[index].keys) {
            throw fail("optimizer buffers of parameter \(index) are missing: expected \(buffers.keys.sorted())")
        }
        do { try trainer.model.load(stateDict: modelDict) } catch { throw fail("\(error)") }
        trainer.optimizer.state = OptimizerState(step: step, buffers: optimizerBuffers)
        var generator = Xoshiro256StarStar(state: (words[0], words[1], words[2], words[3]))
        generator.spareNormal = spareNormal
        trainer.generator = generator
        trainer.epoch = epoch
        return TrainingCheckpoint(epoch: epoch, lossCurve: lossCurve, wallTimeSeconds: wallTime, earlyStop: earlyStop,
                                  minimumLoss: minimumLoss)
    }
}
