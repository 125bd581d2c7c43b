/// How the network is trained: optimizer, learning rate, epochs, batches, logging.
public struct TrainingConfig: Sendable, Equatable {
    public static let defaultOptimizer = OptimizerConfig.adam()
    public static let defaultLearningRate = 1e-3
    public static let defaultEpochs = 3000
    public static let defaultBatchSize = BatchSize.full
    public static let defaultLogEvery = 10
    /// Mean squared error, the paper's regression loss.
    public static let defaultLoss = LossFunction.meanSquaredError
    public static let defaultJacobianPenalty = 0.0

    public var optimizer: OptimizerConfig
    public var learningRate: Double
    /// Passes over the training set; 0 measures the network as initialised.
    public var epochs: Int
    public var batchSize: BatchSize
    /// Stop early once the training loss is at or below this.
    public var targetLoss: Double?
    /// Stop early once the training loss stops falling; nil never.
    public var earlyStop: EarlyStopConfig?
    /// Save a checkpoint every this many epochs (the final model is always saved); nil for
    /// ``checkpointInterval``'s default.
    public var checkpointEvery: Int?
    /// Record the training loss every this many epochs (and after the last); for gradient flow,
    /// every this many accepted steps.
    public var logEvery: Int
    /// `"mse"` or `"crossEntropy"` (softmax over the outputs against `data.classes` labels).
    public var loss: LossFunction = TrainingConfig.defaultLoss
    /// Gradient flow's end time T; nil for `epochs * learningRate`, the time gradient descent
    /// with this learning rate covers in `epochs` steps (GD is Euler's method with step eta).
    public var time: Double?
    /// lambda in `MSE + lambda (1/B) sum_i |df/dx(x_i)|_F^2`; 0 for plain MSE. With `"width": "infinite"`
    /// a nonzero penalty runs `JacobianPenaltyRegression` (the robust-training predictor).
    public var jacobianPenalty: Double

    /// Adam, learning rate 1e-3, 3000 full-batch epochs, the loss logged every 10 epochs.
    public init(optimizer: OptimizerConfig = TrainingConfig.defaultOptimizer, learningRate: Double = TrainingConfig.defaultLearningRate,
                epochs: Int = TrainingConfig.defaultEpochs, batchSize: BatchSize = TrainingConfig.defaultBatchSize,
                targetLoss: Double? = nil, earlyStop: EarlyStopConfig? = nil, checkpointEvery: Int? = nil,
                logEvery: Int = TrainingConfig.defaultLogEvery, jacobianPenalty: Double = TrainingConfig.defaultJacobianPenalty) {
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.targetLoss = targetLoss
        self.earlyStop = earlyStop
        self.checkpointEvery = checkpointEvery
        self.logEvery = logEvery
        self.jacobianPenalty = jacobianPenalty
    }

    /// Epochs between checkpoints: `checkpointEvery`, or by default a tenth of the epochs (at least 1).
    public var checkpointInterval: Int { checkpointEvery ?? max(epochs / 10, 1) }

    /// Gradient flow's end time: `time`, or `epochs * learningRate`.
    public var flowTime: Double { time ?? Double(epochs) * learningRate }

    /// The optimizer this section describes, over `parameters`. For gradient flow, a plain SGD the
    /// flow never steps: the ``Trainer`` holds it for its parameter list (see ``GradientFlowTraining``).
    public func makeOptimizer<Scalar>(parameters: [Parameter<Scalar>]) -> any Optimizer<Scalar> {
        switch optimizer {
        case let .sgd(momentum, weightDecay):
            return SGD(parameters: parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        case let .adam(beta1, beta2, eps, weightDecay):
            return Adam(parameters: parameters, learningRate: learningRate, betas: (beta1, beta2), epsilon: eps, weightDecay: weightDecay)
        case let .adamw(beta1, beta2, eps, weightDecay):
            return Adam.adamW(parameters: parameters, learningRate: learningRate, betas: (beta1, beta2), epsilon: eps,
                              weightDecay: weightDecay)
        case .gradientFlow:
            return SGD(parameters: parameters, learningRate: learningRate)
        }
    }
}

/// The optimizer and its settings; defaults are PyTorch's.
public enum OptimizerConfig: Sendable, Equatable {
    public static let defaultMomentum = 0.0
    public static let defaultBeta1 = 0.9
    public static let defaultBeta2 = 0.999
    public static let defaultEps = 1e-8
    /// SGD's and Adam's (coupled, L2) weight decay.
    public static let defaultWeightDecay = 0.0
    /// AdamW's decoupled weight decay.
    public static let defaultAdamWWeightDecay = 0.01

    case sgd(momentum: Double = OptimizerConfig.defaultMomentum, weightDecay: Double = OptimizerConfig.defaultWeightDecay)
    case adam(beta1: Double = OptimizerConfig.defaultBeta1, beta2: Double = OptimizerConfig.defaultBeta2,
              eps: Double = OptimizerConfig.defaultEps, weightDecay: Double = OptimizerConfig.defaultWeightDecay)
    /// Adam with decoupled weight decay.
    case adamw(beta1: Double = OptimizerConfig.defaultBeta1, beta2: Double = OptimizerConfig.defaultBeta2,
               eps: Double = OptimizerConfig.defaultEps, weightDecay: Double = OptimizerConfig.defaultAdamWWeightDecay)
    /// d theta/dt = -grad L, full batch, by Dormand-Prince 5(4) (``GradientFlow``) up to
    /// ``TrainingConfig/flowTime``, with relative tolerance `tolerance` and absolute tolerance
    /// `absoluteTolerance` (by default the relative one: a local error within tol (1 + |theta_i|)).
    case gradientFlow(tolerance: Double = OptimizerConfig.defaultFlowTolerance, absoluteTolerance: Double? = nil)

    /// Gradient flow's relative tolerance.
    public static let defaultFlowTolerance = 1e-6

    /// The `optimizer` key's value.
    public var name: String {
        switch self {
        case .sgd: "sgd"
        case .adam: "adam"
        case .adamw: "adamw"
        case .gradientFlow: "gradientFlow"
        }
    }

    /// The weight decay of any of the optimizers.
    public var weightDecay: Double {
        switch self {
        case .sgd(_, let decay), .adam(_, _, _, let decay), .adamw(_, _, _, let decay): decay
        case .gradientFlow: 0
        }
    }
}

/// Samples per optimizer step.
public enum BatchSize: Sendable, Equatable {
    /// The whole training set every step.
    case full
    case samples(Int)

    /// The batch size for a training set of `trainingSamples` rows (never more than the set).
    public func resolved(trainingSamples: Int) -> Int {
        switch self {
        case .full: trainingSamples
        case .samples(let count): min(count, trainingSamples)
        }
    }
}

// MARK: - Decoding

extension TrainingConfig {
    static let keys = ["optimizer", "learningRate", "epochs", "batchSize", "momentum", "weightDecay", "betas", "eps",
                       "targetLoss", "earlyStop", "checkpointEvery", "logEvery", "loss", "time", "tolerance", "absoluteTolerance",
                       "jacobianPenalty"]
    static let optimizerNames = ["sgd", "adam", "adamw", "gradientFlow"]

    static func decode(_ object: ConfigObject?, data: DataConfig, context: DecodingContext) -> TrainingConfig {
        guard let object else { return TrainingConfig() }
        var training = TrainingConfig()
        let optimizerPath = object.path.appending("optimizer")
        let optimizerName = object.value("optimizer", default: defaultOptimizer.name) { node -> String? in
            guard case .string(let text) = node.value, optimizerNames.contains(text) else {
                return node.mismatch(ConfigNode.oneOf(optimizerNames))
            }
            return text
        }
        training.learningRate = object.value("learningRate", default: defaultLearningRate) { $0.number("a number > 0") { $0 > 0 } }
        training.epochs = object.value("epochs", default: defaultEpochs) {
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
        training.earlyStop = object.take("earlyStop")?.object().map(EarlyStopConfig.decode)
        training.checkpointEvery = object.take("checkpointEvery").flatMap {
            $0.integer("a positive integer (epochs between checkpoints)", in: 1...largestSize)
        }
        training.logEvery = object.value("logEvery", default: defaultLogEvery) {
            $0.integer("a positive integer (epochs between loss records)", in: 1...largestSize)
        }
        training.jacobianPenalty = object.value("jacobianPenalty", default: defaultJacobianPenalty) {
            $0.number("a number >= 0 (lambda of the Jacobian penalty; 0 for none)") { $0 >= 0 && $0 <= 1e12 }
        }
        training.loss = object.value("loss", default: defaultLoss) { $0.choice(LossFunction.self) }
        if optimizerName == "gradientFlow" {
            training.time = object.take("time").flatMap { $0.number("a number > 0 (the flow's end time)") { $0 > 0 && $0.isFinite } }
        }
        training.optimizer = OptimizerConfig.decode(object, name: optimizerName, optimizerPath: optimizerPath)
        if case .gradientFlow = training.optimizer {
            if training.batchSize != .full {
                object.context.report(object.path.appending("batchSize"),
                                      "gradient flow follows the full-batch loss; use \"full\" (or leave batchSize out)")
            }
        }
        return training
    }
}

extension OptimizerConfig {
    /// The settings of the optimizer called `name` from the `training` object, then its leftover
    /// keys reported (another optimizer's settings do not apply).
    static func decode(_ object: ConfigObject, name: String, optimizerPath: JSONPath) -> OptimizerConfig {
        let weightDecay = { (fallback: Double) in
            object.value("weightDecay", default: fallback) { $0.number("a number >= 0") { $0 >= 0 } }
        }
        let notFor = { (name: String) in
            ConfigObject.Inapplicable(reason: "to \"optimizer\": \"\(name)\"", decidedBy: [optimizerPath])
        }
        let notForDescent = ConfigObject.Inapplicable(reason: "to gradient descent (only to \"optimizer\": \"gradientFlow\")",
                                                      decidedBy: [optimizerPath])
        let descentOnly: [String: ConfigObject.Inapplicable] = ["time": notForDescent, "tolerance": notForDescent,
                                                                "absoluteTolerance": notForDescent]
        switch name {
        case "gradientFlow":
            let tolerance = object.value("tolerance", default: defaultFlowTolerance) {
                $0.number("a number > 0 and < 1 (relative tolerance)") { $0 > 0 && $0 < 1 }
            }
            let absolute = object.take("absoluteTolerance").flatMap { $0.number("a number > 0") { $0 > 0 && $0.isFinite } }
            let flowOnly = ConfigObject.Inapplicable(reason: "to \"optimizer\": \"gradientFlow\"", decidedBy: [optimizerPath])
            object.finish(known: TrainingConfig.keys,
                          inapplicable: ["momentum": flowOnly, "betas": flowOnly, "eps": flowOnly, "weightDecay": flowOnly])
            return .gradientFlow(tolerance: tolerance, absoluteTolerance: absolute)
        case "sgd":
            let momentum = object.value("momentum", default: defaultMomentum) {
                $0.number("a number from 0 up to but not including 1") { $0 >= 0 && $0 < 1 }
            }
            let optimizer = OptimizerConfig.sgd(momentum: momentum, weightDecay: weightDecay(defaultWeightDecay))
            object.finish(known: TrainingConfig.keys, inapplicable: ["betas": notFor("sgd"), "eps": notFor("sgd")].merging(descentOnly) { $1 })
            return optimizer
        default:
            let betas = object.value("betas", default: (defaultBeta1, defaultBeta2)) { node -> (Double, Double)? in
                guard case .array(let values) = node.value, values.count == 2,
                      let first = values[0].doubleValue, let second = values[1].doubleValue,
                      (0..<1).contains(first), (0..<1).contains(second) else {
                    return node.mismatch("a list [beta1, beta2] of two numbers from 0 up to but not including 1")
                }
                return (first, second)
            }
            let eps = object.value("eps", default: defaultEps) { $0.number("a number > 0") { $0 > 0 } }
            let optimizer: OptimizerConfig = name == "adamw"
                ? .adamw(beta1: betas.0, beta2: betas.1, eps: eps, weightDecay: weightDecay(defaultAdamWWeightDecay))
                : .adam(beta1: betas.0, beta2: betas.1, eps: eps, weightDecay: weightDecay(defaultWeightDecay))
            object.finish(known: TrainingConfig.keys, inapplicable: ["momentum": notFor(name)].merging(descentOnly) { $1 })
            return optimizer
        }
    }
}

extension ModelConfig {
    /// Why this network cannot train with a Jacobian penalty, or nil: a BatchNorm has no per-sample
    /// input Jacobian in training (its batch statistics couple the rows) and no tangent forward;
    /// width "infinite" has no finite network to penalise (its predictor is the JNTK's).
    var jacobianPenaltyProblem: String? {
        if hasBatchNorm {
            return "a Jacobian penalty needs each sample's input Jacobian, which a \"batchNorm\" network in training does "
                + "not have (its batch statistics couple the rows); use \"layerNorm\" or \"rmsNorm\", or a penalty of 0"
        }
        // Width "infinite" runs the robust-training predictor (JacobianPenaltyRegression) instead.
        return nil
    }
}

// MARK: - Encoding

extension TrainingConfig {
    /// The `training` section as JSON, with the optimizer's own settings.
    public var json: JSONValue {
        var members = [
            JSONMember("optimizer", .string(optimizer.name)),
            JSONMember("learningRate", .number(learningRate)),
            JSONMember("epochs", .number(epochs)),
        ]
        switch batchSize {
        case .full: members.append(JSONMember("batchSize", .string("full")))
        case .samples(let count): members.append(JSONMember("batchSize", .number(count)))
        }
        switch optimizer {
        case .sgd(let momentum, let weightDecay):
            members.append(JSONMember("momentum", .number(momentum)))
            members.append(JSONMember("weightDecay", .number(weightDecay)))
        case .adam(let beta1, let beta2, let eps, let weightDecay), .adamw(let beta1, let beta2, let eps, let weightDecay):
            members.append(JSONMember("betas", .array([.number(beta1), .number(beta2)])))
            members.append(JSONMember("eps", .number(eps)))
            members.append(JSONMember("weightDecay", .number(weightDecay)))
        case .gradientFlow(let tolerance, let absoluteTolerance):
            members.append(JSONMember("time", .number(flowTime)))
            members.append(JSONMember("tolerance", .number(tolerance)))
            if let absoluteTolerance { members.append(JSONMember("absoluteTolerance", .number(absoluteTolerance))) }
        }
        // Written only away from its default, so older runs' config.json read as they did.
        if loss != Self.defaultLoss { members.append(JSONMember("loss", .string(loss.rawValue))) }
        if let targetLoss { members.append(JSONMember("targetLoss", .number(targetLoss))) }
        if let earlyStop { members.append(JSONMember("earlyStop", earlyStop.json)) }
        if let checkpointEvery { members.append(JSONMember("checkpointEvery", .number(checkpointEvery))) }
        members.append(JSONMember("logEvery", .number(logEvery)))
        // Only when set, so that configs written before the key existed resolve as they did.
        if jacobianPenalty != 0 { members.append(JSONMember("jacobianPenalty", .number(jacobianPenalty))) }
        return .object(members)
    }
}
