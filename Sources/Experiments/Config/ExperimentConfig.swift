/// One run's configuration with every default filled in: what to train on, which network,
/// how to train it, and how to measure its extrapolation.
///
/// Read a config file with ``ExperimentPlan/load(path:memoryLimitBytes:)``, which also expands
/// `variants` and `seeds` into runs; `docs/config.md` describes every key.
public struct ExperimentConfig: Sendable, Equatable {
    /// The run's name (the run folder is `runs/<name>/` by default). Letters, digits, `-`, `_`, `.`.
    public var name: String
    /// The seed every random choice of the run derives from (see ``RandomStream``).
    public var seed: UInt64
    public var precision: Precision
    public var data: DataConfig
    public var model: ModelConfig
    public var training: TrainingConfig
    public var evaluation: EvaluationConfig

    public init(name: String, seed: UInt64 = 0, precision: Precision = .float64, data: DataConfig = .synthetic(.init()),
                model: ModelConfig = .init(), training: TrainingConfig = .init(), evaluation: EvaluationConfig = .init()) {
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

// MARK: - Data

/// Where the training data comes from.
public enum DataConfig: Sendable, Equatable {
    case synthetic(SyntheticDataConfig)
    case csv(CSVDataConfig)

    /// The `kind` key's value.
    public var kind: String {
        switch self {
        case .synthetic: "synthetic"
        case .csv: "csv"
        }
    }

    /// The input dimension if the config alone fixes it (the feature count for CSV data).
    public var inputDim: Int {
        switch self {
        case .synthetic(let synthetic): synthetic.inputDim
        case .csv(let csv): csv.features.count
        }
    }
}

/// A target function of the inputs, sampled at `trainSize` uniform random points of the box
/// `[domain.lower, domain.upper]^inputDim`. See ``SyntheticTarget`` for the functions.
public struct SyntheticDataConfig: Sendable, Equatable {
    public var target: SyntheticTarget
    public var inputDim: Int
    public var trainSize: Int
    /// The interval each input coordinate is drawn from; `lower < upper`.
    public var domain: Interval

    public init(target: SyntheticTarget = .sin, inputDim: Int = 1, trainSize: Int = 100,
                domain: Interval = Interval(lower: -1, upper: 1)) {
        self.target = target
        self.inputDim = inputDim
        self.trainSize = trainSize
        self.domain = domain
    }
}

/// A closed interval `[lower, upper]` of real numbers.
public struct Interval: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public init(lower: Double, upper: Double) {
        self.lower = lower
        self.upper = upper
    }
    public var width: Double { upper - lower }
    public var midpoint: Double { (lower + upper) / 2 }
    public func contains(_ value: Double) -> Bool { value >= lower && value <= upper }
}

/// Rows of a CSV file: named feature columns predict a named target column.
public struct CSVDataConfig: Sendable, Equatable {
    /// The file, relative to the current directory unless absolute.
    public var path: String
    public var features: [String]
    public var target: String
    /// Standardise features and target to mean 0 and standard deviation 1, using statistics of
    /// the training rows only.
    public var standardize: Bool
    /// The covariate-shift split; nil means every row trains.
    public var split: CovariateShiftSplit?
    /// Where to get the file when it is not there (a data set too large or not ours to ship).
    public var source: String?

    public init(path: String, features: [String], target: String, standardize: Bool = true,
                split: CovariateShiftSplit? = nil, source: String? = nil) {
        self.path = path
        self.features = features
        self.target = target
        self.standardize = standardize
        self.split = split
        self.source = source
    }
}

/// Rows with `column < below` are in distribution: a random `validationFraction` of them is the
/// validation set and the rest train. Rows with `column >= below` are the out-of-distribution
/// test set.
public struct CovariateShiftSplit: Sendable, Equatable {
    public var column: String
    public var below: Double
    /// In `[0, 1)`.
    public var validationFraction: Double

    public init(column: String, below: Double, validationFraction: Double = 0.1) {
        self.column = column
        self.below = below
        self.validationFraction = validationFraction
    }
}

// MARK: - Model

/// The multilayer perceptron: `hiddenLayers` blocks of Dense (+ LayerNorm) + activation, then a
/// Dense layer to one output.
public struct ModelConfig: Sendable, Equatable {
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

    /// The paper's network: 2 hidden layers of 128 ReLU units, no LayerNorm, Kaiming-normal
    /// weights, N(0, 0.01) biases. `layerNormAffine` defaults to true for a finite network with
    /// LayerNorm and to false otherwise.
    public init(hiddenLayers: Int = 2, width: Width = .finite(128), activation: Activation = .relu,
                layerNorm: LayerNormPlacement = .none, layerNormAffine: Bool? = nil,
                parameterization: Parameterization = .standard, weightInit: WeightInit? = .kaimingNormal,
                biasInit: BiasInit? = .normal, weightStd: Double? = nil, biasStd: Double? = 0.1) {
        self.hiddenLayers = hiddenLayers
        self.width = width
        self.activation = activation
        self.layerNorm = layerNorm
        self.layerNormAffine = layerNorm == .none ? false : (layerNormAffine ?? (width != .infinite))
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

/// Which hidden layers get a LayerNorm.
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
}

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

// MARK: - Training

/// How the network is trained: optimizer, learning rate, epochs, batches, logging.
public struct TrainingConfig: Sendable, Equatable {
    public var optimizer: OptimizerConfig
    public var learningRate: Double
    /// Passes over the training set; 0 measures the network as initialised.
    public var epochs: Int
    public var batchSize: BatchSize
    /// Stop early once the training loss is at or below this.
    public var targetLoss: Double?
    /// Save a checkpoint every this many epochs (the final model is always saved).
    public var checkpointEvery: Int?
    /// Record the training loss every this many epochs (and after the last).
    public var logEvery: Int

    /// Adam, learning rate 1e-3, 3000 full-batch epochs, the loss logged every 10 epochs.
    public init(optimizer: OptimizerConfig = .adam(), learningRate: Double = 1e-3, epochs: Int = 3000,
                batchSize: BatchSize = .full, targetLoss: Double? = nil, checkpointEvery: Int? = nil,
                logEvery: Int = 10) {
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.targetLoss = targetLoss
        self.checkpointEvery = checkpointEvery
        self.logEvery = logEvery
    }
}

/// The optimizer and its settings; defaults are PyTorch's.
public enum OptimizerConfig: Sendable, Equatable {
    case sgd(momentum: Double = 0, weightDecay: Double = 0)
    case adam(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0)
    /// Adam with decoupled weight decay.
    case adamw(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01)

    /// The `optimizer` key's value.
    public var name: String {
        switch self {
        case .sgd: "sgd"
        case .adam: "adam"
        case .adamw: "adamw"
        }
    }

    /// The weight decay of any of the optimizers.
    public var weightDecay: Double {
        switch self {
        case .sgd(_, let decay), .adam(_, _, _, let decay), .adamw(_, _, _, let decay): decay
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

// MARK: - Evaluation

/// How extrapolation is measured: the scales, the directions, and the 1-D curve.
public struct EvaluationConfig: Sendable, Equatable {
    public var lambdas: LambdaGridConfig
    public var directions: DirectionChoice
    /// For 1-D inputs: where to draw the prediction curve; nil for none.
    public var curve: CurveConfig?

    public init(lambdas: LambdaGridConfig = .init(), directions: DirectionChoice = .training, curve: CurveConfig? = nil) {
        self.lambdas = lambdas
        self.directions = directions
        self.curve = curve
    }
}

/// A log-spaced grid of scales from `from` to `to` (both included) with `perDecade` points a decade.
public struct LambdaGridConfig: Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var perDecade: Int
    /// 1 to 10^4, 4 points a decade: 17 scales.
    public init(from: Double = 1, to: Double = 10_000, perDecade: Int = 4) {
        self.from = from
        self.to = to
        self.perDecade = perDecade
    }
    /// The grid's values, ascending.
    public var values: [Double] { lambdaGrid(from: from, to: to, perDecade: perDecade) }
}

/// The rays `x -> lambda * u` are walked along.
public enum DirectionChoice: Sendable, Equatable {
    /// Every training input u as it is (so lambda = 1 is the training data).
    case training
    /// This many random unit vectors, drawn uniformly on the sphere.
    case random(Int)
}

/// `points` evenly spaced inputs from `from` to `to` (1-D inputs only).
public struct CurveConfig: Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var points: Int
    public init(from: Double, to: Double, points: Int = 401) {
        self.from = from
        self.to = to
        self.points = points
    }

    /// The inputs, ascending, first `from` and last `to`.
    public var inputs: [Double] {
        guard points > 1 else { return [from] }
        return (0..<points).map { index in
            index == points - 1 ? to : interpolate(from: from, to: to, step: index, of: points - 1)
        }
    }

    /// The default for a 1-D training interval: ten times as wide, around the same centre.
    public static func around(_ domain: Interval) -> CurveConfig {
        // Clamped: around a domain near ±1e308 ten times as wide is past the largest Double.
        CurveConfig(from: clampedToFinite(midpoint(domain.lower, domain.upper) - 5 * domain.width),
                    to: clampedToFinite(midpoint(domain.lower, domain.upper) + 5 * domain.width))
    }
}
