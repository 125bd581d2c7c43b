import NeuralNet
import Testing

/// The checks the PyTorch reference tests share: a fixture's forward and backward, one layer's
/// forward and backward, and the fixtures' three Adam steps.

/// One forward, mean squared error and backward of `network` on a PyTorch fixture's `x` and `y`,
/// checked against its `output`, `loss`, `gradients` (every parameter, by name) and
/// `inputGradient`, to 1e-10.
func expectForwardBackwardMatches(_ network: some Layer<Double>, _ fixture: [String: Any], _ name: String) {
    let x = tensor(fixture["x"]!), y = tensor(fixture["y"]!)
    let tape = Tape<Double>()
    let input = tape.input(x, requiresGradient: true)
    let output = network(input)
    let loss = meanSquaredError(output, y)
    tape.backward(loss)
    #expect(relativeError(output.value, tensor(fixture["output"]!)) < 1e-10, "\(name) output")
    let expectedLoss = fixture["loss"] as! Double
    #expect(abs(loss.value.scalar - expectedLoss) < 1e-12 * expectedLoss, "\(name) loss")
    let expectedGradients = (fixture["gradients"] as! [String: Any]).mapValues { tensor($0) }
    #expect(Set(network.namedParameters.map(\.name)) == Set(expectedGradients.keys), "\(name) parameter names")
    for (parameterName, parameter) in network.namedParameters {
        guard let expected = expectedGradients[parameterName] else { continue }
        let error = relativeError(parameter.gradient, expected)
        #expect(error < 1e-10, "\(name) \(parameterName): \(error)")
    }
    #expect(relativeError(tape.gradient(of: input), tensor(fixture["inputGradient"]!)) < 1e-10, "\(name) input gradient")
}

/// One layer's forward on a fixture's `x` and backward from its `dy`, checked against its `y`,
/// `dx` and, for each parameter, `d<name>` (`dweight`, `dbias`), to 1e-10.
func expectLayerMatches(_ layer: some Layer<Double>, _ fixture: [String: Any]) {
    let tape = Tape<Double>()
    let input = tape.input(tensor(fixture["x"]!), requiresGradient: true)
    let y = layer(input)
    tape.backward(y, seed: tensor(fixture["dy"]!))
    #expect(relativeError(y.value, tensor(fixture["y"]!)) < 1e-10)
    #expect(relativeError(tape.gradient(of: input), tensor(fixture["dx"]!)) < 1e-10)
    for (name, parameter) in layer.namedParameters {
        #expect(relativeError(parameter.gradient, tensor(fixture["d" + name]!)) < 1e-10, "\(name)")
    }
}

/// Three full-batch Adam steps on the mean squared error with a fixture's settings
/// (`learningRate`, `betas`, `eps`), as the PyTorch fixtures take them.
func threeAdamSteps(_ network: some Layer<Double>, x: Tensor<Double>, y: Tensor<Double>, settings: [String: Any]) {
    let betas = settings["betas"] as! [Double]
    let optimizer = Adam(parameters: network.parameters, learningRate: settings["learningRate"] as! Double,
                         betas: (betas[0], betas[1]), epsilon: settings["eps"] as! Double)
    let tape = Tape<Double>()
    for _ in 0..<3 {
        tape.reset()
        optimizer.zeroGradients()
        tape.backward(meanSquaredError(network(tape.input(x)), y))
        optimizer.step()
    }
}
