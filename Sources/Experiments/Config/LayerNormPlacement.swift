/// Which hidden layers (or residual blocks) get a norm (`model.layerNorm`; the kind is `model.normalization`).
public enum LayerNormPlacement: Sendable, Equatable {
    case none, first, last, every
    /// Explicit 0-based hidden-layer indices, ascending and unique.
    case layers([Int])

    /// The 0-based indices of the hidden layers with a LayerNorm, for a network of `hiddenLayers`.
    public func hiddenLayerIndices(hiddenLayers: Int) -> [Int] {
        switch self {
        case .none: []
        case .first: hiddenLayers > 0 ? [0] : []
        case .last: hiddenLayers > 0 ? [hiddenLayers - 1] : []
        case .every: Array(0..<hiddenLayers)
        case .layers(let indices): indices
        }
    }

    /// The number of ``hiddenLayerIndices(hiddenLayers:)``, computed without building the list.
    public func count(hiddenLayers: Int) -> Int {
        switch self {
        case .none: 0
        case .first, .last: hiddenLayers > 0 ? 1 : 0
        case .every: max(hiddenLayers, 0)
        case .layers(let indices): indices.count
        }
    }

    /// `"none"`, `"first"`, `"last"`, `"every"`, or a list of hidden-layer (or block) indices.
    /// - Parameter unit: what the indices count, for messages: `"hidden-layer"`, or `"block"` for
    ///   a residual MLP's blocks.
    static func decode(_ node: ConfigNode, hiddenLayers: Int, counting unit: String = "hidden-layer") -> LayerNormPlacement? {
        let expectation = "one of \"none\", \"first\", \"last\", \"every\", or a list of \(unit) indices from 0 to \(hiddenLayers - 1)"
        switch node.value {
        case .string("none"): return LayerNormPlacement.none
        case .string("first"): return .first
        case .string("last"): return .last
        case .string("every"): return .every
        case .array:
            guard let elements = node.list() else { return nil }
            var indices: [Int] = []
            for element in elements {
                guard let index = element.integer("a \(unit) index from 0 to \(hiddenLayers - 1)", in: 0...(hiddenLayers - 1)) else {
                    continue
                }
                if indices.contains(index) {
                    element.report("hidden layer \(index) is listed twice")
                } else {
                    indices.append(index)
                }
            }
            return indices.isEmpty ? LayerNormPlacement.none : .layers(indices.sorted())
        default:
            return node.mismatch(expectation)
        }
    }

    /// The `layerNorm` value as JSON.
    var json: JSONValue {
        switch self {
        case .none: .string("none")
        case .first: .string("first")
        case .last: .string("last")
        case .every: .string("every")
        case .layers(let indices): .array(indices.map { .number($0) })
        }
    }
}
