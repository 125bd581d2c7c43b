/// Where the training data comes from: a synthetic target (this file) or a CSV file
/// (`CSVDataConfig.swift`).
public enum DataConfig: Sendable, Equatable {
    case synthetic(SyntheticDataConfig)
    case csv(CSVDataConfig)

    /// The `kind` key's value.
    public var kind: String {
        switch self {
        case .synthetic: "synthetic"
        case .csv: "csv"
        }
    }

    /// The input dimension if the config alone fixes it (the feature count for CSV data).
    /// Outputs of the network: the number of classes for classification, else 1.
    public var outputSize: Int {
        if case .csv(let csv) = self, let classes = csv.classes { return classes }
        return 1
    }

    /// Class count for classification (CSV data with `classes`), nil for regression.
    public var classes: Int? {
        if case .csv(let csv) = self { return csv.classes }
        return nil
    }

    public var inputDim: Int {
        switch self {
        case .synthetic(let synthetic): synthetic.inputDim
        case .csv(let csv): csv.features.count
        }
    }
}

/// A target function of the inputs, sampled at `trainSize` uniform random points of the box
/// `[domain.lower, domain.upper]^inputDim`. See ``SyntheticTarget`` for the functions.
public struct SyntheticDataConfig: Sendable, Equatable {
    public static let defaultTarget = SyntheticTarget.sin
    public static let defaultInputDim = 1
    public static let defaultTrainSize = 100
    public static let defaultDomain = Interval(lower: -1, upper: 1)

    public var target: SyntheticTarget
    public var inputDim: Int
    public var trainSize: Int
    /// The interval each input coordinate is drawn from; `lower < upper`.
    public var domain: Interval

    public init(target: SyntheticTarget = SyntheticDataConfig.defaultTarget, inputDim: Int = SyntheticDataConfig.defaultInputDim,
                trainSize: Int = SyntheticDataConfig.defaultTrainSize, domain: Interval = SyntheticDataConfig.defaultDomain) {
        self.target = target
        self.inputDim = inputDim
        self.trainSize = trainSize
        self.domain = domain
    }
}

/// A closed interval `[lower, upper]` of real numbers.
public struct Interval: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public init(lower: Double, upper: Double) {
        self.lower = lower
        self.upper = upper
    }
    public var width: Double { upper - lower }
    public var midpoint: Double { (lower + upper) / 2 }
    public func contains(_ value: Double) -> Bool { value >= lower && value <= upper }
}

// MARK: - Decoding

extension DataConfig {
    static let syntheticKeys = ["kind", "target", "inputDim", "trainSize", "domain"]
    static let csvKeys = ["kind", "path", "features", "target", "standardize", "split", "source", "classes", "firstRows"]

    static func decode(_ object: ConfigObject?, context: DecodingContext) -> DataConfig {
        guard let object else { return .synthetic(SyntheticDataConfig()) }
        let kindPath = object.path.appending("kind")
        let kind = object.value("kind", default: "synthetic") { node -> String? in
            guard case .string(let text) = node.value, ["synthetic", "csv"].contains(text) else {
                return node.mismatch(ConfigNode.oneOf(["synthetic", "csv"]))
            }
            return text
        }
        if kind == "csv" {
            let config = CSVDataConfig.decode(object)
            let notCSV = ConfigObject.Inapplicable(reason: "to \"kind\": \"csv\" data", decidedBy: [kindPath])
            object.finish(known: csvKeys, inapplicable: ["inputDim": notCSV, "trainSize": notCSV, "domain": notCSV])
            return .csv(config)
        }
        let synthetic = SyntheticDataConfig.decode(object)
        let notSynthetic = ConfigObject.Inapplicable(reason: "to \"kind\": \"synthetic\" data", decidedBy: [kindPath])
        object.finish(known: syntheticKeys,
                      inapplicable: ["path": notSynthetic, "features": notSynthetic, "standardize": notSynthetic,
                                     "split": notSynthetic, "source": notSynthetic, "classes": notSynthetic,
                                     "firstRows": notSynthetic])
        return .synthetic(synthetic)
    }
}

extension SyntheticDataConfig {
    /// The synthetic keys of a `data` object (the caller reports leftovers).
    static func decode(_ object: ConfigObject) -> SyntheticDataConfig {
        var synthetic = SyntheticDataConfig()
        synthetic.target = object.value("target", default: defaultTarget) { $0.choice(SyntheticTarget.self) }
        synthetic.inputDim = object.value("inputDim", default: defaultInputDim) {
            $0.integer("a positive integer", in: 1...largestSize)
        }
        synthetic.trainSize = object.value("trainSize", default: defaultTrainSize) {
            $0.integer("a positive integer", in: 1...largestSize)
        }
        synthetic.domain = object.value("domain", default: defaultDomain) { node in
            guard case .array(let bounds) = node.value, bounds.count == 2,
                  let lower = bounds[0].doubleValue, let upper = bounds[1].doubleValue,
                  lower.isFinite, upper.isFinite, lower < upper else {
                return node.mismatch("a list [lower, upper] of two finite numbers with lower < upper")
            }
            return Interval(lower: lower, upper: upper)
        }
        return synthetic
    }
}

// MARK: - Encoding

extension DataConfig {
    /// The `data` section as JSON.
    public var json: JSONValue {
        switch self {
        case .synthetic(let synthetic):
            return .object([
                JSONMember("kind", .string("synthetic")),
                JSONMember("target", .string(synthetic.target.rawValue)),
                JSONMember("inputDim", .number(synthetic.inputDim)),
                JSONMember("trainSize", .number(synthetic.trainSize)),
                JSONMember("domain", .array([.number(synthetic.domain.lower), .number(synthetic.domain.upper)])),
            ])
        case .csv(let csv):
            return csv.json
        }
    }
}
