import Testing
import Experiments
import TestSupport

@Suite struct PhaseSweepTests {
    /// A 2 x 2 grid: two learning rates (one that SGD survives, one that blows up) by two widths.
    static let grid = """
        { "name": "phase", "data": { "trainSize": 12 }, "model": { "hiddenLayers": 1, "width": 8 },
          "training": { "optimizer": "sgd", "learningRate": 0.01, "epochs": 30, "logEvery": 5 },
          "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 }, "curve": "none" },
          "grid": { "training.learningRate": [0.01, 1e6], "model.width": [4, 8] } }
        """

    /// The sweep trains every cell, a diverged cell does not stop it, and phase.csv has one row per
    /// cell in grid order with the values each run's own files hold; the heatmaps have a cell per
    /// grid cell and cross the diverged ones. Shards merged give the same phase.csv.
    @Test func tinyGridWritesThePhaseTable() throws {
        try withTemporaryFolder { folder in
            try writeFile(Self.grid, to: folder + "/phase.json")
            let common = ["--config", "phase.json", "--threads", "1", "--quiet", "--blas-core", "keep"]
            let whole = try runTrain(common + ["--output", "whole"], in: folder)
            // Two cells diverged: exit code 1, and they are named.
            #expect(whole.exitCode == 1, "\(whole)")
            #expect(whole.standardError.contains("2 run(s) failed"), "\(whole)")
            #expect(whole.standardError.contains("learningRate1e6_width4-seed0: training diverged"), "\(whole)")

            let rows = try csvRows(folder + "/whole/phase.csv")
            #expect(rows.first == ["training.learningRate", "model.width", "seed", "min_loss", "final_loss", "epochs", "stop_reason",
                                   "growth_exponent", "chi_1", "phase", "dispersion_ratio", "kernel_change"])
            #expect(rows.dropFirst().map { Array($0.prefix(3)) } == [["0.01", "4", "0"], ["0.01", "8", "0"], ["1e6", "4", "0"], ["1e6", "8", "0"]])
            #expect(rows.dropFirst().map { $0[6] } == ["completed", "completed", "diverged", "diverged"])
            let identifiers = ["learningRate0.01_width4", "learningRate0.01_width8", "learningRate1e6_width4", "learningRate1e6_width8"]
            for (row, identifier) in zip(rows.dropFirst(), identifiers) {
                let runFolder = folder + "/whole/runs/\(identifier)-seed0/"
                let diverged = row[6] == "diverged"
                let metrics = try readJSON(runFolder + (diverged ? "metrics-partial.json" : "metrics.json"))
                guard case .array(let losses)? = metrics["lossCurve"]?["loss"] else { Issue.record("no loss curve"); continue }
                let curve = losses.compactMap(\.doubleValue) + [metrics["finalTrainLoss"]?.doubleValue].compactMap { $0 }
                // The least loss of any epoch, which the logged curve may miss (it logs every few epochs).
                #expect(Double(row[3]) == metrics["minimumTrainLoss"]?.doubleValue, "\(identifier)")
                #expect(Double(row[3])! <= curve.filter(\.isFinite).min()!, "\(identifier)")
                #expect(Int(row[5]) == metrics["epochsRun"]?.integerValue, "\(identifier)")
                if diverged {
                    // A non-finite loss, and no extrapolation measured.
                    #expect(row[4] == "nan" || row[4] == "inf", "\(identifier)")
                    #expect(row[7] == "nan")
                    #expect(Int(row[5])! < 30)
                } else {
                    #expect(Double(row[4]) == metrics["finalTrainLoss"]?.doubleValue)
                    #expect(Double(row[7]) == metrics["extrapolation"]?["growthExponent"]?.doubleValue)
                    #expect(row[5] == "30")
                }
            }

            // Cell names hold dots (0.01): they are not `group.name` variants, so no per-group plots.
            #expect(try listing(folder + "/whole").filter { $0.hasPrefix("extrapolation-") || $0.hasPrefix("prediction-") }.isEmpty)
            for metric in ["min_loss", "final_loss", "epochs", "growth_exponent"] {
                let check = XMLCheck(try readText(folder + "/whole/phase-\(metric).svg"))
                #expect(check.problems.isEmpty && check.roots == ["svg"], "\(metric): \(check.problems)")
                #expect(check.elements.filter { $0.name == "rect" && $0.attributes["class"] == "cell" }.count == 4, "\(metric)")
                // Two crossed cells: two white lines each.
                #expect(check.elements.filter { $0.name == "line" && $0.attributes["stroke"] == "#ffffff" }.count == 4, "\(metric)")
            }

            for (output, shard) in [("part1", "1/2"), ("part2", "2/2")] {
                let result = try runTrain(common + ["--output", output, "--shard", shard], in: folder)
                #expect(result.exitCode == 1, "\(result)")
            }
            let merge = try runTrain(["merge", "part1", "part2", "--output", "merged"], in: folder)
            #expect(merge.exitCode == 1, "\(merge)")
            #expect(merge.standardError.contains("learningRate1e6_width8-seed0"), "\(merge)")
            #expect(try readText(folder + "/merged/phase.csv") == readText(folder + "/whole/phase.csv"))
            #expect(try readText(folder + "/merged/phase-min_loss.svg") == readText(folder + "/whole/phase-min_loss.svg"))
        }
    }
}
