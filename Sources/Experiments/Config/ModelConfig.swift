/// The multilayer perceptron: `hiddenLayers` blocks of Dense (+ LayerNorm) + activation, then a
/// Dense layer to one output. ``mlpDescription(inputSize:width:parameterization:)`` turns it into
/// the library's ``MLPDescription``.
///
/// The defaults are the paper's network (2 hidden layers of 128 ReLU units, Kaiming-normal
/// weights, N(0, 0.1^2) biases), not PyTorch's `nn.Linear` initialisation that
/// ``MLPDescription`` defaults to; sigma_w and sigma_b default to the library's values.
public struct ModelConfig: Sendable, Equatable {
    public static let defaultHiddenLayers = 2
    public static let defaultWidth = Width.finite(128)
    public static let defaultActivation = Activation.relu
    public static let defaultLayerNorm = LayerNormPlacement.none
    public static let defaultParameterization = Parameterization.standard
    /// The paper's Kaiming-normal, N(0, 2 / fanIn) (PyTorch's `nn.Linear` starts Kaiming-uniform).
    public static let defaultWeightInit = WeightInit.kaimingNormal
    /// The paper's N(0, biasStd^2) (PyTorch's `nn.Linear` starts uniform).
    public static let defaultBiasInit = BiasInit.normal
    /// sigma_w, sqrt(2) (Kaiming's choice for ReLU, and neural-tangents' reference runs).
    public static let defaultWeightStd = MLPDescription.defaultWeightStandardDeviation
    /// sigma_b, 0.1 (biases N(0, 0.01), as in the paper).
    public static let defaultBiasStd = MLPDescription.defaultBiasStandardDeviation

    /// LayerNorm's scale and shift are learned in a finite network; the analytic kernels need
    /// them off (the theory's LayerNorm).
    public static func defaultLayerNormAffine(width: Width) -> Bool { width != .infinite }

    public var hiddenLayers: Int
    public var width: Width
    public var activation: Activation
    public var layerNorm: LayerNormPlacement
    /// Whether each LayerNorm has a learned scale and shift; false is the theory's LayerNorm.
    /// Always false when `layerNorm` is `.none`.
    public var layerNormAffine: Bool
    public var parameterization: Parameterization
    /// How weights start in the standard parameterization; nil for `.ntk` (always N(0, 1) there).
    public var weightInit: WeightInit?
    /// How biases start in the standard parameterization; nil for `.ntk`.
    public var biasInit: BiasInit?
    /// sigma_w: for `.ntk` the weight multiplier (`sigma_w / sqrt(fanIn)`); for standard with
    /// `weightInit == .normal` the weights are N(0, sigma_w^2 / fanIn). Nil when it does not apply.
    public var weightStd: Double?
    /// sigma_b: for `.ntk` the bias multiplier; for standard with `biasInit == .normal` the biases
    /// are N(0, sigma_b^2). Nil when it does not apply.
    public var biasStd: Double?

    /// The paper's network, no LayerNorm. `layerNormAffine` defaults to true for a finite
    /// network with LayerNorm and to false otherwise.
    public init(hiddenLayers: Int = ModelConfig.defaultHiddenLayers, width: Width = ModelConfig.defaultWidth,
                activation: Activation = ModelConfig.defaultActivation, layerNorm: LayerNormPlacement = ModelConfig.defaultLayerNorm,
                layerNormAffine: Bool? = nil, parameterization: Parameterization = ModelConfig.defaultParameterization,
                weightInit: WeightInit? = ModelConfig.defaultWeightInit, biasInit: BiasInit? = ModelConfig.defaultBiasInit,
                weightStd: Double? = nil, biasStd: Double? = ModelConfig.defaultBiasStd) {
        self.hiddenLayers = hiddenLayers
        self.width = width
        self.activation = activation
        self.layerNorm = layerNorm
        self.layerNormAffine = layerNorm == .none ? false : (layerNormAffine ?? ModelConfig.defaultLayerNormAffine(width: width))
        self.parameterization = parameterization
        self.weightInit = weightInit
        self.biasInit = biasInit
        self.weightStd = weightStd
        self.biasStd = biasStd
    }

    /// The 0-based indices of the hidden layers followed by a LayerNorm (after the Dense,
    /// before the activation), ascending.
    public var layerNormIndices: [Int] { layerNorm.hiddenLayerIndices(hiddenLayers: hiddenLayers) }

    /// How many hidden layers are followed by a LayerNorm, without listing them (a config may
    /// ask for 2^52 layers, and is refused only once this count is known).
    public var layerNormCount: Int { layerNorm.count(hiddenLayers: hiddenLayers) }
}

/// The number of units in each hidden layer, or the infinite-width limit (analytic NTK
/// regression in place of a trained network).
public enum Width: Sendable, Equatable {
    case finite(Int)
    case infinite
}

// `Activation` and `Parameterization` are NeuralNet's own enums (same names as the config's values).

/// How weights start in the standard parameterization.
public enum WeightInit: String, Sendable, CaseIterable {
    /// PyTorch's `nn.Linear` default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
    case kaimingUniform
    /// N(0, 2 / fanIn).
    case kaimingNormal
    /// N(0, weightStd^2 / fanIn).
    case normal
}

/// How biases start in the standard parameterization.
public enum BiasInit: String, Sendable, CaseIterable {
    /// PyTorch's `nn.Linear` default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
    case pytorch
    /// N(0, biasStd^2).
    case normal
}

// MARK: - The network

extension ModelConfig {
    /// The network this section describes, for inputs of `inputSize` features and hidden layers
    /// of `width` units (given apart from ``width``, which may be `.infinite`). The one place a
    /// config becomes an ``MLPDescription``.
    /// - Parameter parameterization: overrides ``parameterization`` (`.ntk` for the analytic kernels).
    public func mlpDescription(inputSize: Int, width: Int, parameterization: Parameterization? = nil) -> MLPDescription {
        var description = MLPDescription(inputSize: inputSize, width: width, hiddenLayers: hiddenLayers)
        description.activation = activation
        description.layerNormAfter = Set(layerNormIndices)
        description.layerNormAffine = layerNormAffine
        description.parameterization = parameterization ?? self.parameterization
        // Nil inits (the NTK parameterization) leave the description's, which `.ntk` does not use.
        switch weightInit {
        case nil: break
        case .kaimingUniform: description.weightInitialization = .kaimingUniform
        case .kaimingNormal: description.weightInitialization = .kaimingNormal
        case .normal: description.weightInitialization = .normalScaledByFanIn(weightStandardDeviation: weightStd ?? Self.defaultWeightStd)
        }
        switch biasInit {
        case nil: break
        case .pytorch: description.biasInitialization = .pytorch
        case .normal: description.biasInitialization = .normal(standardDeviation: biasStd ?? Self.defaultBiasStd)
        }
        if description.parameterization == .ntk {
            description.weightStandardDeviation = weightStd ?? Self.defaultWeightStd
            description.biasStandardDeviation = biasStd ?? Self.defaultBiasStd
        }
        return description
    }

    /// The network whose analytic (infinite-width) kernels this section describes: its
    /// architecture in the NTK parameterization, one unit per layer (the kernels do not depend
    /// on the width).
    public func analyticNetwork(inputSize: Int) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 0)
        return mlpDescription(inputSize: inputSize, width: 1, parameterization: .ntk).build(generator: &generator)
    }
}

// MARK: - Decoding

extension ModelConfig {
    static let keys = ["hiddenLayers", "width", "activation", "layerNorm", "layerNormAffine", "parameterization",
                       "weightInit", "biasInit", "weightStd", "biasStd"]
    /// Activations whose infinite-width kernel map TangentKernels provides.
    static let analyticKernelActivations = Activation.allCases.filter(\.hasAnalyticKernelMap)

    static func decode(_ object: ConfigObject?, context: DecodingContext) -> ModelConfig {
        guard let object else { return ModelConfig() }
        var model = ModelConfig()
        model.hiddenLayers = object.value("hiddenLayers", default: defaultHiddenLayers) {
            $0.integer("a positive integer", in: 1...largestSize)
        }
        let widthNode = object.take("width")
        if let widthNode {
            if case .string("infinite") = widthNode.value {
                model.width = .infinite
            } else if let width = widthNode.value.integerValue, width >= 1, width <= largestSize {
                model.width = .finite(width)
            } else {
                widthNode.report("expected a positive integer or \"infinite\", found \(widthNode.found)")
            }
        }
        model.activation = object.value("activation", default: defaultActivation) { $0.choice(Activation.self) }
        if model.width == .infinite, !analyticKernelActivations.contains(model.activation) {
            let supported = analyticKernelActivations.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            (object.take("activation") ?? widthNode)?.report(
                "width \"infinite\" needs an activation with an analytic kernel (\(supported)); found \"\(model.activation.rawValue)\"")
        }
        model.layerNorm = object.value("layerNorm", default: defaultLayerNorm) {
            LayerNormPlacement.decode($0, hiddenLayers: model.hiddenLayers)
        }

        model.parameterization = object.value("parameterization", default: defaultParameterization) { $0.choice(Parameterization.self) }
        if model.width == .infinite, model.parameterization != .ntk, let widthNode {
            widthNode.report("\"infinite\" needs \"parameterization\": \"ntk\" (the analytic kernels describe that parameterization); found \"\(model.parameterization.rawValue)\"")
        }

        let parameterizationPath = object.path.appending("parameterization")
        var inapplicable: [String: ConfigObject.Inapplicable] = [:]
        if model.layerNorm == .none {
            // Checked but ignored: a sweep's base sets the LayerNorm flavour for variants that add one.
            _ = object.take("layerNormAffine")?.bool()
            model.layerNormAffine = false
        } else {
            model.layerNormAffine = object.value("layerNormAffine", default: defaultLayerNormAffine(width: model.width)) { $0.bool() }
            if model.width == .infinite, model.layerNormAffine {
                object.context.report(object.path.appending("layerNormAffine"),
                                      "must be false for width \"infinite\": the analytic kernels use LayerNorm without scale and shift")
            }
        }

        switch model.parameterization {
        case .ntk:
            model.weightInit = nil
            model.biasInit = nil
            let reason = ConfigObject.Inapplicable(reason: "to \"parameterization\": \"ntk\" (weights and biases start as N(0, 1) there; set weightStd and biasStd)",
                                                   decidedBy: [parameterizationPath])
            inapplicable["weightInit"] = reason
            inapplicable["biasInit"] = reason
            model.weightStd = decodeWeightStd(object)
            model.biasStd = decodeBiasStd(object)
        case .standard:
            let weightInit = object.value("weightInit", default: defaultWeightInit) { $0.choice(WeightInit.self) }
            let biasInit = object.value("biasInit", default: defaultBiasInit) { $0.choice(BiasInit.self) }
            model.weightInit = weightInit
            model.biasInit = biasInit
            let decidingInit = [object.path.appending("weightInit"), parameterizationPath]
            if weightInit == .normal {
                model.weightStd = decodeWeightStd(object)
            } else {
                model.weightStd = nil
                inapplicable["weightStd"] = .init(reason: "to \"weightInit\": \"\(weightInit.rawValue)\" (only to \"normal\" or \"parameterization\": \"ntk\")",
                                                  decidedBy: decidingInit)
            }
            if biasInit == .normal {
                model.biasStd = decodeBiasStd(object)
            } else {
                model.biasStd = nil
                inapplicable["biasStd"] = .init(reason: "to \"biasInit\": \"pytorch\" (only to \"normal\" or \"parameterization\": \"ntk\")",
                                                decidedBy: [object.path.appending("biasInit"), parameterizationPath])
            }
        }
        object.finish(known: keys, inapplicable: inapplicable)
        return model
    }

    static func decodeWeightStd(_ object: ConfigObject) -> Double {
        object.value("weightStd", default: defaultWeightStd) { $0.number("a number > 0") { $0 > 0 } }
    }

    static func decodeBiasStd(_ object: ConfigObject) -> Double {
        object.value("biasStd", default: defaultBiasStd) { $0.number("a number >= 0") { $0 >= 0 } }
    }
}

// MARK: - Encoding

extension ModelConfig {
    /// The `model` section as JSON; keys that do not apply are left out.
    public var json: JSONValue {
        var members = [JSONMember("hiddenLayers", .number(hiddenLayers))]
        switch width {
        case .finite(let units): members.append(JSONMember("width", .number(units)))
        case .infinite: members.append(JSONMember("width", .string("infinite")))
        }
        members.append(JSONMember("activation", .string(activation.rawValue)))
        members.append(JSONMember("layerNorm", layerNorm.json))
        if layerNorm != .none { members.append(JSONMember("layerNormAffine", .bool(layerNormAffine))) }
        members.append(JSONMember("parameterization", .string(parameterization.rawValue)))
        if let weightInit { members.append(JSONMember("weightInit", .string(weightInit.rawValue))) }
        if let biasInit { members.append(JSONMember("biasInit", .string(biasInit.rawValue))) }
        if let weightStd { members.append(JSONMember("weightStd", .number(weightStd))) }
        if let biasStd { members.append(JSONMember("biasStd", .number(biasStd))) }
        return .object(members)
    }
}
