/// What `metrics.json` records about a run's empirical NTK (`"kernelDrift"`), its dispersion at
/// initialisation (`"kernelDispersion"`) and the gradient-descent stability number
/// (`"gradientDescentStability"`): typed fields, each written and read back here. A sweep's table
/// (`phase.csv`) reads the end values from these keys.

/// The end of a run's kernel drift (`kernel.csv` holds every measurement).
public struct KernelDriftSummary: Sendable, Equatable {
    /// Probe points: the first this many training points.
    public var probePoints: Int
    /// Epochs between measurements.
    public var every: Int
    /// Theta_0's measurement (epoch 0) and the last one (the epoch training ended).
    public var initial: KernelDriftRecord
    public var final: KernelDriftRecord
    /// What `kernelDistanceToAnalytic` compares with ("analytic NTK"), or why it is absent.
    public var analyticKernel: String

    public init(probePoints: Int, every: Int, initial: KernelDriftRecord, final: KernelDriftRecord, analyticKernel: String) {
        self.probePoints = probePoints
        self.every = every
        self.initial = initial
        self.final = final
        self.analyticKernel = analyticKernel
    }

    /// `{"probePoints", "every", "epoch", "kernelChange", "kernelDistanceToAnalytic", "initialKernelDistanceToAnalytic",
    /// "topEigenvalue", "initialTopEigenvalue", "alignment", "initialAlignment", "analyticKernel"}`; the distances
    /// are `null` without an analytic kernel.
    public var json: JSONValue {
        .object([
            JSONMember("probePoints", .number(probePoints)),
            JSONMember("every", .number(every)),
            JSONMember("epoch", .number(final.epoch)),
            JSONMember("kernelChange", .number(final.kernelChange)),
            JSONMember("kernelDistanceToAnalytic", final.distanceToAnalytic.map { .number($0) } ?? .null),
            JSONMember("initialKernelDistanceToAnalytic", initial.distanceToAnalytic.map { .number($0) } ?? .null),
            JSONMember("topEigenvalue", .number(final.topEigenvalue)),
            JSONMember("initialTopEigenvalue", .number(initial.topEigenvalue)),
            JSONMember("alignment", .number(final.alignment)),
            JSONMember("initialAlignment", .number(initial.alignment)),
            JSONMember("analyticKernel", .string(analyticKernel)),
        ])
    }

    /// Reads back ``json`` (nil when a field is missing).
    public init?(json: JSONValue) {
        guard let probePoints = json["probePoints"]?.integerValue, let every = json["every"]?.integerValue,
              let epoch = json["epoch"]?.integerValue, case .string(let analyticKernel)? = json["analyticKernel"] else { return nil }
        func number(_ key: String) -> Double { json[key]?.doubleValue ?? .nan }
        self.init(probePoints: probePoints, every: every,
                  initial: KernelDriftRecord(epoch: 0, kernelChange: 0, distanceToAnalytic: json["initialKernelDistanceToAnalytic"]?.doubleValue,
                                             topEigenvalue: number("initialTopEigenvalue"), alignment: number("initialAlignment")),
                  final: KernelDriftRecord(epoch: epoch, kernelChange: number("kernelChange"),
                                           distanceToAnalytic: json["kernelDistanceToAnalytic"]?.doubleValue,
                                           topEigenvalue: number("topEigenvalue"), alignment: number("alignment")),
                  analyticKernel: analyticKernel)
    }
}

/// The dispersion of the NTK at initialisation, averaged over the probe points
/// (`kernel-dispersion.csv` holds each point's).
public struct KernelDispersionSummary: Sendable, Equatable {
    public var initializations: Int
    public var probePoints: Int
    /// The mean over points of R = E[Theta_0(x,x)^2] / E[Theta_0(x,x)]^2, with its bootstrap 95% interval.
    public var meanRatio: Double
    public var meanRatioLow: Double
    public var meanRatioHigh: Double

    public init(_ dispersion: KernelDispersion) {
        self.init(initializations: dispersion.initializations, probePoints: dispersion.points.count,
                  meanRatio: dispersion.mean.ratio, meanRatioLow: dispersion.mean.low, meanRatioHigh: dispersion.mean.high)
    }

    public init(initializations: Int, probePoints: Int, meanRatio: Double, meanRatioLow: Double, meanRatioHigh: Double) {
        self.initializations = initializations
        self.probePoints = probePoints
        self.meanRatio = meanRatio
        self.meanRatioLow = meanRatioLow
        self.meanRatioHigh = meanRatioHigh
    }

    /// `{"initializations", "probePoints", "meanRatio", "meanRatioLow", "meanRatioHigh"}`.
    public var json: JSONValue {
        .object([
            JSONMember("initializations", .number(initializations)),
            JSONMember("probePoints", .number(probePoints)),
            JSONMember("meanRatio", .number(meanRatio)),
            JSONMember("meanRatioLow", .number(meanRatioLow)),
            JSONMember("meanRatioHigh", .number(meanRatioHigh)),
        ])
    }

    public init?(json: JSONValue) {
        guard let initializations = json["initializations"]?.integerValue, let probePoints = json["probePoints"]?.integerValue else {
            return nil
        }
        self.init(initializations: initializations, probePoints: probePoints, meanRatio: json["meanRatio"]?.doubleValue ?? .nan,
                  meanRatioLow: json["meanRatioLow"]?.doubleValue ?? .nan, meanRatioHigh: json["meanRatioHigh"]?.doubleValue ?? .nan)
    }
}

extension GradientDescentStability {
    /// `{"number", "criticalValue", "largestEigenvalue", "learningRate", "points", "trainingPoints"}`.
    public var json: JSONValue {
        .object([
            JSONMember("number", .number(number)),
            JSONMember("criticalValue", .number(Self.criticalValue)),
            JSONMember("largestEigenvalue", .number(largestEigenvalue)),
            JSONMember("learningRate", .number(learningRate)),
            JSONMember("points", .number(points)),
            JSONMember("trainingPoints", .number(trainingPoints)),
        ])
    }

    public init?(json: JSONValue) {
        guard let points = json["points"]?.integerValue, let trainingPoints = json["trainingPoints"]?.integerValue else { return nil }
        self.init(number: json["number"]?.doubleValue ?? .nan, largestEigenvalue: json["largestEigenvalue"]?.doubleValue ?? .nan,
                  learningRate: json["learningRate"]?.doubleValue ?? .nan, points: points, trainingPoints: trainingPoints)
    }
}
