import Foundation
import Testing
import TangentKernels
import TestSupport

/// The closed form of gradient descent on a linearised network against the steps themselves, the
/// framework's own SGD on a model that is its own linearisation, and neural-tangents' gradient flow.
@Suite struct LinearizedTrainingTests {
    /// A kernel `J Jᵀ` of rank 3 on 6 points (so three eigenvalues are 0 up to rounding), the cross
    /// kernel `J(x) Jᵀ` of 4 other points, and an initial residual.
    static func rankDeficientProblem(outputs: Int) -> (kernel: Tensor<Double>, cross: Tensor<Double>, residual: Tensor<Double>) {
        var generator = Xoshiro256StarStar(seed: 7)
        let jacobian = Tensor<Double>.randomNormal([6, 3], standardDeviation: 1, using: &generator)
        let otherJacobian = Tensor<Double>.randomNormal([4, 3], standardDeviation: 1, using: &generator)
        let residual = Tensor<Double>.randomNormal([6, outputs], standardDeviation: 1, using: &generator)
        return (matmul(jacobian, jacobian, transposeB: true), matmul(otherJacobian, jacobian, transposeB: true), residual)
    }

    /// t steps r <- r - c K r and the summed update -c K(x, X) Σ r_s, with c = 2 η / (n k).
    @Test(arguments: [1, 2]) func closedFormEqualsTheStepsIncludingTheNullSpace(outputs: Int) throws {
        let (kernel, cross, initialResidual) = Self.rankDeficientProblem(outputs: outputs)
        let learningRate = 0.05, epochs = 37
        let training = try LinearizedTraining(kernel: kernel, initialResidual: initialResidual, learningRate: learningRate,
                                              dynamics: .gradientDescent)
        let step = 2 * learningRate / Double(6 * outputs)
        #expect(training.stepFactor == step)
        #expect(training.eigendecomposition.values.filter { abs($0) < 1e-12 }.count == 3)
        var residual = initialResidual
        var summed = Tensor<Double>.zeros(initialResidual.shape)
        for _ in 0..<epochs {
            summed += residual
            residual -= matmul(kernel, residual).scaled(by: step)
        }
        #expect(relativeError(training.trainingResidual(epochs: epochs), residual) < 1e-12)
        let update = matmul(cross, summed).scaled(by: -step)
        #expect(relativeError(matmul(cross, training.coefficients(epochs: epochs)), update) < 1e-12)
        // On the training points the coefficients give back the residual's change. Normwise: the
        // change's small entries carry the eigensolver's rounding of the large ones, which varies
        // with BLAS's threads (entrywise 3e-15 to 1.1e-12 seen; normwise 0.8-1.6e-15).
        #expect(frobeniusRelativeError(matmul(kernel, training.coefficients(epochs: epochs)), residual - initialResidual) < 1e-13)
    }

    /// The eigenvalue-0 limit is the sum of the steps, -c t, in both dynamics.
    @Test func zeroEigenvalueTakesTheLimit() throws {
        let (kernel, _, residual) = Self.rankDeficientProblem(outputs: 1)
        for dynamics in [LinearizedTraining.Dynamics.gradientDescent, .gradientFlow] {
            let training = try LinearizedTraining(kernel: kernel, initialResidual: residual, learningRate: 0.1, dynamics: dynamics)
            #expect(training.spectralFactor(eigenvalue: 0, epochs: 20) == -training.stepFactor * 20)
            let tiny = training.spectralFactor(eigenvalue: 1e-300, epochs: 20)
            #expect(abs(tiny / (-training.stepFactor * 20) - 1) < 1e-12, "\(dynamics): \(tiny)")
        }
    }

    /// A Dense layer alone is its own linearisation: the framework's SGD on its MSE (the mean over
    /// rows) must land where the closed form with its empirical NTK says, which checks the
    /// constant 2 η / n against what `meanSquaredError` and `SGD` actually do.
    @Test func linearModelTrainedBySGDFollowsTheClosedForm() throws {
        var generator = Xoshiro256StarStar(seed: 11)
        let model = Sequential<Double>(Dense(ntk: 3, 1, weightStandardDeviation: 1.3, biasStandardDeviation: 0.4, generator: &generator))
        let x = Tensor<Double>.randomNormal([9, 3], standardDeviation: 1, using: &generator)
        let y = Tensor<Double>.randomNormal([9, 1], standardDeviation: 1, using: &generator)
        let probes = Tensor<Double>.randomNormal([5, 3], standardDeviation: 10, using: &generator)
        let learningRate = 0.2, epochs = 25
        let training = try LinearizedTraining(kernel: try model.empiricalTangentKernel(x), initialResidual: model(x) - y,
                                              learningRate: learningRate, dynamics: .gradientDescent)
        let linearized = model(probes) + matmul(try model.empiricalTangentKernel(probes, x), training.coefficients(epochs: epochs))

        let optimizer = SGD(parameters: model.parameters, learningRate: learningRate)
        let tape = Tape<Double>()
        for _ in 0..<epochs {
            tape.reset()
            optimizer.zeroGradients()
            tape.backward(meanSquaredError(model(tape.input(x)), y))
            optimizer.step()
        }
        #expect(relativeError(model(probes), linearized) < 1e-12)
        #expect(relativeError(model(x) - y, training.trainingResidual(epochs: epochs)) < 1e-12)
    }

    /// The mean prediction of an infinitely wide ReLU network after gradient flow against
    /// neural-tangents' `predict.gradient_descent_mse` (learning rate 2 η, its loss being half
    /// ours), at several times, on the training points and on points up to 1000 times as far out.
    @Test func gradientFlowMatchesNeuralTangents() throws {
        let reference = try fixture("neural_tangents_linearized", in: .module)
        let network = multilayerPerceptron(inputs: 2, width: 16, hiddenLayers: reference["hiddenLayers"] as! Int,
                                           weightStandardDeviation: reference["W_std"] as! Double,
                                           biasStandardDeviation: reference["b_std"] as! Double)
        let xTrain = tensor(reference["x_train"]!), yTrain = tensor(reference["y_train"]!), xTest = tensor(reference["x_test"]!)
        let training = try LinearizedTraining(kernel: try network.infiniteWidthKernel(xTrain).ntk, initialResidual: Tensor.zeros(yTrain.shape) - yTrain,
                                              learningRate: reference["learningRate"] as! Double, dynamics: .gradientFlow)
        let crossKernel = try network.infiniteWidthKernel(xTest, xTrain).ntk
        let predictions = reference["predictions"] as! [String: [String: Any]]
        #expect(predictions.count == 5)
        for (epochsText, expected) in predictions {
            let epochs = Int(epochsText)!
            let test = matmul(crossKernel, training.coefficients(epochs: epochs))
            let train = yTrain + training.trainingResidual(epochs: epochs)
            let expectedTest = tensor(expected["test"]!), expectedTrain = tensor(expected["train"]!)
            let testError = maxAbsoluteDifference(test, expectedTest) / max(1, maxAbsoluteValue(expectedTest))
            let trainError = maxAbsoluteDifference(train, expectedTrain) / max(1, maxAbsoluteValue(expectedTrain))
            #expect(testError < 1e-8, "t = \(epochs) test points: \(testError)")
            #expect(trainError < 1e-8, "t = \(epochs) training points: \(trainError)")
        }
    }
}

func maxAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "maxAbsoluteDifference: \(a.shape) against \(b.shape)")
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

func maxAbsoluteValue(_ a: Tensor<Double>) -> Double { a.scalars.map(abs).max() ?? 0 }
