import Testing
import TangentKernels  // not @testable: only the public API, as another package sees it
import TestSupport

/// The README's "Tangent kernels" example, verbatim between the markers, so CI proves it compiles
/// and runs; then what it claims: a finite network's NTK near the analytic one, and kernel
/// regression with LayerNorm staying bounded far out.
@Test func readmeTangentKernelExample() throws {
    // README example begins
    var generator = Xoshiro256StarStar(seed: 0)
    let network = Sequential<Double>(
        Dense(ntk: 2, 1024, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator),
        LayerNorm(1024, affine: false), ReLU(),                  // the theory's LayerNorm: no gamma, beta
        Dense(ntk: 1024, 1, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator))
    let x = Tensor<Double>.randomUniform([40, 2], low: -1, high: 1, using: &generator)
    let y = Tensor<Double>(shape: [40, 1], scalars: (0..<40).map { i in x[i, 0] * x[i, 1] })
    let far = x.map { 100 * $0 }                                  // the same points, 100 times farther out

    let analytic = try network.infiniteWidthKernel(x, far)        // .ntk and .nngp, Float64
    let empirical = try network.empiricalTangentKernel(x, far)    // this finite network's NTK
    let fit = try InfiniteWidthRegression(network: network, inputs: x, targets: y)   // f(x*) = Θ(x*, X) Θ(X, X)⁻¹ y
    let farPrediction = try fit.predict(far)
    // README example ends
    #expect(empirical.shape == [40, 40] && analytic.ntk.shape == [40, 40])
    // Width 1024 against the limit: 5% here, falling as width^-0.57 (the TangentKernels tests check both exactly).
    #expect(frobeniusRelativeError(empirical, analytic.ntk) < 0.1)
    // LayerNorm: the predictions 100 times out stay on the targets' scale (without it they grow linearly with the distance).
    #expect(farPrediction.maxAbs() < 2 * y.maxAbs())
}
