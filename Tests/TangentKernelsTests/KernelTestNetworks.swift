import Testing
import TangentKernels
import TestSupport

/// The diagonal of a square matrix.
func diagonal(_ matrix: Tensor<Double>) -> Tensor<Double> {
    let n = matrix.shape[0]
    return Tensor(shape: [n], scalars: (0..<n).map { matrix[$0, $0] })
}

/// An MLP as the reference scripts build them: per hidden layer a Dense, optionally a LayerNorm,
/// then the activation; a final Dense to one output. NTK parameterization unless `standard`.
func multilayerPerceptron(
    inputs: Int, width: Int, hiddenLayers: Int, layerNormAfter: Set<Int> = [], activation: Activation = .relu,
    weightStandardDeviation: Double = 2.0.squareRoot(), biasStandardDeviation: Double = 0.1,
    layerNormEpsilon: Double = 1e-12, layerNormAffine: Bool = false, standard: Bool = false, seed: UInt64 = 0
) -> Sequential<Double> {
    multilayerPerceptron(
        Double.self, inputs: inputs, width: width, hiddenLayers: hiddenLayers, layerNormAfter: layerNormAfter,
        activation: activation, weightStandardDeviation: weightStandardDeviation,
        biasStandardDeviation: biasStandardDeviation, layerNormEpsilon: layerNormEpsilon,
        layerNormAffine: layerNormAffine, standard: standard, seed: seed)
}

func multilayerPerceptron<Scalar: BLASScalar>(
    _ scalar: Scalar.Type, inputs: Int, width: Int, hiddenLayers: Int, layerNormAfter: Set<Int> = [],
    activation: Activation = .relu, weightStandardDeviation: Double = 2.0.squareRoot(),
    biasStandardDeviation: Double = 0.1, layerNormEpsilon: Scalar = 1e-12, layerNormAffine: Bool = false,
    standard: Bool = false, seed: UInt64 = 0
) -> Sequential<Scalar> {
    var generator = Xoshiro256StarStar(seed: seed)
    var layers: [any Layer<Scalar>] = []
    var fanIn = inputs
    func dense(_ fanIn: Int, _ fanOut: Int) -> Dense<Scalar> {
        standard
            ? Dense(fanIn, fanOut, weightInitialization: .kaimingNormal, biasInitialization: .normal(standardDeviation: 0.1), generator: &generator)
            : Dense(ntk: fanIn, fanOut, weightStandardDeviation: weightStandardDeviation,
                    biasStandardDeviation: biasStandardDeviation, generator: &generator)
    }
    for layer in 0..<hiddenLayers {
        layers.append(dense(fanIn, width))
        if layerNormAfter.contains(layer) {
            let norm = LayerNorm<Scalar>(width, epsilon: layerNormEpsilon, affine: layerNormAffine)
            if layerNormAffine {
                // Non-trivial gamma and beta, so that their part of the kernel is exercised.
                norm.weight!.value = .randomUniform([width], low: 0.5, high: 1.5, using: &generator)
                norm.bias!.value = .randomUniform([width], low: -0.3, high: 0.3, using: &generator)
            }
            layers.append(norm)
        }
        layers.append(ActivationLayer<Scalar>(activation))
        fanIn = width
    }
    layers.append(dense(fanIn, 1))
    return Sequential(layers)
}

/// The structured empirical NTK against per-sample Jacobians (1e-10), with x2 given and omitted
/// (then the kernel is exactly symmetric).
func expectStructuredKernelMatchesJacobians(_ network: Sequential<Double>, _ name: String) throws {
    let x1 = randomPoints(5, 3, seed: 1), x2 = randomPoints(4, 3, seed: 2, scale: 2)
    let cross = try network.empiricalTangentKernel(x1, x2)
    let crossError = relativeError(cross, try network.empiricalTangentKernelFromJacobians(x1, x2))
    #expect(crossError < 1e-10, "\(name) x2 given: \(crossError)")
    let symmetric = try network.empiricalTangentKernel(x1)
    let symmetricError = relativeError(symmetric, try network.empiricalTangentKernelFromJacobians(x1))
    #expect(symmetricError < 1e-10, "\(name) x2 omitted: \(symmetricError)")
    #expect(symmetric == symmetric.transposed())
}

/// Random points, one a row.
func randomPoints(_ count: Int, _ features: Int, seed: UInt64, scale: Double = 1) -> Tensor<Double> {
    var generator = Xoshiro256StarStar(seed: seed)
    return .randomNormal([count, features], standardDeviation: scale, using: &generator)
}
