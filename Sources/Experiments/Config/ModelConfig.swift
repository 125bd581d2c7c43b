/// The multilayer perceptron: `hiddenLayers` blocks of Dense (+ norm) + activation, then a
/// Dense layer to one output; or, with `residual`, a first Dense and `hiddenLayers` residual blocks
/// `x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm) with `f` = Dense, activation, Dense;
/// optionally a final norm before the output Dense. The norm is `normalization`'s kind, placed by
/// `layerNorm` (a historical name: it places whichever norm `normalization` names).
/// ``mlpDescription(inputSize:width:parameterization:)`` turns it into the library's ``MLPDescription``.
///
/// The defaults are the paper's network (2 hidden layers of 128 ReLU units, Kaiming-normal
/// weights, N(0, 0.1^2) biases), not PyTorch's `nn.Linear` initialisation that
/// ``MLPDescription`` defaults to; sigma_w and sigma_b default to the library's values.
public struct ModelConfig: Sendable, Equatable {
    public static let defaultHiddenLayers = 2
    public static let defaultWidth = Width.finite(128)
    public static let defaultActivation = Activation.relu
    public static let defaultLayerNorm = LayerNormPlacement.none
    /// LayerNorm, the paper's norm.
    public static let defaultNormalization = MLPDescription.defaultNormalization
    /// A plain MLP.
    public static let defaultResidual = MLPDescription.defaultResidual
    /// No norm before the output Dense.
    public static let defaultFinalNorm = MLPDescription.defaultFinalNorm
    public static let defaultParameterization = Parameterization.standard
    /// The paper's Kaiming-normal, N(0, 2 / fanIn) (PyTorch's `nn.Linear` starts Kaiming-uniform).
    public static let defaultWeightInit = WeightInit.kaimingNormal
    /// The paper's N(0, biasStd^2) (PyTorch's `nn.Linear` starts uniform).
    public static let defaultBiasInit = BiasInit.normal
    /// sigma_w, sqrt(2) (Kaiming's choice for ReLU, and neural-tangents' reference runs).
    public static let defaultWeightStd = MLPDescription.defaultWeightStandardDeviation
    /// sigma_b, 0.1 (biases N(0, 0.01), as in the paper).
    public static let defaultBiasStd = MLPDescription.defaultBiasStandardDeviation

    /// A norm's scale and shift are learned in a finite network; the analytic kernels need
    /// them off (the theory's LayerNorm).
    public static func defaultLayerNormAffine(width: Width) -> Bool { width != .infinite }

    public var hiddenLayers: Int
    public var width: Width
    public var activation: Activation
    /// A plain MLP, or residual blocks (then `hiddenLayers` counts blocks, and `layerNorm` places
    /// a norm in blocks).
    public var residual: ResidualBlocks
    /// The kind of every norm `layerNorm` and `finalNorm` place. Always the default when there is
    /// no norm (``hasNorms`` false).
    public var normalization: Normalization
    /// Which hidden layers (or residual blocks) hold a norm of kind `normalization`.
    public var layerNorm: LayerNormPlacement
    /// Whether each norm has a learned scale and shift (gamma only for RMSNorm); false is the
    /// theory's LayerNorm. Always false when there is no norm.
    public var layerNormAffine: Bool
    /// A norm after the last hidden layer or block, before the output Dense.
    public var finalNorm: Bool
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
    /// network with a norm and to false otherwise.
    public init(hiddenLayers: Int = ModelConfig.defaultHiddenLayers, width: Width = ModelConfig.defaultWidth,
                activation: Activation = ModelConfig.defaultActivation, residual: ResidualBlocks = ModelConfig.defaultResidual,
                normalization: Normalization = ModelConfig.defaultNormalization, layerNorm: LayerNormPlacement = ModelConfig.defaultLayerNorm,
                layerNormAffine: Bool? = nil, finalNorm: Bool = ModelConfig.defaultFinalNorm,
                parameterization: Parameterization = ModelConfig.defaultParameterization,
                weightInit: WeightInit? = ModelConfig.defaultWeightInit, biasInit: BiasInit? = ModelConfig.defaultBiasInit,
                weightStd: Double? = nil, biasStd: Double? = ModelConfig.defaultBiasStd) {
        self.hiddenLayers = hiddenLayers
        self.width = width
        self.activation = activation
        self.residual = residual
        self.layerNorm = layerNorm
        self.finalNorm = finalNorm
        let hasNorms = layerNorm != .none || finalNorm
        self.normalization = hasNorms ? normalization : ModelConfig.defaultNormalization
        self.layerNormAffine = hasNorms ? (layerNormAffine ?? ModelConfig.defaultLayerNormAffine(width: width)) : false
        self.parameterization = parameterization
        self.weightInit = weightInit
        self.biasInit = biasInit
        self.weightStd = weightStd
        self.biasStd = biasStd
    }

    /// The 0-based indices of the hidden layers followed by a norm (after the Dense, before the
    /// activation), or of the residual blocks holding one, ascending.
    public var layerNormIndices: [Int] { layerNorm.hiddenLayerIndices(hiddenLayers: hiddenLayers) }

    /// How many hidden layers (or blocks) hold a norm, without listing them (a config may ask
    /// for 2^52 layers, and is refused only once this count is known); the final norm not counted.
    public var layerNormCount: Int { layerNorm.count(hiddenLayers: hiddenLayers) }

    /// Whether the network holds any norm (placed by `layerNorm`, or the final one).
    public var hasNorms: Bool { layerNorm != .none || finalNorm }

    /// Whether the network holds a BatchNorm, which trains on batch statistics and is evaluated
    /// with running ones.
    public var hasBatchNorm: Bool { hasNorms && normalization == .batchNorm }
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
        description.residual = residual
        description.normalization = normalization
        description.layerNormAfter = Set(layerNormIndices)
        description.layerNormAffine = layerNormAffine
        description.finalNorm = finalNorm
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
    static let keys = ["hiddenLayers", "width", "activation", "residual", "normalization", "layerNorm", "layerNormAffine",
                       "finalNorm", "parameterization", "weightInit", "biasInit", "weightStd", "biasStd"]

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
        model.residual = object.value("residual", default: defaultResidual) { $0.choice(ResidualBlocks.self) }
        let normalizationNode = object.take("normalization")
        let normalization = normalizationNode.flatMap { $0.choice(Normalization.self) } ?? defaultNormalization
        model.layerNorm = object.value("layerNorm", default: defaultLayerNorm) {
            LayerNormPlacement.decode($0, hiddenLayers: model.hiddenLayers, counting: model.residual == .none ? "hidden-layer" : "block")
        }
        model.finalNorm = object.value("finalNorm", default: defaultFinalNorm) { $0.bool() }

        model.parameterization = object.value("parameterization", default: defaultParameterization) { $0.choice(Parameterization.self) }
        if model.width == .infinite, model.parameterization != .ntk, let widthNode {
            widthNode.report("\"infinite\" needs \"parameterization\": \"ntk\" (the analytic kernels describe that parameterization); found \"\(model.parameterization.rawValue)\"")
        }

        let parameterizationPath = object.path.appending("parameterization")
        var inapplicable: [String: ConfigObject.Inapplicable] = [:]
        if !model.hasNorms {
            // Checked but ignored: a sweep's base sets the norm's kind and flavour for variants that add one.
            _ = object.take("layerNormAffine")?.bool()
            model.normalization = defaultNormalization
            model.layerNormAffine = false
        } else {
            model.normalization = normalization
            model.layerNormAffine = object.value("layerNormAffine", default: defaultLayerNormAffine(width: model.width)) { $0.bool() }
            if model.width == .infinite {
                checkAnalyticNorms(model, object: object, normalizationNode: normalizationNode)
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

    /// The norms of a width-"infinite" network must have a kernel map where they sit.
    static func checkAnalyticNorms(_ model: ModelConfig, object: ConfigObject, normalizationNode: ConfigNode?) {
        if model.normalization == .batchNorm {
            (normalizationNode ?? object.node).report(
                "\"batchNorm\" has no infinite-width kernel, so width \"infinite\" cannot use it: in training its batch "
                    + "statistics couple the points (the limit is a kernel over whole batches, not over pairs), and in "
                    + "evaluation it divides by running statistics of one finite network; use \"layerNorm\" or \"rmsNorm\"")
            return
        }
        if model.layerNormAffine {
            let scaleAndShift = model.normalization == .rmsNorm ? "RMSNorm without scale" : "LayerNorm without scale and shift"
            object.context.report(object.path.appending("layerNormAffine"),
                                  "must be false for width \"infinite\": the analytic kernels use \(scaleAndShift)")
        }
        if model.finalNorm, model.residual == .none, model.normalization == .layerNorm {
            object.context.report(object.path.appending("finalNorm"),
                                  "width \"infinite\" has no kernel for a final LayerNorm after the last activation (LayerNorm's "
                                    + "limit needs centred Gaussian units, as a Dense layer's outputs are); use \"normalization\": "
                                    + "\"rmsNorm\", a \"residual\" network (its final norm sees Dense outputs), or false")
        }
    }

    /// Why a BatchNorm network cannot train on batches of `batchSize` from `trainingRows` rows (a
    /// batch of one row has no variance to normalise by), or nil when every batch has 2 rows or more.
    func batchNormBatchProblem(trainingRows: Int, batchSize: BatchSize) -> String? {
        let size = batchSize.resolved(trainingSamples: trainingRows)
        guard hasBatchNorm, size >= 1 else { return nil }
        let smallest = trainingRows % size == 0 ? size : trainingRows % size
        guard smallest < 2 else { return nil }
        let batches = size == trainingRows ? "the full batch has \(trainingRows) row"
            : size == 1 ? "every batch has 1 row"
            : "batches of \(size) from \(trainingRows) training rows leave a last batch of 1 row"
        return "\"batchNorm\" (model.normalization) normalises each feature over a batch's rows and needs at least 2 rows "
            + "in every training batch, but \(batches); choose another batch size"
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
    /// The `model` section as JSON; keys that do not apply are left out, and so are `residual`,
    /// `normalization` and `finalNorm` at their defaults.
    public var json: JSONValue {
        var members = [JSONMember("hiddenLayers", .number(hiddenLayers))]
        switch width {
        case .finite(let units): members.append(JSONMember("width", .number(units)))
        case .infinite: members.append(JSONMember("width", .string("infinite")))
        }
        members.append(JSONMember("activation", .string(activation.rawValue)))
        // The keys added after the first schema are written only away from their defaults, so the
        // config.json of a run that does not use them reads as it always did.
        if residual != Self.defaultResidual { members.append(JSONMember("residual", .string(residual.rawValue))) }
        if normalization != Self.defaultNormalization { members.append(JSONMember("normalization", .string(normalization.rawValue))) }
        members.append(JSONMember("layerNorm", layerNorm.json))
        if hasNorms { members.append(JSONMember("layerNormAffine", .bool(layerNormAffine))) }
        if finalNorm != Self.defaultFinalNorm { members.append(JSONMember("finalNorm", .bool(finalNorm))) }
        members.append(JSONMember("parameterization", .string(parameterization.rawValue)))
        if let weightInit { members.append(JSONMember("weightInit", .string(weightInit.rawValue))) }
        if let biasInit { members.append(JSONMember("biasInit", .string(biasInit.rawValue))) }
        if let weightStd { members.append(JSONMember("weightStd", .number(weightStd))) }
        if let biasStd { members.append(JSONMember("biasStd", .number(biasStd))) }
        return .object(members)
    }
}
