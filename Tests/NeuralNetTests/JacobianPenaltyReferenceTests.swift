import Foundation
import Testing
@testable import NeuralNet

/// The Jacobian-penalised loss, its parameter gradient, one SGD step and three Adam steps against
/// PyTorch / torch.func in Float64 (torch_jacobian_penalty.json, from
/// scripts/reference/generate_jacobian_penalty.py), on one tape and split over two threads.
@Suite struct JacobianPenaltyReferenceTests {
    struct Case {
        let name: String
        let layerNorm: Bool
        let activation: Activation
        let penalty: Double
        let x: Tensor<Double>, y: Tensor<Double>
        let names: [String]
        let parameters: [String: Tensor<Double>]
        let loss: Double, meanSquaredError: Double
        let gradients: [String: Tensor<Double>], afterSGD: [String: Tensor<Double>], afterAdam: [String: Tensor<Double>]

        /// The torch network as an `MLPDescription` with the reference's parameters.
        func model() throws -> Sequential<Double> {
            var description = MLPDescription(inputSize: 3, width: 6, hiddenLayers: 2)
            description.activation = activation
            description.layerNormAfter = layerNorm ? [0] : []
            var generator = Xoshiro256StarStar(seed: 0)
            let model: Sequential<Double> = description.build(generator: &generator)
            try model.load(stateDict: parameters)
            return model
        }
    }

    static let cases: [Case] = {
        guard let reference = try? fixture("torch_jacobian_penalty") else { return [] }
        func tensors(_ json: Any?) -> [String: Tensor<Double>] {
            (json as! [String: Any]).mapValues { tensor($0) }
        }
        return (reference["penalty"] as! [[String: Any]]).map { entry in
            let layerNorm = entry["layerNorm"] as! Bool
            let activation = Activation(rawValue: entry["activation"] as! String)!
            return Case(name: "\(activation)\(layerNorm ? ", LayerNorm first" : "")", layerNorm: layerNorm, activation: activation,
                        penalty: entry["lambda"] as! Double, x: tensor(entry["x"]!), y: tensor(entry["y"]!),
                        names: entry["names"] as! [String], parameters: tensors(entry["parameters"]),
                        loss: entry["loss"] as! Double, meanSquaredError: entry["meanSquaredError"] as! Double,
                        gradients: tensors(entry["gradients"]), afterSGD: tensors(entry["afterSGD"]),
                        afterAdam: tensors(entry["afterAdam"]))
        }
    }()

    @Test func fixtureIsPresent() { #expect(Self.cases.count == 4) }

    func expectParameters(_ model: Sequential<Double>, equal reference: [String: Tensor<Double>], _ what: String) {
        for (name, parameter) in model.namedParameters {
            let error = relativeError(parameter.value, reference[name]!)
            #expect(error < 1e-9, "\(what): \(name) differs from torch's by \(error)")
        }
    }

    @Test(arguments: cases.indices) func lossAndGradient(index: Int) throws {
        let reference = Self.cases[index]
        let model = try reference.model()
        let tape = Tape<Double>()
        let (loss, error) = tape.jacobianPenalizedLoss(model, inputs: reference.x, targets: reference.y, penalty: reference.penalty)
        #expect(Swift.abs(loss.value.scalar - reference.loss) <= 1e-12 * reference.loss, "\(reference.name)")
        #expect(Swift.abs(error.value.scalar - reference.meanSquaredError) <= 1e-12 * reference.meanSquaredError)
        model.zeroGradients()
        tape.backward(loss)
        for (name, parameter) in model.namedParameters {
            let difference = relativeError(parameter.gradient, reference.gradients[name]!)
            #expect(difference < 1e-9, "\(reference.name): d loss / d \(name) differs from torch's by \(difference)")
        }
    }

    /// One tape, or the batch split over two threads (`DataParallelTraining`): the same steps.
    @Test(arguments: cases.indices, [1, 2]) func optimizerSteps(index: Int, threads: Int) throws {
        let reference = Self.cases[index]
        for (optimizerName, steps, expected) in [("SGD", 1, reference.afterSGD), ("Adam", 3, reference.afterAdam)] {
            let model = try reference.model()
            let optimizer: any Optimizer<Double> = optimizerName == "SGD"
                ? SGD(parameters: model.parameters, learningRate: 0.05) : Adam(parameters: model.parameters, learningRate: 0.01)
            let training = threads > 1 ? DataParallelTraining(model: model, team: WorkerTeam(size: threads)) : nil
            training?.jacobianPenalty = reference.penalty
            let tape = Tape<Double>()
            for _ in 0..<steps {
                if let training {
                    _ = training.step(inputs: reference.x, targets: reference.y, optimizer: optimizer)
                } else {
                    tape.reset()
                    optimizer.zeroGradients()
                    tape.backward(tape.jacobianPenalizedLoss(model, inputs: reference.x, targets: reference.y,
                                                             penalty: reference.penalty).loss)
                    optimizer.step()
                }
            }
            if let training { #expect(training.rowMixingOperation == nil, "the batch was split") }
            expectParameters(model, equal: expected, "\(reference.name), \(optimizerName), \(threads) thread(s)")
        }
    }
}
