/// `evaluation.kernel`: the empirical NTK of the finite network on probe points (the first
/// `points` training points), at initialisation and every `every` epochs of training (its drift,
/// `kernel.csv`), and optionally over `initializations` independent initialisations (its
/// dispersion, `kernel-dispersion.csv`). Absent: no kernel is computed.
public struct KernelEvaluationConfig: Sendable, Equatable {
    public static let defaultPoints = 32
    /// More initialisations than this is a typo: 10^5 already pins R to three digits.
    static let largestInitializationCount = 1_000_000

    /// Probe points: the first this many training points (all of them when the set is smaller).
    public var points: Int
    /// Epochs between kernel measurements; nil for a tenth of the epochs (see ``interval(epochs:)``).
    public var every: Int?
    /// Independent initialisations for the dispersion R = E[Theta_0(x,x)^2] / E[Theta_0(x,x)]^2; nil for none.
    public var initializations: Int?

    /// 32 probe points, measured every tenth of the run, no dispersion.
    public init(points: Int = KernelEvaluationConfig.defaultPoints, every: Int? = nil, initializations: Int? = nil) {
        self.points = points
        self.every = every
        self.initializations = initializations
    }

    /// Epochs between kernel measurements: `every`, or by default a tenth of the epochs (at least 1).
    public func interval(epochs: Int) -> Int { every ?? max(epochs / 10, 1) }
}

// MARK: - Decoding

extension KernelEvaluationConfig {
    static let keys = ["points", "every", "initializations"]

    static func decode(_ object: ConfigObject) -> KernelEvaluationConfig {
        var kernel = KernelEvaluationConfig()
        kernel.points = object.value("points", default: defaultPoints) {
            $0.integer("a positive integer (probe points: the first N training points)", in: 1...largestSize)
        }
        kernel.every = object.take("every").flatMap {
            $0.integer("a positive integer (epochs between kernel measurements)", in: 1...largestSize)
        }
        kernel.initializations = object.take("initializations").flatMap {
            $0.integer("an integer from 2 to \(largestInitializationCount) (independent initialisations for the dispersion)",
                       in: 2...largestInitializationCount)
        }
        object.finish(known: keys)
        return kernel
    }

    /// Problems of a kernel section with the rest of the config: the empirical NTK needs a finite
    /// network whose points do not interact, and probe points the training set has.
    static func check(_ kernel: KernelEvaluationConfig, model: ModelConfig, data: DataConfig, context: DecodingContext) {
        let path = JSONPath.root.appending("evaluation").appending("kernel")
        if model.width == .infinite {
            context.report(path, "needs a finite network (the empirical NTK of width \"infinite\" is the analytic one); "
                + "remove evaluation.kernel or set model.width to a number")
        } else if model.hasBatchNorm {
            context.report(path, "the empirical NTK is not defined for a network with \"batchNorm\": in training its batch "
                + "statistics make each point's output depend on the others; use \"layerNorm\" or \"rmsNorm\", or remove evaluation.kernel")
        }
        if case .synthetic(let synthetic) = data, kernel.points > synthetic.trainSize {
            context.report(path.appending("points"), "\(kernel.points) probe points, but data.trainSize is \(synthetic.trainSize); "
                + "the probe points are the first N training points")
        }
    }
}

// MARK: - Encoding

extension KernelEvaluationConfig {
    /// The `evaluation.kernel` object; `every` and `initializations` only when set.
    public var json: JSONValue {
        var members = [JSONMember("points", .number(points))]
        if let every { members.append(JSONMember("every", .number(every))) }
        if let initializations { members.append(JSONMember("initializations", .number(initializations))) }
        return .object(members)
    }
}
