import Foundation
import NeuralNet
import Testing

/// The one shared gradient check: builds a scalar loss from the given inputs on a fresh tape,
/// back-propagates, and compares every requested gradient with central finite differences.
/// The loss is `sum(projection .* f(inputs))` with a fixed random projection, so every element
/// of f's output gets a different upstream gradient.
struct GradientCheck {
    var step = 1e-6

    /// Returns the largest relative error over all checked inputs and parameters.
    func maxRelativeError(
        inputs: [Tensor<Double>], parameters: [Parameter<Double>] = [], seed: UInt64 = 1,
        _ function: ([Variable<Double>]) -> Variable<Double>
    ) -> Double {
        var generator = Xoshiro256StarStar(seed: seed)
        let tape = Tape<Double>()
        let outputShape = function(inputs.map { tape.input($0) }).shape
        let projection = Tensor<Double>.randomNormal(outputShape, using: &generator)

        func loss(_ values: [Tensor<Double>]) -> Double {
            tape.reset()
            let out = function(values.map { tape.input($0) })
            return (out.value * projection).sum()
        }

        // Analytic gradients.
        for parameter in parameters { parameter.zeroGradient() }
        tape.reset()
        let variables = inputs.map { tape.input($0, requiresGradient: true) }
        let out = function(variables)
        tape.backward(out, seed: projection)
        var analytic = variables.map { tape.gradient(of: $0).scalars }
        analytic += parameters.map { $0.gradient.scalars }

        // Numeric gradients.
        var numeric: [[Double]] = []
        for (index, input) in inputs.enumerated() {
            var values = inputs
            numeric.append((0..<input.count).map { element in
                var plus = input, minus = input
                plus.withUnsafeMutableBufferPointer { $0[element] += step }
                minus.withUnsafeMutableBufferPointer { $0[element] -= step }
                values[index] = plus
                let up = loss(values)
                values[index] = minus
                return (up - loss(values)) / (2 * step)
            })
        }
        for parameter in parameters {
            numeric.append((0..<parameter.value.count).map { element in
                let original = parameter.value
                parameter.value.withUnsafeMutableBufferPointer { $0[element] += step }
                let up = loss(inputs)
                parameter.value = original
                parameter.value.withUnsafeMutableBufferPointer { $0[element] -= step }
                let down = loss(inputs)
                parameter.value = original
                return (up - down) / (2 * step)
            })
        }
        var worst = 0.0
        for (a, n) in zip(analytic, numeric) {
            for (x, y) in zip(a, n) {
                // Relative to the gradient's scale, with a floor so exact zeros compare absolutely.
                worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-3))
            }
        }
        return worst
    }
}

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

/// Reads a reference fixture copied from ../shared/reference into the test bundle.
func fixture(_ name: String) throws -> [String: Any] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Resources") else {
        throw FixtureMissing(name: name)
    }
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}
struct FixtureMissing: Error { let name: String }

/// A nested JSON array of numbers as a Tensor (vectors keep rank 1).
func tensor(_ json: Any) -> Tensor<Double> {
    if let rows = json as? [[Double]] { return Tensor(rows) }
    if let vector = json as? [Double] { return Tensor(shape: [vector.count], scalars: vector) }
    if let scalar = json as? Double { return Tensor(shape: [], scalars: [scalar]) }
    fatalError("not a numeric array: \(json)")
}

/// max |a - b| / max(|b|, 1e-12 * scale) over all elements, scale being b's largest magnitude.
func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    let scale = max(b.maxAbs(), 1e-300)
    return zip(a.scalars, b.scalars).map { abs($0 - $1) / max(abs($1), 1e-3 * scale) }.max() ?? 0
}
