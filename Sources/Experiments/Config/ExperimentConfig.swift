/// One run's configuration with every default filled in: what to train on, which network,
/// how to train it, and how to measure its extrapolation.
///
/// Read a config file with ``ExperimentPlan/load(path:memoryLimitBytes:)``, which also expands
/// `variants` and `seeds` into runs; `docs/config.md` describes every key. Each section has a
/// file of its own holding its type, defaults, decoding and encoding: `DataConfig.swift`,
/// `ModelConfig.swift`, `TrainingConfig.swift`, `EvaluationConfig.swift`.
public struct ExperimentConfig: Sendable, Equatable {
    public static let defaultSeed: UInt64 = 0
    public static let defaultPrecision = Precision.float64

    /// The run's name (the run folder is `runs/<name>/` by default). Letters, digits, `-`, `_`, `.`.
    public var name: String
    /// The seed every random choice of the run derives from (see ``RandomStream``).
    public var seed: UInt64
    public var precision: Precision
    public var data: DataConfig
    public var model: ModelConfig
    public var training: TrainingConfig
    public var evaluation: EvaluationConfig

    public init(name: String, seed: UInt64 = ExperimentConfig.defaultSeed, precision: Precision = ExperimentConfig.defaultPrecision,
                data: DataConfig = .synthetic(.init()), model: ModelConfig = .init(), training: TrainingConfig = .init(),
                evaluation: EvaluationConfig = .init()) {
        self.name = name
        self.seed = seed
        self.precision = precision
        self.data = data
        self.model = model
        self.training = training
        self.evaluation = evaluation
    }
}

/// The floating-point type the network trains in.
public enum Precision: String, Sendable, CaseIterable {
    case float32, float64
    /// Bytes per scalar.
    public var byteCount: Int { self == .float32 ? 4 : 8 }
}

// MARK: - Decoding

/// Decoding one run's config from JSON, filling defaults and checking every value. Problems go
/// to the node's ``DecodingContext``; a value that cannot be read is replaced by its default so
/// the rest of the file is still checked.
extension ExperimentConfig {
    static let topLevelKeys = ["name", "seed", "precision", "data", "model", "training", "evaluation"]

    static func decode(_ root: ConfigNode, defaultName: String) -> ExperimentConfig {
        guard let object = root.object() else { return ExperimentConfig(name: defaultName) }
        let name = object.value("name", default: defaultName, decodeRunName)
        let seed = object.value("seed", default: defaultSeed) { node in
            node.value.unsignedIntegerValue ?? node.mismatch("an integer from 0 to \(UInt64.max)")
        }
        let precision = object.value("precision", default: defaultPrecision) { $0.choice(Precision.self) }

        let dataNode = object.take("data")
        let data = DataConfig.decode(dataNode?.object(), context: root.context)
        let model = ModelConfig.decode(object.take("model")?.object(), context: root.context)
        let training = TrainingConfig.decode(object.take("training")?.object(), data: data, context: root.context)
        let evaluation = EvaluationConfig.decode(object.take("evaluation")?.object(), data: data, context: root.context)
        EvaluationConfig.reportLinearizedRequirements(evaluation, training: training, model: model, data: data, context: root.context)
        if case .synthetic(let synthetic) = data,
           let problem = model.batchNormBatchProblem(trainingRows: synthetic.trainSize, batchSize: training.batchSize) {
            // CSV data is checked once its rows are counted (`ExperimentRunner`).
            let path: JSONPath = training.batchSize == .full ? JSONPath.root.appending("data").appending("trainSize")
                : JSONPath.root.appending("training").appending("batchSize")
            root.context.report(path, problem)
        }
        if let kernel = evaluation.kernel { KernelEvaluationConfig.check(kernel, model: model, data: data, context: root.context) }
        checkLoss(training: training, data: data, context: root.context)
        if evaluation.trajectory != nil { TrajectoryConfig.checkTraining(training, context: root.context) }
        if training.jacobianPenalty > 0, let problem = model.jacobianPenaltyProblem {
            root.context.report(JSONPath.root.appending("training").appending("jacobianPenalty"), problem)
        } else if training.jacobianPenalty > 0, training.loss != .meanSquaredError {
            root.context.report(JSONPath.root.appending("training").appending("jacobianPenalty"),
                                "the Jacobian penalty is added to the mean squared error; with \"loss\": \"crossEntropy\" use 0")
        } else if evaluation.jacobianNorms, model.hasBatchNorm {
            root.context.report(JSONPath.root.appending("evaluation").appending("jacobianNorms"),
                                "a \"batchNorm\" network has no tangent forward, so its input Jacobians are not measured; use false")
        }
        object.finish(known: topLevelKeys + ["variants", "seeds", "grid"])
        return ExperimentConfig(name: name, seed: seed, precision: precision, data: data, model: model,
                                training: training, evaluation: evaluation)
    }
}

extension ExperimentConfig {
    /// Cross-entropy needs class labels (`data.classes`), and class labels need cross-entropy.
    static func checkLoss(training: TrainingConfig, data: DataConfig, context: DecodingContext) {
        let lossPath = JSONPath.root.appending("training").appending("loss")
        switch (training.loss, data.classes) {
        case (.crossEntropy, nil):
            context.report(lossPath, "\"crossEntropy\" needs class labels: CSV data with \"classes\" (the number of classes, "
                + "the target column holding 0 to classes - 1)")
        case (.meanSquaredError, let classes?):
            context.report(lossPath, "data.classes is \(classes) (classification), so the loss must be \"crossEntropy\"; "
                + "found \"mse\" (the default)")
        default: break
        }
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

// MARK: - Encoding

/// Writing a resolved config back as JSON, in the schema's key order, with every default
/// spelled out; decoding the result gives the same config.
extension ExperimentConfig {
    /// The config as a JSON object (for `config.json` in the run folder).
    public var json: JSONValue {
        .object([
            JSONMember("name", .string(name)),
            JSONMember("seed", .number(seed)),
            JSONMember("precision", .string(precision.rawValue)),
            JSONMember("data", data.json),
            JSONMember("model", model.json),
            JSONMember("training", training.json),
            JSONMember("evaluation", evaluation.json),
        ])
    }
}
