/// Checks made before any run starts, so a mistake in the inputs is one clear usage error
/// (exit 2) rather than a failure of every run.
extension ExperimentRunner {
    /// Every check, in order: the output folder, `--init-from`, the data files, and for
    /// `--resume` the config and the checkpoints.
    static func checkBeforeAnyWork(_ plan: ExperimentPlan, runs: [ExperimentPlan.Run], folders: [String],
                                   options: RunnerOptions) throws {
        let output = options.output
        if FileSystem.exists(output) && !FileSystem.contents(of: output).isEmpty && !options.resume {
            throw UsageError("\(output) already holds files; pass --resume to continue that run, or --output to choose another folder")
        }
        if let initFrom = options.initFrom, !FileSystem.exists(initFrom) {
            throw UsageError("--init-from \(initFrom): no such file")
        }
        try checkDataFiles(runs, configFile: plan.file)
        if let initFrom = options.initFrom { try checkInitFrom(initFrom, runs: runs) }
        if options.resume {
            try checkSameConfig(plan, output: output)
            try checkCheckpoints(runs, folders: folders)
        }
    }

    /// Reads each CSV file the runs name once before any work, so a missing or malformed file is
    /// one clear error (exit 2) rather than one per run; and checks that a BatchNorm network's
    /// batches of those rows all have 2 rows or more (synthetic data is checked with the config).
    static func checkDataFiles(_ runs: [ExperimentPlan.Run], configFile: String) throws {
        var trainingRows: [(data: DataConfig, rows: Int)] = []
        for run in runs {
            guard case .csv = run.config.data else { continue }
            var rows = trainingRows.first { $0.data == run.config.data }?.rows
            if rows == nil {
                do {
                    rows = try ExperimentData<Double>.load(run.config.data, seed: run.seed).train.count
                } catch {
                    throw UsageError("\(error)")
                }
                trainingRows.append((run.config.data, rows!))
            }
            if let problem = run.config.model.batchNormBatchProblem(trainingRows: rows!, batchSize: run.config.training.batchSize) {
                let key = run.config.training.batchSize == .full ? "data.path" : "training.batchSize"
                throw UsageError("\(configFile): \(key): \(problem) (run \(identifier(run)))")
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
            let description = run.config.model.mlpDescription(inputSize: run.config.data.inputDim, width: width)
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
}
