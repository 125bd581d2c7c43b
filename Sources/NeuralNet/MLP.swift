/// The multilayer perceptrons this field studies, built from a description: Dense, optional
/// LayerNorm (after the Dense of chosen hidden layers, before the activation), activation, ...,
/// then a final Dense. Module indices and names follow PyTorch's `nn.Sequential` of the same layers.
public struct MLPDescription: Sendable, Equatable {
    public var inputSize: Int
    public var width: Int
    public var hiddenLayers: Int
    public var outputSize: Int = 1
    public var activation: Activation = .relu
    /// Hidden-layer indices (0-based) followed by a LayerNorm.
    public var layerNormAfter: Set<Int> = []
    public var layerNormAffine: Bool = true
    public var layerNormEpsilon: Double = 1e-5
    public var parameterization: Parameterization = .standard
    public var weightInitialization: WeightInitialization = .kaimingUniform
    public var biasInitialization: BiasInitialization = .pytorch
    /// sigma_w and sigma_b of the NTK parameterization.
    public var weightStandardDeviation: Double = 2.0.squareRoot()
    public var biasStandardDeviation: Double = 0.1

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
