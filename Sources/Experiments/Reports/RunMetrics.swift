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
    /// Whether `targetLoss` or `earlyStop` stopped training early; nil for a run that did not
    /// train (infinite width) or did not finish.
    public var stoppedEarly: Bool?
    /// Why training ended (`"stopReason"`: `epochs`, `targetLoss`, `earlyStop`, `diverged`); nil
    /// for a run that did not train. The epoch it ended at is ``epochsRun``.
    public var stopReason: StopReason?
    /// The smallest training loss of any epoch (`"minimumTrainLoss"`); nil for a run that did not train.
    public var minimumTrainLoss: Double?
    /// The empirical NTK's drift on the probe points (`evaluation.kernel`); nil without it.
    public var kernelDrift: KernelDriftSummary?
    /// The NTK's dispersion over independent initialisations (`evaluation.kernel.initializations`).
    public var kernelDispersion: KernelDispersionSummary?
    /// `eta * lambda_max(Theta_0) / n` for plain gradient descent (SGD, full batch, no momentum).
    public var gradientDescentStability: GradientDescentStability?
    /// R² on each split the data has (NaN where it is not a number).
    public var rSquared: RSquaredBySplit
    /// For classification (`data.classes`): the fraction of rows whose largest output is their
    /// class, per split (R² is then not computed). Keys `trainAccuracy`, `validationAccuracy`, `testAccuracy`.
    public var accuracy = AccuracyBySplit()
    /// For gradient flow: t, tolerances, gradient evaluations, accepted and rejected steps.
    public var gradientFlow: GradientFlowSummary?
    /// Set for a `width: "infinite"` run: kernel regression in place of training.
    public var infiniteWidth: InfiniteWidthFit?
    /// Why training stopped, for a run that diverged (`metrics-partial.json`).
    public var divergence: String?
    /// Set with `evaluation.linearized`: the network linearised at its initialisation.
    public var linearized: LinearizedSummary?
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
            if let bound = infiniteWidth.outputBound { members.append(JSONMember("outputBound", bound.json)) }
            if let minimum = infiniteWidth.gramEigenvalueMinimum, let maximum = infiniteWidth.gramEigenvalueMaximum {
                members += [JSONMember("gramEigenvalueMin", .number(minimum)), JSONMember("gramEigenvalueMax", .number(maximum))]
            }
        }
        if let stoppedEarly { members.append(JSONMember("stoppedEarly", .bool(stoppedEarly))) }
        if let stopReason { members.append(JSONMember("stopReason", .string(stopReason.rawValue))) }
        if let minimumTrainLoss { members.append(JSONMember("minimumTrainLoss", .number(minimumTrainLoss))) }
        if let gradientDescentStability { members.append(JSONMember("gradientDescentStability", gradientDescentStability.json)) }
        if let kernelDrift { members.append(JSONMember("kernelDrift", kernelDrift.json)) }
        if let kernelDispersion { members.append(JSONMember("kernelDispersion", kernelDispersion.json)) }
        if let linearized { members.append(JSONMember("linearized", linearized.json)) }
        if let meanSquaredJacobianNorm { members.append(JSONMember("meanSquaredJacobianNorm", .number(meanSquaredJacobianNorm))) }
        if let divergence { members += [JSONMember("status", .string("diverged")), JSONMember("error", .string(divergence))] }
        for split in DataSplit.allCases {
            if let value = rSquared[split] { members.append(JSONMember(split.rSquaredKey, .number(value))) }
        }
        for split in DataSplit.allCases {
            if let value = accuracy[split] { members.append(JSONMember(split.rawValue + "Accuracy", .number(value))) }
        }
        if let gradientFlow { members.append(JSONMember("gradientFlow", gradientFlow.json)) }
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

/// Accuracy per split, in the same per-split holder as R² (nil for a split the data does not have).
public typealias AccuracyBySplit = RSquaredBySplit

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

/// What an infinite-width run reports in place of training: the kernel regressed with, the
/// jitter its Cholesky factorisation needed, and the bound on its outputs.
public struct InfiniteWidthFit: Sendable, Equatable {
    /// `ntk`: f(x*) = Θ(x*, X) Θ(X, X)^-1 y with the analytic NTK; `jacobianNTK`: the
    /// robust-training predictor (`JacobianPenaltyRegression`) with the Jacobian NTK.
    public var kernel: String
    public var jitter: Double
    public var outputBound: OutputBound?
    /// The smallest and largest eigenvalues of the kernel's Gram Θ_J(X, X) before the jitter
    /// (the Jacobian NTK's runs report them: its Gram is far worse conditioned than the NTK's).
    public var gramEigenvalueMinimum: Double?, gramEigenvalueMaximum: Double?

    public init(kernel: String = "ntk", jitter: Double, outputBound: OutputBound? = nil,
                gramEigenvalueMinimum: Double? = nil, gramEigenvalueMaximum: Double? = nil) {
        self.kernel = kernel
        self.jitter = jitter
        self.outputBound = outputBound
        self.gramEigenvalueMinimum = gramEigenvalueMinimum
        self.gramEigenvalueMaximum = gramEigenvalueMaximum
    }
}

/// The core bound sup|f| <= sqrt(C / lambda_min(Θ(X, X))) ||y||_2 beside the largest |f| seen.
/// C is sup Θ(x, x) over the points measured (the extrapolation rays), so the bound holds on
/// those points; with LayerNorm Θ(x, x) is bounded everywhere, without it grows along the rays.
public struct OutputBound: Sendable, Equatable {
    /// sqrt(C / lambda_min) ||y||_2.
    public var bound: Double
    /// max |f| over the rays.
    public var observedMaximum: Double
    /// C = sup Θ(x, x) over the rays.
    public var supremumOfNTKDiagonal: Double
    /// lambda_min of Θ(X, X) + jitter I (the matrix inverted).
    public var smallestEigenvalue: Double
    /// ||y||_2 of the training targets.
    public var targetNorm: Double

    public init(bound: Double, observedMaximum: Double, supremumOfNTKDiagonal: Double, smallestEigenvalue: Double, targetNorm: Double) {
        self.bound = bound
        self.observedMaximum = observedMaximum
        self.supremumOfNTKDiagonal = supremumOfNTKDiagonal
        self.smallestEigenvalue = smallestEigenvalue
        self.targetNorm = targetNorm
    }

    var json: JSONValue {
        .object([JSONMember("bound", .number(bound)), JSONMember("observedMaximum", .number(observedMaximum)),
                 JSONMember("supremumOfNTKDiagonal", .number(supremumOfNTKDiagonal)),
                 JSONMember("smallestEigenvalue", .number(smallestEigenvalue)), JSONMember("targetNorm", .number(targetNorm))])
    }

    init?(json: JSONValue?) {
        guard let json, case .object = json else { return nil }
        func number(_ key: String) -> Double { json[key]?.doubleValue ?? .nan }
        self.init(bound: number("bound"), observedMaximum: number("observedMaximum"), supremumOfNTKDiagonal: number("supremumOfNTKDiagonal"),
                  smallestEigenvalue: number("smallestEigenvalue"), targetNorm: number("targetNorm"))
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
                               meanAbs: $0["meanAbs"]?.doubleValue ?? .nan,
                               variance: $0["variance"].map { $0.doubleValue ?? .nan }, jacobianNorm: $0["jacobianNorm"]?.doubleValue)
        })
        var rSquared = RSquaredBySplit(), accuracy = AccuracyBySplit()
        for split in DataSplit.allCases {
            // `null` is an R² that was not a number.
            if let value = json[split.rSquaredKey] { rSquared[split] = value.doubleValue ?? .nan }
            if let value = json[split.rawValue + "Accuracy"] { accuracy[split] = value.doubleValue ?? .nan }
        }
        self.init(name: name, variant: string("variant"), seed: seed, precision: precision, threads: threads,
                  wallTimeSeconds: json["wallTimeSeconds"]?.doubleValue ?? .nan,
                  lossCurve: zip(epochs, losses).map { LossRecord(epoch: $0.integerValue ?? 0, loss: $1.doubleValue ?? .nan) },
                  finalTrainLoss: json["finalTrainLoss"]?.doubleValue ?? .nan, epochsRun: epochsRun, extrapolation: table,
                  stoppedEarly: json["stoppedEarly"].flatMap { if case .bool(let flag) = $0 { flag } else { nil } },
                  rSquared: rSquared,
                  infiniteWidth: string("width") == "infinite"
                      ? InfiniteWidthFit(kernel: string("kernel") ?? "ntk", jitter: json["jitter"]?.doubleValue ?? .nan,
                                         outputBound: OutputBound(json: json["outputBound"]),
                                         gramEigenvalueMinimum: json["gramEigenvalueMin"]?.doubleValue,
                                         gramEigenvalueMaximum: json["gramEigenvalueMax"]?.doubleValue) : nil,
                  divergence: string("status") == "diverged" ? string("error") ?? "" : nil,
                  failure: string("status") == "failed" ? string("error") ?? "the run failed (metrics.json gives no reason)" : nil)
        stopReason = string("stopReason").flatMap(StopReason.init(rawValue:))
        minimumTrainLoss = json["minimumTrainLoss"]?.doubleValue
        gradientDescentStability = json["gradientDescentStability"].flatMap(GradientDescentStability.init(json:))
        kernelDrift = json["kernelDrift"].flatMap(KernelDriftSummary.init(json:))
        kernelDispersion = json["kernelDispersion"].flatMap(KernelDispersionSummary.init(json:))
        linearized = json["linearized"].flatMap(LinearizedSummary.init(json:))
        self.accuracy = accuracy
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
                        + (point.variance.map { [JSONMember("variance", .number($0))] } ?? [])
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
