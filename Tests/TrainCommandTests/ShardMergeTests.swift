import Foundation
import Testing
import Experiments
import TestSupport

@Suite struct ShardMergeTests {
    /// `--shard 1/2` and `--shard 2/2` then `merge` write the report one unsharded run writes:
    /// extrapolation.csv and the plots byte for byte, metrics.json but for wall times. Each
    /// shard trains only its runs, and they are the unsharded runs exactly.
    @Test func shardsMergedEqualTheUnshardedReport() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.sweep, to: folder + "/sweep.json")
            let common = ["--config", "sweep.json", "--threads", "1", "--quiet", "--blas-core", "keep"]
            for (output, shard) in [("whole", [String]()), ("part1", ["--shard", "1/2"]), ("part2", ["--shard", "2/2"])] {
                let result = try runTrain(common + ["--output", output] + shard, in: folder)
                #expect(result.exitCode == 0, "\(result)")
            }
            let plan = try ExperimentPlan.load(path: folder + "/sweep.json")
            let identifiers = plan.runs.map(ExperimentRunner.identifier)
            // Runs are dealt round-robin: positions 0, 2, 4 and 1, 3, 5.
            #expect(try listing(folder + "/part1/runs") == stride(from: 0, to: 6, by: 2).map { identifiers[$0] }.sorted())
            #expect(try listing(folder + "/part2/runs") == stride(from: 1, to: 6, by: 2).map { identifiers[$0] }.sorted())
            // A shard's own report covers its runs only: 3 runs of 4 lambdas.
            #expect(try csvRows(folder + "/part1/extrapolation.csv").count == 1 + 3 * 4)

            let merge = try runTrain(["merge", "part1", "part2", "--output", "merged"], in: folder)
            #expect(merge.exitCode == 0, "\(merge)")
            #expect(merge.standardOutput.contains("run folder: merged"))
            let whole = folder + "/whole", merged = folder + "/merged"
            #expect(try listing(merged) == listing(whole).filter { $0 != "runs" })
            for file in try listing(merged) where file != "metrics.json" {
                #expect(try readBytes(merged + "/" + file) == readBytes(whole + "/" + file), "\(file) differs")
            }
            #expect(withoutWallTime(try readJSON(merged + "/metrics.json")) == withoutWallTime(try readJSON(whole + "/metrics.json")))
            for (index, identifier) in identifiers.enumerated() {
                let part = folder + (index % 2 == 0 ? "/part1" : "/part2") + "/runs/" + identifier
                for file in ["model.safetensors", "extrapolation.csv", "prediction.csv"] {
                    #expect(try readBytes(part + "/" + file) == readBytes(whole + "/runs/" + identifier + "/" + file), "\(identifier)/\(file)")
                }
            }
        }
    }

    /// Merging shards that do not cover the sweep names the missing runs (exit code 2).
    @Test func mergeOfAnIncompleteSetNamesTheMissingRuns() throws {
        try withTemporaryFolder { folder in
            try writeFile(TinyConfig.threeDimensional, to: folder + "/cube.json")
            let shard = try runTrain(["--config", "cube.json", "--output", "part1", "--shard", "1/2", "--threads", "1", "--quiet",
                                      "--blas-core", "keep"], in: folder)
            #expect(shard.exitCode == 0, "\(shard)")
            let merge = try runTrain(["merge", "part1", "--output", "merged"], in: folder)
            #expect(merge.exitCode == 2, "\(merge)")
            #expect(merge.standardError.contains("these runs are in none of the folders: seed4"))
            #expect(!exists(folder + "/merged"))
        }
    }
}
