import Foundation
import Testing
@testable import Experiments
import TestSupport

/// `train ntk --jacobian`: the analytic Jacobian NTK, point-major, against neural-tangents.
@Suite struct JacobianKernelCommandTests {
    static func writeConfig(_ folder: String, activation: String) throws {
        try AtomicFile.write("""
            { "name": "jntk", "data": { "inputDim": 3 },
              "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "layerNorm": "none",
                         "activation": "\(activation)", "layerNormAffine": false,
                         "weightStd": \(1.5.squareRoot()), "biasStd": \(0.1.squareRoot()) } }
            """, to: folder + "/config.json")
    }

    /// neural-tangents' Jacobian NTK of GELU with 2 hidden layers (the fixture's `gelu2`), written
    /// by the command from points files, to 1e-10.
    @Test func jacobianNTKMatchesNeuralTangents() throws {
        let url = URL(fileURLWithPath: projectRoot + "/Tests/TangentKernelsTests/Resources/neural_tangents_jacobian_kernels.json")
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let expected = ((reference["architectures"] as! [String: Any])["gelu2"] as! [String: Any])["ntk"] as! [[Double]]
        func csv(_ points: Any?) -> String {
            (points as! [[Double]]).map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n"
        }
        try withTemporaryFolder { folder in
            try AtomicFile.write(csv(reference["x1"]), to: folder + "/x1.csv")
            try AtomicFile.write(csv(reference["x2"]), to: folder + "/x2.csv")
            try Self.writeConfig(folder, activation: "gelu")
            let shape = try KernelCommand.run(.init(config: folder + "/config.json", x1: .file(folder + "/x1.csv"),
                                                    x2: .file(folder + "/x2.csv"), empirical: false, output: folder + "/J.csv",
                                                    heatmap: nil, jacobian: true))
            #expect(shape == [2 * 4, 3 * 4])
            let written = try AtomicFile.readText(folder + "/J.csv").split(separator: "\n")
                .map { $0.split(separator: ",").map { Double(String($0))! } }
            #expect(written.count == expected.count)
            for (row, expectedRow) in zip(written, expected) {
                #expect(row.count == expectedRow.count)
                for (value, truth) in zip(row, expectedRow) { #expect(abs(value - truth) <= 1e-10 * max(abs(truth), 1e-3)) }
            }
        }
    }

    @Test func reluAndMisuseAreRefusedWithTheReason() throws {
        try withTemporaryFolder { folder in
            try Self.writeConfig(folder, activation: "relu")
            do {
                try KernelCommand.run(.init(config: folder + "/config.json", x1: .grid(from: -1, to: 1, points: 3), x2: nil,
                                            empirical: false, output: folder + "/J.csv", heatmap: nil, jacobian: true))
                Issue.record("ReLU's Jacobian NTK was computed")
            } catch {
                #expect("\(error)".contains("does not exist in the infinite-width limit"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: folder + "/J.csv"))
            try Self.writeConfig(folder, activation: "gelu")
            #expect(throws: UsageError.self) {
                try KernelCommand.run(.init(config: folder + "/config.json", x1: .grid(from: -1, to: 1, points: 3), x2: nil,
                                            empirical: false, output: nil, heatmap: folder + "/J.svg", jacobian: true))
            }
        }
    }
}

/// `"width": "infinite"` with a nonzero `training.jacobianPenalty`: the robust-training predictor.
@Suite struct JacobianPenaltyRunTests {
    @Test func infiniteWidthRunWithAPenaltyInterpolatesAndReportsTheGram() throws {
        try withTemporaryFolder { folder in
            let plan = try ExperimentPlan.parse("""
                { "name": "jp", "data": { "target": "sin", "inputDim": 4, "trainSize": 10 },
                  "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "activation": "gelu",
                             "layerNorm": "none", "layerNormAffine": false },
                  "training": { "jacobianPenalty": 0.1 },
                  "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 2 } } }
                """, file: "jp.json")
            var options = RunnerOptions(output: folder + "/run", threads: 1)
            options.quiet = true
            let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
            let metrics = try #require(report.records.first?.metrics)
            // At t = infinity the predictor interpolates y (and its gradient vanishes there).
            #expect(metrics.finalTrainLoss < 1e-12)
            let fit = try #require(metrics.infiniteWidth)
            print("Jacobian-penalty run: \(fit), train loss \(metrics.finalTrainLoss)")
            #expect(fit.kernel == "jacobianNTK")
            let (minimum, maximum) = (try #require(fit.gramEigenvalueMinimum), try #require(fit.gramEigenvalueMaximum))
            #expect(minimum > 0 && maximum > minimum && fit.jitter == 0)
            // A single run writes straight into the output folder.
            let written = try AtomicFile.readText(folder + "/run/metrics.json")
            #expect(written.contains("\"gramEigenvalueMin\"") && written.contains("\"jacobianNTK\""))
            #expect(try AtomicFile.readText(folder + "/run/config.json").contains("\"jacobianPenalty\": 0.1"))
        }
    }

    /// 12 random points on [-1, 1]: the Jacobian NTK's Gram is singular to working precision
    /// (neural-tangents agrees: smallest eigenvalue -4e-17 of the largest), so the run adds a
    /// jitter and says so.
    @Test func aSingularGramGetsAJitterAndReportsIt() throws {
        try withTemporaryFolder { folder in
            let plan = try ExperimentPlan.parse("""
                { "name": "jp1", "data": { "target": "sin", "trainSize": 12 },
                  "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "activation": "gelu",
                             "layerNorm": "none", "layerNormAffine": false },
                  "training": { "jacobianPenalty": 0.1 }, "evaluation": { "lambdas": { "from": 1, "to": 10, "perDecade": 1 } } }
                """, file: "jp1.json")
            var options = RunnerOptions(output: folder + "/run", threads: 1)
            options.quiet = true
            let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
            let fit = try #require(report.records.first?.metrics.infiniteWidth)
            let (minimum, maximum) = (try #require(fit.gramEigenvalueMinimum), try #require(fit.gramEigenvalueMaximum))
            #expect(minimum < 24 * Double.ulpOfOne * maximum)
            #expect(fit.jitter > 0)
        }
    }

    /// A finite network trains with the penalty (the tape's Jacobian ops); cross-entropy has none.
    @Test func aPenaltyIsAcceptedWithTheMeanSquaredErrorOnly() throws {
        let plan = try ExperimentPlan.parse(#"{ "name": "f", "model": { "width": 8 }, "training": { "jacobianPenalty": 0.1 } }"#, file: "f.json")
        #expect(plan.base.training.jacobianPenalty == 0.1)
        do {
            _ = try ExperimentPlan.parse(#"{ "name": "f", "model": { "width": 8 }, "training": { "jacobianPenalty": 0.1, "loss": "crossEntropy" }, "#
                                         + #""data": { "kind": "csv", "path": "data/digits.csv", "features": ["p1"], "target": "label", "classes": 10 } }"#,
                                         file: "f.json")
            Issue.record("a Jacobian penalty with cross-entropy was accepted")
        } catch {
            #expect("\(error)".contains("training.jacobianPenalty: the Jacobian penalty is added to the mean squared error"), "\(error)")
        }
        #expect(throws: (any Error).self) {
            _ = try ExperimentPlan.parse(#"{ "name": "f", "model": { "width": "infinite", "parameterization": "ntk", "activation": "gelu" }, "training": { "jacobianPenalty": -1 } }"#, file: "f.json")
        }
    }
}
