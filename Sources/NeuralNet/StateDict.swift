/// A network's state by PyTorch name (`0.weight`, `0.bias`, `1.running_mean`, ...): its parameters
/// and buffers, what a checkpoint holds and what PyTorch's `state_dict()` gives.

/// A state dict that does not fit a model, with every mismatch listed.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var missing: [String] = []
    /// Buffers (BatchNorm's running statistics) the state dict lacks.
    public var missingBuffers: [String] = []
    public var unexpected: [String] = []
    /// (name, the model's shape, the given shape)
    public var wrongShapes: [(name: String, expected: [Int], found: [Int])] = []

    public var isEmpty: Bool { missing.isEmpty && missingBuffers.isEmpty && unexpected.isEmpty && wrongShapes.isEmpty }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing parameters: \(missing.joined(separator: ", "))") }
        if !missingBuffers.isEmpty { parts.append("missing buffers: \(missingBuffers.joined(separator: ", "))") }
        if !unexpected.isEmpty { parts.append("unexpected parameters: \(unexpected.joined(separator: ", "))") }
        for entry in wrongShapes {
            parts.append("'\(entry.name)' has shape \(entry.found) but the model expects \(entry.expected)")
        }
        return "state dict does not match the model: " + parts.joined(separator: "; ")
    }

    public static func == (a: Self, b: Self) -> Bool { a.description == b.description }
}

extension Layer {
    /// The parameters' and buffers' current values by name (copies share storage until written).
    public var stateDict: [String: Tensor<Scalar>] {
        var dict = Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.parameter.value) })
        for (name, buffer) in namedBuffers { dict[name] = buffer.value }
        return dict
    }

    /// Replaces every parameter's and buffer's value with the tensor of the same name. All names
    /// and shapes are checked before anything is written, so a mismatch leaves the model unchanged.
    public func load(stateDict: [String: Tensor<Scalar>]) throws {
        var error = StateDictError()
        let named = namedParameters, buffers = namedBuffers
        for (name, shape, isBuffer) in named.map({ ($0.name, $0.parameter.shape, false) })
            + buffers.map({ ($0.name, $0.buffer.shape, true) }) {
            guard let value = stateDict[name] else {
                if isBuffer { error.missingBuffers.append(name) } else { error.missing.append(name) }
                continue
            }
            if value.shape != shape {
                error.wrongShapes.append((name, shape, value.shape))
            }
        }
        let known = Set(named.map(\.name) + buffers.map(\.name))
        error.unexpected = stateDict.keys.filter { !known.contains($0) }.sorted()
        guard error.isEmpty else { throw error }
        for (name, parameter) in named { parameter.value = stateDict[name]! }
        for (name, buffer) in buffers { buffer.value = stateDict[name]! }
    }
}
