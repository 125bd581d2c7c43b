import Foundation
import Testing
import Experiments
import TestSupport

/// What a finished run's folder must hold, checked file by file: every expected file and no
/// other (no `checkpoint.safetensors`, no `*.tmp-*` left behind), each one parsed.
struct RunFolderCheck {
    /// The run as the folder's (or the sweep's) `config.json` describes it.
    let run: ExperimentPlan.Run
    /// metrics.json keys after the always-present ones (R² for CSV data, ...).
    var resultKeys = ["stoppedEarly", "stopReason", "minimumTrainLoss", "trainR2"]
    /// Relative tolerance when the saved model is measured again in this process.
    var tolerance = 1e-9

    var oneDimensional: Bool { run.config.data.inputDim == 1 }

    var expectedFiles: [String] {
        var files = ["extrapolation.csv", "extrapolation.svg", "metrics.json", "model.safetensors"]
        if run.config.evaluation.curve != nil { files += ["prediction.csv", "prediction.svg", "training-data.csv"] }
        return files
    }

    /// Checks `folder`; `alsoThere` are the other names the folder may hold (`config.json` for a
    /// run at the top of its output folder). Returns the parsed metrics.
    @discardableResult
    func check(_ folder: String, alsoThere: [String] = []) throws -> RunMetrics {
        let config = run.config
        #expect(try listing(folder) == (expectedFiles + alsoThere).sorted(), "in \(folder)")

        let json = try readJSON(folder + "/metrics.json")
        let leading = ["name"] + (run.variant == nil ? [] : ["variant"])
            + ["seed", "precision", "threads", "wallTimeSeconds", "epochsRun", "finalTrainLoss", "lossCurve", "extrapolation"]
        #expect(keys(json) == leading + resultKeys)
        let metrics = try #require(RunMetrics(json: json))
        #expect(metrics.name == config.name && metrics.variant == run.variant && metrics.seed == run.seed)
        #expect(metrics.precision == config.precision)
        #expect(metrics.epochsRun == config.training.epochs)
        #expect(metrics.finalTrainLoss.isFinite && metrics.wallTimeSeconds >= 0)
        let (epochs, logEvery) = (config.training.epochs, config.training.logEvery)
        #expect(metrics.lossCurve.map(\.epoch) == Array(stride(from: logEvery, through: epochs, by: logEvery))
            + (epochs % logEvery == 0 ? [] : [epochs]))
        #expect(metrics.lossCurve.allSatisfy { $0.loss.isFinite })
        let lambdas = config.evaluation.lambdas.values
        #expect(metrics.extrapolation.lambdas == lambdas)
        #expect(metrics.extrapolation.points.allSatisfy { $0.maxAbs.isFinite && $0.maxAbs >= $0.meanAbs && $0.meanAbs > 0 })

        // extrapolation.csv: the design's three columns (and the variant's name in a sweep), one
        // row per lambda, the numbers of metrics.json.
        let rows = try csvRows(folder + "/extrapolation.csv")
        #expect(rows.first == ["lambda", "max_abs", "mean_abs"] + (run.variant == nil ? [] : ["variant"]))
        #expect(rows.dropFirst().map { $0.prefix(3).map { Double($0) } }
            == metrics.extrapolation.points.map { [$0.lambda, $0.maxAbs, $0.meanAbs] })
        #expect(rows.dropFirst().allSatisfy { run.variant == nil ? $0.count == 3 : $0.last == run.variant })

        for svg in expectedFiles where svg.hasSuffix(".svg") {
            #expect(svgProblems(try readText(folder + "/" + svg)) == [], "\(folder)/\(svg)")
        }
        if let curve = config.evaluation.curve {
            let prediction = try csvRows(folder + "/prediction.csv")
            #expect(prediction.first == ["x", "prediction"] && prediction.count == curve.points + 1)
            #expect(prediction.dropFirst().allSatisfy { $0.count == 2 && $0.allSatisfy { Double($0)?.isFinite ?? false } })
            let training = try csvRows(folder + "/training-data.csv")
            if case .synthetic(let synthetic) = config.data { #expect(training.count == synthetic.trainSize + 1) }
            #expect(training.first == ["x", "y"])
        }

        switch config.precision {
        case .float32: try checkModel(folder, metrics: metrics, as: Float.self)
        case .float64: try checkModel(folder, metrics: metrics, as: Double.self)
        }
        return metrics
    }

    /// `model.safetensors` loads into the network the config describes (built here from another
    /// seed, so every parameter must come from the file), holds the run's precision, and measured
    /// again gives the table in metrics.json.
    func checkModel<Scalar: BLASScalar>(_ folder: String, metrics: RunMetrics, as: Scalar.Type) throws {
        let path = folder + "/model.safetensors"
        let file = try Safetensors.read(path)
        #expect(Set(file.tensors.values.map(\.dtype)) == [Scalar.self == Float.self ? "F32" : "F64"])
        #expect(file.metadata?["seed"] == "\(run.seed)")

        let data = try ExperimentData<Scalar>.load(run.config.data, seed: run.seed)
        guard case .finite(let width) = run.config.model.width else { return }
        var generator = Xoshiro256StarStar(seed: 987_654_321)
        let model: Sequential<Scalar> = run.config.model.mlpDescription(inputSize: data.train.inputDim, width: width)
            .build(generator: &generator)
        #expect(Set(file.tensors.keys) == Set(model.namedParameters.map(\.name)))
        try model.loadCheckpoint(from: path)
        let table = ExtrapolationMeasurement.measure(run.config.evaluation, trainingInputs: data.train.inputs, seed: run.seed) { model($0) }
        for (measured, recorded) in zip(table.points, metrics.extrapolation.points) {
            #expect(abs(measured.maxAbs - recorded.maxAbs) <= tolerance * recorded.maxAbs, "max |f| at lambda \(recorded.lambda)")
            #expect(abs(measured.meanAbs - recorded.meanAbs) <= tolerance * recorded.meanAbs, "mean |f| at lambda \(recorded.lambda)")
        }
    }
}

/// The combined report at the top of a sweep's output folder: one extrapolation.csv holding
/// every run's rows in plan order, a metrics.json summarising each variant, and the plots.
func checkSweepReport(_ output: String, plan: ExperimentPlan, plots: [String]) throws {
    let runs = plan.runs
    #expect(try listing(output) == (["config.json", "extrapolation.csv", "metrics.json", "runs"] + plots).sorted())
    #expect(try listing(output + "/runs") == runs.map(ExperimentRunner.identifier).sorted())
    for plot in plots { #expect(svgProblems(try readText(output + "/" + plot)) == [], "\(plot)") }

    let withVariant = !plan.variants.isEmpty
    let withSeed = Set(runs.map(\.seed)).count > 1
    let rows = try csvRows(output + "/extrapolation.csv")
    #expect(rows.first == ["lambda", "max_abs", "mean_abs"] + (withVariant ? ["variant"] : []) + (withSeed ? ["seed"] : []))
    #expect(rows.count == 1 + runs.count * plan.base.evaluation.lambdas.values.count)
    var expectedRows: [[String]] = []
    for run in runs {
        let own = try csvRows(output + "/runs/" + ExperimentRunner.identifier(run) + "/extrapolation.csv").dropFirst()
        expectedRows += own.map { Array($0.prefix(3)) + (withVariant ? [run.variant!] : []) + (withSeed ? ["\(run.seed)"] : []) }
    }
    #expect(Array(rows.dropFirst()) == expectedRows)

    let json = try readJSON(output + "/metrics.json")
    #expect(keys(json) == ["name", "variants", "runs"])
    guard case .array(let variants)? = json["variants"], case .array(let runEntries)? = json["runs"] else {
        Issue.record("metrics.json: variants and runs should be lists")
        return
    }
    let variantNames = withVariant ? plan.variants.map(\.name) : ["network"]
    #expect(variants.compactMap { if case .string(let name)? = $0["variant"] { name } else { nil } } == variantNames)
    for variant in variants {
        #expect(keys(variant) == ["variant", "seeds", "growth", "meanFinalTrainLoss", "meanTrainR2"])
        #expect(keys(variant["growth"]) == ["runs", "growthExponent", "lambda", "geometricMeanMaxAbs", "lower95", "upper95"])
    }
    #expect(runEntries.count == runs.count)
    for (entry, run) in zip(runEntries, runs) {
        #expect(keys(entry) == ["variant", "seed", "growthExponent", "finalTrainLoss", "wallTimeSeconds"])
        #expect(entry["seed"]?.unsignedIntegerValue == run.seed)
    }
}
