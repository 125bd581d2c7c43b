/// `train merge`: the combined report of several shard folders, as one unsharded run writes it.
public enum ExperimentMerge {
    public static func merge(folders: [String], into output: String) throws -> ExperimentReport {
        guard let first = folders.first else { throw UsageError("merge: give at least one shard folder") }
        let plan = try ExperimentPlan.load(path: first + "/config.json")
        var found: [String: RunRecord] = [:]
        var failed: [(run: String, error: String)] = []
        for folder in folders {
            guard FileSystem.isFolder(folder + "/runs") else {
                throw UsageError("merge: \(folder) has no runs/ folder (is it the output of train --shard?)")
            }
            for name in FileSystem.contents(of: folder + "/runs") where FileSystem.exists("\(folder)/runs/\(name)/metrics.json") {
                let record = try RunRecord.load(folder: "\(folder)/runs/\(name)")
                // A failed run stays out of the report, as it does from an unsharded one.
                if let failure = UnusableResultsError(recordedIn: record.metrics) { failed.append((name, failure.description)) } else { found[name] = record }
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
        let report = ExperimentReport(name: plan.base.name, records: records)
        try report.write(to: output)
        if !failed.isEmpty { throw RunFailures(failures: failed.sorted { $0.run < $1.run }) }
        return report
    }
}
