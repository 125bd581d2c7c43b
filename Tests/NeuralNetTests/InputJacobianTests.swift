import CustomOperationExamples
import Foundation
import Testing
@testable import NeuralNet

/// Input Jacobians on the tape: the tangent ops' backwards against central finite differences,
/// every layer's tangents against finite differences of its forward, and the Jacobian penalty's
/// gradient (second derivatives through the tangents) against finite differences.
@Suite struct InputJacobianTests {
    let gradients = GradientCheck()

    func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, standardDeviation: scale, using: &generator)
    }

    /// The identity tangents of a [rows, d] batch, as `Tape.inputWithTangents` records them.
    static func identityTangents(rows: Int, dimensions: Int) -> Tensor<Double> {
        var identity = Tensor<Double>.zeros([dimensions * rows, dimensions])
        identity.withUnsafeMutableBufferPointer { buffer in
            for block in 0..<dimensions { for row in 0..<rows { buffer[(block * rows + row) * dimensions + block] = 1 } }
        }
        return identity
    }

    /// `layer`'s output tangents for a batch variable x (identity tangents: its input Jacobian).
    static func jacobian(_ layer: some Layer<Double>, _ x: Variable<Double>) -> Variable<Double> {
        let (rows, dimensions) = (x.shape[0], x.shape[1])
        let tangents = x.tape.input(identityTangents(rows: rows, dimensions: dimensions))
        return layer(ValueAndTangents(value: x, tangents: tangents)).tangents
    }

    @Test(arguments: Activation.allCases) func activationDerivative(_ activation: Activation) {
        var x = random([5, 7], seed: 1, scale: 2)
        if activation == .relu { x = x.map { Swift.abs($0) < 1e-3 ? 0.5 : $0 } }
        let result = gradients.check(inputs: [x]) { $0[0].tape.activationDerivative($0[0], activation) }
        // ReLU's derivative is constant away from 0: no gradient to check, only zeros.
        #expect(result.worstRelativeError < 1e-6, "\(activation): \(result)")
        // The forward is the first derivative: against central differences of the activation.
        let tape = Tape<Double>()
        let derivative = tape.activationDerivative(tape.input(x), activation).value
        let step = 1e-6
        let up = tape.activation(tape.input(x.map { $0 + step }), activation).value
        let down = tape.activation(tape.input(x.map { $0 - step }), activation).value
        for k in 0..<x.count {
            let numeric = (up.unsafeBaseAddress[k] - down.unsafeBaseAddress[k]) / (2 * step)
            #expect(Swift.abs(derivative.unsafeBaseAddress[k] - numeric) < 1e-8, "\(activation) at \(x.unsafeBaseAddress[k])")
        }
    }

    @Test func blockwiseProduct() {
        let (factor, blocks) = (random([4, 3], seed: 2), random([12, 3], seed: 3))
        let result = gradients.check(inputs: [factor, blocks]) { $0[0].tape.blockwiseProduct($0[0], $0[1]) }
        #expect(result.worstRelativeError < 1e-6, "\(result)")
        // One block and the same variable on both sides: x .* x.
        #expect(gradients.check(inputs: [factor]) { $0[0].tape.blockwiseProduct($0[0], $0[0]) }.worstRelativeError < 1e-6)
    }

    @Test(arguments: [true, false], [true, false]) func normalizationTangent(centred: Bool, affine: Bool) {
        let weight = affine ? Parameter(random([6], seed: 4, scale: 0.5).map { $0 + 1 }) : nil
        let x = random([3, 6], seed: 5, scale: 2).map { $0 + 0.5 }
        for blocks in [1, 2, 3] {
            let tangents = random([3 * blocks, 6], seed: 6)
            let result = gradients.check(inputs: [x, tangents], parameters: weight.map { [("weight", $0)] } ?? []) {
                $0[0].tape.normalizationTangent($0[0], tangents: $0[1], weight: weight, centred: centred, epsilon: 1e-5)
            }
            #expect(result.worstRelativeError < 1e-6, "centred \(centred), affine \(affine), \(blocks) blocks: \(result)")
        }
    }

    /// Networks with every layer that has a tangent: their input Jacobians, and the gradients of
    /// the Jacobians with respect to the input and the parameters.
    static func networks() -> [(String, Sequential<Double>)] {
        var generator = Xoshiro256StarStar(seed: 7)
        let layerNorm = LayerNorm<Double>(8)
        layerNorm.weight?.value = Tensor<Double>.randomNormal([8], standardDeviation: 0.3, using: &generator).map { $0 + 1 }
        layerNorm.bias?.value = .randomNormal([8], standardDeviation: 0.3, using: &generator)
        let rmsNorm = RMSNorm<Double>(8)
        rmsNorm.weight?.value = Tensor<Double>.randomNormal([8], standardDeviation: 0.3, using: &generator).map { $0 + 1 }
        return [
            ("tanh, LayerNorm", Sequential(Dense(3, 8, generator: &generator), layerNorm, Tanh(), Dense(8, 2, generator: &generator))),
            ("GELU, RMSNorm, residual", Sequential(
                Dense(3, 8, generator: &generator), rmsNorm, GELU(),
                Residual(Sequential(LayerNorm(8, affine: false), Dense(8, 8, generator: &generator), SiLU(), Dense(8, 8, generator: &generator))),
                Dense(8, 1, generator: &generator))),
            ("sigmoid, GELU tanh, NTK", Sequential(
                Dense(ntk: 3, 8, weightStandardDeviation: 1.4, biasStandardDeviation: 0.3, generator: &generator), Sigmoid(),
                Dense(ntk: 8, 8, weightStandardDeviation: 1.4, biasStandardDeviation: 0.3, generator: &generator), GELU(approximate: true),
                Dense(ntk: 8, 2, weightStandardDeviation: 1.4, biasStandardDeviation: 0.3, generator: &generator))),
            ("ReLU", Sequential(Dense(3, 8, generator: &generator), ReLU(), Dense(8, 8, generator: &generator), ReLU(),
                                Dense(8, 1, generator: &generator))),
        ]
    }

    @Test func jacobiansEqualFiniteDifferences() {
        let x = random([4, 3], seed: 8)
        for (name, model) in Self.networks() {
            #expect(model.providesTangents)
            let tape = Tape<Double>()
            let output = model(tape.inputWithTangents(x))
            let jacobian = output.tangents.value
            let outputs = output.value.shape[1]
            #expect(jacobian.shape == [3 * 4, outputs])
            let step = 1e-6
            for row in 0..<4 {
                for coordinate in 0..<3 {
                    var (up, down) = (x, x)
                    up.withUnsafeMutableBufferPointer { $0[row * 3 + coordinate] += step }
                    down.withUnsafeMutableBufferPointer { $0[row * 3 + coordinate] -= step }
                    let (upValue, downValue) = (model(up), model(down))
                    for output in 0..<outputs {
                        let numeric = (upValue[row, output] - downValue[row, output]) / (2 * step)
                        let analytic = jacobian[coordinate * 4 + row, output]
                        #expect(Swift.abs(analytic - numeric) < 1e-7 * max(1, Swift.abs(numeric)),
                                "\(name): d f_\(output)(x_\(row)) / dx_\(coordinate) = \(analytic), finite differences \(numeric)")
                    }
                }
            }
        }
    }

    @Test func jacobianGradientsEqualFiniteDifferences() {
        let x = random([3, 3], seed: 9)
        for (name, model) in Self.networks() {
            let result = gradients.check(inputs: [x], parameters: model.namedParameters) { Self.jacobian(model, $0[0]) }
            #expect(result.worstRelativeError < 1e-6, "\(name): \(result)")
        }
    }

    @Test func penalizedLossGradientEqualsFiniteDifferences() {
        let (x, y) = (random([5, 3], seed: 10), random([5, 1], seed: 11))
        let penalty = 0.3
        for (name, model) in Self.networks() {
            let targets = name.hasPrefix("tanh") || name.hasPrefix("sigmoid") ? random([5, 2], seed: 12) : y
            let result = gradients.check(inputs: [x], parameters: model.namedParameters) { variables in
                let tape = variables[0].tape
                let output = model(ValueAndTangents(value: variables[0], tangents: tape.input(Self.identityTangents(rows: 5, dimensions: 3))))
                return meanSquaredError(output.value, targets) + tape.affine(meanSquaredJacobianNorm(output), factor: penalty)
            }
            #expect(result.worstRelativeError < 1e-6, "\(name): \(result)")
            // The library's loss: MSE + lambda (1/B) sum_i ||J_i||^2, from the forward's own parts.
            let tape = Tape<Double>()
            let (loss, error) = tape.jacobianPenalizedLoss(model, inputs: x, targets: targets, penalty: penalty)
            let tangents = model(Tape<Double>().inputWithTangents(x)).tangents.value
            let squaredNorm = tangents.scalars.reduce(0) { $0 + $1 * $1 } / 5
            #expect(Swift.abs(loss.value.scalar - (error.value.scalar + penalty * squaredNorm)) < 1e-12 * max(1, loss.value.scalar))
        }
    }

    @Test func customOperationTangents() {
        // ColumnScale is linear: its tangent is itself on the tangents; the Jacobian's gradient is checked.
        let scale = ColumnScale(random([3], seed: 13))
        let x = random([4, 3], seed: 14)
        let result = gradients.check(inputs: [x], parameters: [("scale", scale.scale)]) { variables in
            let tape = variables[0].tape
            let input = ValueAndTangents(value: variables[0], tangents: tape.input(Self.identityTangents(rows: 4, dimensions: 3)))
            return (scale(input).tangents * 1.0).square()
        }
        #expect(result.worstRelativeError < 1e-6, "\(result)")
        #expect(scale.providesTangents && !SubtractBatchMean().providesTangents)
    }
}
