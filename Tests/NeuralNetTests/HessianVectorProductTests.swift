import Foundation
import Testing
@testable import NeuralNet

/// The R-operator's Hessian-vector products against central differences of tape gradients on a
/// smooth (tanh) network, where those converge, and the Lanczos extremes against the full Hessian.
@Suite struct HessianVectorProductTests {
    struct Network {
        let model: Sequential<Double>
        let x: Tensor<Double>, y: Tensor<Double>
        let loss: LossFunction
    }

    static func network(_ activation: Activation, loss: LossFunction, bias: Bool) -> Network {
        var generator = Xoshiro256StarStar(seed: 8)
        var description = MLPDescription(inputSize: 3, width: 5, hiddenLayers: 2)
        description.activation = activation
        description.bias = bias
        description.outputSize = loss == .crossEntropy ? 4 : 2
        let model: Sequential<Double> = description.build(generator: &generator)
        let x = Tensor<Double>.randomNormal([7, 3], using: &generator)
        let y = loss == .crossEntropy ? Tensor(shape: [7, 1], scalars: (0..<7).map { Double($0 % 4) })
            : Tensor<Double>.randomNormal([7, 2], using: &generator)
        return Network(model: model, x: x, y: y, loss: loss)
    }

    /// The tape's gradient at flat parameters theta.
    static func gradient(_ network: Network, at theta: [Double]) -> [Double] {
        var offset = 0
        for parameter in network.model.parameters {
            parameter.value = Tensor(shape: parameter.shape, scalars: Array(theta[offset..<(offset + parameter.value.count)]))
            parameter.zeroGradient()
            offset += parameter.value.count
        }
        let tape = Tape<Double>()
        tape.backward(network.loss(network.model(tape.input(network.x)), network.y))
        return network.model.parameters.flatMap(\.gradient.scalars)
    }

    @Test(arguments: [LossFunction.crossEntropy, .meanSquaredError], [true, false])
    func matchesCentralDifferencesOnTanh(loss: LossFunction, bias: Bool) throws {
        let network = Self.network(.tanh, loss: loss, bias: bias)
        let theta = network.model.parameters.flatMap(\.value.scalars)
        let hessian = try MLPHessian(network.model, inputs: network.x, targets: network.y, loss: loss)
        #expect(hessian.parameterCount == theta.count)
        var generator = Xoshiro256StarStar(seed: 9)
        let v = (0..<theta.count).map { _ in generator.nextNormal() }
        let exact = hessian.hessianVectorProduct(v)
        // Central differences: error O(h^2) + rounding O(eps / h); h = 1e-5 balances them near 1e-10.
        let h = 1e-5
        let plus = Self.gradient(network, at: zip(theta, v).map { $0 + h * $1 })
        let minus = Self.gradient(network, at: zip(theta, v).map { $0 - h * $1 })
        let differences = zip(plus, minus).map { ($0 - $1) / (2 * h) }
        let scale = exact.map(abs).max()!
        let error = zip(exact, differences).map { abs($0 - $1) }.max()! / scale
        #expect(scale > 1e-3)
        #expect(error < 1e-7, "relative error \(error)")
        // Symmetry: u . H v = v . H u.
        let u = (0..<theta.count).map { _ in generator.nextNormal() }
        let (uHv, vHu) = (zip(u, exact).reduce(0) { $0 + $1.0 * $1.1 }, zip(v, hessian.hessianVectorProduct(u)).reduce(0) { $0 + $1.0 * $1.1 })
        #expect(abs(uHv - vHu) < 1e-12 * max(abs(uHv), 1))
    }

    /// Lanczos run to the dimension finds the full Hessian's extreme eigenvalues (the Hessian built
    /// column by column from products, its eigenvalues by LAPACK); 30 steps already get the extremes.
    @Test(arguments: [Activation.tanh, .relu]) func lanczosFindsTheExtremeEigenvalues(activation: Activation) throws {
        let network = Self.network(activation, loss: .crossEntropy, bias: false)
        let hessian = try MLPHessian(network.model, inputs: network.x, targets: network.y, loss: .crossEntropy)
        let n = hessian.parameterCount
        let columns = (0..<n).map { j in hessian.hessianVectorProduct((0..<n).map { $0 == j ? 1 : 0 }) }
        // Symmetrised to rounding.
        let dense = (0..<n).map { i in (0..<n).map { j in (columns[j][i] + columns[i][j]) / 2 } }
        let all = try symmetricEigenvalues(Tensor(shape: [n, n], scalars: Array(dense.joined())))
        // The eigenvalue routine checked by invariants: the trace and the Frobenius norm.
        let trace = (0..<n).reduce(0) { $0 + dense[$1][$1] }, frobenius = dense.joined().reduce(0) { $0 + $1 * $1 }
        #expect(abs(all.reduce(0, +) - trace) < 1e-10 * max(abs(trace), 1))
        #expect(abs(all.reduce(0) { $0 + $1 * $1 } - frobenius) < 1e-10 * frobenius)
        let (smallest, largest) = hessian.extremeEigenvalues(iterations: n)
        let scale = all.map(abs).max()!
        #expect(abs(largest - all.max()!) < 1e-9 * scale && abs(smallest - all.min()!) < 1e-9 * scale, "\(smallest), \(largest) vs \(all.min()!), \(all.max()!)")
        let few = hessian.extremeEigenvalues(iterations: 30)
        #expect(abs(few.largest - all.max()!) < 1e-6 * scale, "\(few) vs \(all.max()!)")
    }

    @Test func refusesWhatItDoesNotCover() {
        var generator = Xoshiro256StarStar(seed: 1)
        let model = Sequential<Double>([Dense<Double>(2, 3, generator: &generator), LayerNorm<Double>(3),
                                        ActivationLayer<Double>(.relu), Dense<Double>(3, 1, generator: &generator)])
        #expect(throws: MLPHessian.UnsupportedNetwork.self) {
            try MLPHessian(model, inputs: .zeros([1, 2]), targets: .zeros([1, 1]), loss: .meanSquaredError)
        }
    }
}
