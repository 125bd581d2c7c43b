/// A network's predictions along a 1-D interval.
public struct PredictionCurve: Sendable, Equatable {
    public var inputs: [Double]
    public var predictions: [Double]
}

/// One finished run as its folder holds it: `metrics.json`, `extrapolation.csv`,
/// `extrapolation.svg`, and for 1-D inputs `prediction.csv`, `training-data.csv`, `prediction.svg`.
/// A combined report (and `train merge`) is made from these files alone.
public struct RunRecord: Sendable {
    public var metrics: RunMetrics
    public var curve: PredictionCurve?
    public var trainingPoints: [(x: Double, y: Double)]

    public var extrapolation: RunExtrapolation {
        RunExtrapolation(variant: metrics.variant, seed: metrics.seed, table: metrics.extrapolation)
    }

    /// Writes the run's files; `metrics.json` last, so its presence means the run is complete.
    public func write(folder: String) throws {
        try ExtrapolationCSV.write([extrapolation], to: folder + "/extrapolation.csv")
        try GrowthPlot(runs: [extrapolation]).write(to: folder + "/extrapolation.svg")
        if let curve {
            try AtomicFile.write(twoColumnCSV("x", "prediction", zip(curve.inputs, curve.predictions).map { ($0, $1) }),
                                 to: folder + "/prediction.csv")
            try AtomicFile.write(twoColumnCSV("x", "y", trainingPoints), to: folder + "/training-data.csv")
            try predictionPlot([self], title: "Predictions far from the training data").write(to: folder + "/prediction.svg")
        }
        try metrics.write(to: folder + "/metrics.json")
    }

    /// Reads a finished run's folder.
    public static func load(folder: String) throws -> RunRecord {
        let path = folder + "/metrics.json"
        let json = try JSONValue.parse(AtomicFile.readText(path), source: path)
        guard let metrics = RunMetrics(json: json) else { throw FormatError(path: path, problem: "not a FiniteWidth metrics file") }
        var record = RunRecord(metrics: metrics, curve: nil, trainingPoints: [])
        if FileSystem.exists(folder + "/prediction.csv") {
            let curve = try readTwoColumnCSV(folder + "/prediction.csv")
            record.curve = PredictionCurve(inputs: curve.map(\.0), predictions: curve.map(\.1))
            record.trainingPoints = try readTwoColumnCSV(folder + "/training-data.csv").map { (x: $0.0, y: $0.1) }
        }
        return record
    }
}

func twoColumnCSV(_ first: String, _ second: String, _ rows: [(Double, Double)]) -> String {
    ([first + "," + second] + rows.map { csvNumber($0.0) + "," + csvNumber($0.1) }).joined(separator: "\n") + "\n"
}

/// Reads back what `twoColumnCSV` wrote: a header line, then two numbers a line (`nan` and `inf`
/// included); blank lines are skipped.
func readTwoColumnCSV(_ path: String) throws -> [(Double, Double)] {
    let lines = CSVLine.lines(of: try AtomicFile.readText(path)).dropFirst().filter { !$0.isBlank }
    return try lines.map { line in
        let fields = try line.fields(file: path)
        guard fields.count == 2, let a = Double(fields[0]), let b = Double(fields[1]) else {
            throw FormatError(path: path, location: .row(line.number), problem: "expected two numbers, found \"\(line.text)\"")
        }
        return (a, b)
    }
}

/// Predictions of several runs, one line per variant (mean and band over its seeds).
func predictionPlot(_ records: [RunRecord], title: String) -> PredictionCurvePlot {
    var order: [String] = []
    var curves: [String: [PredictionCurve]] = [:]
    for record in records {
        guard let curve = record.curve else { continue }
        let name = record.metrics.variant ?? "network"
        if curves[name] == nil { order.append(name) }
        curves[name, default: []].append(curve)
    }
    let series = order.map { name in
        PredictionCurvePlot.Series(name: name, inputs: curves[name]![0].inputs, predictionsPerRun: curves[name]!.map(\.predictions))
    }
    let points = records.first?.trainingPoints ?? []
    let xs = points.map(\.x)
    return PredictionCurvePlot(series: series, trainingInterval: xs.isEmpty ? nil : Interval(lower: xs.min()!, upper: xs.max()!),
                               trainingInputs: xs, trainingTargets: points.map(\.y), title: title)
}
