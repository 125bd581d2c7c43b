import Foundation
import Testing
@testable import NeuralNet

/// Softmax cross-entropy against PyTorch's `F.cross_entropy` (value and gradient, including logits
/// offset by 1e3), against finite differences, and the paper's bias-free Xavier-uniform classifier.
@Suite struct CrossEntropyTests {
    @Test func matchesPyTorch() throws {
        let reference = try fixture("torch_cross_entropy")
        for entry in reference["cases"] as! [[String: Any]] {
            let name = entry["name"] as! String
            let logits = tensor(entry["logits"]!), classes = tensor(entry["classes"]!)
            let tape = Tape<Double>()
            let input = tape.input(logits, requiresGradient: true)
            let loss = crossEntropy(input, classes: classes)
            tape.backward(loss)
            let expectedLoss = entry["loss"] as! Double
            #expect(abs(loss.value.scalar - expectedLoss) <= 1e-12 * max(1, abs(expectedLoss)), "\(name)")
            #expect(relativeError(tape.gradient(of: input), tensor(entry["gradient"]!)) < 1e-10, "\(name)")
        }
    }

    @Test func float32LargeLogitsStayFinite() throws {
        // exp(1000) overflows even a Double; the log-sum-exp subtracts the row's largest first.
        let logits = Tensor<Float>([[1000, 999, 998], [-1000, -1001, -999]])
        let tape = Tape<Float>()
        let input = tape.input(logits, requiresGradient: true)
        let loss = crossEntropy(input, classes: Tensor(shape: [2, 1], scalars: [0, 2]))
        tape.backward(loss)
        let expected = log(1 + exp(-1.0) + exp(-2.0))  // both rows pick their largest logit
        #expect(abs(Double(loss.value.scalar) - expected) < 1e-6)
        #expect(tape.gradient(of: input).allFinite)
    }

    @Test(arguments: [[1, 1], [3, 4], [5, 7], [8, 2]])
    func finiteDifferences(shape: [Int]) {
        var generator = Xoshiro256StarStar(seed: 3)
        let logits = Tensor<Double>.randomNormal(shape, using: &generator)
        let classes = Tensor<Double>(shape: [shape[0], 1], scalars: (0..<shape[0]).map { Double(($0 * 5 + 1) % shape[1]) })
        let result = GradientCheck().check(inputs: [logits]) { crossEntropy($0[0], classes: classes) }
        #expect(result.worstRelativeError < 1e-6, "\(result)")
        // Through a Dense layer: the gradient reaches the weights too (and accumulates with a second use).
        let layer = Dense<Double>(shape[1], 3, generator: &generator)
        let classes3 = Tensor<Double>(shape: [shape[0], 1], scalars: (0..<shape[0]).map { Double($0 % 3) })
        let throughDense = GradientCheck().check(inputs: [logits], parameters: layer.namedParameters) {
            crossEntropy(layer($0[0]), classes: classes3) + crossEntropy(layer($0[0]) * 2, classes: classes3)
        }
        #expect(throughDense.worstRelativeError < 1e-6, "\(throughDense)")
    }

    /// The paper's network: Linear layers without bias, Xavier-uniform, ReLU, cross-entropy; loss,
    /// gradients and one SGD step as PyTorch's, and a state dict without `.bias` entries.
    @Test func biasFreeClassifierMatchesPyTorch() throws {
        let reference = try fixture("torch_cross_entropy")["network"] as! [String: Any]
        var description = MLPDescription(inputSize: 6, width: 5, hiddenLayers: 2)
        description.outputSize = 3
        description.bias = false
        description.weightInitialization = .xavierUniform
        var generator = Xoshiro256StarStar(seed: 0)
        let network: Sequential<Double> = description.build(generator: &generator)
        #expect(network.namedParameters.map(\.name) == ["0.weight", "2.weight", "4.weight"])
        #expect(network.parameters.map(\.value.count).reduce(0, +) == description.parameterCount)
        let parameters = (reference["parameters"] as! [String: Any]).mapValues { tensor($0) }
        try network.load(stateDict: parameters)
        let x = tensor(reference["x"]!), classes = tensor(reference["classes"]!)
        let tape = Tape<Double>()
        let loss = LossFunction.crossEntropy(network(tape.input(x)), classes)
        tape.backward(loss)
        #expect(abs(loss.value.scalar - (reference["loss"] as! Double)) < 1e-12)
        let gradients = (reference["gradients"] as! [String: Any]).mapValues { tensor($0) }
        for (name, parameter) in network.namedParameters {
            #expect(relativeError(parameter.gradient, gradients[name]!) < 1e-10, "\(name)")
        }
        SGD(parameters: network.parameters, learningRate: reference["learningRate"] as! Double).step()
        let after = (reference["afterOneSGDStep"] as! [String: Any]).mapValues { tensor($0) }
        for (name, parameter) in network.namedParameters {
            #expect(relativeError(parameter.value, after[name]!) < 1e-12, "\(name)")
        }
    }

    /// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): every weight inside, the variance a^2 / 3.
    @Test func xavierUniformBoundsAndVariance() {
        var generator = Xoshiro256StarStar(seed: 11)
        let layer = Dense<Double>(300, 200, weightInitialization: .xavierUniform, generator: &generator)
        let bound = (6.0 / 500).squareRoot()
        let values = layer.weight.value.scalars
        #expect(values.allSatisfy { abs($0) <= bound })
        let variance = values.map { $0 * $0 }.reduce(0, +) / Double(values.count)
        // 60,000 draws: the variance's standard error is about 0.4% of bound^2 / 3.
        #expect(abs(variance / (bound * bound / 3) - 1) < 0.02)
        #expect(values.max()! > 0.99 * bound && values.min()! < -0.99 * bound)
    }
}
