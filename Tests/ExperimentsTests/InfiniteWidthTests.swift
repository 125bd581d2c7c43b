import Foundation
import Glibc
import Testing
@testable import Experiments
import TestSupport

/// `"width": "infinite"` runs and `train ntk`, end to end through the library.
@Suite struct InfiniteWidthTests {
    /// neural-tangents' NTK for its `noLayerNorm` architecture (2 hidden ReLU layers, W_std sqrt 2,
    /// b_std 0.1), computed by `train ntk` from points files, must match to 1e-10.
    @Test func ntkCommandMatchesNeuralTangents() throws {
        let url = URL(fileURLWithPath: projectRoot + "/Tests/TangentKernelsTests/Resources/neural_tangents_kernels.json")
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let x1 = reference["x1"] as! [[Double]]
        let x2 = reference["x2"] as! [[Double]]
        let architectures = reference["architectures"] as! [String: Any]
        let noLayerNorm = architectures["noLayerNorm"] as! [String: Any]
        let scales = noLayerNorm["kernelsOfX1AndScaledX2"] as! [String: Any]
        let expected = scales["1.0"] as! [String: Any]
        try withTemporaryFolder { folder in
            try AtomicFile.write("a,b,c\n" + x1.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n"), to: folder + "/x1.csv")
            try AtomicFile.write(x2.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n", to: folder + "/x2.csv")
            try AtomicFile.write("""
                { "name": "nt", "data": { "inputDim": 3 },
                  "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "layerNorm": "none",
                             "layerNormAffine": false, "weightStd": 1.4142135623730951, "biasStd": 0.1 } }
                """, to: folder + "/config.json")
            let shape = try KernelCommand.run(.init(config: folder + "/config.json", x1: .file(folder + "/x1.csv"),
                                                    x2: .file(folder + "/x2.csv"), empirical: false, output: folder + "/K.csv", heatmap: nil))
            #expect(shape == [5, 4])
            let lines = try AtomicFile.readText(folder + "/K.csv").split(separator: "\n")
            let written: [[Double]] = lines.map { line in line.split(separator: ",").map { Double(String($0))! } }
            let ntk = expected["ntk"] as! [[Double]]
            for (row, expectedRow) in zip(written, ntk) {
                for (value, truth) in zip(row, expectedRow) { #expect(abs(value - truth) <= 1e-10 * abs(truth)) }
            }
        }
    }

    /// A kernel larger than memory is refused before anything is allocated, naming the flag to lower;
    /// one that fits passes the same check.
    @Test func aKernelLargerThanMemoryIsRefusedNamingTheFlag() throws {
        let config = try ExperimentPlan.parse(#"{ "name": "k", "model": { "width": 64, "hiddenLayers": 2 } }"#, file: "k.json").base
        do {
            try KernelCommand.checkMemory(config: config, rows: 100_000, columns: 10, limitBytes: 1e6, empirical: false)
            Issue.record("a 100000 x 10 analytic kernel was allowed in 1 MB")
        } catch {
            #expect("\(error)".contains("a 100000 x 10 kernel needs about 15.3 MiB of memory, more than the 976.6 KiB available; pass fewer points with --x1"))
        }
        do {
            try KernelCommand.checkMemory(config: config, rows: 10, columns: 1_000, limitBytes: 1e6, empirical: true)
            Issue.record("a 10 x 1000 empirical kernel at width 64 was allowed in 1 MB")
        } catch {
            #expect("\(error)".contains("pass fewer points with --x2 or lower model.width"))
        }
        try KernelCommand.checkMemory(config: config, rows: 100, columns: 100, limitBytes: 1e6, empirical: true)
        // Through the command: 100,000 grid points make a 149 GiB analytic kernel pair on any machine here.
        try withTemporaryFolder { folder in
            try AtomicFile.write(#"{ "name": "k", "model": { "width": "infinite", "parameterization": "ntk" } }"#, to: folder + "/k.json")
            #expect(throws: UsageError.self) {
                try KernelCommand.run(.init(config: folder + "/k.json", x1: .grid(from: -1, to: 1, points: 100_000), x2: nil,
                                            empirical: false, output: folder + "/K.csv", heatmap: nil))
            }
        }
    }

    @Test func empiricalKernelNeedsAFiniteNetworkAndAnalyticNeedsNTKParameterization() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(#"{ "name": "s", "model": { "width": 8 } }"#, to: folder + "/standard.json")
            #expect(throws: UsageError.self) {
                try KernelCommand.run(.init(config: folder + "/standard.json", x1: .grid(from: -1, to: 1, points: 3), x2: nil,
                                            empirical: false, output: folder + "/K.csv", heatmap: nil))
            }
            let shape = try KernelCommand.run(.init(config: folder + "/standard.json", x1: .grid(from: -1, to: 1, points: 3), x2: nil,
                                                    empirical: true, output: folder + "/K.csv", heatmap: folder + "/K.svg"))
            #expect(shape == [3, 3])
            #expect(try AtomicFile.readText(folder + "/K.svg").contains("</svg>"))
            try AtomicFile.write("1,2\n3\n", to: folder + "/ragged.csv")
            do {
                try KernelCommand.run(.init(config: folder + "/standard.json", x1: .file(folder + "/ragged.csv"), x2: nil,
                                            empirical: true, output: folder + "/K.csv", heatmap: nil))
                Issue.record("a ragged points file was accepted")
            } catch {
                #expect("\(error)".contains("ragged.csv: row 2 has 1 numbers but the first point has 2"))
            }
        }
    }

    /// Kernel regression interpolates its training data (a positive definite kernel, tiny jitter),
    /// and the infinite-width network with LayerNorm is bounded along rays, without it linear.
    @Test func infiniteWidthRunsInterpolateAndExtrapolateAsTheTheorySays() throws {
        try withTemporaryFolder { folder in
            let plan = try ExperimentPlan.parse("""
                { "name": "inf", "data": { "target": "sin", "trainSize": 20 },
                  "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "layerNormAffine": false },
                  "evaluation": { "lambdas": { "from": 1, "to": 100000, "perDecade": 2 } },
                  "variants": [ { "name": "no-ln", "model": { "layerNorm": "none" } },
                                { "name": "ln", "model": { "layerNorm": "first" } } ] }
                """, file: "inf.json")
            var options = RunnerOptions(output: folder + "/run", threads: 1)
            options.quiet = true
            let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
            #expect(report.records.count == 2)
            for record in report.records {
                #expect(record.metrics.finalTrainLoss < 1e-12)
                let r2 = record.metrics.extra.first { $0.key == "trainR2" }!.value.doubleValue!
                #expect(r2 > 1 - 1e-9)
            }
            let noLN = report.records[0].metrics.extrapolation, ln = report.records[1].metrics.extrapolation
            #expect(abs(noLN.growthExponent - 1) < 0.01)
            #expect(abs(ln.growthExponent) < 0.01)
            #expect(FileSystem.exists(folder + "/run/runs/ln-seed0/metrics.json"))
            #expect(!FileSystem.exists(folder + "/run/runs/ln-seed0/model.safetensors"))
        }
    }
}

extension InfiniteWidthTests {
    /// The variance column along the rays grows as lambda^2 without LayerNorm and settles with it,
    /// and the bound sqrt(C / lambda_min) ||y|| in metrics.json holds its parts: C the largest Θ(x, x)
    /// on the rays (from the symmetric kernel of the ray points), lambda_min the least eigenvalue of
    /// Θ(X, X) (a Cholesky of Θ - lambda I succeeds just below it and fails just above), and it
    /// bounds the largest |f| seen.
    @Test func infiniteWidthRunsReportVarianceAndTheOutputBound() throws {
        try withTemporaryFolder { folder in
            let plan = try ExperimentPlan.parse("""
                { "name": "inf", "data": { "target": "sin", "trainSize": 12, "inputDim": 2 },
                  "model": { "hiddenLayers": 2, "width": "infinite", "parameterization": "ntk", "layerNormAffine": false },
                  "evaluation": { "lambdas": { "from": 1, "to": 10000, "perDecade": 1 } },
                  "variants": [ { "name": "no-ln", "model": { "layerNorm": "none" } },
                                { "name": "ln", "model": { "layerNorm": "first" } } ] }
                """, file: "inf.json")
            var options = RunnerOptions(output: folder + "/run", threads: 1)
            options.quiet = true
            let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
            for (record, variant) in zip(report.records, ["no-ln", "ln"]) {
                let rows = try csvRows(folder + "/run/runs/\(variant)-seed0/extrapolation.csv")
                #expect(rows.first == ["lambda", "max_abs", "mean_abs", "variance", "variant"])
                let variances = rows.dropFirst().map { Double($0[3])! }
                #expect(variances.count == 5 && variances.allSatisfy { $0 > 0 })
                let lastDecade = log10(variances[4] / variances[3])
                if variant == "no-ln" {
                    #expect(abs(lastDecade - 2) < 0.01, "no LN: variance slope \(lastDecade)")
                } else {
                    #expect(abs(lastDecade) < 0.01, "LN: variance slope \(lastDecade)")
                }
                #expect(record.metrics.extrapolation.points.map(\.variance) == variances)

                let bound = try #require(record.metrics.infiniteWidth?.outputBound)
                #expect(bound.observedMaximum == record.metrics.extrapolation.maxAbs.max())
                #expect(bound.bound >= bound.observedMaximum)
                let config = plan.runs.first { $0.variant == variant }!.config
                let data = try ExperimentData<Double>.load(config.data, seed: 0)
                let network: Sequential<Double> = config.model.analyticNetwork(inputSize: 2)
                let lambdas = config.evaluation.lambdas.values
                let rays = Tensor<Double>(lambdas.flatMap { lambda in data.train.inputs.array2D.map { $0.map { $0 * lambda } } })
                let rayDiagonal = try network.infiniteWidthKernel(rays).ntk
                let supremum = (0..<rays.shape[0]).map { rayDiagonal[$0, $0] }.max()!
                #expect(abs(bound.supremumOfNTKDiagonal - supremum) <= 1e-12 * supremum)
                let theta = try network.infiniteWidthKernel(data.train.inputs).ntk
                func shifted(_ shift: Double) -> Tensor<Double> {
                    var matrix = theta
                    for i in 0..<12 { matrix[i, i] -= shift }
                    return matrix
                }
                #expect((try? CholeskyFactor(shifted(bound.smallestEigenvalue * (1 - 1e-6)))) != nil)
                #expect((try? CholeskyFactor(shifted(bound.smallestEigenvalue * (1 + 1e-6)))) == nil)
                let norm = data.train.targets.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(abs(bound.bound - (supremum / bound.smallestEigenvalue).squareRoot() * norm) <= 1e-12 * bound.bound)
            }
            // The bound is in metrics.json as written.
            let metrics = try readJSON(folder + "/run/runs/ln-seed0/metrics.json")
            #expect(metrics["outputBound"]?["bound"]?.doubleValue == report.records[1].metrics.infiniteWidth?.outputBound?.bound)
        }
    }
}

@Suite struct ResumeConfigTests {
    @Test func resumeRefusesAChangedConfig() throws {
        try withTemporaryFolder { parent in
            let folder = parent + "/run"
            let text = #"{ "name": "tiny", "data": { "trainSize": 8 }, "model": { "width": 4 }, "training": { "epochs": 2 } }"#
            var options = RunnerOptions(output: folder, threads: 1)
            options.quiet = true
            let quiet = ProgressReporter(quiet: true, isTerminal: false)
            try ExperimentRunner.run(try ExperimentPlan.parse(text, file: "tiny.json"), options: options, progress: quiet)
            options.resume = true
            let changed = text.replacingOccurrences(of: #""epochs": 2"#, with: #""epochs": 3"#)
            do {
                try ExperimentRunner.run(try ExperimentPlan.parse(changed, file: "changed.json"), options: options, progress: quiet)
                Issue.record("--resume accepted a config that differs from the run's")
            } catch let error as UsageError {
                #expect(error.message.contains("changed.json differs from the config that run started with"))
            }
            // The same config resumes: the finished run is kept as it is.
            let report = try ExperimentRunner.run(try ExperimentPlan.parse(text, file: "tiny.json"), options: options, progress: quiet)
            #expect(report.records.count == 1 && report.records[0].metrics.epochsRun == 2)
        }
    }
}

/// `train ntk --phase`: the mean-field quantities of a config's model, with sigma_w, sigma_b as
/// its init gives them.
@Suite struct PhaseReportTests {
    func report(_ model: String) throws -> String {
        try withTemporaryFolder { folder in
            try AtomicFile.write(#"{ "name": "phase", "model": \#(model) }"#, to: folder + "/config.json")
            return try KernelCommand.phaseReport(config: folder + "/config.json")
        }
    }

    @Test func tanhAboveTheCriticalLineIsChaotic() throws {
        // sigma_w^2 = 2.25, sigma_b^2 = 0.1: above tanh's critical 1.98607.
        let text = try report(#"{ "activation": "tanh", "parameterization": "ntk", "weightStd": 1.5, "biasStd": 0.31622776601683794 }"#)
        #expect(text.contains("phase: chaotic"), "\(text)")
        #expect(text.contains("critical sigma_w^2 at sigma_b^2 = 0.1: 1.98607"), "\(text)")
    }

    @Test func reluWithKaimingWeightsIsAtTheEdgeOfChaos() throws {
        // kaimingNormal: sigma_w^2 = 2; ReLU's q* is then infinite and chi_1 = 1.
        let text = try report(#"{ "activation": "relu", "weightInit": "kaimingNormal", "biasInit": "normal", "biasStd": 0.1 }"#)
        #expect(text.contains("phase: edge of chaos"), "\(text)")
        #expect(text.contains("q* (fixed-point pre-activation variance): none"), "\(text)")
        #expect(text.contains("chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: 1\n"), "\(text)")
    }

    /// The NTK's structure by depth: a row per shown depth, the config's own marked, the ratio
    /// kappa_1/kappa_2 shrinking with depth in the ordered phase.
    @Test func structureByDepthShrinksInTheOrderedPhase() throws {
        // tanh, sigma_w^2 = 1, sigma_b^2 = 1: far below the critical 3.443.
        let text = try report(#"{ "activation": "tanh", "hiddenLayers": 4, "weightInit": "normal", "weightStd": 1, "biasInit": "normal", "biasStd": 1 }"#)
        #expect(text.contains("phase: ordered") && text.contains("NTK structure by depth"), "\(text)")
        let rows = text.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count >= 4 && Int($0[0]) != nil }
        #expect(rows.map { Int($0[0])! } == [1, 2, 3, 4, 5, 10, 20, 30, 40, 50])
        #expect(rows[3].joined(separator: " ").hasSuffix("<- this network"))
        let ratios = rows.map { Double($0[3])! }
        #expect(zip(ratios, ratios.dropFirst()).allSatisfy { $1 < $0 } && ratios.last! < 1e-3 * ratios.first!, "\(ratios)")
    }

    /// The mean-field numbers need no data: a config whose data file is missing still gets them,
    /// and a line naming why the structure is not there.
    @Test func missingDataLeavesOnlyTheStructureOut() throws {
        let text = try withTemporaryFolder { folder in
            try AtomicFile.write(#"{ "name": "phase", "data": { "kind": "csv", "path": "\#(folder)/absent.csv", "features": ["a"], "target": "b" }, "#
                                 + #""model": { "activation": "relu", "weightInit": "kaimingNormal", "biasInit": "normal" } }"#,
                                 to: folder + "/config.json")
            return try KernelCommand.phaseReport(config: folder + "/config.json")
        }
        #expect(text.contains("phase: edge of chaos"), "\(text)")
        #expect(text.contains("NTK structure by depth: not computed") && text.contains("absent.csv"), "\(text)")
    }

    /// Uniform weights count by their variance (Kaiming-uniform: 1/(3 fanIn)); PyTorch's uniform
    /// biases, whose variance changes with fanIn, are refused naming the field.
    @Test func uniformInitsCountByTheirVarianceAndPyTorchBiasesAreRefused() throws {
        let uniform = try report(#"{ "activation": "relu", "weightInit": "kaimingUniform", "biasInit": "normal", "biasStd": 0.1 }"#)
        #expect(uniform.contains("sigma_w^2 = 0.3333333") && uniform.contains("chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: 0.1666667"), "\(uniform)")
        do { _ = try report(#"{ "weightInit": "kaimingNormal", "biasInit": "pytorch" }"#) } catch {
            #expect("\(error)".contains("model.biasInit"))
            return
        }
        Issue.record("PyTorch's uniform biases were accepted")
    }
}
