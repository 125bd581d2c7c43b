import Testing
@testable import NeuralNet

/// RMSNorm, BatchNorm (both modes) and Residual against central finite differences in Float64
/// (relative error < 1e-6), with non-trivial affine parameters and running statistics. (SiLU is
/// among `Activation.allCases`, which `FiniteDifferenceTests.activation` covers.)
@Suite struct LayerGradientTests {
    let check = GradientCheck()
    /// Batches of at least 2 rows: a training-mode BatchNorm needs them.
    static let shapes: [[Int]] = [[2, 1], [3, 4], [5, 7], [8, 2], [4, 19]]

    func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, standardDeviation: scale, using: &generator)
    }

    @Test(arguments: shapes, [true, false]) func rmsNorm(shape: [Int], affine: Bool) {
        let layer = RMSNorm<Double>(shape[1], affine: affine)
        layer.weight?.value = random([shape[1]], seed: 3, scale: 0.5).map { $0 + 1 }
        let x = random(shape, seed: 6, scale: 2).map { $0 + 1 }
        let error = check.check(layer, input: x).worstRelativeError
        #expect(error < 1e-6, "affine \(affine): \(error)")
    }

    @Test(arguments: shapes, [true, false]) func batchNorm(shape: [Int], training: Bool) {
        for (affine, momentum) in [(true, 0.1), (false, nil)] as [(Bool, Double?)] {
            let layer = BatchNorm<Double>(shape[1], epsilon: 1e-3, momentum: momentum, affine: affine)
            layer.weight?.value = random([shape[1]], seed: 3, scale: 0.5).map { $0 + 1 }
            layer.bias?.value = random([shape[1]], seed: 4, scale: 0.3)
            layer.runningMean.value = random([shape[1]], seed: 5)
            layer.runningVariance.value = random([shape[1]], seed: 7).map { 0.5 + $0 * $0 }
            layer.setTraining(training)
            let x = random(shape, seed: 8, scale: 2).map { $0 + 1 }
            // In evaluation mode the output is linear in each input and parameter on its own, so
            // central differences have no truncation error at any step: a larger one keeps the
            // rounding of the loss (~1e-14 here, over 2 * 1e-6) from swamping small gradient entries.
            let check = training ? check : GradientCheck(step: 1e-3)
            let error = check.check(layer, input: x).worstRelativeError
            #expect(error < 1e-6, "training \(training), affine \(affine): \(error)")
        }
    }

    /// Pre-LN and post-LN blocks, and a BatchNorm inside a residual branch.
    @Test(arguments: [3, 6]) func residual(width: Int) {
        var generator = Xoshiro256StarStar(seed: 9)
        let preNorm = Residual(Sequential<Double>(LayerNorm(width), Dense(width, width, generator: &generator), Tanh(),
                                                  Dense(width, width, generator: &generator)))
        let postNorm = Sequential<Double>(
            Residual(Sequential<Double>(Dense(width, width, generator: &generator), SiLU(), Dense(width, width, generator: &generator))),
            LayerNorm(width))
        let batchNormBranch = Residual(Sequential<Double>(BatchNorm(width), Dense(width, width, generator: &generator), GELU()))
        let x = random([5, width], seed: 10)
        for (name, block) in [("pre-LN", preNorm), ("post-LN", postNorm), ("BatchNorm branch", batchNormBranch)] as [(String, any Layer<Double>)] {
            let error = check.check(block, input: x).worstRelativeError
            #expect(error < 1e-6, "\(name): \(error)")
        }
    }
}

/// The Float paths of RMSNorm's and BatchNorm's vectorised loops (16 lanes: widths below, at and
/// across them) against the Double paths, which PyTorch and finite differences check: outputs and
/// every gradient to Float's precision (1e-5 of each tensor's scale, ~100 Float ulps).
@Suite struct LayerFloatTests {
    static func run<Scalar: BLASScalar>(_ makeLayer: () -> any Layer<Scalar>, x: Tensor<Double>, dy: Tensor<Double>) -> [Tensor<Double>] {
        let layer = makeLayer()
        for (index, (_, parameter)) in layer.namedParameters.enumerated() {
            var generator = Xoshiro256StarStar(seed: UInt64(index) + 20)
            parameter.value = Tensor<Double>.randomUniform(parameter.shape, low: 0.5, high: 1.5, using: &generator).converted(to: Scalar.self)
        }
        let tape = Tape<Scalar>()
        let input = tape.input(x.converted(to: Scalar.self), requiresGradient: true)
        let y = layer(input)
        tape.backward(y, seed: dy.converted(to: Scalar.self))
        return [y.value, tape.gradient(of: input)].map { $0.converted(to: Double.self) }
            + layer.parameters.map { $0.gradient.converted(to: Double.self) }
    }

    @Test(arguments: [7, 16, 17, 37, 131]) func floatAgreesWithDouble(width: Int) {
        var generator = Xoshiro256StarStar(seed: UInt64(width))
        let x = Tensor<Double>.randomNormal([5, width], standardDeviation: 2, using: &generator).map { $0 + 0.5 }
        let dy = Tensor<Double>.randomNormal([5, width], using: &generator)
        func layers<Scalar: BLASScalar>(_: Scalar.Type) -> [(String, () -> any Layer<Scalar>)] { [
            ("RMSNorm", { RMSNorm<Scalar>(width) }),
            ("RMSNorm, no affine", { RMSNorm<Scalar>(width, affine: false) }),
            ("BatchNorm, training", { BatchNorm<Scalar>(width) }),
            ("BatchNorm, evaluation", {
                let layer = BatchNorm<Scalar>(width)
                layer.runningMean.value = .filled([width], with: 0.3)
                layer.runningVariance.value = .filled([width], with: 1.7)
                layer.setTraining(false)
                return layer
            }),
        ] }
        for ((name, single), (_, double)) in zip(layers(Float.self), layers(Double.self)) {
            let (float, reference) = (Self.run(single, x: x, dy: dy), Self.run(double, x: x, dy: dy))
            for (a, b) in zip(float, reference) {
                // Normwise (max |a - b| / max |b|): entries near zero carry the rounding of the
                // large ones they cancel (x - mean), which an entrywise ratio would magnify. A
                // wrong lane or index gives errors of order 1.
                let error = (a - b).maxAbs() / b.maxAbs()
                #expect(error < 1e-5, "\(name), width \(width): \(error)")
            }
        }
    }
}

/// A steady-state training step reuses every buffer: the tape's values, gradients and caches, the
/// parameters and the running statistics keep their storage from step to step (no copy-on-write
/// copies, no reallocation). `Benchmarks/TrainingStep` counts the step's mallocs (zero) for the
/// same networks; this is the in-suite guard.
@Suite struct LayerSteadyStateTests {
    static func addresses(_ tape: Tape<Double>, _ network: Sequential<Double>) -> [UnsafeRawPointer] {
        tape.nodes.prefix(tape.count).flatMap { node in
            [node.value, node.gradient, node.cache].map { UnsafeRawPointer($0.unsafeBaseAddress) }
        } + network.parameters.flatMap { [UnsafeRawPointer($0.value.unsafeBaseAddress), UnsafeRawPointer($0.gradient.unsafeBaseAddress)] }
            + network.namedBuffers.map { UnsafeRawPointer($0.buffer.value.unsafeBaseAddress) }
    }

    @Test(arguments: [true, false]) func buffersAreReused(training: Bool) {
        var generator = Xoshiro256StarStar(seed: 1)
        let width = 16
        let network = Sequential<Double>(
            Dense(2, width, generator: &generator), BatchNorm(width), SiLU(),
            Residual(Sequential(RMSNorm(width), Dense(width, width, generator: &generator), ReLU(), Dense(width, width, generator: &generator))),
            LayerNorm(width), Dense(width, 1, generator: &generator))
        network.setTraining(training)
        let x = Tensor<Double>.randomNormal([10, 2], using: &generator), y = Tensor<Double>.randomNormal([10, 1], using: &generator)
        let optimizer = Adam(parameters: network.parameters, learningRate: 1e-3)
        let tape = Tape<Double>()
        func step() {
            tape.reset()
            optimizer.zeroGradients()
            tape.backward(meanSquaredError(network(tape.input(x)), y))
            optimizer.step()
        }
        step()
        let first = Self.addresses(tape, network)
        for _ in 0..<3 { step() }
        #expect(Self.addresses(tape, network) == first)
    }
}
