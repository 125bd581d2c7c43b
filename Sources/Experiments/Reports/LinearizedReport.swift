/// What `metrics.json` records under `"linearized"` for a run with `evaluation.linearized`.
public struct LinearizedSummary: Sendable, Equatable {
    /// `gradientDescent` (a finite network: the steps `train` takes) or `gradientFlow` (infinite
    /// width: neural-tangents' `predict.gradient_descent_mse` at time `learningRate * epochs`).
    public var dynamics: String
    /// The epoch the linearised network's extrapolation table was measured after (the last).
    public var epochs: Int
    /// The linearised network's mean squared error on the training points then.
    public var trainLoss: Double
    /// The growth exponent of its extrapolation table.
    public var growthExponent: Double
    /// Finite width: the relative RMS distance between the real and the linearised network after
    /// the last epoch, on the training points and along the extrapolation rays; nil at infinite width.
    public var trainDistance: Double?
    public var probeDistance: Double?

    public init(dynamics: String, epochs: Int, trainLoss: Double, growthExponent: Double,
                trainDistance: Double? = nil, probeDistance: Double? = nil) {
        self.dynamics = dynamics
        self.epochs = epochs
        self.trainLoss = trainLoss
        self.growthExponent = growthExponent
        self.trainDistance = trainDistance
        self.probeDistance = probeDistance
    }

    public var json: JSONValue {
        var members = [JSONMember("dynamics", .string(dynamics)), JSONMember("epochs", .number(epochs)),
                       JSONMember("trainLoss", .number(trainLoss)), JSONMember("growthExponent", .number(growthExponent))]
        if let trainDistance { members.append(JSONMember("trainDistance", .number(trainDistance))) }
        if let probeDistance { members.append(JSONMember("probeDistance", .number(probeDistance))) }
        return .object(members)
    }

    /// Reads back what ``json`` wrote (nil when a required field is missing).
    public init?(json: JSONValue) {
        guard case .string(let dynamics)? = json["dynamics"], let epochs = json["epochs"]?.integerValue else { return nil }
        self.init(dynamics: dynamics, epochs: epochs, trainLoss: json["trainLoss"]?.doubleValue ?? .nan,
                  growthExponent: json["growthExponent"]?.doubleValue ?? .nan,
                  trainDistance: json["trainDistance"]?.doubleValue, probeDistance: json["probeDistance"]?.doubleValue)
    }
}

/// The files `evaluation.linearized` adds to a run folder: `linearized.csv`,
/// `extrapolation-linearized.csv` (same columns as `extrapolation.csv`) and
/// `extrapolation-linearized.svg` (the run's growth curve beside the linearised network's).
enum LinearizedFiles {
    /// `linearized.csv` of a finite network: `epoch,train_distance,probe_distance`.
    static func distancesText(_ rows: [LinearizedDistance]) -> String {
        (["epoch,train_distance,probe_distance"] + rows.map { "\($0.epoch),\(csvNumber($0.train)),\(csvNumber($0.probe))" })
            .joined(separator: "\n") + "\n"
    }

    /// Reads back ``distancesText(_:)`` (a run resumed from a checkpoint keeps its earlier rows).
    static func readDistances(_ path: String) throws -> [LinearizedDistance] {
        let lines = CSVLine.lines(of: try AtomicFile.readText(path)).dropFirst().filter { !$0.isBlank }
        return try lines.map { line in
            let fields = try line.fields(file: path)
            guard fields.count == 3, let epoch = Int(fields[0]), let train = Double(fields[1]), let probe = Double(fields[2]) else {
                throw FormatError(path: path, location: .row(line.number), problem: "expected epoch,train_distance,probe_distance, found \"\(line.text)\"")
            }
            return LinearizedDistance(epoch: epoch, train: train, probe: probe)
        }
    }

    /// `linearized.csv` at infinite width: `epoch,time,train_loss` (time = learning rate * epoch).
    static func lossText(_ rows: [(epoch: Int, time: Double, loss: Double)]) -> String {
        (["epoch,time,train_loss"] + rows.map { "\($0.epoch),\(csvNumber($0.time)),\(csvNumber($0.loss))" })
            .joined(separator: "\n") + "\n"
    }

    /// Writes `linearized.csv` (already rendered), the linearised table and the plot of both curves.
    static func write(csv: String, linearized: ExtrapolationTable, named linearizedName: String, beside run: RunExtrapolation,
                      named runName: String, folder: String) throws {
        try AtomicFile.write(csv, to: folder + "/linearized.csv")
        let linearizedRun = RunExtrapolation(variant: run.variant, seed: run.seed, table: linearized)
        try ExtrapolationCSV.write([linearizedRun], to: folder + "/extrapolation-linearized.csv")
        let plot = GrowthPlot(series: [
            GrowthPlot.Series(name: runName, summary: GrowthCurveSummary([run.table])),
            GrowthPlot.Series(name: linearizedName, summary: GrowthCurveSummary([linearized])),
        ], title: "The network and its linearisation along rays x \u{2192} \u{03BB}x")
        try plot.write(to: folder + "/extrapolation-linearized.svg")
    }
}
