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
        let selected = plan.runs.enumerated().filter { options.shard?.contains(position: $0.offset) ?? true }.map(\.element)
        if let shard = options.shard, selected.isEmpty {
            throw UsageError("--shard \(shard) selects no run: the plan has \(plan.runs.count) run(s), so at most \(plan.runs.count) shards")
        }
        let separateFolders = usesRunFolders(plan, options)
        let folders = selected.map { separateFolders ? "\(output)/runs/\(identifier($0))" : output }
        try checkBeforeAnyWork(plan, runs: selected, folders: folders, options: options)
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
        let report = ExperimentReport(plan: plan, records: finished)
        if separateFolders && !finished.isEmpty { try report.write(to: output) }
        if plan.grid != nil {
            // From the folders, so diverged cells (metrics-partial.json) are rows too.
            let folderOf = Dictionary(uniqueKeysWithValues: zip(selected.map(identifier), folders))
            try PhaseTable.load(plan, runs: selected, folder: { folderOf[identifier($0)] }).table.write(to: output, curve: PhaseTable.edgeOfChaos)
        }
        let failed = failures.withLock { $0 }
        if !failed.isEmpty { throw RunFailures(failures: failed.sorted { $0.run < $1.run }) }
        return report
    }

    /// Trains one run (resuming from its checkpoint when asked) and writes its folder.
    static func execute(_ run: ExperimentPlan.Run, folder: String, options: RunnerOptions, threads: Int,
                        progress: ProgressReporter) throws -> RunRecord {
        if options.resume, let record = try? RunRecord.load(folder: folder) {
            // Killed between writing metrics.json and removing the checkpoint: the run is whole.
            FileSystem.remove(folder + "/checkpoint.safetensors")
            if let failure = UnusableResultsError(recordedIn: record.metrics) { throw failure }
            progress.message("\(identifier(run)): already finished, kept as it is")
            return record
        }
        switch run.config.precision {
        case .float32: return try execute(run, folder: folder, options: options, threads: threads, progress: progress, as: Float.self)
        case .float64: return try execute(run, folder: folder, options: options, threads: threads, progress: progress, as: Double.self)
        }
    }

    /// Loads the run's data in its precision, then fits the network: trained at finite width
    /// (``FiniteWidthRun``), kernel regression at infinite width (``InfiniteWidthRun``).
    static func execute<Scalar: BLASScalar>(
        _ run: ExperimentPlan.Run, folder: String, options: RunnerOptions, threads: Int,
        progress: ProgressReporter, as: Scalar.Type
    ) throws -> RunRecord {
        let config = run.config
        let data = try ExperimentData<Scalar>.load(config.data, seed: run.seed)
        if case .csv = config.data, let problem = MemoryEstimate(config: config, trainingSamples: data.train.count)
            .check(limitBytes: MemoryEstimate.availableBytes()) {
            throw ConfigError(file: "config", problems: [problem])
        }
        switch config.model.width {
        case .finite(let width):
            return try FiniteWidthRun.execute(run, data: data, width: width, folder: folder, options: options, threads: threads,
                                              progress: progress)
        case .infinite:
            return try InfiniteWidthRun.execute(run, data: data, folder: folder, progress: progress)
        }
    }
}
