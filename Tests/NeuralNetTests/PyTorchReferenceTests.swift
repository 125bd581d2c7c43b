import Foundation
import Testing
@testable import NeuralNet

/// Outputs, losses, gradients and optimizer steps against PyTorch 2.13 (../shared/reference).
@Suite struct PyTorchReferenceTests {
    static let mlpFixtures = ["torch_mlp_no_layernorm", "torch_mlp_layernorm_first", "torch_mlp_layernorm_every_gelu"]

    /// The nn.Sequential the fixture's script built: Linear [+ LayerNorm] + activation per hidden layer.
    func model(_ fixture: [String: Any]) throws -> Sequential<Double> {
        let dims = fixture["dims"] as! [Int]
        let layerNormAfter = Set(fixture["layerNormAfterHiddenLayers"] as! [Int])
        let activation: Activation = (fixture["activation"] as! String) == "GELU" ? .gelu : .relu
        var generator = Xoshiro256StarStar(seed: 0)
        var layers: [any Layer<Double>] = []
        for i in 0..<(dims.count - 2) {
            layers.append(Dense<Double>(dims[i], dims[i + 1], generator: &generator))
            if layerNormAfter.contains(i) { layers.append(LayerNorm<Double>(dims[i + 1])) }
            layers.append(ActivationLayer<Double>(activation))
        }
        layers.append(Dense<Double>(dims[dims.count - 2], dims[dims.count - 1], generator: &generator))
        let network = Sequential(layers)
        try network.load(stateDict: stateDict(fixture["parameters"]))
        return network
    }

    func stateDict(_ json: Any?) -> [String: Tensor<Double>] {
        (json as! [String: Any]).mapValues { tensor($0) }
    }

    @Test(arguments: mlpFixtures) func forwardBackward(name: String) throws {
        let fixture = try fixture(name)
        expectForwardBackwardMatches(try model(fixture), fixture, name)
    }

    @Test(arguments: mlpFixtures) func oneSGDStep(name: String) throws {
        let fixture = try fixture(name)
        let network = try model(fixture)
        let x = tensor(fixture["x"]!), y = tensor(fixture["y"]!)
        let expected = fixture["afterOneSGDStep"] as! [String: Any]
        let optimizer = SGD(parameters: network.parameters, learningRate: expected["learningRate"] as! Double)
        let tape = Tape<Double>()
        tape.backward(meanSquaredError(network(tape.input(x)), y))
        optimizer.step()
        try compare(network, stateDict(expected["parameters"]), name)
    }

    @Test(arguments: mlpFixtures) func threeAdamSteps(name: String) throws {
        let fixture = try fixture(name)
        let network = try model(fixture)
        let x = tensor(fixture["x"]!), y = tensor(fixture["y"]!)
        let expected = fixture["afterThreeAdamSteps"] as! [String: Any]
        NeuralNetTests.threeAdamSteps(network, x: x, y: y, settings: expected)
        try compare(network, stateDict(expected["parameters"]), name)
    }

    func compare(_ network: Sequential<Double>, _ expected: [String: Tensor<Double>], _ name: String) throws {
        for (parameterName, parameter) in network.namedParameters {
            let error = relativeError(parameter.value, expected[parameterName]!)
            #expect(error < 1e-10, "\(name) \(parameterName): \(error)")
        }
    }

    @Test(arguments: ["affine", "noAffine"]) func layerNorm(variant: String) throws {
        let case_ = try fixture("torch_layernorm")[variant] as! [String: Any]
        let x = tensor(case_["x"]!)
        let layer = LayerNorm<Double>(x.shape[1], epsilon: case_["eps"] as! Double, affine: case_["affine"] as! Bool)
        if layer.isAffine {
            layer.weight!.value = tensor(case_["weight"]!)
            layer.bias!.value = tensor(case_["bias"]!)
        }
        expectLayerMatches(layer, case_)
    }

    @Test func activations() throws {
        let fixture = try fixture("torch_activations")
        let x = tensor(fixture["x"]!).reshaped([1, 12])
        let functions = fixture["functions"] as! [String: [String: Any]]
        let names: [String: Activation] = ["relu": .relu, "tanh": .tanh, "sigmoid": .sigmoid, "gelu": .gelu, "gelu_tanh": .geluTanh]
        #expect(Set(functions.keys) == Set(names.keys))
        for (name, activation) in names {
            let tape = Tape<Double>()
            let input = tape.input(x, requiresGradient: true)
            let y = tape.activation(input, activation)
            tape.backward(y.sum())
            #expect(relativeError(y.value, tensor(functions[name]!["y"]!).reshaped([1, 12])) < 1e-12, "\(name)")
            #expect(relativeError(tape.gradient(of: input), tensor(functions[name]!["dydx"]!).reshaped([1, 12])) < 1e-12, "\(name)")
        }
    }

    @Test func stateDictMismatchesAreListed() throws {
        var generator = Xoshiro256StarStar(seed: 0)
        let network = Sequential<Double>(Dense(3, 5, generator: &generator), ReLU(), Dense(5, 1, generator: &generator))
        var dict = network.stateDict
        dict["0.weight"] = .zeros([3, 5])
        dict["2.bias"] = nil
        dict["9.weight"] = .zeros([1])
        let before = network.stateDict
        #expect(throws: StateDictError.self) { try network.load(stateDict: dict) }
        do { try network.load(stateDict: dict) } catch {
            let text = "\(error)"
            #expect(text.contains("missing parameters: 2.bias") && text.contains("unexpected parameters: 9.weight"))
            #expect(text.contains("'0.weight' has shape [3, 5] but the model expects [5, 3]"))
        }
        #expect(network.stateDict == before)
    }
}
