/// The combined report of a sweep: `extrapolation.csv` with every run, `extrapolation.svg` with
/// every variant's growth curve (mean over seeds with a 95% band), `prediction.svg` for 1-D
/// inputs, `metrics.json` summarising each variant, and a table for the terminal. Variants named
/// `group.name` (as `sin.ln-first`) also get one plot per group.
public struct ExperimentReport: Sendable {
    public var name: String
    /// Runs in plan order (variants, then seeds).
    public var records: [RunRecord]

    /// For a grid sweep, each run label's group: its variant's name (no groups without variants),
    /// since a cell's name holds dots of its own (`learningRate0.01`). Nil: groups by `group.name`.
    public var gridGroups: [String: String]?

    public init(name: String, records: [RunRecord], gridGroups: [String: String]? = nil) {
        self.name = name
        self.records = records
        self.gridGroups = gridGroups
    }

    /// The report of `plan`'s finished runs, grouped as the plan says.
    init(plan: ExperimentPlan, records: [RunRecord]) {
        var gridGroups: [String: String]?
        if plan.grid != nil {
            gridGroups = [:]
            for run in plan.runs { if let label = run.variant, let variant = run.variantName { gridGroups![label] = variant } }
        }
        self.init(name: plan.base.name, records: records, gridGroups: gridGroups)
    }

    /// Variant names in order of first appearance (`nil` variants are "network").
    var variantOrder: [String] {
        var seen: [String] = []
        for record in records where !seen.contains(record.metrics.variant ?? "network") { seen.append(record.metrics.variant ?? "network") }
        return seen
    }

    func records(of variant: String) -> [RunRecord] { records.filter { ($0.metrics.variant ?? "network") == variant } }

    /// The group of a variant label: the part before its first dot, or for a grid sweep its variant.
    func group(of variant: String) -> String? {
        if let gridGroups { return gridGroups[variant] }
        return variant.firstIndex(of: ".").map { String(variant[..<$0]) }
    }

    /// Groups of variants named `group.name` (grid sweeps: the variants), in order; empty when no variant has a group.
    var groups: [String] {
        var seen: [String] = []
        for variant in variantOrder {
            guard let group = group(of: variant) else { continue }
            if !seen.contains(group) { seen.append(group) }
        }
        return seen
    }

    public func write(to folder: String) throws {
        try ExtrapolationCSV.write(records.map(\.extrapolation), to: folder + "/extrapolation.csv")
        try GrowthPlot(runs: records.map(\.extrapolation)).write(to: folder + "/extrapolation.svg")
        if records.contains(where: { $0.curve != nil }) {
            try predictionPlot(records, title: "Predictions far from the training data").write(to: folder + "/prediction.svg")
        }
        for group in groups {
            let members = records.filter { $0.metrics.variant.flatMap(self.group(of:)) == group }
            try GrowthPlot(runs: members.map(\.extrapolation), title: "\(group): growth along rays x \u{2192} \u{03BB}x")
                .write(to: folder + "/extrapolation-\(fileSafe(group)).svg")
            if members.contains(where: { $0.curve != nil }) {
                try predictionPlot(members, title: "\(group): predictions far from the training data")
                    .write(to: folder + "/prediction-\(fileSafe(group)).svg")
            }
        }
        try writeJSON(json, to: folder + "/metrics.json")
    }

    /// Per variant: runs, growth exponent (mean and 95% interval), mean final loss, R² if known.
    public var json: JSONValue {
        .object([
            JSONMember("name", .string(name)),
            JSONMember("variants", .array(variantOrder.map { variant in
                let runs = records(of: variant)
                var members = [
                    JSONMember("variant", .string(variant)),
                    JSONMember("seeds", .array(runs.map { .number($0.metrics.seed) })),
                    JSONMember("growth", GrowthCurveSummary(runs.map(\.metrics.extrapolation)).json),
                    JSONMember("meanFinalTrainLoss", .number(mean(runs.map(\.metrics.finalTrainLoss)))),
                ]
                for split in DataSplit.allCases {
                    let values = finiteRSquared(runs, on: split)
                    if !values.isEmpty {
                        members.append(JSONMember("mean" + split.rSquaredKey.prefix(1).uppercased() + split.rSquaredKey.dropFirst(),
                                                  .number(mean(values))))
                    }
                }
                return .object(members)
            })),
            JSONMember("runs", .array(records.map { record in
                .object([JSONMember("variant", record.metrics.variant.map { .string($0) } ?? .null),
                         JSONMember("seed", .number(record.metrics.seed)),
                         JSONMember("growthExponent", .number(record.metrics.extrapolation.growthExponent)),
                         JSONMember("finalTrainLoss", .number(record.metrics.finalTrainLoss)),
                         JSONMember("wallTimeSeconds", .number(record.metrics.wallTimeSeconds))])
            })),
        ])
    }

    /// The runs' R² on `split` that are numbers (a NaN R², written as `null`, is left out of the mean).
    func finiteRSquared(_ runs: [RunRecord], on split: DataSplit) -> [Double] {
        runs.compactMap { $0.metrics.rSquared[split] }.filter(\.isFinite)
    }

    /// The table for the terminal: one line per variant.
    public var terminalText: String {
        let hasR2 = records.contains { $0.metrics.rSquared.test != nil }
        // Grid cells' names run long: the column fits the longest.
        let nameWidth = max(22, (variantOrder.map(\.count).max() ?? 0) + 2)
        var header = pad("variant", nameWidth) + pad("seeds", 7) + pad("growth exponent", 34) + pad("train loss", 12)
        if hasR2 { header += pad("R² train", 10) + pad("R² val", 10) + pad("R² test", 10) }
        var lines = [header]
        for variant in variantOrder {
            let runs = records(of: variant)
            let exponent = MeanWithInterval(runs.map(\.metrics.extrapolation.growthExponent))
            var exponentText = compact(exponent.mean, digits: 3)
            if runs.count > 1 { exponentText += " ± " + compact((exponent.upper - exponent.lower) / 2, digits: 2) }
            exponentText += " (" + ExtrapolationTable.verdict(exponent.mean) + ")"
            var line = pad(variant, nameWidth) + pad("\(runs.count)", 7) + pad(exponentText, 34)
                + pad(compact(mean(runs.map(\.metrics.finalTrainLoss)), digits: 3), 12)
            if hasR2 {
                for split in DataSplit.allCases {
                    let values = finiteRSquared(runs, on: split)
                    line += pad(values.isEmpty ? "-" : compact(mean(values), digits: 3), 10)
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

/// A name usable as part of a file name.
func fileSafe(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
}
