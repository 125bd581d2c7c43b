import Glibc

/// Decoding one run's config from JSON, filling defaults and checking every value. Problems go
/// to the node's ``DecodingContext``; a value that cannot be read is replaced by its default so
/// the rest of the file is still checked.
extension ExperimentConfig {
    static let topLevelKeys = ["name", "seed", "precision", "data", "model", "training", "evaluation"]

    static func decode(_ root: ConfigNode, defaultName: String) -> ExperimentConfig {
        guard let object = root.object() else { return ExperimentConfig(name: defaultName) }
        let name = object.value("name", default: defaultName, decodeRunName)
        let seed = object.value("seed", default: UInt64(0)) { node in
            node.value.unsignedIntegerValue ?? node.mismatch("an integer from 0 to \(UInt64.max)")
        }
        let precision = object.value("precision", default: Precision.float64) { $0.choice(Precision.self) }

        let dataNode = object.take("data")
        let data = DataConfig.decode(dataNode?.object(), context: root.context)
        let model = ModelConfig.decode(object.take("model")?.object(), context: root.context)
        let training = TrainingConfig.decode(object.take("training")?.object(), data: data, context: root.context)
        let evaluation = EvaluationConfig.decode(object.take("evaluation")?.object(), data: data, context: root.context)
        object.finish(known: topLevelKeys + ["variants", "seeds"])
        return ExperimentConfig(name: name, seed: seed, precision: precision, data: data, model: model,
                                training: training, evaluation: evaluation)
    }
}

/// Run and variant names become folder names, so they are kept to safe characters.
func decodeRunName(_ node: ConfigNode) -> String? {
    guard let name = node.nonEmptyString() else { return nil }
    guard isSafeName(name) else {
        return node.mismatch("a name of letters, digits, '-', '_' and '.' (not starting with '.', at most 100 characters)")
    }
    return name
}

func isSafeName(_ name: String) -> Bool {
    !name.isEmpty && name.count <= 100 && !name.hasPrefix(".") && name.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
    }
}

/// The largest count we accept for sizes before the memory estimate looks at them; keeps
/// products of sizes finite in `Double` and every size an exact `Int`.
let largestSize = 1 << 52

extension DataConfig {
    static let syntheticKeys = ["kind", "target", "inputDim", "trainSize", "domain"]
    static let csvKeys = ["kind", "path", "features", "target", "standardize", "split", "source"]

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
            let config = decodeCSV(object)
            let notCSV = ConfigObject.Inapplicable(reason: "to \"kind\": \"csv\" data", decidedBy: [kindPath])
            object.finish(known: csvKeys, inapplicable: ["inputDim": notCSV, "trainSize": notCSV, "domain": notCSV])
            return .csv(config)
        }
        var synthetic = SyntheticDataConfig()
        synthetic.target = object.value("target", default: .sin) { $0.choice(SyntheticTarget.self) }
        synthetic.inputDim = object.value("inputDim", default: 1) {
            $0.integer("a positive integer", in: 1...largestSize)
        }
        synthetic.trainSize = object.value("trainSize", default: 100) {
            $0.integer("a positive integer", in: 1...largestSize)
        }
        synthetic.domain = object.value("domain", default: synthetic.domain) { node in
            guard case .array(let bounds) = node.value, bounds.count == 2,
                  let lower = bounds[0].doubleValue, let upper = bounds[1].doubleValue,
                  lower.isFinite, upper.isFinite, lower < upper else {
                return node.mismatch("a list [lower, upper] of two finite numbers with lower < upper")
            }
            return Interval(lower: lower, upper: upper)
        }
        let notSynthetic = ConfigObject.Inapplicable(reason: "to \"kind\": \"synthetic\" data", decidedBy: [kindPath])
        object.finish(known: syntheticKeys,
                      inapplicable: ["path": notSynthetic, "features": notSynthetic, "standardize": notSynthetic,
                                     "split": notSynthetic, "source": notSynthetic])
        return .synthetic(synthetic)
    }

    static func decodeCSV(_ object: ConfigObject) -> CSVDataConfig {
        var config = CSVDataConfig(path: "", features: [], target: "")
        if let path = object.take("path") {
            config.path = path.nonEmptyString() ?? ""
        } else {
            object.context.report(object.path.appending("path"), "missing; csv data needs the file's path, e.g. \"data/diabetes.csv\"")
        }
        if let features = object.take("features") {
            config.features = decodeColumnNames(features)
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
        config.standardize = object.value("standardize", default: true) { $0.bool() }
        config.source = object.take("source")?.nonEmptyString()
        if let split = object.take("split")?.object() {
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
            decoded.validationFraction = split.value("validationFraction", default: 0.1) {
                $0.number("a number from 0 (no validation set) up to but not including 1") { $0 >= 0 && $0 < 1 }
            }
            split.finish(known: ["column", "below", "validationFraction"])
            config.split = decoded
        }
        return config
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

extension ModelConfig {
    static let keys = ["hiddenLayers", "width", "activation", "layerNorm", "layerNormAffine", "parameterization",
                       "weightInit", "biasInit", "weightStd", "biasStd"]
    /// Activations whose infinite-width kernel map TangentKernels provides.
    static let analyticKernelActivations = Activation.allCases.filter(\.hasAnalyticKernelMap)

    static func decode(_ object: ConfigObject?, context: DecodingContext) -> ModelConfig {
        guard let object else { return ModelConfig() }
        var model = ModelConfig()
        model.hiddenLayers = object.value("hiddenLayers", default: 2) {
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
        model.activation = object.value("activation", default: .relu) { $0.choice(Activation.self) }
        if model.width == .infinite, !analyticKernelActivations.contains(model.activation) {
            let supported = analyticKernelActivations.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            (object.take("activation") ?? widthNode)?.report(
                "width \"infinite\" needs an activation with an analytic kernel (\(supported)); found \"\(model.activation.rawValue)\"")
        }
        model.layerNorm = object.value("layerNorm", default: .none) { decodeLayerNorm($0, hiddenLayers: model.hiddenLayers) }

        model.parameterization = object.value("parameterization", default: .standard) { $0.choice(Parameterization.self) }
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
            let defaultAffine = model.width != .infinite
            model.layerNormAffine = object.value("layerNormAffine", default: defaultAffine) { $0.bool() }
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
            let weightInit = object.value("weightInit", default: WeightInit.kaimingNormal) { $0.choice(WeightInit.self) }
            let biasInit = object.value("biasInit", default: BiasInit.normal) { $0.choice(BiasInit.self) }
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

    /// sigma_w, sqrt(2) by default (Kaiming's choice for ReLU, and neural-tangents' reference runs).
    static func decodeWeightStd(_ object: ConfigObject) -> Double {
        object.value("weightStd", default: 2.0.squareRoot()) { $0.number("a number > 0") { $0 > 0 } }
    }

    /// sigma_b, 0.1 by default (biases N(0, 0.01), as in the paper).
    static func decodeBiasStd(_ object: ConfigObject) -> Double {
        object.value("biasStd", default: 0.1) { $0.number("a number >= 0") { $0 >= 0 } }
    }

    static func decodeLayerNorm(_ node: ConfigNode, hiddenLayers: Int) -> LayerNormPlacement? {
        let expectation = "one of \"none\", \"first\", \"last\", \"every\", or a list of hidden-layer indices from 0 to \(hiddenLayers - 1)"
        switch node.value {
        case .string("none"): return LayerNormPlacement.none
        case .string("first"): return .first
        case .string("last"): return .last
        case .string("every"): return .every
        case .array:
            guard let elements = node.list() else { return nil }
            var indices: [Int] = []
            for element in elements {
                guard let index = element.integer("a hidden-layer index from 0 to \(hiddenLayers - 1)", in: 0...(hiddenLayers - 1)) else {
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
}

extension TrainingConfig {
    static let keys = ["optimizer", "learningRate", "epochs", "batchSize", "momentum", "weightDecay", "betas", "eps",
                       "targetLoss", "checkpointEvery", "logEvery"]

    static func decode(_ object: ConfigObject?, data: DataConfig, context: DecodingContext) -> TrainingConfig {
        guard let object else { return TrainingConfig() }
        var training = TrainingConfig()
        let optimizerPath = object.path.appending("optimizer")
        let optimizerName = object.value("optimizer", default: "adam") { node -> String? in
            guard case .string(let text) = node.value, ["sgd", "adam", "adamw"].contains(text) else {
                return node.mismatch(ConfigNode.oneOf(["sgd", "adam", "adamw"]))
            }
            return text
        }
        training.learningRate = object.value("learningRate", default: 1e-3) { $0.number("a number > 0") { $0 > 0 } }
        training.epochs = object.value("epochs", default: 3000) {
            $0.integer("an integer >= 0 (0 measures the untrained network)", in: 0...largestSize)
        }
        if let batchNode = object.take("batchSize") {
            if case .string("full") = batchNode.value {
                training.batchSize = .full
            } else if let size = batchNode.value.integerValue, size >= 1, size <= largestSize {
                training.batchSize = .samples(size)
                if case .synthetic(let synthetic) = data, size > synthetic.trainSize {
                    batchNode.report("\(size) is more than data.trainSize (\(synthetic.trainSize)); use \"full\" for full-batch training")
                }
            } else {
                batchNode.report("expected a positive integer or \"full\", found \(batchNode.found)")
            }
        }

        training.targetLoss = object.take("targetLoss").flatMap { $0.number("a number >= 0") { $0 >= 0 } }
        training.checkpointEvery = object.take("checkpointEvery").flatMap {
            $0.integer("a positive integer (epochs between checkpoints)", in: 1...largestSize)
        }
        training.logEvery = object.value("logEvery", default: 10) {
            $0.integer("a positive integer (epochs between loss records)", in: 1...largestSize)
        }

        let weightDecay = { (fallback: Double) in
            object.value("weightDecay", default: fallback) { $0.number("a number >= 0") { $0 >= 0 } }
        }
        let notFor = { (name: String) in
            ConfigObject.Inapplicable(reason: "to \"optimizer\": \"\(name)\"", decidedBy: [optimizerPath])
        }
        switch optimizerName {
        case "sgd":
            let momentum = object.value("momentum", default: 0.0) {
                $0.number("a number from 0 up to but not including 1") { $0 >= 0 && $0 < 1 }
            }
            training.optimizer = .sgd(momentum: momentum, weightDecay: weightDecay(0))
            object.finish(known: keys, inapplicable: ["betas": notFor("sgd"), "eps": notFor("sgd")])
        default:
            let betas = object.value("betas", default: (0.9, 0.999)) { node -> (Double, Double)? in
                guard case .array(let values) = node.value, values.count == 2,
                      let first = values[0].doubleValue, let second = values[1].doubleValue,
                      (0..<1).contains(first), (0..<1).contains(second) else {
                    return node.mismatch("a list [beta1, beta2] of two numbers from 0 up to but not including 1")
                }
                return (first, second)
            }
            let eps = object.value("eps", default: 1e-8) { $0.number("a number > 0") { $0 > 0 } }
            if optimizerName == "adamw" {
                training.optimizer = .adamw(beta1: betas.0, beta2: betas.1, eps: eps, weightDecay: weightDecay(0.01))
            } else {
                training.optimizer = .adam(beta1: betas.0, beta2: betas.1, eps: eps, weightDecay: weightDecay(0))
            }
            object.finish(known: keys, inapplicable: ["momentum": notFor(optimizerName)])
        }
        return training
    }
}

extension EvaluationConfig {
    static let keys = ["lambdas", "directions", "curve"]
    /// More scales than this is a typo, not an experiment.
    static let largestGrid = 100_000

    static func decode(_ object: ConfigObject?, data: DataConfig, context: DecodingContext) -> EvaluationConfig {
        var evaluation = EvaluationConfig()
        evaluation.curve = defaultCurve(for: data)
        guard let object else { return evaluation }
        if let lambdas = object.take("lambdas")?.object() {
            var grid = LambdaGridConfig()
            grid.from = lambdas.value("from", default: 1.0) { $0.number("a number > 0") { $0 > 0 } }
            grid.to = lambdas.value("to", default: 10_000.0) { $0.number("a number > 0") { $0 > 0 } }
            grid.perDecade = lambdas.value("perDecade", default: 4) { $0.integer("a positive integer", in: 1...largestGrid) }
            if grid.to <= grid.from {
                lambdas.context.report(lambdas.path.appending("to"), "must be larger than from (\(plainNumber(grid.from))), found \(plainNumber(grid.to))")
            } else if log10(grid.to / grid.from) * Double(grid.perDecade) + 1 > Double(largestGrid) {
                lambdas.context.report(lambdas.path, "the grid would hold more than \(largestGrid) scales; narrow from...to or lower perDecade")
            }
            lambdas.finish(known: ["from", "to", "perDecade"])
            evaluation.lambdas = grid
        }
        evaluation.directions = object.value("directions", default: .training) { node -> DirectionChoice? in
            let expectation = "\"train\" or {\"random\": N} with N a positive integer"
            switch node.value {
            case .string("train"): return .training
            case .object:
                guard let random = node.object() else { return nil }
                let count = random.take("random").flatMap { $0.integer("a positive integer", in: 1...largestSize) }
                random.finish(known: ["random"])
                if count == nil, !random.has("random") { return node.mismatch(expectation) }
                return count.map { .random($0) }
            default:
                return node.mismatch(expectation)
            }
        }
        if let curveNode = object.take("curve") {
            // A curve inherited from the base is dropped when the variant's data is not 1-D.
            let inheritedOverNewData = !context.isFromVariant(curveNode.path)
                && context.variantWrote(inside: JSONPath.root.appending("data"))
            if case .string("none") = curveNode.value {
                evaluation.curve = nil
            } else if data.inputDim != 1 {
                if !inheritedOverNewData {
                    curveNode.report("a prediction curve needs 1-D inputs, but the data has \(data.inputDim) input dimensions; use \"none\"")
                }
                evaluation.curve = nil
            } else if let curve = curveNode.object() {
                let fallback = evaluation.curve
                var decoded = CurveConfig(from: fallback?.from ?? 0, to: fallback?.to ?? 1)
                for (key, keyPath) in [("from", \CurveConfig.from), ("to", \CurveConfig.to)] {
                    if let node = curve.take(key) {
                        decoded[keyPath: keyPath] = node.number("a finite number") ?? decoded[keyPath: keyPath]
                    } else if fallback == nil {
                        curve.context.report(curve.path.appending(key), "missing; csv data has no default curve range")
                    }
                }
                decoded.points = curve.value("points", default: 401) { $0.integer("an integer from 2 to 1000000", in: 2...1_000_000) }
                if decoded.to <= decoded.from {
                    curve.context.report(curve.path.appending("to"), "must be larger than from (\(plainNumber(decoded.from))), found \(plainNumber(decoded.to))")
                }
                curve.finish(known: ["from", "to", "points"])
                evaluation.curve = decoded
            }
        }
        object.finish(known: keys)
        return evaluation
    }

    /// Ten times the training interval for 1-D synthetic data; none otherwise (a CSV's range is
    /// not known until it is read).
    static func defaultCurve(for data: DataConfig) -> CurveConfig? {
        if case .synthetic(let synthetic) = data, synthetic.inputDim == 1 { return .around(synthetic.domain) }
        return nil
    }
}
