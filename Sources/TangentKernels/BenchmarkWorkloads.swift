import Glibc
import NeuralNet

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

/// One training step (forward, MSE loss, backward, Adam update) of the MLPs this field studies,
/// with everything it touches built once: the network (1 input, `hiddenLayers` x `width`, ReLU,
/// Kaiming-normal weights, biases N(0, 0.1^2), LayerNorm after the first hidden Dense or none),
/// a full batch of sin(3x) on [-1, 1], Adam at 1e-3, the tape. Shared by `Benchmarks/TrainingStep`
/// and `Benchmarks/PeerWorkloads` (whose Python twins build the same network).
public final class TrainingStepWorkload<Scalar: BLASScalar> {
    public let model: Sequential<Scalar>
    let optimizer: Adam<Scalar>
    let tape = Tape<Scalar>()
    let x: Tensor<Scalar>, y: Tensor<Scalar>
    /// With a team: the batch split over its threads; without: one tape (BLAS may use threads).
    let dataParallel: DataParallelTraining<Scalar>?

    /// How a step uses threads.
    public enum Threads {
        /// One tape; BLAS uses the threads it is set to.
        case blas
        /// Each batch split over this many threads (`DataParallelTraining`).
        case splitOver(Int)
        /// As `train` does: split over as many of these as pay (`threadsWorthUsing`), else `blas`.
        case asTrainDoes(Int)
    }

    public convenience init(width: Int, hiddenLayers: Int, batch: Int, layerNorm: Bool, threads: Threads = .blas) {
        var generator = Xoshiro256StarStar(seed: 1)
        var description = MLPDescription(inputSize: 1, width: width, hiddenLayers: hiddenLayers)
        description.weightInitialization = .kaimingNormal
        description.biasInitialization = .normal(standardDeviation: 0.1)
        if layerNorm { description.layerNormAfter = [0] }
        let model: Sequential<Scalar> = description.build(generator: &generator)
        self.init(model: model, batch: batch, threads: threads, generator: &generator)
    }

    /// A step of `model` (1 input, 1 output) on the same data, drawn from `generator`.
    public init(model: Sequential<Scalar>, batch: Int, threads: Threads = .blas, generator: inout Xoshiro256StarStar) {
        self.model = model
        optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
        x = .randomUniform([batch, 1], low: -1, high: 1, using: &generator)
        y = x.map { Scalar(Glibc.sin(3 * Double($0))) }
        let teamSize = switch threads {
        case .blas: 1
        case .splitOver(let count): count
        case .asTrainDoes(let count):
            DataParallelTraining<Scalar>.threadsWorthUsing(available: count, rows: batch, model: model)
        }
        dataParallel = teamSize > 1 ? DataParallelTraining(model: model, team: WorkerTeam(size: teamSize)) : nil
    }

    /// Runs one step.
    @inline(__always)
    public func step() {
        if let dataParallel {
            _ = dataParallel.step(inputs: x, targets: y, optimizer: optimizer)
            return
        }
        tape.reset()
        optimizer.zeroGradients()
        let loss = meanSquaredError(model(tape.input(x)), y)
        tape.backward(loss)
        optimizer.step()
    }
}
