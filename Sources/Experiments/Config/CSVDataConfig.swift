/// Rows of a CSV file: named feature columns predict a named target column (`"kind": "csv"`).
public struct CSVDataConfig: Sendable, Equatable {
    public static let defaultStandardize = true

    /// The file, relative to the current directory unless absolute.
    public var path: String
    public var features: [String]
    public var target: String
    /// Standardise features and target to mean 0 and standard deviation 1, using statistics of
    /// the training rows only.
    public var standardize: Bool
    /// The covariate-shift split; nil means every row trains.
    public var split: CovariateShiftSplit?
    /// Where to get the file when it is not there (a data set too large or not ours to ship).
    public var source: String?
    /// For classification: the number of classes C. The target column then holds integers
    /// 0..<C (class labels, never standardised) and the network has C outputs (logits).
    public var classes: Int?
    /// Use only the file's first this many data rows (before any split); nil for every row.
    public var firstRows: Int?

    public init(path: String, features: [String], target: String, standardize: Bool = CSVDataConfig.defaultStandardize,
                split: CovariateShiftSplit? = nil, source: String? = nil, firstRows: Int? = nil) {
        self.firstRows = firstRows
        self.path = path
        self.features = features
        self.target = target
        self.standardize = standardize
        self.split = split
        self.source = source
    }
}

/// Rows with `column < below` are in distribution: a random `validationFraction` of them is the
/// validation set and the rest train. Rows with `column >= below` are the out-of-distribution
/// test set.
public struct CovariateShiftSplit: Sendable, Equatable {
    public static let defaultValidationFraction = 0.1

    public var column: String
    public var below: Double
    /// In `[0, 1)`.
    public var validationFraction: Double

    public init(column: String, below: Double, validationFraction: Double = CovariateShiftSplit.defaultValidationFraction) {
        self.column = column
        self.below = below
        self.validationFraction = validationFraction
    }
}

// MARK: - Decoding

extension CSVDataConfig {
    /// The CSV keys of a `data` object (the caller reports leftovers); `path`, `features` and
    /// `target` are required. `features` is a list of names, or `{"prefix": "p", "from": 0, "to": 63}`
    /// for the numbered columns `p0` ... `p63` (written out as a list in the resolved config).
    static func decode(_ object: ConfigObject) -> CSVDataConfig {
        var config = CSVDataConfig(path: "", features: [], target: "")
        if let path = object.take("path") {
            config.path = path.nonEmptyString() ?? ""
        } else {
            object.context.report(object.path.appending("path"), "missing; csv data needs the file's path, e.g. \"data/diabetes.csv\"")
        }
        if let features = object.take("features") {
            if case .object = features.value, let range = features.object() {
                config.features = decodeNumberedColumns(range)
            } else {
                config.features = decodeColumnNames(features)
            }
        } else {
            object.context.report(object.path.appending("features"), "missing; csv data needs a list of feature column names")
        }
        if let target = object.take("target") {
            config.target = target.nonEmptyString() ?? ""
            if config.features.contains(config.target) {
                target.report("the target column \"\(config.target)\" is also listed in features; a model would see its own answer")
            }
        } else {
            object.context.report(object.path.appending("target"), "missing; csv data needs the target column's name")
        }
        config.standardize = object.value("standardize", default: defaultStandardize) { $0.bool() }
        config.source = object.take("source")?.nonEmptyString()
        config.classes = object.take("classes").flatMap {
            $0.integer("an integer >= 2 (the target column then holds class labels 0 to classes - 1)", in: 2...1_000_000)
        }
        config.firstRows = object.take("firstRows").flatMap { $0.integer("a positive integer (rows of the file to use)", in: 1...largestSize) }
        if let split = object.take("split")?.object() {
            config.split = CovariateShiftSplit.decode(split)
        }
        return config
    }

    /// `{"prefix": "p", "from": 0, "to": 63}`: the names `p0`, `p1`, ..., `p63`.
    static func decodeNumberedColumns(_ range: ConfigObject) -> [String] {
        let prefix = range.take("prefix").flatMap { $0.string() }
        let from = range.take("from").flatMap { $0.integer("a whole number from 0", in: 0...largestSize) }
        let to = range.take("to").flatMap { $0.integer("a whole number from 0", in: 0...largestSize) }
        for key in ["prefix", "from", "to"] where !range.has(key) {
            range.context.report(range.path.appending(key), "missing; numbered columns need \"prefix\", \"from\" and \"to\", e.g. {\"prefix\": \"p\", \"from\": 0, \"to\": 63}")
        }
        range.finish(known: ["prefix", "from", "to"])
        guard let prefix, let from, let to else { return [] }
        guard from <= to else {
            range.context.report(range.path.appending("to"), "expected a number at least \"from\" (\(from)), found \(to)")
            return []
        }
        guard to - from < 1_000_000 else {
            range.context.report(range.path, "expected at most 1000000 columns, found \(to - from + 1)")
            return []
        }
        return (from...to).map { prefix + String($0) }
    }

    /// A non-empty list of distinct, non-empty column names.
    static func decodeColumnNames(_ node: ConfigNode) -> [String] {
        guard let elements = node.list() else { return [] }
        if elements.isEmpty {
            node.report("expected at least one column name, found an empty list")
            return []
        }
        var names: [String] = []
        for element in elements {
            guard let name = element.nonEmptyString() else { continue }
            if names.contains(name) {
                element.report("the column \"\(name)\" is listed twice")
            } else {
                names.append(name)
            }
        }
        return names
    }
}

extension CovariateShiftSplit {
    static func decode(_ split: ConfigObject) -> CovariateShiftSplit {
        var decoded = CovariateShiftSplit(column: "", below: 0)
        if let column = split.take("column") {
            decoded.column = column.nonEmptyString() ?? ""
        } else {
            split.context.report(split.path.appending("column"), "missing; the split needs the column to threshold")
        }
        if let below = split.take("below") {
            decoded.below = below.number("a finite number") ?? 0
        } else {
            split.context.report(split.path.appending("below"), "missing; rows with column < below are in distribution")
        }
        decoded.validationFraction = split.value("validationFraction", default: defaultValidationFraction) {
            $0.number("a number from 0 (no validation set) up to but not including 1") { $0 >= 0 && $0 < 1 }
        }
        split.finish(known: ["column", "below", "validationFraction"])
        return decoded
    }
}

// MARK: - Encoding

extension CSVDataConfig {
    /// The `data` section of CSV data as JSON.
    public var json: JSONValue {
        var members = [
            JSONMember("kind", .string("csv")),
            JSONMember("path", .string(path)),
            JSONMember("features", .array(features.map { .string($0) })),
            JSONMember("target", .string(target)),
            JSONMember("standardize", .bool(standardize)),
        ]
        if let split {
            members.append(JSONMember("split", .object([
                JSONMember("column", .string(split.column)),
                JSONMember("below", .number(split.below)),
                JSONMember("validationFraction", .number(split.validationFraction)),
            ])))
        }
        if let source { members.append(JSONMember("source", .string(source))) }
        if let classes { members.append(JSONMember("classes", .number(classes))) }
        if let firstRows { members.append(JSONMember("firstRows", .number(firstRows))) }
        return .object(members)
    }
}
