import Foundation
import Glibc
import Testing
@testable import Experiments
import TestSupport

/// A fixed memory limit, so tests do not depend on the machine.
let sixteenGiB = 16.0 * 1024 * 1024 * 1024

func plan(_ text: String, file: String = "configs/x.json") throws(ConfigError) -> ExperimentPlan {
    try ExperimentPlan.parse(text, file: file, memoryLimitBytes: sixteenGiB)
}

/// The problems a config text is refused with, as printed lines.
func problems(_ text: String, file: String = "configs/x.json") -> [String] {
    do {
        _ = try plan(text, file: file)
        return []
    } catch {
        return error.description.split(separator: "\n").map(String.init)
    }
}

@Suite struct ConfigDefaultsTests {
    @Test func emptyObjectGivesThePapersDefaults() throws {
        let config = try plan("{}", file: "configs/ln.json").base
        #expect(config.name == "ln")
        #expect(config.seed == 0)
        #expect(config.precision == .float64)
        #expect(config.data == .synthetic(SyntheticDataConfig(target: .sin, inputDim: 1, trainSize: 100,
                                                               domain: Interval(lower: -1, upper: 1))))
        #expect(config.model.hiddenLayers == 2)
        #expect(config.model.width == .finite(128))
        #expect(config.model.activation == .relu)
        #expect(config.model.layerNorm == .none)
        #expect(config.model.weightInit == .kaimingNormal)
        #expect(config.model.biasInit == .normal)
        #expect(config.model.biasStd == 0.1)
        #expect(config.model.weightStd == nil)
        #expect(config.training.optimizer == .adam(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0))
        #expect(config.training.learningRate == 1e-3)
        #expect(config.training.epochs == 3000)
        #expect(config.training.batchSize == .full)
        #expect(config.evaluation.lambdas == LambdaGridConfig(from: 1, to: 10_000, perDecade: 4))
        #expect(config.evaluation.lambdas.values.count == 17)
        #expect(config.evaluation.directions == .training)
        #expect(config.evaluation.curve == CurveConfig(from: -10, to: 10, points: 401))
    }

    @Test func designDocumentExampleParses() throws {
        let config = try plan("""
            { "name": "ln", "seed": 0, "precision": "float64",
              "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 100, "domain": [-1, 1] },
              "model": { "hiddenLayers": 2, "width": 128, "activation": "relu", "layerNorm": "first",
                         "layerNormAffine": true, "parameterization": "standard",
                         "weightInit": "kaimingNormal", "biasStd": 0.1 },
              "training": { "optimizer": "adam", "learningRate": 0.001, "epochs": 3000, "batchSize": 100 },
              "evaluation": { "lambdas": { "from": 1, "to": 10000, "perDecade": 4 }, "directions": "train" } }
            """).base
        #expect(config.model.layerNorm == .first)
        #expect(config.model.layerNormIndices == [0])
        #expect(config.model.layerNormAffine)
        #expect(config.training.batchSize == .samples(100))
    }

    @Test func csvExampleParses() throws {
        let config = try plan("""
            { "data": { "kind": "csv", "path": "data/diabetes.csv", "features": ["age", "bmi", "bp"],
                        "target": "progression", "split": { "column": "bmi", "below": 30 } },
              "evaluation": { "directions": { "random": 64 } } }
            """).base
        #expect(config.data == .csv(CSVDataConfig(path: "data/diabetes.csv", features: ["age", "bmi", "bp"], target: "progression",
                                                  standardize: true, split: CovariateShiftSplit(column: "bmi", below: 30, validationFraction: 0.1))))
        #expect(config.evaluation.directions == .random(64))
        #expect(config.evaluation.curve == nil)
    }

    @Test func optimizerDefaultsFollowPyTorch() throws {
        #expect(try plan(#"{"training": {"optimizer": "sgd"}}"#).base.training.optimizer == .sgd(momentum: 0, weightDecay: 0))
        #expect(try plan(#"{"training": {"optimizer": "adamw"}}"#).base.training.optimizer
            == .adamw(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))
    }

    @Test func ntkParameterizationUsesSigmas() throws {
        let model = try plan(#"{"model": {"parameterization": "ntk", "width": "infinite", "layerNorm": "every"}}"#).base.model
        #expect(model.width == .infinite)
        #expect(model.weightInit == nil && model.biasInit == nil)
        #expect(model.weightStd == 2.0.squareRoot() && model.biasStd == 0.1)
        #expect(model.layerNormAffine == false)
        #expect(model.layerNormIndices == [0, 1])
    }

    @Test func layerNormListIsSortedAndEmptyMeansNone() throws {
        #expect(try plan(#"{"model": {"hiddenLayers": 4, "layerNorm": [3, 1]}}"#).base.model.layerNorm == .layers([1, 3]))
        #expect(try plan(#"{"model": {"layerNorm": []}}"#).base.model.layerNorm == LayerNormPlacement.none)
    }

    @Test func nullMeansTheDefault() throws {
        #expect(try plan(#"{"training": {"targetLoss": null, "epochs": null}}"#).base.training.epochs == 3000)
    }
}

@Suite struct ConfigErrorTests {
    @Test func errorNamesFilePathFoundAndAllowed() {
        #expect(problems(#"{"model": {"width": -3}}"#)
            == [#"configs/x.json: model.width: expected a positive integer or "infinite", found -3"#])
        #expect(problems(#"{"model": {"activation": "Relu"}}"#)
            == [#"configs/x.json: model.activation: expected one of "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "erf", found "Relu""#])
        #expect(problems(#"{"precision": 64}"#) == [#"configs/x.json: precision: expected one of "float32", "float64", found 64"#])
    }

    @Test func unknownKeysAreRefusedWithASuggestion() throws {
        let lines = problems(#"{"model": {"widht": 64}}"#)
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix(#"configs/x.json: model.widht: unknown key; did you mean "width"?"#))
        #expect(lines[0].contains("Keys allowed here: hiddenLayers, width, activation"))
        #expect(problems(#"{"evaluations": {}}"#).first?.contains(#"did you mean "evaluation"?"#) == true)
        #expect(problems(#"{"zzz": 1}"#).first?.contains("did you mean") == false)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let lines = problems("""
            {"seed": -1, "model": {"hiddenLayers": 0, "layerNorm": "sometimes"},
             "training": {"learningRate": 0, "betas": [0.9], "batchSize": 0}}
            """)
        #expect(lines.count == 6, "\(lines)")
        for path in ["seed", "model.hiddenLayers", "model.layerNorm", "training.learningRate", "training.betas", "training.batchSize"] {
            #expect(lines.contains { $0.hasPrefix("configs/x.json: \(path): ") }, "\(path) in \(lines)")
        }
    }

    @Test func settingsThatDoNotApplyAreRefused() throws {
        #expect(problems(#"{"training": {"momentum": 0.9}}"#)
            == [#"configs/x.json: training.momentum: does not apply to "optimizer": "adam"; remove it"#])
        #expect(problems(#"{"training": {"optimizer": "sgd", "betas": [0.9, 0.99]}}"#)
            == [#"configs/x.json: training.betas: does not apply to "optimizer": "sgd"; remove it"#])
        // Allowed without LayerNorm, so a sweep's base can set it for the variants that add one.
        #expect(try plan(#"{"model": {"layerNormAffine": true}}"#).base.model.layerNormAffine == false)
        #expect(problems(#"{"model": {"layerNormAffine": 1}}"#) == ["configs/x.json: model.layerNormAffine: expected true or false, found 1"])
        #expect(problems(#"{"model": {"weightStd": 1}}"#).first?.contains(#"model.weightStd: does not apply to "weightInit": "kaimingNormal""#) == true)
        #expect(problems(#"{"data": {"inputDim": 2}, "evaluation": {"curve": {"from": -5, "to": 5}}}"#)
            == [#"configs/x.json: evaluation.curve: a prediction curve needs 1-D inputs, but the data has 2 input dimensions; use "none""#])
        #expect(problems(#"{"data": {"kind": "csv", "path": "a.csv", "features": ["a"], "target": "b", "trainSize": 5}}"#)
            == [#"configs/x.json: data.trainSize: does not apply to "kind": "csv" data; remove it"#])
    }

    @Test func crossFieldChecks() {
        #expect(problems(#"{"training": {"batchSize": 200}}"#)
            == [#"configs/x.json: training.batchSize: 200 is more than data.trainSize (100); use "full" for full-batch training"#])
        #expect(problems(#"{"model": {"width": "infinite"}}"#).first?.contains(#"needs "parameterization": "ntk""#) == true)
        // Every activation has a kernel map (tanh by quadrature).
        #expect(problems(#"{"model": {"width": "infinite", "parameterization": "ntk", "activation": "tanh"}}"#) == [])
        #expect(problems(#"{"model": {"width": "infinite", "parameterization": "ntk", "layerNorm": "first", "layerNormAffine": true}}"#)
            .first?.contains("model.layerNormAffine: must be false") == true)
        #expect(problems(#"{"model": {"layerNorm": [0, 2]}}"#)
            == ["configs/x.json: model.layerNorm[1]: expected a hidden-layer index from 0 to 1, found 2"])
        #expect(problems(#"{"evaluation": {"lambdas": {"from": 100, "to": 10}}}"#)
            == ["configs/x.json: evaluation.lambdas.to: must be larger than from (100), found 10"])
        #expect(problems(#"{"data": {"domain": [1, -1]}}"#).first?.contains("lower < upper") == true)
        #expect(problems(#"{"data": {"kind": "csv", "features": ["bmi"], "target": "bmi"}}"#).count == 2)
        #expect(problems(#"{"name": "../escape"}"#).first?.contains("name: expected a name of letters") == true)
    }

    @Test func syntaxErrorsNameLineAndColumn() {
        #expect(problems("{\n  \"model\": {\"width\": 128,}\n}") == ["configs/x.json: line 2, column 26: trailing comma before '}'"])
        #expect(problems("[1, 2]") == ["configs/x.json: expected a JSON object { ... } at the top, found a list [1,2]"])
    }

    @Test func unreadableFileIsAConfigError() {
        #expect(throws: ConfigError.self) { try ExperimentPlan.load(path: "/nonexistent/config.json") }
        do {
            _ = try ExperimentPlan.load(path: "/nonexistent/config.json")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/config.json: cannot read the config: cannot open:"))
        }
    }

    @Test func sizesThatCannotFitAreRefusedBeforeAllocating() {
        let wide = problems(#"{"model": {"width": 1000000000}}"#)
        #expect(wide.count == 1)
        #expect(wide[0].hasPrefix("configs/x.json: model.width: this run needs about "), "\(wide)")
        #expect(wide[0].contains("EiB") && wide[0].contains("more than the 16.0 GiB available"), "\(wide)")

        let many = problems(#"{"data": {"trainSize": 1000000000000}}"#)
        #expect(many.count == 1)
        #expect(many[0].hasPrefix("configs/x.json: data.trainSize: this run needs about "), "\(many)")

        let kernel = problems(#"{"data": {"trainSize": 1000000}, "model": {"width": "infinite", "parameterization": "ntk"}}"#)
        #expect(kernel.first?.contains("kernel matrices") == true, "\(kernel)")
        // Absurd sizes do not overflow: they are refused as too large.
        #expect(problems(#"{"model": {"width": 1e300}}"#).first?.contains("model.width: expected a positive integer") == true)
    }

    @Test func memoryEstimateOfTheDefaultRunIsSmall() {
        let estimate = MemoryEstimate(config: ExperimentConfig(name: "x"))
        let expected: Double = 1 * 128 + 128 + 128 * 128 + 128 + 128 + 1
        #expect(estimate.parameterCount == expected)
        #expect(estimate.totalBytes < 64 * 1024 * 1024)
        #expect(MemoryEstimate.format(bytes: 512) == "512 B")
        #expect(MemoryEstimate.format(bytes: 3.5 * 1024 * 1024 * 1024) == "3.5 GiB")
        #expect(MemoryEstimate.format(bytes: 1e30) == "10^30 B")
    }
}

@Suite struct SweepTests {
    static let paperToy = """
        { "name": "paper-toy", "model": {"layerNorm": "first", "layerNormAffine": false},
          "training": {"betas": [0.8, 0.99], "epochs": 100},
          "variants": [
            {"name": "no-ln", "model": {"layerNorm": "none"}},
            {"name": "ln-first"},
            {"name": "ln-every", "model": {"layerNorm": "every"}},
            {"name": "sgd", "training": {"optimizer": "sgd", "momentum": 0.9}},
            {"name": "adamw", "training": {"optimizer": "adamw"}},
            {"name": "csv", "data": {"kind": "csv", "path": "data/diabetes.csv", "features": ["bmi"], "target": "progression"}},
            {"name": "wide-2d", "data": {"inputDim": 2}, "training": {"targetLoss": 0.001}},
            {"name": "no-target", "training": {"epochs": null}}
          ],
          "seeds": [0, 1, 2] }
        """

    @Test func variantsTimesSeedsGiveTheRuns() throws {
        let sweep = try plan(Self.paperToy)
        #expect(sweep.variants.map(\.name) == ["no-ln", "ln-first", "ln-every", "sgd", "adamw", "csv", "wide-2d", "no-target"])
        #expect(sweep.runs.count == 24)
        #expect(sweep.runs.prefix(3).map(\.seed) == [0, 1, 2])
        #expect(sweep.runs.allSatisfy { $0.config.seed == $0.seed && $0.config.name == "paper-toy" })
        let configs = Dictionary(uniqueKeysWithValues: sweep.variants.map { ($0.name, $0.config) })
        #expect(configs["no-ln"]?.model.layerNorm == LayerNormPlacement.none)
        #expect(configs["no-ln"]?.model.layerNormAffine == false)
        #expect(configs["ln-every"]?.model.layerNormIndices == [0, 1])
        // A variant that switches optimizer does not inherit Adam's betas...
        #expect(configs["sgd"]?.training.optimizer == .sgd(momentum: 0.9, weightDecay: 0))
        // ...but one that keeps an Adam family optimizer does.
        #expect(configs["adamw"]?.training.optimizer == .adamw(beta1: 0.8, beta2: 0.99, eps: 1e-8, weightDecay: 0.01))
        #expect(configs["csv"]?.data.kind == "csv")
        #expect(configs["csv"]?.evaluation.curve == nil)
        #expect(configs["wide-2d"]?.evaluation.curve == nil)
        #expect(configs["wide-2d"]?.training.targetLoss == 0.001)
        #expect(configs["no-target"]?.training.epochs == 3000)
    }

    @Test func resolvedConfigLoadsToTheSameRuns() throws {
        for text in [Self.paperToy, "{}", #"{"seed": 7, "variants": [{"name": "a", "seed": 9}, {"name": "b"}]}"#] {
            let sweep = try plan(text)
            let resolvedText = sweep.resolvedJSON.rendered()
            let reloaded = try plan(resolvedText)
            #expect(reloaded.base == sweep.base)
            #expect(reloaded.runs.map(\.config) == sweep.runs.map(\.config))
            #expect(reloaded.runs.map(\.variant) == sweep.runs.map(\.variant))
            // Resolving is idempotent: the resolved file resolves to itself.
            #expect(reloaded.resolvedJSON == sweep.resolvedJSON)
        }
    }

    @Test func resolvedVariantsAreSmallOverrides() throws {
        let resolved = try plan(Self.paperToy).resolvedJSON
        guard case .array(let variants)? = resolved["variants"] else {
            Issue.record("no variants in \(resolved.rendered())")
            return
        }
        #expect(variants[0] == .object(["name": .string("no-ln"), "model": .object(["layerNorm": .string("none"), "layerNormAffine": .null])]))
        #expect(variants[1] == .object(["name": .string("ln-first")]))
        #expect(resolved["seeds"] == .array([.number(0), .number(1), .number(2)]))
    }

    @Test func variantProblemsNameTheVariant() {
        let lines = problems("""
            {"variants": [{"name": "ok"}, {"name": "bad", "model": {"width": 0, "layerNorm": "first", "layerNormAffin": true}},
                          {"model": {}}, {"name": "ok"}, {"name": "s", "seeds": [1]}]}
            """)
        #expect(lines.contains("configs/x.json: variants[1].model.width: expected a positive integer or \"infinite\", found 0"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("configs/x.json: variants[1].model.layerNormAffin: unknown key; did you mean \"layerNormAffine\"?") })
        #expect(lines.contains("configs/x.json: variants[2]: missing \"name\"; every variant needs a name"))
        #expect(lines.contains("configs/x.json: variants[3].name: the name \"ok\" is used by an earlier variant"))
        #expect(lines.contains("configs/x.json: variants[4].seeds: a variant cannot hold \"seeds\"; put it at the top level"))
    }

    @Test func inheritedSettingThatBreaksAVariantNamesBoth() {
        // The base's batch size is fine for the base, too large for the variant's smaller data set.
        let lines = problems(#"{"training": {"batchSize": 50}, "variants": [{"name": "small", "data": {"trainSize": 10}}]}"#)
        #expect(lines == [#"configs/x.json: training.batchSize: 50 is more than data.trainSize (10); use "full" for full-batch training (with variant "small", variants[0])"#])
    }

    @Test func baseProblemsAreReportedOnce() {
        let lines = problems(#"{"model": {"width": -1}, "variants": [{"name": "a"}, {"name": "b"}]}"#)
        #expect(lines.count == 1)
    }

    @Test func seedsAreCheckedAndConflictWithVariantSeeds() {
        #expect(problems(#"{"seeds": []}"#) == ["configs/x.json: seeds: expected at least one seed, found an empty list"])
        #expect(problems(#"{"seeds": [1, 1]}"#) == ["configs/x.json: seeds[1]: the seed 1 is listed twice"])
        #expect(problems(#"{"seeds": [1], "variants": [{"name": "a", "seed": 3}]}"#).first?.contains("variants[0].seed") == true)
        #expect(problems(#"{"variants": []}"#).first?.contains("expected at least one variant") == true)
    }

    @Test func defaultNameComesFromTheFileName() {
        #expect(ExperimentPlan.defaultName(forFile: "configs/paper-toy.json") == "paper-toy")
        #expect(ExperimentPlan.defaultName(forFile: "my config.json") == "my-config")
        #expect(ExperimentPlan.defaultName(forFile: ".json") == "run")
    }
}

@Suite struct ShippedConfigTests {
    /// The `.json` files in the project's `configs/` folder.
    static let files: [String] = {
        guard let folder = opendir(projectRoot + "/configs") else { return [] }
        defer { closedir(folder) }
        var names: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted()
    }()

    @Test func configsFolderIsFound() {
        #expect(Self.files.contains("ln.json") && Self.files.contains("paper-toy.json"))
    }

    @Test(arguments: files) func shippedConfigIsValid(_ name: String) throws {
        let sweep = try ExperimentPlan.load(path: projectRoot + "/configs/" + name, memoryLimitBytes: sixteenGiB)
        #expect(sweep.base.name + ".json" == name)
    }

    @Test func paperToyComparesFourPlacementsOnThreeTargetsOverFiveSeeds() throws {
        let sweep = try ExperimentPlan.load(path: projectRoot + "/configs/paper-toy.json", memoryLimitBytes: sixteenGiB)
        #expect(sweep.runs.count == 60)
        let placements: [[Int]] = [[], [0], [1], [0, 1]]
        #expect(sweep.variants.map(\.config.model.layerNormIndices) == placements + placements + placements)
        let targets = sweep.variants.map { variant -> SyntheticTarget? in
            if case .synthetic(let data) = variant.config.data { data.target } else { nil }
        }
        #expect(targets == [.sin, .sin, .sin, .sin, .linear, .linear, .linear, .linear,
                            .quadratic, .quadratic, .quadratic, .quadratic])
        #expect(sweep.variants.allSatisfy { $0.config.model.weightInit == .kaimingNormal && $0.config.model.biasStd == 0.1 })
        #expect(sweep.variants.filter { !$0.config.model.layerNormIndices.isEmpty }.allSatisfy { $0.config.model.layerNormAffine })
    }

    @Test func lnAndNoLNDifferOnlyInLayerNorm() throws {
        let ln = try ExperimentPlan.load(path: projectRoot + "/configs/ln.json", memoryLimitBytes: sixteenGiB).base
        var noLN = try ExperimentPlan.load(path: projectRoot + "/configs/no-ln.json", memoryLimitBytes: sixteenGiB).base
        #expect(ln.model.layerNorm == .first && noLN.model.layerNorm == LayerNormPlacement.none)
        noLN.name = ln.name
        noLN.model.layerNorm = .first
        noLN.model.layerNormAffine = true
        #expect(noLN == ln)
    }
}

/// Every shipped config's first run, shrunk (a few epochs, a small width and data set, few kernel
/// draws and trajectory stamps) but otherwise as users run it, trains and measures end to end: a
/// combination of sections that only fails at run time (as a stability check once stopped every
/// classification run) fails here instead of in a user's hands.
@Suite struct ShippedConfigRunTests {
    static func shrunk(_ config: ExperimentConfig) -> ExperimentConfig {
        var config = config
        config.training.epochs = min(config.training.epochs, 3)
        if case .finite(let width) = config.model.width { config.model.width = .finite(min(width, 16)) }
        switch config.data {
        case .synthetic(var synthetic):
            synthetic.trainSize = min(synthetic.trainSize, 24)
            config.data = .synthetic(synthetic)
        case .csv(var csv):
            csv.path = projectRoot + "/" + csv.path
            if csv.split == nil { csv.firstRows = min(csv.firstRows ?? 40, 40) }
            config.data = .csv(csv)
        }
        if var kernel = config.evaluation.kernel {
            kernel.points = min(kernel.points, 8)
            kernel.initializations = kernel.initializations.map { min($0, 4) }
            config.evaluation.kernel = kernel
        }
        if var trajectory = config.evaluation.trajectory {
            (trajectory.stamps, trajectory.stepRatios) = (1, [2])
            config.evaluation.trajectory = trajectory
        }
        return config
    }

    /// Runs the shrunk first run of `configs/<name>` in a temporary folder and hands its report and
    /// folder to `inspect`.
    static func runShrunk(_ name: String, inspect: (ExperimentReport, String) throws -> Void = { _, _ in }) throws {
        let sweep = try ExperimentPlan.load(path: projectRoot + "/configs/" + name, memoryLimitBytes: sixteenGiB)
        let run = try #require(sweep.runs.first)
        let text = shrunk(run.config).json.rendered(style: .pretty)
        let folder = "/tmp/finitewidth-shipped-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var options = RunnerOptions(output: folder, threads: 1)
        options.quiet = true
        let report = try ExperimentRunner.run(try ExperimentPlan.parse(text, file: name), options: options,
                                              progress: ProgressReporter(quiet: true, isTerminal: false))
        try inspect(report, folder)
    }

    @Test(arguments: ShippedConfigTests.files.filter { $0 != "protein.json" })  // protein's data is not shipped
    func firstRunOfEachShippedConfigRuns(_ name: String) throws {
        try Self.runShrunk(name) { report, folder in
            #expect(report.records.count == 1, "\(name)")
            #expect(FileManager.default.fileExists(atPath: folder + "/metrics.json"), "\(name)")
        }
    }
}
