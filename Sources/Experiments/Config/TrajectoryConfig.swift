/// `evaluation.trajectory`: beside the configured gradient descent (step eta), the same
/// initialisation trained with eta / r for each r in `stepRatios`, and by gradient flow, all
/// compared at matched times t = k eta (Elkabetz & Cohen 2021, "Continuous vs. Discrete
/// Optimization of Deep Neural Networks"). Written to `trajectory.csv` and `trajectory.svg`.
public struct TrajectoryConfig: Sendable, Equatable {
    public static let defaultStepRatios = [2, 5, 10, 20]
    public static let defaultStamps = 100
    public static let defaultGradientFlow = true
    public static let defaultHessian = false
    public static let defaultTolerance = OptimizerConfig.defaultFlowTolerance

    /// The divisors r of the learning rate; each run takes r times the steps.
    public var stepRatios: [Int]
    /// Times recorded, evenly spaced in steps of the configured GD (plus t = 0 and the end).
    public var stamps: Int
    /// Whether gradient flow (``GradientFlow``, at `tolerance`) runs too.
    public var gradientFlow: Bool
    /// The flow's relative tolerance (rtol; atol the same, as for `"optimizer": "gradientFlow"`).
    public var tolerance: Double
    /// Whether the Hessian's extreme eigenvalues are measured at every time (on the flow's path,
    /// or the configured run's without the flow): Lanczos on exact Hessian-vector products (``MLPHessian``).
    public var hessian: Bool

    public init(stepRatios: [Int] = TrajectoryConfig.defaultStepRatios, stamps: Int = TrajectoryConfig.defaultStamps,
                gradientFlow: Bool = TrajectoryConfig.defaultGradientFlow, hessian: Bool = TrajectoryConfig.defaultHessian,
                tolerance: Double = TrajectoryConfig.defaultTolerance) {
        self.stepRatios = stepRatios
        self.stamps = stamps
        self.gradientFlow = gradientFlow
        self.hessian = hessian
        self.tolerance = tolerance
    }
}

// MARK: - Decoding

extension TrajectoryConfig {
    static let keys = ["stepRatios", "stamps", "gradientFlow", "hessian", "tolerance"]

    static func decode(_ object: ConfigObject) -> TrajectoryConfig {
        var config = TrajectoryConfig()
        config.stepRatios = object.value("stepRatios", default: defaultStepRatios) { node -> [Int]? in
            guard case .array(let values) = node.value, !values.isEmpty,
                  case let ratios = values.compactMap(\.integerValue), ratios.count == values.count,
                  ratios.allSatisfy({ $0 >= 2 && $0 <= 10_000 }), Set(ratios).count == ratios.count else {
                return node.mismatch("a non-empty list of distinct integers from 2 to 10000 (the learning rate's divisors)")
            }
            return ratios
        }
        config.stamps = object.value("stamps", default: defaultStamps) { $0.integer("a positive integer (times recorded)", in: 1...100_000) }
        config.gradientFlow = object.value("gradientFlow", default: defaultGradientFlow) { $0.bool() }
        config.hessian = object.value("hessian", default: defaultHessian) { $0.bool() }
        config.tolerance = object.value("tolerance", default: defaultTolerance) {
            $0.number("a number > 0 and < 1 (the flow's relative tolerance)") { $0 > 0 && $0 < 1 }
        }
        object.finish(known: keys)
        return config
    }

    /// The comparison is of plain full-batch gradient descent (Euler's method for the flow).
    static func checkTraining(_ training: TrainingConfig, context: DecodingContext) {
        let path = JSONPath.root.appending("evaluation").appending("trajectory")
        guard case .sgd(let momentum, let weightDecay) = training.optimizer, momentum == 0, weightDecay == 0 else {
            context.report(path, "compares plain gradient descent with gradient flow: it needs \"optimizer\": \"sgd\" without "
                + "momentum or weight decay, found \"\(training.optimizer.name)\"" + (training.optimizer.name == "sgd" ? " with momentum or weight decay" : ""))
            return
        }
        if training.batchSize != .full {
            context.report(path, "compares full-batch gradient descent with gradient flow: it needs \"batchSize\": \"full\"")
        }
    }

    public var json: JSONValue {
        .object([
            JSONMember("stepRatios", .array(stepRatios.map { .number($0) })),
            JSONMember("stamps", .number(stamps)),
            JSONMember("gradientFlow", .bool(gradientFlow)),
            JSONMember("hessian", .bool(hessian)),
            JSONMember("tolerance", .number(tolerance)),
        ])
    }
}
