/// `train merge`: the combined report of several shard folders, as one unsharded run writes it.
public enum ExperimentMerge {
    public static func merge(folders: [String], into output: String) throws -> ExperimentReport {
        guard let first = folders.first else { throw UsageError("merge: give at least one shard folder") }
        let plan = try ExperimentPlan.load(path: first + "/config.json")
        var found: [String: RunRecord] = [:]
        for folder in folders {
            guard FileSystem.isFolder(folder + "/runs") else {
                throw UsageError("merge: \(folder) has no runs/ folder (is it the output of train --shard?)")
            }
            for name in FileSystem.contents(of: folder + "/runs") where FileSystem.exists("\(folder)/runs/\(name)/metrics.json") {
                found[name] = try RunRecord.load(folder: "\(folder)/runs/\(name)")
            }
        }
        // Plan order, so the merged report equals the unsharded one.
        let records = plan.runs.compactMap { found[ExperimentRunner.identifier($0)] }
        let missing = plan.runs.map(ExperimentRunner.identifier).filter { found[$0] == nil }
        guard missing.isEmpty else {
            throw UsageError("merge: these runs are in none of the folders: \(missing.joined(separator: ", "))")
        }
        try FileSystem.createFolder(output)
        try plan.writeResolvedConfig(to: output + "/config.json")
        let report = ExperimentReport(name: plan.base.name, records: records)
        try report.write(to: output)
        return report
    }
}
