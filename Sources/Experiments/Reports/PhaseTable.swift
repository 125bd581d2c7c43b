/// How a run ended, as `phase.csv` spells it: how training stopped (``StopReason``), or that it did not train or its results failed.
public enum RunOutcome: String, Sendable, CaseIterable {
    /// Every configured epoch ran.
    case completed
    /// `training.targetLoss` was reached before the last epoch.
    case targetLoss = "target_loss"
    /// The loss stopped falling (`training.earlyStop`).
    case earlyStop = "early_stop"
    /// The loss became non-finite or exploded (`metrics-partial.json`, no measurements after training).
    case diverged
    /// Training ended but the results are unusable (``UnusableResultsError``: a loss 1e10 times its start, NaN rays).
    case failed
    /// A `width: "infinite"` run: kernel regression, no training.
    case notTrained = "not_trained"

    public init(_ metrics: RunMetrics) {
        if metrics.divergence != nil || metrics.stopReason == .diverged {
            self = .diverged
        } else if metrics.failure != nil {
            self = .failed
        } else if metrics.infiniteWidth != nil {
            self = .notTrained
        } else {
            switch metrics.stopReason {
            case .earlyStop: self = .earlyStop
            case .targetLoss: self = .targetLoss
            // Metrics written before `stopReason` existed say only whether training stopped early.
            case nil where metrics.stoppedEarly == true: self = .targetLoss
            default: self = .completed
            }
        }
    }
}

/// One run of a grid sweep (a variant on a cell, on a seed) with what its folder recorded.
public struct PhaseRow: Sendable {
    public var run: ExperimentPlan.Run
    /// From `metrics.json`, or `metrics-partial.json` for a run that diverged.
    public var metrics: RunMetrics
    public var outcome: RunOutcome { RunOutcome(metrics) }
}

/// A column of `phase.csv` computed from a row: adding a column is one entry in
/// ``PhaseTable/metricColumns``. Numeric columns also get a heatmap `phase-<name>.svg`.
public struct PhaseColumn: Sendable {
    public let name: String
    /// The value as a number (nil for a text column); NaN where the run has none.
    public let number: (@Sendable (PhaseRow) -> Double)?
    /// The value as text (a text column).
    public let text: (@Sendable (PhaseRow) -> String)?

    public static func number(_ name: String, _ value: @escaping @Sendable (PhaseRow) -> Double) -> PhaseColumn {
        PhaseColumn(name: name, number: value, text: nil)
    }

    public static func text(_ name: String, _ value: @escaping @Sendable (PhaseRow) -> String) -> PhaseColumn {
        PhaseColumn(name: name, number: nil, text: value)
    }

    func field(_ row: PhaseRow) -> String {
        if let number { return csvNumber(number(row)) }
        return csvField(text?(row) ?? "")
    }
}

/// The phase table of a grid sweep: `phase.csv`, one row per cell and seed (with variants, per
/// variant too), in plan order: `variant` (with variants), one column per grid axis (named by its
/// dotted path, the value as written in the config), `seed`, then the end metrics of
/// ``metricColumns``; and a heatmap `phase-<metric>.svg` of every numeric metric (``PhaseHeatmap``).
public struct PhaseTable: Sendable {
    public let grid: GridSweep
    public var rows: [PhaseRow]
    public let hasVariants: Bool

    /// The end metrics, after the grid values and the seed. One line per column.
    public static let metricColumns: [PhaseColumn] = [
        // The least training loss recorded (the loss curve and the final loss), as the paper's "minimal loss".
        .number("min_loss") { row in
            row.metrics.minimumTrainLoss
                ?? (row.metrics.lossCurve.map(\.loss) + [row.metrics.finalTrainLoss]).filter(\.isFinite).min() ?? .nan
        },
        .number("final_loss") { $0.metrics.finalTrainLoss },
        // Epochs run; with full-batch training (the paper's) also the gradient steps.
        .number("epochs") { Double($0.metrics.epochsRun) },
        .text("stop_reason") { $0.outcome.rawValue },
        // NaN for a diverged run, which is never measured.
        .number("growth_exponent") { $0.metrics.extrapolation.points.isEmpty ? .nan : $0.metrics.extrapolation.growthExponent },
        // The mean-field slope chi_1 of the cell's initialisation and its phase (NaN / empty where the
        // initialisation has no fixed sigma_w^2, sigma_b^2, or the variance has no fixed point).
        .number("chi_1") { $0.run.config.model.meanField?.chi1 ?? .nan },
        .text("phase") { $0.run.config.model.meanField?.phase?.rawValue ?? "" },
        // R = E[Theta_0(x,x)^2] / E[Theta_0(x,x)]^2 over initialisations, mean over probe points.
        .number("dispersion_ratio") { $0.metrics.kernelDispersion?.meanRatio ?? .nan },
        // ||Theta_end - Theta_0||_F / ||Theta_0||_F on the probe points.
        .number("kernel_change") { $0.metrics.kernelDrift?.final.kernelChange ?? .nan },
    ]

    /// Every column: the cell's coordinates, then ``metricColumns``.
    public var columns: [PhaseColumn] {
        var columns: [PhaseColumn] = []
        if hasVariants { columns.append(.text("variant") { $0.run.variantName ?? "" }) }
        for (position, axis) in grid.axes.enumerated() {
            columns.append(.text(axis.path) { row in
                guard let cell = row.run.cell else { return "" }
                return PhaseTable.valueText(axis.values[cell.valueIndices[position]])
            })
        }
        columns.append(.text("seed") { "\($0.run.seed)" })
        return columns + PhaseTable.metricColumns
    }

    /// A grid value in a CSV field: a string as it is, anything else as its JSON text.
    static func valueText(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return value.rendered(style: .compact)
    }

    /// `phase.csv`'s text.
    public var csv: String {
        let columns = self.columns
        let lines = [columns.map { csvField($0.name) }.joined(separator: ",")]
            + rows.map { row in columns.map { $0.field(row) }.joined(separator: ",") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The rows of `runs` whose folder holds `metrics.json` or, for a diverged run, `metrics-partial.json`;
    /// a run with neither (its process was killed) is left out, and listed in the returned `missing`.
    /// - Parameter folder: where each run's files are.
    public static func load(_ plan: ExperimentPlan, runs: [ExperimentPlan.Run],
                            folder: (ExperimentPlan.Run) -> String?) throws -> (table: PhaseTable, missing: [String]) {
        guard let grid = plan.grid else { preconditionFailure("PhaseTable.load: the plan has no grid") }
        var rows: [PhaseRow] = []
        var missing: [String] = []
        for run in runs {
            guard let metrics = try folder(run).flatMap(loadMetrics) else {
                missing.append(ExperimentRunner.identifier(run))
                continue
            }
            rows.append(PhaseRow(run: run, metrics: metrics))
        }
        return (PhaseTable(grid: grid, rows: rows, hasVariants: !plan.variants.isEmpty), missing)
    }

    /// A run folder's `metrics.json`, else its `metrics-partial.json`; nil when it has neither.
    static func loadMetrics(folder: String) throws -> RunMetrics? {
        for name in ["metrics.json", "metrics-partial.json"] where FileSystem.exists(folder + "/" + name) {
            let path = folder + "/" + name
            guard let metrics = RunMetrics(json: try JSONValue.parse(AtomicFile.readText(path), source: path)) else {
                throw FormatError(path: path, problem: "not a FiniteWidth metrics file")
            }
            return metrics
        }
        return nil
    }

    /// Writes `phase.csv` and the heatmaps into `folder`.
    /// - Parameter curve: the line to draw over each panel (the chi_1 = 1 line), in the axes' own
    ///   values; nil draws none.
    public func write(to folder: String, curve: PhaseHeatmap.CurveSource? = nil) throws {
        try AtomicFile.write(csv, to: folder + "/phase.csv")
        guard !rows.isEmpty else { return }
        for column in PhaseTable.metricColumns where column.number != nil {
            try heatmap(of: column, curve: curve).write(to: folder + "/phase-\(fileSafe(column.name)).svg")
        }
    }
}

extension PhaseTable {
    /// The edge of chaos (chi_1 = 1) over a heatmap whose x axis is `model.weightStd`: against
    /// `model.biasStd` on y, the curve sigma_w = sqrt(critical sigma_w^2(sigma_b^2)); against any other
    /// y axis (depth, width), the vertical line at the panel's sigma_b. Nil for other axes, or where the
    /// config's initialisation has no fixed sigma_w^2, sigma_b^2 (``ModelConfig/meanField``).
    public static func edgeOfChaos(_ request: PhaseHeatmap.CurveRequest) -> [(x: Double, y: Double)]? {
        let model = request.config.model
        guard request.xAxis == "model.weightStd", request.yAxis != nil, let meanField = model.meanField,
              let low = request.yValues.min(), let high = request.yValues.max() else { return nil }
        func criticalWeightStd(biasStd: Double) -> Double? {
            MeanField.criticalWeightVariance(activation: meanField.activation, biasVariance: biasStd * biasStd)?.squareRoot()
        }
        if request.yAxis == "model.biasStd" {
            let steps = 32
            return (0...steps).compactMap { step in
                let biasStd = low + (high - low) * Double(step) / Double(steps)
                return criticalWeightStd(biasStd: biasStd).map { (x: $0, y: biasStd) }
            }
        }
        guard let x = criticalWeightStd(biasStd: meanField.biasVariance.squareRoot()) else { return nil }
        return [(x: x, y: low), (x: x, y: high)]
    }
}
