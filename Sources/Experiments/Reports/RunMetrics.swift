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
    /// Whether `targetLoss` stopped training early; nil for a run that did not train (infinite
    /// width) or did not finish.
    public var stoppedEarly: Bool?
    /// R² on each split the data has (NaN where it is not a number).
    public var rSquared: RSquaredBySplit
    /// Set for a `width: "infinite"` run: kernel regression in place of training.
    public var infiniteWidth: InfiniteWidthFit?
    /// Why training stopped, for a run that diverged (`metrics-partial.json`).
    public var divergence: String?
    /// Why a run that trained to its end failed all the same (``UnusableResultsError``): its
    /// results are not numbers anyone can use. Written as `"status": "failed"` and `"error"`.
    public var failure: String?
    /// (1/N) sum_i ||df/dx(x_i)||_F^2 over the training inputs (`JacobianNorms`), where measured.
    public var meanSquaredJacobianNorm: Double?

    public init(name: String, variant: String? = nil, seed: UInt64, precision: Precision, threads: Int,
                wallTimeSeconds: Double, lossCurve: [LossRecord], finalTrainLoss: Double, epochsRun: Int,
                extrapolation: ExtrapolationTable, stoppedEarly: Bool? = nil, rSquared: RSquaredBySplit = .init(),
                infiniteWidth: InfiniteWidthFit? = nil, divergence: String? = nil, failure: String? = nil) {
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
        self.stoppedEarly = stoppedEarly
        self.rSquared = rSquared
        self.infiniteWidth = infiniteWidth
        self.divergence = divergence
        self.failure = failure
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
        return .object(members + resultMembers)
    }

    /// The members after the fixed ones, as `metrics.json` holds them: the infinite-width fit,
    /// `stoppedEarly`, the divergence, R² per split.
    public var resultMembers: [JSONMember] {
        var members: [JSONMember] = []
        if let infiniteWidth {
            members += [JSONMember("width", .string("infinite")), JSONMember("kernel", .string(infiniteWidth.kernel)),
                        JSONMember("jitter", .number(infiniteWidth.jitter))]
        }
        if let stoppedEarly { members.append(JSONMember("stoppedEarly", .bool(stoppedEarly))) }
        if let meanSquaredJacobianNorm { members.append(JSONMember("meanSquaredJacobianNorm", .number(meanSquaredJacobianNorm))) }
        if let divergence { members += [JSONMember("status", .string("diverged")), JSONMember("error", .string(divergence))] }
        for split in DataSplit.allCases {
            if let value = rSquared[split] { members.append(JSONMember(split.rSquaredKey, .number(value))) }
        }
        if let failure { members += [JSONMember("status", .string("failed")), JSONMember("error", .string(failure))] }
        return members
    }

    @available(*, deprecated, renamed: "resultMembers", message: "read the typed fields (rSquared, stoppedEarly, infiniteWidth)")
    public var extra: [JSONMember] { resultMembers }

    /// Writes ``json`` to `path` atomically, with a final newline.
    public func write(to path: String) throws(FileError) {
        try writeJSON(json, to: path)
    }
}

/// The parts of a data set a run is scored on.
public enum DataSplit: String, Sendable, CaseIterable {
    case train
    /// In distribution, held out from training.
    case validation
    /// Out of distribution (a covariate-shift split's far side).
    case test

    /// The split's key in `metrics.json`: `trainR2`, `validationR2`, `testR2`.
    public var rSquaredKey: String { rawValue + "R2" }
}

/// R² per split; nil for a split the data does not have.
public struct RSquaredBySplit: Sendable, Equatable {
    public var train: Double?
    public var validation: Double?
    public var test: Double?

    public init(train: Double? = nil, validation: Double? = nil, test: Double? = nil) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    public subscript(split: DataSplit) -> Double? {
        get {
            switch split {
            case .train: train
            case .validation: validation
            case .test: test
            }
        }
        set {
            switch split {
            case .train: train = newValue
            case .validation: validation = newValue
            case .test: test = newValue
            }
        }
    }
}

/// What an infinite-width run reports in place of training: the kernel regressed with and the
/// jitter its Cholesky factorisation needed.
public struct InfiniteWidthFit: Sendable, Equatable {
    /// `ntk`: f(x*) = Θ(x*, X) Θ(X, X)^-1 y with the analytic NTK.
    public var kernel: String
    public var jitter: Double

    public init(kernel: String = "ntk", jitter: Double) {
        self.kernel = kernel
        self.jitter = jitter
    }
}

extension RunMetrics {
    /// Reads back what ``json`` wrote (nil when a required field is missing).
    public init?(json: JSONValue) {
        func string(_ key: String) -> String? { json[key].flatMap { if case .string(let text) = $0 { text } else { nil } } }
        guard let name = string("name"),
              let seed = json["seed"]?.unsignedIntegerValue,
              let precisionText = string("precision"),
              let precision = Precision(rawValue: precisionText),
              let threads = json["threads"]?.integerValue,
              let epochsRun = json["epochsRun"]?.integerValue,
              case .array(let epochs)? = json["lossCurve"]?["epoch"], case .array(let losses)? = json["lossCurve"]?["loss"],
              case .array(let points)? = json["extrapolation"]?["points"]
        else { return nil }
        let table = ExtrapolationTable(points: points.map {
            ExtrapolationPoint(lambda: $0["lambda"]?.doubleValue ?? .nan, maxAbs: $0["maxAbs"]?.doubleValue ?? .nan,
                               meanAbs: $0["meanAbs"]?.doubleValue ?? .nan, jacobianNorm: $0["jacobianNorm"]?.doubleValue)
        })
        var rSquared = RSquaredBySplit()
        for split in DataSplit.allCases {
            // `null` is an R² that was not a number.
            if let value = json[split.rSquaredKey] { rSquared[split] = value.doubleValue ?? .nan }
        }
        self.init(name: name, variant: string("variant"), seed: seed, precision: precision, threads: threads,
                  wallTimeSeconds: json["wallTimeSeconds"]?.doubleValue ?? .nan,
                  lossCurve: zip(epochs, losses).map { LossRecord(epoch: $0.integerValue ?? 0, loss: $1.doubleValue ?? .nan) },
                  finalTrainLoss: json["finalTrainLoss"]?.doubleValue ?? .nan, epochsRun: epochsRun, extrapolation: table,
                  stoppedEarly: json["stoppedEarly"].flatMap { if case .bool(let flag) = $0 { flag } else { nil } },
                  rSquared: rSquared,
                  infiniteWidth: string("width") == "infinite"
                      ? InfiniteWidthFit(kernel: string("kernel") ?? "ntk", jitter: json["jitter"]?.doubleValue ?? .nan) : nil,
                  divergence: string("status") == "diverged" ? string("error") ?? "" : nil,
                  failure: string("status") == "failed" ? string("error") ?? "the run failed (metrics.json gives no reason)" : nil)
        meanSquaredJacobianNorm = json["meanSquaredJacobianNorm"]?.doubleValue
    }
}

extension ExtrapolationTable {
    /// `{"growthExponent": e, "points": [{"lambda": ..., "maxAbs": ..., "meanAbs": ...}, ...]}`.
    public var json: JSONValue {
        .object([
            JSONMember("growthExponent", .number(growthExponent)),
            JSONMember("points", .array(points.map { point in
                .object([JSONMember("lambda", .number(point.lambda)), JSONMember("maxAbs", .number(point.maxAbs)),
                         JSONMember("meanAbs", .number(point.meanAbs))]
                        + (point.jacobianNorm.map { [JSONMember("jacobianNorm", .number($0))] } ?? []))
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
