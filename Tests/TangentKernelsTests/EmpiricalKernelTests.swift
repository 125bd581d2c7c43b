import CustomOperationExamples
import Foundation
import Testing
import TangentKernels
import TestSupport

/// A layer of rowwise arithmetic only (`2.5 * x * x`), which the structured method passes through.
struct ScaledSquare: Layer {
    typealias Scalar = Double
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { 2.5 * (x * x) }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }
}

/// A layer that multiplies by its weight through the general matrix product: an operation the
/// structured method cannot take apart.
struct PlainMatmul: Layer {
    typealias Scalar = Double
    let weight = Parameter<Double>(.ones([3, 1]))
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { matmul(x, x.tape.variable(weight)) }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [("weight", weight)] }
}

/// The structured empirical NTK against per-sample Jacobians, and against PyTorch.
@Suite struct StructuredEmpiricalKernelTests {
    static let architectures = [
        "ntk relu", "ntk relu layerNorm", "ntk tanh layerNorm", "ntk sigmoid", "ntk gelu layerNorm every",
        "ntk geluTanh", "standard relu affine layerNorm", "standard gelu affine layerNorm every", "ntk affine layerNorm",
        "standard tanh", "no bias", "rowwise arithmetic",
    ]

    static func network(_ name: String) -> Sequential<Double> {
        let activation: Activation = name.contains("geluTanh") ? .geluTanh : name.contains("gelu") ? .gelu
            : name.contains("tanh") ? .tanh : name.contains("sigmoid") ? .sigmoid : .relu
        let layerNormAfter: Set<Int> = name.contains("every") ? [0, 1] : name.contains("layerNorm") ? [0] : []
        switch name {
        case "no bias":
            var generator = Xoshiro256StarStar(seed: 3)
            return Sequential(Dense(3, 6, bias: false, generator: &generator), ReLU(),
                              Dense(ntk: 6, 1, weightStandardDeviation: 1.3, biasStandardDeviation: 0, bias: false, generator: &generator))
        case "rowwise arithmetic":
            var generator = Xoshiro256StarStar(seed: 4)
            return Sequential(Dense(ntk: 3, 6, weightStandardDeviation: 1.4, biasStandardDeviation: 0.2, generator: &generator),
                              ScaledSquare(), Tanh(), Dense(6, 1, generator: &generator))
        default:
            return multilayerPerceptron(
                inputs: 3, width: 6, hiddenLayers: 2, layerNormAfter: layerNormAfter, activation: activation,
                biasStandardDeviation: 0.3, layerNormEpsilon: 1e-5, layerNormAffine: name.contains("affine"),
                standard: name.hasPrefix("standard"), seed: 7)
        }
    }

    @Test(arguments: architectures) func agreesWithPerSampleJacobians(_ name: String) throws {
        try expectStructuredKernelMatchesJacobians(Self.network(name), name)
    }

    @Test(arguments: ["ntk relu layerNorm", "standard gelu affine layerNorm every"])
    func blocksAndTilesAgreeWithPerSampleJacobians(_ name: String) throws {
        // 300 points cross the 256 tiles; blocks of 128 points exercise the blocked passes.
        let network = Self.network(name)
        let x1 = randomPoints(300, 3, seed: 5), x2 = randomPoints(270, 3, seed: 6)
        let jacobian1 = try network.parameterJacobian(x1), jacobian2 = try network.parameterJacobian(x2)
        let expectedSymmetric = matmul(jacobian1, jacobian1, transposeB: true)
        let expectedCross = matmul(jacobian1, jacobian2, transposeB: true)
        for rowsPerBlock in [128, 2048] {
            #expect(relativeError(try network.empiricalTangentKernel(x1, rowsPerBlock: rowsPerBlock), expectedSymmetric) < 1e-10)
            #expect(relativeError(try network.empiricalTangentKernel(x1, x2, rowsPerBlock: rowsPerBlock), expectedCross) < 1e-10)
        }
    }

    @Test func floatAgreesWithDouble() throws {
        let double = multilayerPerceptron(inputs: 3, width: 6, hiddenLayers: 2, layerNormAfter: [0], layerNormAffine: true, seed: 8)
        let float = multilayerPerceptron(Float.self, inputs: 3, width: 6, hiddenLayers: 2, layerNormAfter: [0], layerNormAffine: true, seed: 8)
        let x = randomPoints(7, 3, seed: 9)
        let expected = try double.empiricalTangentKernel(x)
        let error = relativeError(try float.empiricalTangentKernel(x.converted(to: Float.self)).converted(to: Double.self), expected)
        #expect(error < 1e-4, "\(error)")
    }

    @Test func parametersGradientsAreLeftAsTheyWere() throws {
        let network = Self.network("standard relu affine layerNorm")
        for parameter in network.parameters { parameter.gradient = .filled(parameter.shape, with: 0.5) }
        let x = randomPoints(4, 3, seed: 10)
        _ = try network.empiricalTangentKernel(x)
        _ = try network.empiricalTangentKernelFromJacobians(x)
        #expect(network.parameters.allSatisfy { $0.gradient == .filled($0.shape, with: 0.5) })
    }

    @Test func unsupportedNetworksThrow() throws {
        var generator = Xoshiro256StarStar(seed: 11)
        let x = randomPoints(4, 3, seed: 12)
        let twoOutputs = Sequential<Double>(Dense(3, 2, generator: &generator))
        #expect(throws: EmpiricalTangentKernelError.outputNotScalar(shape: [4, 2], points: 4)) {
            try twoOutputs.empiricalTangentKernel(x)
        }
        #expect(throws: EmpiricalTangentKernelError.self) { try twoOutputs.empiricalTangentKernelFromJacobians(x) }
        let plain = Sequential<Double>(PlainMatmul())
        #expect(throws: EmpiricalTangentKernelError.unsupportedOperation("a parameter of shape [3, 1] used as a variable")) {
            try plain.empiricalTangentKernel(x, method: .structured)
        }
        // The Jacobian method handles it: f(x) = sum of x, so Theta = x1 . x2; the default method
        // falls back to it.
        #expect(relativeError(try plain.empiricalTangentKernelFromJacobians(x), matmul(x, x, transposeB: true)) < 1e-14)
        #expect(relativeError(try plain.empiricalTangentKernel(x), matmul(x, x, transposeB: true)) < 1e-14)
        let shared = Dense<Double>(3, 3, generator: &generator)
        let twice = Sequential<Double>(shared, ReLU(), shared, Dense(3, 1, generator: &generator))
        #expect(throws: EmpiricalTangentKernelError.sharedParameter(shape: [3, 3])) { try twice.empiricalTangentKernel(x, method: .structured) }
        #expect(try twice.parameterJacobian(x).shape == [4, 3 * 3 + 3 + 3 + 1])
        #expect(try twice.empiricalTangentKernel(x) == twice.empiricalTangentKernelFromJacobians(x))
    }

    /// The nn.Sequential the PyTorch fixture's script built: Linear [+ LayerNorm (affine)] + ReLU per
    /// hidden layer, then a Linear, with the fixture's parameters.
    func pyTorchModel(_ fixture: [String: Any]) throws -> Sequential<Double> {
        let dims = fixture["dims"] as! [Int]
        let layerNormAfter = Set(fixture["layerNormAfterHiddenLayers"] as! [Int])
        var generator = Xoshiro256StarStar(seed: 0)
        var layers: [any Layer<Double>] = []
        for i in 0..<(dims.count - 2) {
            layers.append(Dense<Double>(dims[i], dims[i + 1], generator: &generator))
            if layerNormAfter.contains(i) { layers.append(LayerNorm<Double>(dims[i + 1])) }
            layers.append(ReLU<Double>())
        }
        layers.append(Dense<Double>(dims[dims.count - 2], dims[dims.count - 1], generator: &generator))
        let network = Sequential(layers)
        try network.load(stateDict: (fixture["parameters"] as! [String: Any]).mapValues { tensor($0) })
        return network
    }

    @Test(arguments: ["torch_mlp_no_layernorm", "torch_mlp_layernorm_first"])
    func agreesWithPyTorch(_ name: String) throws {
        let fixture = try fixture(name, in: .module)
        let network = try pyTorchModel(fixture)
        let ntk = fixture["ntk"] as! [String: Any]
        let (x1, x2, expected) = (tensor(ntk["x1"]!), tensor(ntk["x2"]!), tensor(ntk["kernel"]!))
        let structuredError = relativeError(try network.empiricalTangentKernel(x1, x2), expected)
        let jacobianError = relativeError(try network.empiricalTangentKernelFromJacobians(x1, x2), expected)
        #expect(structuredError < 1e-10, "\(name) structured: \(structuredError)")
        #expect(jacobianError < 1e-10, "\(name) Jacobians: \(jacobianError)")
        print("PyTorch \(name): structured \(structuredError), Jacobians \(jacobianError)")
    }
}

/// x + v with v = the batch's mean row: the structured method must not take it apart.
struct AddBatchMean: Layer {
    typealias Scalar = Double
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x + x.mean(over: .rows) }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }
}

/// Custom ops in the structured empirical NTK: taken apart where they declare what it needs,
/// per-sample Jacobians elsewhere; the same kernel either way.
@Suite struct CustomOperationKernelTests {
    func network(_ middle: any Layer<Double>, seed: UInt64 = 13) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return Sequential(Dense(3, 6, generator: &generator), middle, Dense(6, 4, generator: &generator), Tanh(),
                          Dense(4, 1, generator: &generator))
    }

    @Test func opsThatDeclareFactorsAreTakenApart() throws {
        var generator = Xoshiro256StarStar(seed: 14)
        let scale = Tensor<Double>.randomNormal([6], using: &generator)
        let withFactors = network(CustomLayer(operation: ColumnScale(scale, declaresFactors: true)))
        let x1 = randomPoints(5, 3, seed: 15), x2 = randomPoints(4, 3, seed: 16)
        let expected = try withFactors.empiricalTangentKernelFromJacobians(x1, x2)
        #expect(relativeError(try withFactors.empiricalTangentKernel(x1, x2, method: .structured), expected) < 1e-12)
        #expect(relativeError(try withFactors.empiricalTangentKernel(x1, method: .structured),
                              try withFactors.empiricalTangentKernelFromJacobians(x1)) < 1e-12)
    }

    @Test func opsWithoutFactorsFallBackToJacobians() throws {
        var generator = Xoshiro256StarStar(seed: 17)
        let scale = Tensor<Double>.randomNormal([6], using: &generator)
        let withoutFactors = network(CustomLayer(operation: ColumnScale(scale, declaresFactors: false)))
        let x1 = randomPoints(5, 3, seed: 18), x2 = randomPoints(4, 3, seed: 19)
        #expect(throws: EmpiricalTangentKernelError.unsupportedOperation(
            "ColumnScale, which declares no empirical-NTK factors for its parameters (CustomOperation.tangentKernelTerms)")) {
            try withoutFactors.empiricalTangentKernel(x1, x2, method: .structured)
        }
        let expected = try withoutFactors.empiricalTangentKernelFromJacobians(x1, x2)
        #expect(try withoutFactors.empiricalTangentKernel(x1, x2) == expected)
        let symmetric = try withoutFactors.empiricalTangentKernel(x1)
        #expect(symmetric == symmetric.transposed())
        // The same kernel as with the factors declared.
        let withFactors = network(CustomLayer(operation: ColumnScale(scale, declaresFactors: true)))
        #expect(relativeError(try withFactors.empiricalTangentKernel(x1, x2), expected) < 1e-12)
    }

    @Test func opsThatMixRowsFallBackToJacobians() throws {
        let x1 = randomPoints(5, 3, seed: 20), x2 = randomPoints(4, 3, seed: 21)
        for (middle, what) in [(AddBatchMean() as any Layer<Double>, "a sum or mean over rows"),
                               (CustomLayer(operation: SubtractBatchMean()), "SubtractBatchMean (not declared row-independent)")] {
            let mixing = network(middle)
            #expect(throws: EmpiricalTangentKernelError.unsupportedOperation(what)) {
                try mixing.empiricalTangentKernel(x1, x2, method: .structured)
            }
            // Per point, as the Jacobian method evaluates f(x_i) on its own.
            #expect(try mixing.empiricalTangentKernel(x1, x2) == mixing.empiricalTangentKernelFromJacobians(x1, x2))
        }
    }
}

/// The diagonal alone, from per-sample squared gradient norms, against the whole kernel's.
@Suite struct EmpiricalKernelDiagonalTests {
    @Test(arguments: [false, true])
    func theDiagonalEqualsTheJacobianKernelsDiagonal(standard: Bool) throws {
        // LayerNorm with affine parameters adds per-sample gradient rows to the Dense layers' factors.
        let model = multilayerPerceptron(inputs: 3, width: 10, hiddenLayers: 3, layerNormAfter: [1], activation: .tanh,
                                         layerNormAffine: true, standard: standard, seed: 7)
        var generator = Xoshiro256StarStar(seed: 8)
        let x = Tensor<Double>.randomUniform([9, 3], low: -2, high: 2, using: &generator)
        let kernel = try model.empiricalTangentKernelFromJacobians(x)
        let fast = try model.empiricalTangentKernelDiagonal(x)
        #expect(maxRelativeError(fast, (0..<9).map { kernel[$0, $0] }) < 1e-12)
    }
}
