import Dispatch
import Synchronization

/// A slice of a sweep: the runs whose position p (0-based) has p % count == index - 1.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based, as `--shard 1/4` ... `--shard 4/4` (GNU parallel's `{#}`; Slurm's 0-based task id plus 1).
    public let index: Int
    public let count: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index) else {
            return nil
        }
        self.index = index
        self.count = count
    }

    public func contains(position: Int) -> Bool { position % count == index - 1 }
    public var description: String { "\(index)/\(count)" }
}

/// How `train` was asked to run a plan.
public struct RunnerOptions: Sendable {
    public var output: String
    public var initFrom: String?
    public var resume = false
    /// Cores to use: a single run's steps split each batch over them (or BLAS uses them, for a
    /// network too large to split well); a sweep runs that many runs side by side, one thread each.
    public var threads: Int
    public var quiet = false
    public var shard: Shard?

    public init(output: String, threads: Int) {
        self.output = output
        self.threads = threads
    }
}

/// Usage problems found before any work: exit code 2, as a config error.
public struct UsageError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs that failed while the others finished: exit code 1.
public struct RunFailures: Error, CustomStringConvertible {
    public let failures: [(run: String, error: String)]
    public var description: String {
        failures.map { "\($0.run): \($0.error)" }.joined(separator: "\n")
    }
}

/// Trains (or fits, at infinite width) every run of a plan, writes each run's folder, then the
/// combined report.
public enum ExperimentRunner {
    /// The run's folder name inside `runs/`: `<variant>-seed<k>` or `seed<k>`.
    public static func identifier(_ run: ExperimentPlan.Run) -> String {
        (run.variant.map { fileSafe($0) + "-" } ?? "") + "seed\(run.seed)"
    }

    /// Whether the plan's runs each get a folder under `runs/` (sweeps and shards) or the one run
    /// writes at the top of the output folder.
    static func usesRunFolders(_ plan: ExperimentPlan, _ options: RunnerOptions) -> Bool {
        plan.runs.count > 1 || options.shard != nil
    }

    /// Runs the plan and writes the report.
    /// - Throws: `UsageError` (exit 2) before any work; `RunFailures` (exit 1) after the other
    ///   runs finished and the report was written; `FileError` (exit 1) for I/O failures.
    @discardableResult
    public static func run(_ plan: ExperimentPlan, options: RunnerOptions, progress: ProgressReporter) throws -> ExperimentReport {
        let output = options.output
        if FileSystem.exists(output) && !FileSystem.contents(of: output).isEmpty && !options.resume {
            throw UsageError("\(output) already holds files; pass --resume to continue that run, or --output to choose another folder")
        }
        if let initFrom = options.initFrom, !FileSystem.exists(initFrom) {
            throw UsageError("--init-from \(initFrom): no such file")
        }
        let selected = plan.runs.enumerated().filter { options.shard?.contains(position: $0.offset) ?? true }.map(\.element)
        if let shard = options.shard, selected.isEmpty {
            throw UsageError("--shard \(shard) selects no run: the plan has \(plan.runs.count) run(s), so at most \(plan.runs.count) shards")
        }
        let separateFolders = usesRunFolders(plan, options)
        let folders = selected.map { separateFolders ? "\(output)/runs/\(identifier($0))" : output }
        try checkDataFiles(selected)
        if let initFrom = options.initFrom { try checkInitFrom(initFrom, runs: selected) }
        if options.resume {
            try checkSameConfig(plan, output: output)
            try checkCheckpoints(selected, folders: folders)
        }
        try FileSystem.createFolder(output)
        try plan.writeResolvedConfig(to: output + "/config.json")
        for folder in folders { try FileSystem.createFolder(folder) }
        if options.resume {
            // A process killed while writing leaves its temporary file; the file it was writing
            // is whole or absent, and is written again.
            for folder in Set([output] + folders) { AtomicFile.removeAbandonedTemporaryFiles(in: folder) }
        }

        let workers = max(1, min(options.threads, selected.count))
        // Parallel runs each get one thread; a single run gets all of them (split batches or BLAS).
        BLASRuntime.setThreadCount(workers > 1 ? 1 : max(options.threads, 1))
        progress.begin(runs: selected.count, epochs: selected.reduce(0) { $0 + $1.config.training.epochs })

        let records = Mutex<[RunRecord?]>(Array(repeating: nil, count: selected.count))
        let failures = Mutex<[(run: String, error: String)]>([])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < selected.count else { return }
                let run = selected[position]
                do {
                    let record = try execute(run, folder: folders[position], options: options,
                                             threads: workers > 1 ? 1 : options.threads, progress: progress)
                    records.withLock { $0[position] = record }
                } catch {
                    // A sweep goes on with its other runs, so say it now; a single run's error is printed once, at the end.
                    if selected.count > 1 { progress.message("\(identifier(run)): \(error)") }
                    failures.withLock { $0.append((identifier(run), "\(error)")) }
                }
                progress.runDone()
            }
        }
        progress.finish()
        let finished = records.withLock { $0.compactMap { $0 } }
        let report = ExperimentReport(name: plan.base.name, records: finished)
        if separateFolders && !finished.isEmpty { try report.write(to: output) }
        let failed = failures.withLock { $0 }
        if !failed.isEmpty { throw RunFailures(failures: failed.sorted { $0.run < $1.run }) }
        return report
    }

    /// Reads each CSV file the runs name once before any work, so a missing or malformed file is
    /// one clear error (exit 2) rather than one per run.
    static func checkDataFiles(_ runs: [ExperimentPlan.Run]) throws {
        var checked: [DataConfig] = []
        for run in runs {
            guard case .csv = run.config.data, !checked.contains(run.config.data) else { continue }
            checked.append(run.config.data)
            do {
                _ = try ExperimentData<Double>.load(run.config.data, seed: run.seed)
            } catch {
                throw UsageError("\(error)")
            }
        }
    }

    /// Reads the `--init-from` file once before any work, so a damaged or mismatched file is one
    /// clear error (exit 2) rather than a failure of every run: it must decode, hold finite
    /// numbers, and fit each network of the runs by names and shapes.
    static func checkInitFrom(_ path: String, runs: [ExperimentPlan.Run]) throws {
        let file: SafetensorsFile
        do { file = try Safetensors.read(path) } catch { throw UsageError("--init-from \(error)") }
        for (name, tensor) in file.tensors.sorted(by: { $0.key < $1.key })
        where !tensor.converted(to: Double.self).withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) {
            throw UsageError("--init-from \(path): tensor '\(name)' holds infinite or NaN values")
        }
        let parameters = file.tensors.mapValues { $0.converted(to: Float.self) }
        var checked: [MLPDescription] = []
        for run in runs {
            guard case .finite(let width) = run.config.model.width else { continue }
            let description = modelDescription(run.config.model, inputSize: run.config.data.inputDim, width: width)
            guard !checked.contains(description) else { continue }
            checked.append(description)
            var generator = Xoshiro256StarStar(seed: 0)
            let model: Sequential<Float> = description.build(generator: &generator)
            do {
                try model.load(stateDict: parameters)
            } catch {
                throw UsageError("--init-from \(path) does not fit the network of run \(identifier(run)): \(error)")
            }
        }
    }

    /// `--resume` continues a run with the config it started with: a changed learning rate or
    /// epoch count would silently mix two experiments in one folder.
    static func checkSameConfig(_ plan: ExperimentPlan, output: String) throws {
        let path = output + "/config.json"
        guard FileSystem.exists(path) else { return }
        // Compared as resolved configs, so defaults written out or left implicit do not matter.
        let saved = try? ExperimentPlan.parse(AtomicFile.readText(path), file: path)
        guard let saved, saved.resolvedJSON == plan.resolvedJSON else {
            throw UsageError("cannot resume \(output): \(plan.file) differs from the config that run started with (\(path)); "
                             + "resume with --config \(path), or start a new --output")
        }
    }

    /// Reads the checkpoint of every unfinished run before `--resume` starts any, so a damaged
    /// one is one clear error (exit 2) saying what to do, not a failed run among finished ones.
    static func checkCheckpoints(_ runs: [ExperimentPlan.Run], folders: [String]) throws {
        for (run, folder) in zip(runs, folders) {
            let path = folder + "/checkpoint.safetensors"
            guard FileSystem.exists(path), (try? RunRecord.load(folder: folder)) == nil else { continue }
            do {
                let file = try Safetensors.read(path)
                guard file.metadata?["format"] == TrainingCheckpoint.format else {
                    throw CheckpointError(path: path, problem: "not a FiniteWidth training checkpoint")
                }
            } catch {
                throw UsageError("cannot resume \(identifier(run)): \(error). Delete \(path) to start that run over")
            }
        }
    }

    /// Trains one run (resuming from its checkpoint when asked) and writes its folder.
    static func execute(_ run: ExperimentPlan.Run, folder: String, options: RunnerOptions, threads: Int,
                        progress: ProgressReporter) throws -> RunRecord {
        if options.resume, let record = try? RunRecord.load(folder: folder) {
            // Killed between writing metrics.json and removing the checkpoint: the run is whole.
            FileSystem.remove(folder + "/checkpoint.safetensors")
            progress.message("\(identifier(run)): already finished, kept as it is")
            if let failure = UnusableResultsError(recordedIn: record.metrics) { throw failure }
            return record
        }
        switch run.config.precision {
        case .float32: return try execute(run, folder: folder, options: options, threads: threads, progress: progress, as: Float.self)
        case .float64: return try execute(run, folder: folder, options: options, threads: threads, progress: progress, as: Double.self)
        }
    }

    static func execute<Scalar: BLASScalar>(
        _ run: ExperimentPlan.Run, folder: String, options: RunnerOptions, threads: Int,
        progress: ProgressReporter, as: Scalar.Type
    ) throws -> RunRecord {
        let config = run.config
        let id = identifier(run)
        let data = try ExperimentData<Scalar>.load(config.data, seed: run.seed)
        if case .csv = config.data, let problem = MemoryEstimate(config: config, trainingSamples: data.train.count)
            .check(limitBytes: MemoryEstimate.availableBytes()) {
            throw ConfigError(file: "config", problems: [problem])
        }
        guard case .finite(let width) = config.model.width else {
            return try InfiniteWidthRun.execute(run, data: data, folder: folder, progress: progress)
        }
        var initialization = Xoshiro256StarStar(seed: run.seed, stream: .initialization)
        let model: Sequential<Scalar> = modelDescription(config.model, inputSize: data.train.inputDim, width: width)
            .build(generator: &initialization)
        if let initFrom = options.initFrom { try model.loadCheckpoint(from: initFrom) }
        let trainer = Trainer(model: model, optimizer: makeOptimizer(config.training, parameters: model.parameters),
                              inputs: data.train.inputs, targets: data.train.targets,
                              batchSize: config.training.batchSize.resolved(trainingSamples: data.train.count),
                              generator: Xoshiro256StarStar(seed: run.seed, stream: .batchOrder), threads: threads)
        // Before a checkpoint replaces the parameters: what the results check compares the final loss
        // with. On a tape of its own, freed here: the trainer's tapes keep their batch-sized buffers.
        let initialLoss = Double((model(data.train.inputs) - data.train.targets).map { $0 * $0 }.mean())
        if let problem = ResultCheck.problem(atInitialisation: initialLoss, data: data, config: config) { throw problem }

        let checkpointPath = folder + "/checkpoint.safetensors"
        let training = config.training
        var lossCurve: [LossRecord] = []
        var previousWallTime = 0.0
        if options.resume && FileSystem.exists(checkpointPath) {
            let restored = try TrainingCheckpoint.restore(trainer, from: checkpointPath)
            guard restored.epoch <= training.epochs else {
                throw CheckpointError(path: checkpointPath, problem: "it is at epoch \(restored.epoch), past the config's "
                    + "\(training.epochs) epochs; was it written with another config?")
            }
            lossCurve = restored.lossCurve
            previousWallTime = restored.wallTimeSeconds
            progress.message("\(id): resuming at epoch \(restored.epoch)")
        }
        let checkpointEvery = training.checkpointEvery ?? max(training.epochs / 10, 1)
        let start = monotonicSeconds()
        func wallTime() -> Double { previousWallTime + monotonicSeconds() - start }

        var lastLoss = lossCurve.last?.loss ?? .nan
        var finalLoss = Double.nan
        do {
            while trainer.epoch < training.epochs {
                lastLoss = try trainer.runEpoch()
                let epoch = trainer.epoch
                if epoch % training.logEvery == 0 || epoch == training.epochs { lossCurve.append(LossRecord(epoch: epoch, loss: lastLoss)) }
                progress.epochDone(run: id, epoch: epoch, of: training.epochs, loss: lastLoss)
                if let target = training.targetLoss, lastLoss <= target {
                    if lossCurve.last?.epoch != epoch { lossCurve.append(LossRecord(epoch: epoch, loss: lastLoss)) }
                    progress.runDone(skippedEpochs: training.epochs - epoch)
                    break
                }
                if epoch % checkpointEvery == 0 && epoch < training.epochs {
                    try TrainingCheckpoint.save(trainer, lossCurve: lossCurve, wallTimeSeconds: wallTime(), to: checkpointPath)
                }
            }
            finalLoss = trainer.evaluateLoss()
            if !finalLoss.isFinite {
                throw DivergenceError(epoch: trainer.epoch, loss: finalLoss, learningRate: trainer.optimizer.learningRate)
            }
        } catch let divergence as DivergenceError {
            // Keep what a researcher needs to see what happened: the metrics so far; the last
            // checkpoint (finite, saved before the blow-up) stays in the folder.
            if lossCurve.last?.epoch != divergence.epoch { lossCurve.append(LossRecord(epoch: divergence.epoch, loss: divergence.loss)) }
            let partial = RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                     threads: threads, wallTimeSeconds: wallTime(), lossCurve: lossCurve,
                                     finalTrainLoss: divergence.loss, epochsRun: divergence.epoch,
                                     extrapolation: ExtrapolationTable(points: []),
                                     extra: [JSONMember("status", .string("diverged")), JSONMember("error", .string(divergence.description))])
            try partial.write(to: folder + "/metrics-partial.json")
            throw divergence
        }
        // Data-parallel steps left BLAS on one thread; the evaluation's large products want them all.
        if threads > 1 { BLASRuntime.setThreadCount(threads) }
        let tape = Tape<Scalar>()
        let evaluate: (Tensor<Scalar>) -> Tensor<Scalar> = { model($0, tape: tape) }
        let table = ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed, evaluate)

        var extra: [JSONMember] = [JSONMember("stoppedEarly", .bool(trainer.epoch < training.epochs))]
        extra += rSquaredMembers(data, evaluate)
        var record = RunRecord(
            metrics: RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                threads: threads, wallTimeSeconds: wallTime(), lossCurve: lossCurve, finalTrainLoss: finalLoss,
                                epochsRun: trainer.epoch, extrapolation: table, extra: extra),
            curve: predictionCurve(config, data: data, evaluate),
            trainingPoints: oneDimensionalPoints(data))
        let failure = ResultCheck.problem(in: record, initialLoss: initialLoss, learningRate: training.learningRate, data: data)
        record.metrics.extra += failure?.metricsMembers ?? []
        try model.saveCheckpoint(to: folder + "/model.safetensors", metadata: ["name": config.name, "seed": "\(run.seed)"])
        try record.write(folder: folder)
        FileSystem.remove(checkpointPath)
        FileSystem.remove(folder + "/metrics-partial.json")
        if let failure { throw failure }
        return record
    }

    /// The network a model section describes, for inputs of `inputSize` features.
    public static func modelDescription(_ model: ModelConfig, inputSize: Int, width: Int) -> MLPDescription {
        var description = MLPDescription(inputSize: inputSize, width: width, hiddenLayers: model.hiddenLayers)
        description.activation = model.activation
        description.layerNormAfter = Set(model.layerNormIndices)
        description.layerNormAffine = model.layerNormAffine
        description.parameterization = model.parameterization
        switch model.weightInit {
        case .kaimingUniform, nil: description.weightInitialization = .kaimingUniform
        case .kaimingNormal: description.weightInitialization = .kaimingNormal
        case .normal: description.weightInitialization = .normalScaledByFanIn(weightStandardDeviation: model.weightStd ?? 2.0.squareRoot())
        }
        switch model.biasInit {
        case .pytorch, nil: description.biasInitialization = .pytorch
        case .normal: description.biasInitialization = .normal(standardDeviation: model.biasStd ?? 0.1)
        }
        if model.parameterization == .ntk {
            description.weightStandardDeviation = model.weightStd ?? 2.0.squareRoot()
            description.biasStandardDeviation = model.biasStd ?? 0.1
        }
        return description
    }

    /// The optimizer a training section describes.
    public static func makeOptimizer<Scalar>(_ training: TrainingConfig, parameters: [Parameter<Scalar>]) -> any Optimizer<Scalar> {
        switch training.optimizer {
        case let .sgd(momentum, weightDecay):
            return SGD(parameters: parameters, learningRate: training.learningRate, momentum: momentum, weightDecay: weightDecay)
        case let .adam(beta1, beta2, eps, weightDecay):
            return Adam(parameters: parameters, learningRate: training.learningRate, betas: (beta1, beta2), epsilon: eps,
                        weightDecay: weightDecay)
        case let .adamw(beta1, beta2, eps, weightDecay):
            return Adam.adamW(parameters: parameters, learningRate: training.learningRate, betas: (beta1, beta2), epsilon: eps,
                              weightDecay: weightDecay)
        }
    }

    /// R² on the training, validation (in distribution) and test (out of distribution) sets.
    static func rSquaredMembers<Scalar>(_ data: ExperimentData<Scalar>, _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows -> [JSONMember] {
        var members = [JSONMember("trainR2", .number(rSquared(predictions: try evaluate(data.train.inputs), targets: data.train.targets)))]
        if let validation = data.validation {
            members.append(JSONMember("validationR2", .number(rSquared(predictions: try evaluate(validation.inputs), targets: validation.targets))))
        }
        if let test = data.test {
            members.append(JSONMember("testR2", .number(rSquared(predictions: try evaluate(test.inputs), targets: test.targets))))
        }
        return members
    }

    /// The 1-D prediction curve (the paper's Figure 1), for 1-D inputs.
    static func predictionCurve<Scalar>(_ config: ExperimentConfig, data: ExperimentData<Scalar>,
                                        _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows -> PredictionCurve? {
        guard data.train.inputDim == 1 else { return nil }
        let curve = config.evaluation.curve ?? defaultCurve(data)
        let (inputs, predictions) = try ExtrapolationMeasurement.predictionCurve(curve, as: Scalar.self, evaluate)
        return PredictionCurve(inputs: inputs, predictions: predictions)
    }

    static func defaultCurve<Scalar>(_ data: ExperimentData<Scalar>) -> CurveConfig {
        let xs = data.train.inputs.scalars.map(Double.init)
        return .around(Interval(lower: xs.min() ?? -1, upper: xs.max() ?? 1))
    }

    static func oneDimensionalPoints<Scalar>(_ data: ExperimentData<Scalar>) -> [(x: Double, y: Double)] {
        guard data.train.inputDim == 1 else { return [] }
        return zip(data.train.inputs.scalars, data.train.targets.scalars).map { (Double($0), Double($1)) }
    }
}
