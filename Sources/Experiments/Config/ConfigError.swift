/// One thing wrong with a config: where (a JSON path such as `model.width`, or a line and column
/// for a syntax error) and what was found against what is allowed.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// `model.width`, `variants[1].training.betas[0]`, `line 3, column 7`; nil for the file as a whole.
    public let location: String?
    public let problem: String

    public init(location: String?, problem: String) {
        self.location = location
        self.problem = problem
    }

    public var description: String { location.map { "\($0): \(problem)" } ?? problem }
}

/// Why a config file was refused. Every problem found is listed, one a line, each starting with
/// the file name: `configs/x.json: model.width: expected a positive integer or "infinite", found -3`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config file as the user named it.
    public let file: String
    /// At least one problem, in the order they were found.
    public let problems: [ConfigProblem]

    public init(file: String, problems: [ConfigProblem]) {
        precondition(!problems.isEmpty, "ConfigError needs at least one problem")
        self.file = file
        self.problems = problems
    }

    public init(file: String, location: String?, problem: String) {
        self.init(file: file, problems: [ConfigProblem(location: location, problem: problem)])
    }

    public var description: String {
        problems.map { "\(file): \($0)" }.joined(separator: "\n")
    }
}

/// A location in a JSON document: keys and list indices from the top.
struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }
    var components: [Component] = []

    static let root = JSONPath()

    func appending(_ key: String) -> JSONPath { JSONPath(components: components + [.key(key)]) }
    func appending(index: Int) -> JSONPath { JSONPath(components: components + [.index(index)]) }

    /// Whether `self` is `other` or lies inside it.
    func hasPrefix(_ other: JSONPath) -> Bool {
        components.count >= other.components.count && Array(components.prefix(other.components.count)) == other.components
    }

    /// `model.width`, `data.features[2]`, `(top level)` for the root.
    var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                let plain = !key.isEmpty && key.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                }
                if plain {
                    text += text.isEmpty ? key : "." + key
                } else {
                    var quoted = ""
                    JSONValue.writeQuoted(key, to: &quoted)
                    text += "[\(quoted)]"
                }
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text.isEmpty ? "(top level)" : text
    }
}
