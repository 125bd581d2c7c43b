import Foundation
import Testing
import Experiments
import TestSupport

/// `evaluation.kernel` and plain gradient descent through `train`: the files a run writes, the
/// numbers in metrics.json, and a sweep whose diverging cell does not stop the others.
@Suite struct KernelRunTests {
    static let drift = """
        { "name": "drift", "seed": 2,
          "data": { "kind": "synthetic", "target": "sin", "inputDim": 2, "trainSize": 24 },
          "model": { "hiddenLayers": 2, "width": 16, "parameterization": "ntk", "weightStd": 1.4, "biasStd": 0.5 },
          "training": { "optimizer": "sgd", "learningRate": 0.5, "epochs": 40, "logEvery": 5,
                        "earlyStop": { "window": 10, "minDecrease": 1e-9 } },
          "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 },
                          "kernel": { "points": 12, "every": 15, "initializations": 20 } } }
        """

    @Test func aKernelRunWritesItsKernelFilesAndMetrics() throws {
        try withTemporaryFolder { folder in
            try writeFile(Self.drift, to: folder + "/drift.json")
            let result = try runTrain(["--config", "drift.json", "--output", "out", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 0, "\(result)")
            let output = folder + "/out"
            let rows = try csvRows(output + "/kernel.csv")
            #expect(rows.first == ["epoch", "kernel_change", "kernel_distance_to_analytic", "top_eigenvalue", "alignment"])
            #expect(rows.dropFirst().map { $0[0] } == ["0", "15", "30", "40"])
            #expect(rows[1][1] == "0")
            // NTK parameterisation, ReLU: there is an analytic kernel to compare with.
            #expect(rows.dropFirst().allSatisfy { Double($0[2]) != nil && Double($0[3])! > 0 && abs(Double($0[4])!) <= 1 })
            #expect(svgProblems(try readText(output + "/kernel.svg")) == [])
            let dispersion = try csvRows(output + "/kernel-dispersion.csv")
            #expect(dispersion.first == ["point", "ratio", "ratio_low", "ratio_high"] && dispersion.count == 13)
            #expect(dispersion.dropFirst().allSatisfy { Double($0[2])! <= Double($0[1])! && Double($0[1])! <= Double($0[3])! })

            let metrics = try #require(RunMetrics(json: try readJSON(output + "/metrics.json")))
            let drift = try #require(metrics.kernelDrift)
            #expect(drift.probePoints == 12 && drift.every == 15 && drift.final.epoch == 40 && drift.analyticKernel == "analytic NTK")
            #expect(Double(rows.last![1]) == drift.final.kernelChange)
            #expect(metrics.kernelDispersion?.initializations == 20 && metrics.kernelDispersion?.probePoints == 12)
            let stability = try #require(metrics.gradientDescentStability)
            #expect(stability.points == 24 && stability.learningRate == 0.5)
            #expect(abs(stability.number - 0.5 * stability.largestEigenvalue / 24) < 1e-12 * stability.number)
            #expect(metrics.stopReason == .epochs && metrics.minimumTrainLoss! <= metrics.lossCurve.map(\.loss).min()!)
        }
    }

    /// A sweep with a cell whose learning rate blows up: the cell is recorded as diverged (in its
    /// `metrics-partial.json`, with the kernel measured before the blow-up), the others finish
    /// and the sweep's report is written; the exit code says a run failed.
    @Test func aDivergingCellDoesNotStopTheSweep() throws {
        let config = """
            { "name": "cells",
              "data": { "kind": "synthetic", "target": "sin", "inputDim": 2, "trainSize": 16 },
              "model": { "hiddenLayers": 2, "width": 8, "parameterization": "ntk" },
              "training": { "optimizer": "sgd", "learningRate": 0.1, "epochs": 30 },
              "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 }, "kernel": { "points": 8, "every": 10 } },
              "variants": [ { "name": "calm" }, { "name": "wild", "training": { "learningRate": 1e6 } }, { "name": "calm2" } ] }
            """
        try withTemporaryFolder { folder in
            try writeFile(config, to: folder + "/cells.json")
            let result = try runTrain(["--config", "cells.json", "--output", "out", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                      in: folder)
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.standardError.contains("wild-seed0: warning: gradient descent is unstable at initialisation"), "\(result)")
            #expect(result.standardError.contains("1 run(s) failed:\nwild-seed0: training diverged"), "\(result)")
            let runs = folder + "/out/runs/"
            for calm in ["calm-seed0", "calm2-seed0"] {
                let metrics = try #require(RunMetrics(json: try readJSON(runs + calm + "/metrics.json")))
                #expect(metrics.stopReason == .epochs && metrics.kernelDrift?.final.epoch == 30)
            }
            let partial = try readJSON(runs + "wild-seed0/metrics-partial.json")
            #expect(partial["status"] == .string("diverged") && partial["stopReason"] == .string("diverged"))
            let wild = try #require(RunMetrics(json: partial))
            #expect(wild.gradientDescentStability!.number > 1 && wild.kernelDrift?.initial.epoch == 0)
            let report = try readJSON(folder + "/out/metrics.json")
            guard case .array(let entries)? = report["runs"] else { Issue.record("no runs in the report"); return }
            #expect(entries.count == 2)
        }
    }
}
