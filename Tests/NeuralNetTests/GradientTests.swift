import CustomOperationExamples
import Foundation
import Testing
@testable import NeuralNet

/// Every op's backward against central finite differences in Float64 (relative error < 1e-6),
/// through the public `GradientCheck`.
@Suite struct FiniteDifferenceTests {
    let gradients = GradientCheck()
    static let shapes: [[Int]] = [[1, 1], [3, 4], [5, 7], [8, 2]]

    func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, standardDeviation: scale, using: &generator)
    }

    /// The worst relative error of `function`'s gradients, with parameters named by position.
    func error(inputs: [Tensor<Double>], parameters: [Parameter<Double>] = [],
               _ function: ([Variable<Double>]) -> Variable<Double>) -> GradientCheckResult {
        gradients.check(inputs: inputs, parameters: parameters.enumerated().map { ("\($0.offset)", $0.element) }, function)
    }

    @Test(arguments: shapes) func dense(shape: [Int]) {
        var generator = Xoshiro256StarStar(seed: 5)
        for parameterization in Parameterization.allCases {
            let layer = parameterization == .standard
                ? Dense<Double>(shape[1], 3, generator: &generator)
                : Dense<Double>(ntk: shape[1], 3, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
            let result = gradients.check(layer, input: random(shape, seed: 1))
            #expect(result.worstRelativeError < 1e-6, "\(parameterization): \(result)")
        }
        let noBias = Dense<Double>(shape[1], 2, bias: false, generator: &generator)
        #expect(gradients.check(noBias, input: random(shape, seed: 2)).worstRelativeError < 1e-6)
    }

    @Test(arguments: shapes, [true, false]) func layerNorm(shape: [Int], affine: Bool) {
        let layer = LayerNorm<Double>(shape[1], affine: affine)
        // Non-trivial gamma and beta so their gradients and their effect on dx are tested.
        layer.weight?.value = random([shape[1]], seed: 3, scale: 0.5).map { $0 + 1 }
        layer.bias?.value = random([shape[1]], seed: 4, scale: 0.3)
        let x = random(shape, seed: 6, scale: 2).map { $0 + 1 }
        let result = gradients.check(layer, input: x)
        #expect(result.worstRelativeError < 1e-6, "affine \(affine): \(result)")
    }

    @Test(arguments: Activation.allCases) func activation(_ activation: Activation) {
        for shape in Self.shapes {
            // Keep ReLU inputs away from its kink, where finite differences are meaningless.
            var x = random(shape, seed: 7, scale: 2)
            if activation == .relu { x = x.map { Swift.abs($0) < 1e-3 ? 0.5 : $0 } }
            let result = error(inputs: [x]) { $0[0].tape.activation($0[0], activation) }
            #expect(result.worstRelativeError < 1e-6, "\(activation) \(shape): \(result)")
        }
    }

    @Test(arguments: shapes) func arithmetic(shape: [Int]) {
        let (a, b) = (random(shape, seed: 8), random(shape, seed: 9))
        #expect(error(inputs: [a, b]) { $0[0] + $0[1] }.worstRelativeError < 1e-6)
        #expect(error(inputs: [a, b]) { $0[0] - $0[1] }.worstRelativeError < 1e-6)
        #expect(error(inputs: [a, b]) { $0[0] * $0[1] }.worstRelativeError < 1e-6)
        #expect(error(inputs: [a]) { 2.5 * $0[0] }.worstRelativeError < 1e-6)
        #expect(error(inputs: [a]) { $0[0].sum() }.worstRelativeError < 1e-6)
        #expect(error(inputs: [a]) { $0[0].mean() }.worstRelativeError < 1e-6)
        // The same variable used twice accumulates both contributions.
        #expect(error(inputs: [a]) { $0[0] * $0[0] }.worstRelativeError < 1e-6)
    }

    @Test(arguments: shapes) func division(shape: [Int]) {
        // Denominators away from 0, where the quotient's finite differences are meaningless.
        let (a, b) = (random(shape, seed: 20), random(shape, seed: 21).map { $0 < 0 ? $0 - 0.5 : $0 + 0.5 })
        let result = error(inputs: [a, b]) { $0[0] / $0[1] }
        #expect(result.worstRelativeError < 1e-6, "\(result)")
        #expect(error(inputs: [b]) { $0[0] / $0[0] }.worstRelativeError < 1e-6)
    }

    @Test(arguments: shapes) func scalarArithmetic(shape: [Int]) {
        let x = random(shape, seed: 22)
        let functions: [(String, (Variable<Double>) -> Variable<Double>)] = [
            ("x + c", { $0 + 1.5 }), ("c + x", { 1.5 + $0 }), ("x - c", { $0 - 0.7 }), ("c - x", { 0.7 - $0 }),
            ("x * c", { $0 * -3 }), ("x / c", { $0 / 4 }), ("-x", { -$0 }),
        ]
        for (name, function) in functions {
            let result = error(inputs: [x]) { function($0[0]) }
            #expect(result.worstRelativeError < 1e-6, "\(name): \(result)")
        }
        // Forward values, exactly.
        let tape = Tape<Double>()
        let variable = tape.input(x)
        #expect((0.7 - variable).value == x.map { 0.7 - $0 })
        #expect((variable + 1.5).value == x.map { $0 + 1.5 })
    }

    @Test(arguments: shapes) func unaryFunctions(shape: [Int]) {
        let x = random(shape, seed: 23)
        let positive = x.map { Swift.abs($0) + 0.3 }
        let awayFromZero = x.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
        let cases: [(String, Tensor<Double>, (Variable<Double>) -> Variable<Double>)] = [
            ("exp", x, { $0.exp() }), ("log", positive, { $0.log() }), ("sqrt", positive, { $0.sqrt() }),
            ("square", x, { $0.square() }), ("abs", awayFromZero, { $0.abs() }),
        ]
        for (name, input, function) in cases {
            let result = error(inputs: [input]) { function($0[0]) }
            #expect(result.worstRelativeError < 1e-6, "\(name): \(result)")
        }
        // Forward values against the standard library's.
        let tape = Tape<Double>()
        #expect(tape.input(x).exp().value == x.map { Foundation.exp($0) })
        #expect(tape.input(positive).log().value == positive.map { Foundation.log($0) })
        #expect(tape.input(positive).sqrt().value == positive.map { $0.squareRoot() })
        #expect(tape.input(x).abs().value == x.map { Swift.abs($0) })
        // |x| at 0 has gradient 0 (PyTorch's convention).
        let zero = tape.input(.zeros([1, 2]), requiresGradient: true)
        tape.backward(zero.abs())
        #expect(tape.gradient(of: zero) == .zeros([1, 2]))
    }

    @Test(arguments: shapes) func rowVectorBroadcasting(shape: [Int]) {
        let x = random(shape, seed: 24), v = random([1, shape[1]], seed: 25)
        for (name, function) in [("x + v", { (x: Variable<Double>, v: Variable<Double>) in x + v }),
                                 ("v + x", { $1 + $0 }), ("x * v", { $0 * $1 }), ("v * x", { $1 * $0 })] {
            let result = error(inputs: [x, v]) { function($0[0], $0[1]) }
            #expect(result.worstRelativeError < 1e-6, "\(name) \(shape): \(result)")
        }
        // A parameter as the vector: its gradient sums over rows.
        let bias = Parameter<Double>(random([1, shape[1]], seed: 26))
        #expect(error(inputs: [x], parameters: [bias]) { $0[0] * $0[0].tape.variable(bias) + $0[0].tape.variable(bias) }
            .worstRelativeError < 1e-6)
    }

    @Test(arguments: shapes) func reductionsAlongOneAxis(shape: [Int]) {
        let x = random(shape, seed: 27)
        for axis in [Axis.rows, .columns] {
            for mean in [false, true] {
                let result = error(inputs: [x]) { mean ? $0[0].mean(over: axis) : $0[0].sum(over: axis) }
                #expect(result.worstRelativeError < 1e-6, "\(axis) mean \(mean): \(result)")
            }
        }
        let tape = Tape<Double>()
        let (rows, columns) = (shape[0], shape[1])
        let sums = tape.input(x).sum(over: .rows), means = tape.input(x).mean(over: .columns)
        #expect(sums.shape == [1, columns] && means.shape == [rows, 1])
        for j in 0..<columns {
            let expected = (0..<rows).reduce(0.0) { $0 + x[$1, j] }
            #expect(Swift.abs(sums.value[0, j] - expected) <= 1e-14 * Swift.max(1, Swift.abs(expected)))
        }
        for i in 0..<rows {
            let expected = (0..<columns).reduce(0.0) { $0 + x[i, $1] } / Double(columns)
            #expect(Swift.abs(means.value[i, 0] - expected) <= 1e-14 * Swift.max(1, Swift.abs(expected)))
        }
    }

    @Test(arguments: shapes) func matmulBothSides(shape: [Int]) {
        let (a, b) = (random(shape, seed: 10), random([shape[1], 3], seed: 11))
        #expect(error(inputs: [a, b]) { matmul($0[0], $0[1]) }.worstRelativeError < 1e-6)
    }

    @Test(arguments: shapes) func meanSquaredErrorLoss(shape: [Int]) {
        let target = random(shape, seed: 12)
        #expect(error(inputs: [random(shape, seed: 13)]) { meanSquaredError($0[0], target) }.worstRelativeError < 1e-6)
    }

    @Test func parameterVariable() {
        let p = Parameter<Double>(random([3, 2], seed: 14))
        let x = random([4, 3], seed: 15)
        let result = error(inputs: [x], parameters: [p]) { matmul($0[0], $0[0].tape.variable(p)) }
        #expect(result.worstRelativeError < 1e-6)
    }

    @Test func wholeNetwork() {
        var generator = Xoshiro256StarStar(seed: 16)
        let model = Sequential<Double>(
            Dense(3, 6, generator: &generator), LayerNorm(6), GELU(),
            Dense(6, 5, generator: &generator), Tanh(), Dense(5, 4, generator: &generator), Sigmoid(),
            Dense(4, 1, generator: &generator))
        #expect(gradients.check(model, input: random([7, 3], seed: 17)).worstRelativeError < 1e-6)
    }

    /// One value read by several operations: the first contribution the backward pass reaches
    /// writes its gradient buffer and the others add, whatever op each is.
    @Test func valueReadBySeveralOperations() {
        var generator = Xoshiro256StarStar(seed: 18)
        let dense = Dense<Double>(3, 3, generator: &generator), layerNorm = LayerNorm<Double>(3)
        let x = random([4, 3], seed: 19)
        let result = error(inputs: [x], parameters: dense.parameters + layerNorm.parameters) {
            let h = $0[0]
            return dense(h) + layerNorm(h) + h.relu() * h + 2.5 * dense(h.tanh())
        }
        #expect(result.worstRelativeError < 1e-6)
    }
}

/// The public gradient check finds a wrong backward and says where it is.
@Suite struct GradientCheckTests {
    /// y = x^2 with the backward of 2x + 0.01 on element 3 of the input, and a correct one elsewhere.
    final class WrongSquare: CustomOperation {
        typealias Scalar = Double
        func forward(_ context: CustomOperationContext<Double>) {
            let (x, y) = (context.input(0), context.output)
            for i in 0..<x.count { y[i] = x[i] * x[i] }
        }
        func backward(_ context: CustomOperationContext<Double>) {
            guard let dx = context.inputGradient(0) else { return }
            let (x, dy) = (context.input(0), context.outputGradient)
            for i in 0..<x.count { dx[i] += dy[i] * (2 * x[i] + (i == 3 ? 0.01 : 0)) }
        }
    }

    @Test func locatesTheWrongElement() {
        var generator = Xoshiro256StarStar(seed: 1)
        let x = Tensor<Double>.randomNormal([2, 3], using: &generator)
        let operation = WrongSquare()
        let result = GradientCheck().check(inputs: [.ones([2, 3]), x]) { $0[0] * operation($0[1]) }
        #expect(result.tensor == "input 1" && result.element == 3, "\(result)")
        #expect(result.worstRelativeError > 1e-3 && !result.passes())
        #expect(result.checkedElements == 12)
        #expect(result.description.contains("input 1[3]"))
    }

    @Test func namesTheParameter() {
        var generator = Xoshiro256StarStar(seed: 2)
        let operation = ColumnScale(.filled([3], with: 0.7), doubledGradientColumn: 1)
        let x = Tensor<Double>.randomNormal([4, 3], using: &generator)
        operation.scale.gradient = .filled([3], with: 9)
        let result = GradientCheck().check(inputs: [x], parameters: [("scale", operation.scale)]) { operation($0[0]) }
        #expect(result.tensor == "parameter scale" && result.element == 1 && !result.passes(), "\(result)")
        #expect(result.checkedElements == 12 + 3)
        #expect(operation.scale.gradient == .filled([3], with: 9), "the check leaves parameters' gradients as they were")
        #expect(operation.scale.value == .filled([3], with: 0.7), "and their values")
        // A correct layer passes, over every element of its input and parameters.
        let layer = Dense<Double>(2, 3, generator: &generator)
        let correct = GradientCheck().check(layer, input: .randomNormal([4, 2], using: &generator))
        #expect(correct.passes() && correct.checkedElements == 8 + 6 + 3, "\(correct)")
    }
}

@Suite struct TapeTests {
    @Test func reusesBuffersAcrossSteps() {
        var generator = Xoshiro256StarStar(seed: 1)
        let model = Sequential<Double>(Dense(2, 8, generator: &generator), ReLU(), Dense(8, 1, generator: &generator))
        let x = Tensor<Double>.randomNormal([5, 2], using: &generator)
        let y = Tensor<Double>.randomNormal([5, 1], using: &generator)
        let tape = Tape<Double>()
        var losses: [Double] = []
        for _ in 0..<3 {
            tape.reset()
            model.zeroGradients()
            let loss = meanSquaredError(model(tape.input(x)), y)
            tape.backward(loss)
            losses.append(loss.value.scalars[0])
        }
        #expect(tape.count == 5)  // input, dense, relu, dense, loss
        #expect(losses[0] == losses[1] && losses[1] == losses[2])
        // A fresh tape gives the same gradient as the reused one.
        let reusedGradient = model.parameters[0].gradient
        model.zeroGradients()
        let fresh = Tape<Double>()
        fresh.backward(meanSquaredError(model(fresh.input(x)), y))
        #expect(model.parameters[0].gradient == reusedGradient)
    }

    /// Gradient buffers are written, not zeroed, by each backward: a value nothing reached must
    /// still read zero, and a second backward on the same record must not add to the first.
    @Test func gradientsStartFromZeroInEachBackward() {
        let tape = Tape<Double>()
        let unused = tape.input(.ones([2, 3]), requiresGradient: true)
        let x = tape.input(.ones([2, 3]), requiresGradient: true)
        let y = x.relu() + x
        tape.backward(y)
        #expect(tape.gradient(of: unused) == .zeros([2, 3]))
        #expect(tape.gradient(of: x) == .filled([2, 3], with: 2))
        tape.backward(y, seed: .filled([2, 3], with: 3))
        #expect(tape.gradient(of: unused) == .zeros([2, 3]))
        #expect(tape.gradient(of: x) == .filled([2, 3], with: 6))
        // A constant output: every gradient is zero.
        let constant = tape.input(.ones([1, 1]))
        tape.backward(constant)
        #expect(tape.gradient(of: x) == .zeros([2, 3]))
    }

    @Test func sequentialNamesAsPyTorch() {
        var generator = Xoshiro256StarStar(seed: 1)
        let model = Sequential<Float>(Dense(3, 5, generator: &generator), LayerNorm(5), ReLU(), Dense(5, 1, generator: &generator))
        #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"])
        #expect(model.namedParameters[0].parameter.shape == [5, 3])
    }

    @Test func floatNetworkTrains() {
        var generator = Xoshiro256StarStar(seed: 2)
        let model = Sequential<Float>(Dense(1, 16, generator: &generator), Tanh(), Dense(16, 1, generator: &generator))
        let x = Tensor<Float>.randomUniform([32, 1], low: -1, high: 1, using: &generator)
        let y = x.map { $0 * $0 }
        let optimizer = Adam(parameters: model.parameters, learningRate: 0.02)
        let tape = Tape<Float>()
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            tape.reset()
            optimizer.zeroGradients()
            let loss = meanSquaredError(model(tape.input(x)), y)
            tape.backward(loss)
            optimizer.step()
            if step == 0 { first = loss.value.scalars[0] }
            last = loss.value.scalars[0]
        }
        #expect(last < first / 10, "loss \(first) -> \(last)")
    }
}
