/// The training loss at one point of training.
public struct LossRecord: Sendable, Equatable {
    /// Epochs completed when the loss was recorded.
    public var epoch: Int
    public var loss: Double

    public init(epoch: Int, loss: Double) {
        self.epoch = epoch
        self.loss = loss
    }
}

/// What `metrics.json` records about one run. Written with a fixed key order, so two runs'
/// files can be compared with `diff`.
public struct RunMetrics: Sendable {
    public var name: String
    /// The variant's name, or nil for a config without variants.
    public var variant: String?
    public var seed: UInt64
    public var precision: Precision
    /// BLAS threads the run used.
    public var threads: Int
    public var wallTimeSeconds: Double
    /// The training loss every `logEvery` epochs.
    public var lossCurve: [LossRecord]
    public var finalTrainLoss: Double
    /// Epochs actually run (fewer than configured when `targetLoss` stopped training early).
    public var epochsRun: Int
    public var extrapolation: ExtrapolationTable
    /// Further results in order, e.g. `validationR2` or `testR2` for CSV data.
    public var extra: [JSONMember]

    public init(name: String, variant: String? = nil, seed: UInt64, precision: Precision, threads: Int,
                wallTimeSeconds: Double, lossCurve: [LossRecord], finalTrainLoss: Double, epochsRun: Int,
                extrapolation: ExtrapolationTable, extra: [JSONMember] = []) {
        self.name = name
        self.variant = variant
        self.seed = seed
        self.precision = precision
        self.threads = threads
        self.wallTimeSeconds = wallTimeSeconds
        self.lossCurve = lossCurve
        self.finalTrainLoss = finalTrainLoss
        self.epochsRun = epochsRun
        self.extrapolation = extrapolation
        self.extra = extra
    }

    /// The metrics as JSON. The loss curve is two parallel lists (`epoch`, `loss`); the
    /// extrapolation table one object per lambda. Non-finite numbers (a diverged loss) are `null`.
    public var json: JSONValue {
        var members = [JSONMember("name", .string(name))]
        if let variant { members.append(JSONMember("variant", .string(variant))) }
        members += [
            JSONMember("seed", .number(seed)),
            JSONMember("precision", .string(precision.rawValue)),
            JSONMember("threads", .number(threads)),
            JSONMember("wallTimeSeconds", .number(wallTimeSeconds)),
            JSONMember("epochsRun", .number(epochsRun)),
            JSONMember("finalTrainLoss", .number(finalTrainLoss)),
            JSONMember("lossCurve", .object([
                JSONMember("epoch", .array(lossCurve.map { .number($0.epoch) })),
                JSONMember("loss", .array(lossCurve.map { .number($0.loss) })),
            ])),
            JSONMember("extrapolation", extrapolation.json),
        ]
        members += extra
        return .object(members)
    }

    /// Writes ``json`` to `path` atomically, with a final newline.
    public func write(to path: String) throws(FileError) {
        try writeJSON(json, to: path)
    }
}

extension ExtrapolationTable {
    /// `{"growthExponent": e, "points": [{"lambda": ..., "maxAbs": ..., "meanAbs": ...}, ...]}`.
    public var json: JSONValue {
        .object([
            JSONMember("growthExponent", .number(growthExponent)),
            JSONMember("points", .array(points.map { point in
                .object([JSONMember("lambda", .number(point.lambda)), JSONMember("maxAbs", .number(point.maxAbs)),
                         JSONMember("meanAbs", .number(point.meanAbs))])
            })),
        ])
    }
}

extension GrowthCurveSummary {
    /// The summary as JSON: runs, the growth exponent's mean and 95% interval, and per lambda the
    /// geometric mean of max|f| with its band.
    public var json: JSONValue {
        .object([
            JSONMember("runs", .number(runCount)),
            JSONMember("growthExponent", .object([
                JSONMember("mean", .number(growthExponent.mean)),
                JSONMember("lower95", .number(growthExponent.lower)),
                JSONMember("upper95", .number(growthExponent.upper)),
            ])),
            JSONMember("lambda", .array(lambdas.map { .number($0) })),
            JSONMember("geometricMeanMaxAbs", .array(center.map { .number($0) })),
            JSONMember("lower95", .array(lower.map { .number($0) })),
            JSONMember("upper95", .array(upper.map { .number($0) })),
        ])
    }
}

/// Writes a JSON value as pretty text with a final newline, atomically.
public func writeJSON(_ value: JSONValue, to path: String) throws(FileError) {
    do {
        try AtomicFile.write(value.rendered(style: .pretty) + "\n", to: path)
    } catch let error as FileError {
        throw error
    } catch {
        throw FileError(path: path, problem: "\(error)")
    }
}
