import Testing
@testable import NeuralNet

/// Every op's backward against central finite differences in Float64 (relative error < 1e-6).
@Suite struct FiniteDifferenceTests {
    let check = GradientCheck()
    static let shapes: [[Int]] = [[1, 1], [3, 4], [5, 7], [8, 2]]

    func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, standardDeviation: scale, using: &generator)
    }

    @Test(arguments: shapes) func dense(shape: [Int]) {
        var generator = Xoshiro256StarStar(seed: 5)
        for parameterization in Parameterization.allCases {
            let layer = parameterization == .standard
                ? Dense<Double>(shape[1], 3, generator: &generator)
                : Dense<Double>(ntk: shape[1], 3, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
            let error = check.maxRelativeError(inputs: [random(shape, seed: 1)], parameters: layer.parameters) { layer($0[0]) }
            #expect(error < 1e-6, "\(parameterization): \(error)")
        }
        let noBias = Dense<Double>(shape[1], 2, bias: false, generator: &generator)
        #expect(check.maxRelativeError(inputs: [random(shape, seed: 2)], parameters: noBias.parameters) { noBias($0[0]) } < 1e-6)
    }

    @Test(arguments: shapes, [true, false]) func layerNorm(shape: [Int], affine: Bool) {
        let layer = LayerNorm<Double>(shape[1], affine: affine)
        // Non-trivial gamma and beta so their gradients and their effect on dx are tested.
        layer.weight?.value = random([shape[1]], seed: 3, scale: 0.5).map { $0 + 1 }
        layer.bias?.value = random([shape[1]], seed: 4, scale: 0.3)
        let x = random(shape, seed: 6, scale: 2).map { $0 + 1 }
        let error = check.maxRelativeError(inputs: [x], parameters: layer.parameters) { layer($0[0]) }
        #expect(error < 1e-6, "affine \(affine): \(error)")
    }

    @Test(arguments: Activation.allCases) func activation(_ activation: Activation) {
        for shape in Self.shapes {
            // Keep ReLU inputs away from its kink, where finite differences are meaningless.
            var x = random(shape, seed: 7, scale: 2)
            if activation == .relu { x = x.map { abs($0) < 1e-3 ? 0.5 : $0 } }
            let error = check.maxRelativeError(inputs: [x]) { $0[0].tape.activation($0[0], activation) }
            #expect(error < 1e-6, "\(activation) \(shape): \(error)")
        }
    }

    @Test(arguments: shapes) func arithmetic(shape: [Int]) {
        let (a, b) = (random(shape, seed: 8), random(shape, seed: 9))
        #expect(check.maxRelativeError(inputs: [a, b]) { $0[0] + $0[1] } < 1e-6)
        #expect(check.maxRelativeError(inputs: [a, b]) { $0[0] - $0[1] } < 1e-6)
        #expect(check.maxRelativeError(inputs: [a, b]) { $0[0] * $0[1] } < 1e-6)
        #expect(check.maxRelativeError(inputs: [a]) { 2.5 * $0[0] } < 1e-6)
        #expect(check.maxRelativeError(inputs: [a]) { $0[0].sum() } < 1e-6)
        #expect(check.maxRelativeError(inputs: [a]) { $0[0].mean() } < 1e-6)
        // The same variable used twice accumulates both contributions.
        #expect(check.maxRelativeError(inputs: [a]) { $0[0] * $0[0] } < 1e-6)
    }

    @Test(arguments: shapes) func matmulBothSides(shape: [Int]) {
        let (a, b) = (random(shape, seed: 10), random([shape[1], 3], seed: 11))
        #expect(check.maxRelativeError(inputs: [a, b]) { matmul($0[0], $0[1]) } < 1e-6)
    }

    @Test(arguments: shapes) func meanSquaredErrorLoss(shape: [Int]) {
        let target = random(shape, seed: 12)
        #expect(check.maxRelativeError(inputs: [random(shape, seed: 13)]) { meanSquaredError($0[0], target) } < 1e-6)
    }

    @Test func parameterVariable() {
        let p = Parameter<Double>(random([3, 2], seed: 14))
        let x = random([4, 3], seed: 15)
        let error = check.maxRelativeError(inputs: [x], parameters: [p]) { matmul($0[0], $0[0].tape.variable(p)) }
        #expect(error < 1e-6)
    }

    @Test func wholeNetwork() {
        var generator = Xoshiro256StarStar(seed: 16)
        let model = Sequential<Double>(
            Dense(3, 6, generator: &generator), LayerNorm(6), GELU(),
            Dense(6, 5, generator: &generator), Tanh(), Dense(5, 4, generator: &generator), Sigmoid(),
            Dense(4, 1, generator: &generator))
        let error = check.maxRelativeError(inputs: [random([7, 3], seed: 17)], parameters: model.parameters) { model($0[0]) }
        #expect(error < 1e-6)
    }

    /// One value read by several operations: the first contribution the backward pass reaches
    /// writes its gradient buffer and the others add, whatever op each is.
    @Test func valueReadBySeveralOperations() {
        var generator = Xoshiro256StarStar(seed: 18)
        let dense = Dense<Double>(3, 3, generator: &generator), layerNorm = LayerNorm<Double>(3)
        let x = random([4, 3], seed: 19)
        let error = check.maxRelativeError(inputs: [x], parameters: dense.parameters + layerNorm.parameters) {
            let h = $0[0]
            return dense(h) + layerNorm(h) + h.relu() * h + 2.5 * dense(h.tanh())
        }
        #expect(error < 1e-6)
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
