/// The multilayer perceptrons this field studies, built from a description. Module indices and
/// names follow PyTorch's `nn.Sequential` of the same layers, so a state dict loads either way.
///
/// Plain (`residual == .none`), `hiddenLayers` hidden layers, each Dense, an optional norm (after
/// the Dense of the layers in `layerNormAfter`, before the activation), activation; then the
/// optional final norm (after the last activation); then the output Dense:
/// ```python
/// nn.Sequential(nn.Linear(d, n), nn.LayerNorm(n), nn.ReLU(),     # hidden layer 0, with a norm
///               nn.Linear(n, n), nn.ReLU(),                      # hidden layer 1
///               nn.Linear(n, 1))                                 # 0.weight, 1.weight, 3.weight, 5.weight
/// ```
/// Residual (`.preNorm` or `.postNorm`), a residual MLP of equal widths: a first Dense from the
/// inputs (no activation after it, as a transformer's embedding), then `hiddenLayers` residual
/// blocks whose branch is `f = Dense, activation, Dense`; the blocks in `layerNormAfter` (block
/// indices) hold a norm, `x + f(norm(x))` for pre-norm and `norm(x + f(x))` for post-norm, the
/// others are `x + f(x)`; then the optional final norm; then the output Dense. With the torch
/// module `Residual` (`forward(x) = x + self.inner(x)`, see `Residual`), two pre-norm blocks are
/// ```python
/// nn.Sequential(nn.Linear(d, n),
///               Residual(nn.Sequential(nn.LayerNorm(n), nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n))),
///               Residual(nn.Sequential(nn.LayerNorm(n), nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n))),
///               nn.LayerNorm(n),                                 # finalNorm
///               nn.Linear(n, 1))                                 # 1.inner.0.weight, 1.inner.1.weight, ..., 3.weight, 4.weight
/// ```
/// and two post-norm blocks put each block's norm beside it in the outer `nn.Sequential`:
/// `nn.Sequential(nn.Linear(d, n), Residual(nn.Sequential(nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n))),
/// nn.LayerNorm(n), Residual(...), nn.LayerNorm(n), nn.Linear(n, 1))`.
///
/// The norm is `normalization`'s kind, with epsilon `layerNormEpsilon` and affine parameters when
/// `layerNormAffine` (`nn.LayerNorm(n, eps)`, `nn.RMSNorm(n, eps)`, `nn.BatchNorm1d(n, eps, momentum)`).
///
/// The defaults are PyTorch's: a description left as initialised builds what
/// `nn.Sequential(nn.Linear, nn.ReLU, ..., nn.Linear)` builds, Kaiming-uniform weights and
/// uniform biases (`nn.Linear`'s own initialisation). The experiment config defaults instead to
/// the paper's Kaiming-normal weights and N(0, 0.1^2) biases (Experiments' `ModelConfig`).
public struct MLPDescription: Sendable, Equatable {
    /// PyTorch's `nn.Linear` default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    public static let defaultWeightInitialization = WeightInitialization.kaimingUniform
    /// PyTorch's `nn.Linear` default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    public static let defaultBiasInitialization = BiasInitialization.pytorch
    /// sigma_w = sqrt(2): Kaiming's choice for ReLU, and neural-tangents' reference runs.
    public static let defaultWeightStandardDeviation = 2.0.squareRoot()
    /// sigma_b = 0.1: biases N(0, 0.01), as in the paper.
    public static let defaultBiasStandardDeviation = 0.1
    /// PyTorch's `nn.LayerNorm` and `nn.BatchNorm1d` default (also used for RMSNorm).
    public static let defaultLayerNormEpsilon = 1e-5
    /// LayerNorm, the paper's norm.
    public static let defaultNormalization = Normalization.layerNorm
    /// A plain MLP.
    public static let defaultResidual = ResidualBlocks.none
    /// No norm before the output Dense.
    public static let defaultFinalNorm = false
    /// PyTorch's `nn.BatchNorm1d` default: the running statistics move a tenth of the way each batch.
    public static let defaultBatchNormMomentum: Double? = 0.1

    public var inputSize: Int
    public var width: Int
    /// Hidden layers of a plain MLP; residual blocks of a residual one.
    public var hiddenLayers: Int
    public var outputSize: Int = 1
    public var activation: Activation = .relu
    /// Which norm `layerNormAfter`, `finalNorm`, `layerNormAffine` and `layerNormEpsilon` mean.
    public var normalization: Normalization = MLPDescription.defaultNormalization
    /// Hidden-layer indices (0-based) followed by a norm; block indices for a residual MLP.
    public var layerNormAfter: Set<Int> = []
    public var layerNormAffine: Bool = true
    public var layerNormEpsilon: Double = MLPDescription.defaultLayerNormEpsilon
    /// BatchNorm's running-statistics momentum; nil for a cumulative average (PyTorch's `momentum=None`).
    public var batchNormMomentum: Double? = MLPDescription.defaultBatchNormMomentum
    /// A plain MLP, or residual blocks with the norm before the branch or after the sum.
    public var residual: ResidualBlocks = MLPDescription.defaultResidual
    /// A norm after the last hidden layer or block, before the output Dense.
    public var finalNorm: Bool = MLPDescription.defaultFinalNorm
    public var parameterization: Parameterization = .standard
    /// Whether every Dense layer has a bias (`nn.Linear(..., bias=False)` when not; its state dict
    /// then has no `.bias` entries).
    public var bias: Bool = true
    /// How weights start in the standard parameterization.
    public var weightInitialization: WeightInitialization = MLPDescription.defaultWeightInitialization
    /// How biases start in the standard parameterization.
    public var biasInitialization: BiasInitialization = MLPDescription.defaultBiasInitialization
    /// sigma_w and sigma_b of the NTK parameterization.
    public var weightStandardDeviation: Double = MLPDescription.defaultWeightStandardDeviation
    public var biasStandardDeviation: Double = MLPDescription.defaultBiasStandardDeviation

    public init(inputSize: Int, width: Int, hiddenLayers: Int) {
        self.inputSize = inputSize
        self.width = width
        self.hiddenLayers = hiddenLayers
    }

    /// The norms after hidden layers or in blocks (each over `width` units), without the final one.
    var hiddenNormCount: Int { layerNormAfter.filter { (0..<hiddenLayers).contains($0) }.count }

    /// The units the output Dense (and the final norm) sees: `width`, or the inputs for a plain
    /// MLP without hidden layers.
    var lastWidth: Int { residual == .none && hiddenLayers == 0 ? inputSize : width }

    /// The number of trainable scalars (BatchNorm's running statistics are buffers, not counted).
    public var parameterCount: Int {
        func dense(_ fanIn: Int, _ fanOut: Int) -> Int { fanIn * fanOut + (bias ? fanOut : 0) }
        let hidden = switch residual {
        case .none: hiddenLayers == 0 ? 0 : dense(inputSize, width) + (hiddenLayers - 1) * dense(width, width)
        case .preNorm, .postNorm: dense(inputSize, width) + 2 * hiddenLayers * dense(width, width)
        }
        let norms = hiddenNormCount * normalization.parameterCount(width: width, affine: layerNormAffine)
            + (finalNorm ? normalization.parameterCount(width: lastWidth, affine: layerNormAffine) : 0)
        return hidden + norms + dense(lastWidth, outputSize)
    }

    /// Builds the network, drawing initial parameters from `generator` (Dense layers in order of
    /// their appearance). A BatchNorm starts in training mode.
    public func build<Scalar: BLASScalar>(_ type: Scalar.Type = Scalar.self, generator: inout Xoshiro256StarStar) -> Sequential<Scalar> {
        precondition(residual == .none || hiddenLayers >= 1,
                     "MLPDescription: a residual MLP needs at least one block (hiddenLayers >= 1), got \(hiddenLayers)")
        func dense(_ fanIn: Int, _ fanOut: Int) -> any Layer<Scalar> {
            switch parameterization {
            case .standard:
                Dense<Scalar>(fanIn, fanOut, bias: bias, weightInitialization: weightInitialization,
                              biasInitialization: biasInitialization, generator: &generator)
            case .ntk:
                Dense<Scalar>(ntk: fanIn, fanOut, weightStandardDeviation: weightStandardDeviation,
                              biasStandardDeviation: biasStandardDeviation, bias: bias, generator: &generator)
            }
        }
        var layers: [any Layer<Scalar>] = []
        var fanIn = inputSize
        switch residual {
        case .none:
            for index in 0..<hiddenLayers {
                layers.append(dense(fanIn, width))
                if layerNormAfter.contains(index) { layers.append(norm(width)) }
                layers.append(ActivationLayer<Scalar>(activation))
                fanIn = width
            }
        case .preNorm, .postNorm:
            layers.append(dense(inputSize, width))
            fanIn = width
            for block in 0..<hiddenLayers {
                let normed = layerNormAfter.contains(block)
                let branch: [any Layer<Scalar>] = [dense(width, width), ActivationLayer<Scalar>(activation), dense(width, width)]
                if residual == .preNorm {
                    layers.append(Residual(Sequential((normed ? [norm(width)] : []) + branch)))
                } else {
                    layers.append(Residual(Sequential(branch)))
                    if normed { layers.append(norm(width)) }
                }
            }
        }
        if finalNorm { layers.append(norm(fanIn)) }
        layers.append(dense(fanIn, outputSize))
        return Sequential(layers)
    }

    /// A norm of `normalization`'s kind over `features` units, with this description's settings.
    func norm<Scalar: BLASScalar>(_ features: Int) -> any Layer<Scalar> {
        let epsilon = Scalar(layerNormEpsilon)
        return switch normalization {
        case .layerNorm: LayerNorm<Scalar>(features, epsilon: epsilon, affine: layerNormAffine)
        case .rmsNorm: RMSNorm<Scalar>(features, epsilon: epsilon, affine: layerNormAffine)
        case .batchNorm: BatchNorm<Scalar>(features, epsilon: epsilon, momentum: batchNormMomentum.map { Scalar($0) },
                                           affine: layerNormAffine)
        }
    }
}

/// Which normalization layer an ``MLPDescription`` uses (the config's `model.normalization`).
public enum Normalization: String, Sendable, CaseIterable {
    /// ``LayerNorm``: each sample over its features, `(x - mean) / std * gamma + beta`.
    case layerNorm
    /// ``RMSNorm``: each sample over its features, `x / rms(x) * gamma`.
    case rmsNorm
    /// ``BatchNorm``: each feature over the batch (training) or by running statistics (evaluation).
    case batchNorm

    /// Affine parameters per unit: gamma and beta (LayerNorm, BatchNorm), gamma alone (RMSNorm).
    public var affineParametersPerUnit: Int { self == .rmsNorm ? 1 : 2 }

    /// The norm's trainable scalars at `width` units.
    public func parameterCount(width: Int, affine: Bool) -> Int { affine ? affineParametersPerUnit * width : 0 }

    /// The layer's name in messages: "LayerNorm", "RMSNorm", "BatchNorm".
    public var layerName: String {
        switch self {
        case .layerNorm: "LayerNorm"
        case .rmsNorm: "RMSNorm"
        case .batchNorm: "BatchNorm"
        }
    }
}

/// Whether an ``MLPDescription`` is a plain MLP or a residual one (the config's `model.residual`).
public enum ResidualBlocks: String, Sendable, CaseIterable {
    /// Dense, (norm), activation per hidden layer.
    case none
    /// Blocks `x + f(norm(x))`, as pre-LN transformers.
    case preNorm
    /// Blocks `norm(x + f(x))`, as the original (post-LN) transformer.
    case postNorm
}
