/// `train merge`: the combined report of several shard folders, as one unsharded run writes it.
public enum ExperimentMerge {
    public static func merge(folders: [String], into output: String) throws -> ExperimentReport {
        guard let first = folders.first else { throw UsageError("merge: give at least one shard folder") }
        let plan = try ExperimentPlan.load(path: first + "/config.json")
        var found: [String: RunRecord] = [:]
        var failed: [(run: String, error: String)] = []
        // Where each run's files are, finished, failed or diverged (for phase.csv).
        var runFolders: [String: String] = [:]
        for folder in folders {
            guard FileSystem.isFolder(folder + "/runs") else {
                throw UsageError("merge: \(folder) has no runs/ folder (is it the output of train --shard?)")
            }
            for name in FileSystem.contents(of: folder + "/runs") {
                let runFolder = "\(folder)/runs/\(name)"
                if FileSystem.exists(runFolder + "/metrics.json") {
                    let record = try RunRecord.load(folder: runFolder)
                    runFolders[name] = runFolder
                    // A failed run stays out of the report, as it does from an unsharded one.
                    if let failure = UnusableResultsError(recordedIn: record.metrics) { failed.append((name, failure.description)) } else { found[name] = record }
                } else if let partial = try PhaseTable.loadMetrics(folder: runFolder), let divergence = partial.divergence {
                    // A diverged run: its training stopped; the other runs' report goes on without it.
                    runFolders[name] = runFolder
                    failed.append((name, divergence))
                }
            }
        }
        // Plan order, so the merged report equals the unsharded one.
        let records = plan.runs.compactMap { found[ExperimentRunner.identifier($0)] }
        let missing = plan.runs.map(ExperimentRunner.identifier).filter { id in found[id] == nil && !failed.contains { $0.run == id } }
        guard missing.isEmpty else {
            throw UsageError("merge: these runs are in none of the folders: \(missing.joined(separator: ", "))")
        }
        try FileSystem.createFolder(output)
        try plan.writeResolvedConfig(to: output + "/config.json")
        let report = ExperimentReport(plan: plan, records: records)
        try report.write(to: output)
        if plan.grid != nil {
            try PhaseTable.load(plan, runs: plan.runs, folder: { runFolders[ExperimentRunner.identifier($0)] }).table.write(to: output, curve: PhaseTable.edgeOfChaos)
        }
        if !failed.isEmpty { throw RunFailures(failures: failed.sorted { $0.run < $1.run }) }
        return report
    }
}
