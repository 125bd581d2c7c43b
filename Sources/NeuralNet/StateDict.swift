/// A network's parameters by PyTorch name (`0.weight`, `0.bias`, ...): what a checkpoint holds.

/// A state dict that does not fit a model, with every mismatch listed.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var missing: [String] = []
    public var unexpected: [String] = []
    /// (name, the model's shape, the given shape)
    public var wrongShapes: [(name: String, expected: [Int], found: [Int])] = []

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && wrongShapes.isEmpty }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing parameters: \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { parts.append("unexpected parameters: \(unexpected.joined(separator: ", "))") }
        for entry in wrongShapes {
            parts.append("'\(entry.name)' has shape \(entry.found) but the model expects \(entry.expected)")
        }
        return "state dict does not match the model: " + parts.joined(separator: "; ")
    }

    public static func == (a: Self, b: Self) -> Bool { a.description == b.description }
}

extension Layer {
    /// The parameters' current values by name (copies share storage until written).
    public var stateDict: [String: Tensor<Scalar>] {
        Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.parameter.value) })
    }

    /// Replaces every parameter's value with the tensor of the same name. All names and shapes
    /// are checked before anything is written, so a mismatch leaves the model unchanged.
    public func load(stateDict: [String: Tensor<Scalar>]) throws {
        var error = StateDictError()
        let named = namedParameters
        for (name, parameter) in named {
            guard let value = stateDict[name] else {
                error.missing.append(name)
                continue
            }
            if value.shape != parameter.shape {
                error.wrongShapes.append((name, parameter.shape, value.shape))
            }
        }
        let known = Set(named.map(\.name))
        error.unexpected = stateDict.keys.filter { !known.contains($0) }.sorted()
        guard error.isEmpty else { throw error }
        for (name, parameter) in named { parameter.value = stateDict[name]! }
    }
}
