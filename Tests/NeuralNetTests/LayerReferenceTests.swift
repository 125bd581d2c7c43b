import Foundation
import Glibc
import Testing
@testable import NeuralNet

/// RMSNorm, BatchNorm (training and evaluation), Residual and SiLU against PyTorch, float64
/// (torch_layers.json, from scripts/reference/generate_torch_layers.py): outputs, losses, input and
/// parameter gradients, running statistics, and the whole state after three Adam steps, to 1e-10.
@Suite struct LayerReferenceTests {
    static let networks = ["rmsNorm", "batchNormTrain", "batchNormEval", "preLayerNorm", "postLayerNorm", "residualBatchNorm"]

    static func network(_ name: String) throws -> [String: Any] {
        try #require((try fixture("torch_layers")["networks"] as? [String: Any])?[name] as? [String: Any])
    }

    /// The network a fixture's `layers` describe, its state loaded from the fixture, in its mode.
    static func model<Scalar: BLASScalar>(_ case_: [String: Any], _: Scalar.Type = Scalar.self) throws -> Sequential<Scalar> {
        let network = Sequential(layers(case_["layers"] as! [[String: Any]], Scalar.self))
        try network.load(stateDict: (case_["parameters"] as! [String: Any]).mapValues { tensor($0).converted(to: Scalar.self) })
        network.setTraining(case_["mode"] as! String == "train")
        return network
    }

    static func layers<Scalar: BLASScalar>(_ specs: [[String: Any]], _: Scalar.Type) -> [any Layer<Scalar>] {
        var generator = Xoshiro256StarStar(seed: 0)
        return specs.map { spec -> any Layer<Scalar> in
            let width = spec["width"] as? Int ?? 0
            let epsilon = Scalar(spec["eps"] as? Double ?? 0), affine = spec["affine"] as? Bool ?? false
            switch spec["type"] as! String {
            case "Linear":
                return Dense<Scalar>(spec["in"] as! Int, spec["out"] as! Int, bias: spec["bias"] as? Bool ?? true, generator: &generator)
            case "LayerNorm": return LayerNorm<Scalar>(width, epsilon: epsilon, affine: affine)
            case "RMSNorm": return RMSNorm<Scalar>(width, epsilon: epsilon, affine: affine)
            case "BatchNorm":
                return BatchNorm<Scalar>(width, epsilon: epsilon, momentum: (spec["momentum"] as? Double).map { Scalar($0) },
                                         affine: affine)
            case "Residual": return Residual(Sequential(layers(spec["inner"] as! [[String: Any]], Scalar.self)))
            case "ReLU": return ReLU<Scalar>()
            case "SiLU": return SiLU<Scalar>()
            case "Tanh": return Tanh<Scalar>()
            case "GELU": return GELU<Scalar>()
            case let other: fatalError("unknown layer \(other)")
            }
        }
    }

    static func compare(_ actual: [String: Tensor<Double>], _ expected: Any?, _ label: String) {
        let expected = (expected as! [String: Any]).mapValues { tensor($0) }
        #expect(Set(actual.keys) == Set(expected.keys), "\(label): names")
        for (name, value) in expected {
            guard let mine = actual[name] else { continue }
            let error = relativeError(mine, value)
            #expect(error < 1e-10, "\(label) \(name): \(error)")
        }
    }

    @Test(arguments: networks) func forwardBackward(name: String) throws {
        let case_ = try Self.network(name)
        let network = try Self.model(case_, Double.self)
        expectForwardBackwardMatches(network, case_, name)
        // In training mode the forward moved the running statistics; in evaluation mode it did not.
        let buffers = Dictionary(uniqueKeysWithValues: network.namedBuffers.map { ($0.name, $0.buffer.value) })
        Self.compare(buffers, case_["buffersAfterForward"], "\(name) buffer")
    }

    @Test(arguments: networks) func threeAdamSteps(name: String) throws {
        let case_ = try Self.network(name)
        let network = try Self.model(case_, Double.self)
        let x = tensor(case_["x"]!), y = tensor(case_["y"]!)
        let expected = case_["afterThreeAdamSteps"] as! [String: Any]
        NeuralNetTests.threeAdamSteps(network, x: x, y: y, settings: expected)
        Self.compare(network.stateDict, expected["state"], "\(name) after 3 Adam steps")
    }

    /// The same networks in Float32: the forward pass agrees with PyTorch's float64 to Float's precision.
    @Test(arguments: networks) func float32Forward(name: String) throws {
        let case_ = try Self.network(name)
        let network = try Self.model(case_, Float.self)
        let output = network(tensor(case_["x"]!).converted(to: Float.self)).converted(to: Double.self)
        let error = relativeError(output, tensor(case_["output"]!))
        #expect(error < 1e-5, "\(name): \(error)")
    }

    @Test(arguments: ["affine", "noAffine"]) func rmsNorm(variant: String) throws {
        let case_ = try #require((try fixture("torch_layers")["rmsNorm"] as? [String: Any])?[variant] as? [String: Any])
        let x = tensor(case_["x"]!)
        let layer = RMSNorm<Double>(x.shape[1], epsilon: case_["eps"] as! Double, affine: case_["affine"] as! Bool)
        if let weight = case_["weight"] { layer.weight!.value = tensor(weight) }
        expectLayerMatches(layer, case_)
    }

    @Test func silu() throws {
        let case_ = try #require(try fixture("torch_layers")["silu"] as? [String: Any])
        let x = tensor(case_["x"]!)
        let tape = Tape<Double>()
        let input = tape.input(x.reshaped([1, x.count]), requiresGradient: true)
        let y = input.silu()
        tape.backward(y.sum())
        #expect(relativeError(y.value.reshaped([x.count]), tensor(case_["y"]!)) < 1e-12)
        #expect(relativeError(tape.gradient(of: input).reshaped([x.count]), tensor(case_["dydx"]!)) < 1e-12)
    }

    /// The Residual's names are those of a torch module holding the block as `inner`.
    @Test func residualNamesAsATorchSubmodule() throws {
        let case_ = try Self.network("residualBatchNorm")
        let network = try Self.model(case_, Double.self)
        #expect(network.namedParameters.map(\.name) == [
            "0.weight", "0.bias", "1.inner.0.weight", "1.inner.0.bias", "1.inner.1.weight", "1.inner.1.bias",
            "1.inner.3.weight", "1.inner.3.bias", "2.weight", "3.weight", "3.bias"])
        #expect(network.namedBuffers.map(\.name) == [
            "1.inner.0.running_mean", "1.inner.0.running_var", "1.inner.0.num_batches_tracked"])
    }
}

/// BatchNorm's two modes, and what they change.
@Suite struct BatchNormModeTests {
    static func batch(_ rows: Int, seed: UInt64 = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal([rows, 4], standardDeviation: 2, using: &generator).map { $0 + 1 }
    }

    @Test func evaluationChangesNothingAndTrainingCounts() {
        let layer = BatchNorm<Double>(4)
        let x = Self.batch(6)
        layer.setTraining(false)
        _ = layer(x)
        #expect(layer.runningMean.value == .zeros([4]) && layer.runningVariance.value == .ones([4]))
        #expect(layer.batchesTracked.value.scalar == 0)
        layer.setTraining(true)
        _ = layer(x)
        _ = layer(x)
        #expect(layer.batchesTracked.value.scalar == 2)
        #expect(layer.runningMean.value != .zeros([4]))
    }

    /// Evaluation mode: `(x - running_mean) / sqrt(running_var + eps) * gamma + beta`, each row alone.
    @Test func evaluationIsAnAffineMapOfEachRow() {
        var generator = Xoshiro256StarStar(seed: 2)
        let layer = BatchNorm<Double>(4, epsilon: 1e-3)
        layer.weight!.value = .randomUniform([4], low: 0.5, high: 1.5, using: &generator)
        layer.bias!.value = .randomNormal([4], using: &generator)
        layer.runningMean.value = .randomNormal([4], using: &generator)
        layer.runningVariance.value = .randomUniform([4], low: 0.5, high: 2, using: &generator)
        layer.setTraining(false)
        let x = Self.batch(5)
        let y = layer(x)
        for i in 0..<5 {
            // Each row alone gives the same row: no coupling.
            let row = layer(Tensor(shape: [1, 4], scalars: (0..<4).map { x[i, $0] }))
            for j in 0..<4 {
                let expected = (x[i, j] - layer.runningMean.value[j]) / (layer.runningVariance.value[j] + 1e-3).squareRoot()
                    * layer.weight!.value[j] + layer.bias!.value[j]
                #expect(abs(y[i, j] - expected) < 1e-14 * max(1, abs(expected)))
                #expect(row[0, j] == y[i, j])
            }
        }
    }

    /// The paper's contrast: a network with an evaluation-mode BatchNorm grows linearly along rays,
    /// one with LayerNorm stays bounded.
    @Test func evaluationModeDoesNotBoundGrowthAlongRays() {
        func growth(_ normalization: any Layer<Double>) -> Double {
            var generator = Xoshiro256StarStar(seed: 3)
            let network = Sequential<Double>(Dense(2, 32, generator: &generator), normalization, ReLU(),
                                             Dense(32, 32, generator: &generator), ReLU(), Dense(32, 1, generator: &generator))
            network.setTraining(false)
            let direction = Tensor<Double>([[0.6, -0.8]])
            let near = abs(network(direction.scaled(by: 1e3)).scalar), far = abs(network(direction.scaled(by: 1e4)).scalar)
            return log10(far / near)
        }
        #expect(abs(growth(BatchNorm<Double>(32)) - 1) < 0.01)
        #expect(abs(growth(LayerNorm<Double>(32))) < 0.01)
    }

    @Test func aNetworkPassesItsModeToEveryBatchNorm() {
        var generator = Xoshiro256StarStar(seed: 4)
        let inner = BatchNorm<Double>(3), outer = BatchNorm<Double>(3)
        let network = Sequential<Double>(Dense(2, 3, generator: &generator), Residual(Sequential(inner, Dense(3, 3, generator: &generator))), outer)
        #expect(network.mixesBatchRows && inner.isTraining && outer.isTraining)
        network.setTraining(false)
        #expect(!network.mixesBatchRows && !inner.isTraining && !outer.isTraining)
    }
}
