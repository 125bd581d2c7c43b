import TangentKernels

/// The kernel computations the benchmark suite times, as plain functions: each builds its
/// network and inputs once and returns the operation to time (one call = one iteration).
/// Float64, NTK parameterization with sigma_w = sqrt(2), sigma_b = 0.1, inputs N(0, 1).
public enum TangentKernelWorkloads {
    /// An MLP of `hiddenLayers` x (Dense, LayerNorm, ReLU) and a Dense to one output, in the NTK
    /// parameterization; the LayerNorms have epsilon 1e-12 (neural-tangents') and affine
    /// parameters when asked.
    public static func layerNormNetwork(
        inputs: Int, width: Int, hiddenLayers: Int, layerNormAffine: Bool = false, seed: UInt64 = 0
    ) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        var layers: [any Layer<Double>] = []
        var fanIn = inputs
        for _ in 0..<hiddenLayers {
            layers.append(Dense<Double>(ntk: fanIn, width, weightStandardDeviation: 2.0.squareRoot(),
                                        biasStandardDeviation: 0.1, generator: &generator))
            layers.append(LayerNorm<Double>(width, epsilon: 1e-12, affine: layerNormAffine))
            layers.append(ReLU<Double>())
            fanIn = width
        }
        layers.append(Dense<Double>(ntk: fanIn, 1, weightStandardDeviation: 2.0.squareRoot(),
                                    biasStandardDeviation: 0.1, generator: &generator))
        return Sequential(layers)
    }

    /// The analytic NTK (and NNGP kernel) of `points` points with themselves, for a network of
    /// `hiddenLayers` LayerNorm layers (width does not matter).
    public static func analyticNTK(points: Int, inputs: Int = 8, hiddenLayers: Int = 3, seed: UInt64 = 0) -> () throws -> Void {
        let network = layerNormNetwork(inputs: inputs, width: 1, hiddenLayers: hiddenLayers, seed: seed)
        var generator = Xoshiro256StarStar(seed: seed &+ 1)
        let x = Tensor<Double>.randomNormal([points, inputs], using: &generator)
        return { _ = try network.infiniteWidthKernel(x) }
    }

    /// The analytic NTK of `points` points and a kernel regression fitted on it, as an infinite-width
    /// run does: the kernel is computed, then factored in place (no second N x N matrix).
    public static func analyticNTKRegression(points: Int, inputs: Int = 8, hiddenLayers: Int = 3, seed: UInt64 = 0) -> () throws -> Void {
        let network = layerNormNetwork(inputs: inputs, width: 1, hiddenLayers: hiddenLayers, seed: seed)
        var generator = Xoshiro256StarStar(seed: seed &+ 1)
        let x = Tensor<Double>.randomNormal([points, inputs], using: &generator)
        let y = Tensor<Double>.randomNormal([points], using: &generator)
        return { _ = try KernelRegression(kernel: network.infiniteWidthKernel(x).ntk, targets: y) }
    }

    /// The structured empirical NTK of `points` points with themselves, for a network of
    /// `hiddenLayers` layers of `width` units with LayerNorm.
    public static func structuredEmpiricalNTK(
        points: Int, width: Int = 512, inputs: Int = 8, hiddenLayers: Int = 3, layerNormAffine: Bool = false, seed: UInt64 = 0
    ) -> () throws -> Void {
        let (network, x) = networkAndPoints(points: points, width: width, inputs: inputs, hiddenLayers: hiddenLayers,
                                            layerNormAffine: layerNormAffine, seed: seed)
        return { _ = try network.empiricalTangentKernel(x) }
    }

    /// The same kernel from per-sample Jacobians (the slow oracle), for comparison.
    public static func jacobianEmpiricalNTK(
        points: Int, width: Int = 512, inputs: Int = 8, hiddenLayers: Int = 3, layerNormAffine: Bool = false, seed: UInt64 = 0
    ) -> () throws -> Void {
        let (network, x) = networkAndPoints(points: points, width: width, inputs: inputs, hiddenLayers: hiddenLayers,
                                            layerNormAffine: layerNormAffine, seed: seed)
        return { _ = try network.empiricalTangentKernelFromJacobians(x) }
    }

    /// `layerNormNetwork` and `points` inputs drawn N(0, 1) from the next seed.
    static func networkAndPoints(
        points: Int, width: Int, inputs: Int, hiddenLayers: Int, layerNormAffine: Bool, seed: UInt64
    ) -> (Sequential<Double>, Tensor<Double>) {
        let network = layerNormNetwork(inputs: inputs, width: width, hiddenLayers: hiddenLayers,
                                       layerNormAffine: layerNormAffine, seed: seed)
        var generator = Xoshiro256StarStar(seed: seed &+ 1)
        return (network, Tensor<Double>.randomNormal([points, inputs], using: &generator))
    }

    /// Fitting a kernel regression (Cholesky) on a precomputed analytic NTK of `points` points.
    public static func kernelRegressionFit(points: Int, inputs: Int = 8, seed: UInt64 = 0) throws -> () throws -> Void {
        let network = layerNormNetwork(inputs: inputs, width: 1, hiddenLayers: 3, seed: seed)
        var generator = Xoshiro256StarStar(seed: seed &+ 1)
        let x = Tensor<Double>.randomNormal([points, inputs], using: &generator)
        let y = Tensor<Double>.randomNormal([points], using: &generator)
        let kernel = try network.infiniteWidthKernel(x).ntk
        return { _ = try KernelRegression(kernel: kernel, targets: y) }
    }
}
