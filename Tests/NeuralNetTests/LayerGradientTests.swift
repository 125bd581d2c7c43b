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
        let error = check.maxRelativeError(inputs: [x], parameters: layer.parameters) { layer($0[0]) }
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
            let error = check.maxRelativeError(inputs: [x], parameters: layer.parameters) { layer($0[0]) }
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
            let error = check.maxRelativeError(inputs: [x], parameters: block.parameters) { block($0[0]) }
            #expect(error < 1e-6, "\(name): \(error)")
        }
    }
}
