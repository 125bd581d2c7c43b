import Experiments
import Foundation
import Testing
import TestSupport

/// Runs whose numbers become too large to use fail like diverged runs (exit code 1, a message
/// naming the quantity and what to change), after writing their folder, whose metrics.json
/// records the failure (issue 12).
@Suite struct RunFailureTests {
    /// The config: configs/ln.json with a learning rate typed with too many zeros. Its
    /// outputs reach 3e38 and its loss 1e76 in 5 epochs, all finite (the plots used to trap).
    static func hugeLearningRateConfig() throws -> String {
        let shipped = try JSONValue.parse(AtomicFile.readText(projectRoot + "/configs/ln.json"))
        return shipped.setting(["training", "learningRate"], to: .number("1000000000000"))
            .setting(["training", "epochs"], to: .number(5)).rendered(style: .pretty)
    }

    @Test(.timeLimit(.minutes(2))) func aLearningRateTypedWithTooManyZerosExitsWithOneAndKeepsItsMetrics() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(try Self.hugeLearningRateConfig(), to: folder + "/ln.json")
            let arguments = ["--config", "ln.json", "--output", "run", "--threads", "1", "--quiet", "--blas-core", "keep"]
            let result = try runTrain(arguments, in: folder)
            #expect(result.exitCode == 1, "\(result)")
            let message = result.standardError
            #expect(message.hasPrefix("error: 1 run(s) failed:\nseed0: training diverged: the training loss rose from "), "\(message)")
            #expect(message.contains("learning rate too large for this network (1e+12); try 1e+11 or lower"), "\(message)")

            let run = folder + "/run"
            #expect(FileSystem.exists(run + "/config.json") && FileSystem.exists(run + "/metrics.json"))
            #expect(runFolderProblems(run, allowTemporaries: false).isEmpty, "\(runFolderProblems(run, allowTemporaries: false))")
            let json = try JSONValue.parse(AtomicFile.readText(run + "/metrics.json"))
            let metrics = try #require(RunMetrics(json: json))
            #expect(json["status"] == .string("failed"))
            #expect(json["error"].map { message.contains("seed0: " + ($0.stringValue ?? "-")) } == true, "\(json)")
            #expect(metrics.epochsRun == 5 && metrics.finalTrainLoss > 1e10 && metrics.finalTrainLoss.isFinite)
            #expect(metrics.extrapolation.points.count == 17)

            // --resume finds the run finished, and failed: the same failure again, nothing rewritten.
            let before = try AtomicFile.read(run + "/metrics.json")
            let resumed = try runTrain(arguments + ["--resume"], in: folder)
            #expect(resumed.exitCode == 1 && resumed.standardError.hasSuffix(message.split(separator: "\n").last! + "\n"), "\(resumed)")
            #expect(try AtomicFile.read(run + "/metrics.json") == before)
        }
    }

    /// Outputs beyond the Double range at the largest scales: the message names the last finite
    /// scale, and following its hint gives a sound run.
    @Test func anExtrapolationTableThatOverflowsNamesTheLastFiniteScale() throws {
        let config = """
            { "name": "noln", "seed": 2, "data": { "trainSize": 10, "domain": [-100, 100], "target": "linear" },
              "model": { "hiddenLayers": 1, "width": 8, "layerNorm": "none" }, "training": { "epochs": 20, "learningRate": 0.01 },
              "evaluation": { "lambdas": { "from": 1, "to": 1e308, "perDecade": 1 } } }
            """
        try withTemporaryFolder { folder in
            try AtomicFile.write(config, to: folder + "/noln.json")
            let outcome = InProcessOutcome.train(config: folder + "/noln.json", output: folder + "/run")
            #expect(outcome.exitCode == 1, "\(outcome)")
            let prefix = "error: 1 run(s) failed:\nseed2: the extrapolation table is not finite: max |f| is "
            #expect(outcome.message.hasPrefix(prefix), "\(outcome)")
            let hint = try #require(outcome.message.range(of: "Lower evaluation.lambdas.to to "), "\(outcome)")
            let lastFinite = String(outcome.message[hint.upperBound...].prefix { $0 != " " })
            #expect(outcome.message.contains("(finite up to lambda = \(lastFinite))"), "\(outcome)")

            let metrics = try #require(RunRecord.load(folder: folder + "/run").metrics)
            let table = metrics.extrapolation.points
            #expect(UnusableResultsError(recordedIn: metrics) != nil)
            #expect(table.contains { !$0.maxAbs.isFinite } && table.filter { $0.lambda <= Double(lastFinite)! }.allSatisfy { $0.maxAbs.isFinite })
            let plot = try AtomicFile.readText(folder + "/run/extrapolation.svg")
            #expect(plot.contains("Not drawn: ") && plot.hasSuffix("</svg>\n"))

            // The hint works: up to the last finite scale the run is sound.
            try AtomicFile.write(config.replacingOccurrences(of: "1e308", with: lastFinite), to: folder + "/fixed.json")
            let fixed = InProcessOutcome.train(config: folder + "/fixed.json", output: folder + "/fixed")
            #expect(fixed.exitCode == 0, "\(fixed)")
        }
    }

    /// The other config, to lambda = 1e300: LayerNorm keeps the output bounded, so the
    /// run is sound, and the far end of the table is the limit the output tends to (its plot used
    /// to trap on an axis ending at infinity, and past 1e154 LayerNorm's squares overflowed and
    /// the table silently showed the bias instead).
    @Test func layerNormStaysBoundedOutToTheLargestScales() throws {
        let config = """
            { "name": "ln", "data": { "trainSize": 10 }, "model": { "hiddenLayers": 2, "width": 16, "layerNorm": "first" },
              "training": { "epochs": 10 }, "evaluation": { "lambdas": { "from": 1, "to": 1e300, "perDecade": 1 } } }
            """
        try withTemporaryFolder { folder in
            try AtomicFile.write(config, to: folder + "/ln.json")
            let outcome = InProcessOutcome.train(config: folder + "/ln.json", output: folder + "/run")
            #expect(outcome.exitCode == 0, "\(outcome)")
            #expect(outcome.message.contains("1e+300") && outcome.message.hasSuffix("(bounded)"), "\(outcome.message.suffix(200))")
            #expect(runFolderProblems(folder + "/run", allowTemporaries: false).isEmpty)
            let points = try RunRecord.load(folder: folder + "/run").metrics.extrapolation.points
            let limit = try #require(points.first { $0.lambda == 1e10 }).maxAbs
            for point in points where point.lambda >= 1e10 {
                #expect(abs(point.maxAbs - limit) <= 1e-9 * limit, "lambda \(point.lambda): \(point.maxAbs), at 1e10 \(limit)")
            }
            let plot = try AtomicFile.readText(folder + "/run/extrapolation.svg")
            #expect(plot.contains(">300</tspan>") && !plot.contains("Not drawn"))
        }
    }

    /// `train merge` leaves a failed run out of the report, as an unsharded sweep does, and
    /// ends with exit code 1 naming it.
    @Test(.timeLimit(.minutes(1))) func mergeLeavesFailedRunsOutAndNamesThem() throws {
        let config = """
            { "name": "mixed", "data": { "trainSize": 8 }, "model": { "hiddenLayers": 1, "width": 8, "layerNorm": "first" },
              "training": { "epochs": 5 }, "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 } },
              "variants": [ { "name": "sound" }, { "name": "huge", "training": { "learningRate": 1e12 } } ] }
            """
        try withTemporaryFolder { folder in
            try AtomicFile.write(config, to: folder + "/mixed.json")
            let plan = try ExperimentPlan.load(path: folder + "/mixed.json")
            var shards: [String] = []
            for index in 1...2 {
                var options = RunnerOptions(output: folder + "/part\(index)", threads: 1)
                options.shard = Shard("\(index)/2")
                // Shard 1 holds the sound run, shard 2 the one with the huge learning rate.
                do {
                    try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
                    #expect(index == 1)
                } catch {
                    #expect(index == 2 && CommandFailure.exitCode(for: error) == 1, "\(error)")
                }
                shards.append(folder + "/part\(index)")
            }
            let error = #expect(throws: RunFailures.self) { try ExperimentMerge.merge(folders: shards, into: folder + "/merged") }
            #expect(error?.failures.map(\.run) == ["huge-seed0"], "\(String(describing: error))")
            let merged = try JSONValue.parse(AtomicFile.readText(folder + "/merged/metrics.json"))
            #expect(merged["variants"].flatMap { if case .array(let variants) = $0 { variants.count } else { nil } } == 1)
        }
    }
}

extension JSONValue {
    /// The text of a string value, or nil.
    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
}
