/// The multilayer perceptrons this field studies, built from a description: Dense, optional
/// LayerNorm (after the Dense of chosen hidden layers, before the activation), activation, ...,
/// then a final Dense. Module indices and names follow PyTorch's `nn.Sequential` of the same layers.
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
    /// PyTorch's `nn.LayerNorm` default.
    public static let defaultLayerNormEpsilon = 1e-5

    public var inputSize: Int
    public var width: Int
    public var hiddenLayers: Int
    public var outputSize: Int = 1
    public var activation: Activation = .relu
    /// Hidden-layer indices (0-based) followed by a LayerNorm.
    public var layerNormAfter: Set<Int> = []
    public var layerNormAffine: Bool = true
    public var layerNormEpsilon: Double = MLPDescription.defaultLayerNormEpsilon
    public var parameterization: Parameterization = .standard
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

    /// The number of trainable scalars.
    public var parameterCount: Int {
        var total = 0
        var fanIn = inputSize
        for layer in 0..<hiddenLayers {
            total += fanIn * width + width
            if layerNormAfter.contains(layer) && layerNormAffine { total += 2 * width }
            fanIn = width
        }
        return total + fanIn * outputSize + outputSize
    }

    /// Builds the network, drawing initial parameters from `generator`.
    public func build<Scalar: BLASScalar>(_ type: Scalar.Type = Scalar.self, generator: inout Xoshiro256StarStar) -> Sequential<Scalar> {
        var layers: [any Layer<Scalar>] = []
        var fanIn = inputSize
        for index in 0...hiddenLayers {
            let fanOut = index == hiddenLayers ? outputSize : width
            switch parameterization {
            case .standard:
                layers.append(Dense<Scalar>(fanIn, fanOut, weightInitialization: weightInitialization,
                                            biasInitialization: biasInitialization, generator: &generator))
            case .ntk:
                layers.append(Dense<Scalar>(ntk: fanIn, fanOut, weightStandardDeviation: weightStandardDeviation,
                                            biasStandardDeviation: biasStandardDeviation, generator: &generator))
            }
            guard index < hiddenLayers else { break }
            if layerNormAfter.contains(index) {
                layers.append(LayerNorm<Scalar>(width, epsilon: Scalar(layerNormEpsilon), affine: layerNormAffine))
            }
            layers.append(ActivationLayer<Scalar>(activation))
            fanIn = width
        }
        return Sequential(layers)
    }
}
