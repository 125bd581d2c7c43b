import Glibc

/// `evaluation.linearized` for a finite network: beside the real network's training, the same
/// network linearised at its initialisation, `f_lin(x) = f_0(x) + J_0(x)(θ - θ_0)`, trained by the
/// same full-batch gradient descent, in closed form (``LinearizedTraining``) with the empirical NTK
/// `Θ_0` of the initial network:
///
///     f_lin,t(x) = f_0(x) + Θ_0(x, X) w_t,   w_t = V diag(((1 - c λ)^t - 1) / λ) Vᵀ (f_0(X) - y),   c = 2 η / n
///
/// (`-c t` for λ = 0). At every recorded epoch (every `logEvery`, the last, and 0) it measures the
/// relative RMS distance between the real and the linearised outputs,
/// `sqrt(Σ (f - f_lin)^2 / Σ f^2)` over the training points and over the probes: every point
/// `lambda * u` of the extrapolation rays. Writes `linearized.csv`, `extrapolation-linearized.csv`
/// (the linearised network's own table after the last epoch) and `extrapolation-linearized.svg`
/// (both networks' growth curves).
final class LinearizedComparison<Scalar: BLASScalar> {
    /// The network as initialised, kept while the real one trains.
    let initialNetwork: Sequential<Scalar>
    let trainingInputs: Tensor<Scalar>
    let training: LinearizedTraining
    /// Every point of the extrapolation rays, in ``ExtrapolationMeasurement``'s order.
    let probes: Tensor<Scalar>
    let trainingTargets: Tensor<Double>
    let initialProbeOutputs: Tensor<Double>
    /// Θ_0(probes, X), m x n.
    let probeKernel: Tensor<Double>
    let evaluationTape = Tape<Scalar>()
    let logEvery: Int
    private(set) var rows: [LinearizedDistance] = []

    /// Takes the kernel of `network` as it is now: call it before training (and before a resume
    /// replaces the parameters).
    /// - Throws: `EmpiricalTangentKernelError` (the network's output is not one number a point),
    ///   `LinearAlgebraError.nonFiniteEntries` for a kernel that is not finite.
    init(network: Sequential<Scalar>, description: MLPDescription, data: Dataset<Scalar>, config: ExperimentConfig,
         seed: UInt64) throws {
        var generator = Xoshiro256StarStar(seed: 0)
        initialNetwork = description.build(generator: &generator)
        // Copies, so the optimizer's in-place steps on the real network never reach them.
        try initialNetwork.load(stateDict: network.stateDict.mapValues { Tensor(shape: $0.shape, scalars: $0.scalars) })
        trainingInputs = data.inputs
        logEvery = config.training.logEvery
        let directions = ExtrapolationMeasurement.directions(config.evaluation.directions, trainingInputs: data.inputs, seed: seed)
        probes = Self.rayPoints(directions: directions, lambdas: config.evaluation.lambdas.values)

        let kernel = try initialNetwork.empiricalTangentKernel(data.inputs).converted(to: Double.self)
        trainingTargets = data.targets.converted(to: Double.self)
        let initialTrainOutputs = initialNetwork(data.inputs, tape: evaluationTape).converted(to: Double.self)
        initialProbeOutputs = initialNetwork(probes, tape: evaluationTape).converted(to: Double.self)
        probeKernel = try initialNetwork.empiricalTangentKernel(probes, data.inputs).converted(to: Double.self)
        training = try LinearizedTraining(kernel: kernel, initialResidual: initialTrainOutputs - trainingTargets,
                                          learningRate: config.training.learningRate, dynamics: .gradientDescent)
        rows = [LinearizedDistance(epoch: 0, train: 0, probe: 0)]
    }

    /// `lambda * u` for every lambda (outer) and direction u (inner): the rows the extrapolation
    /// table is measured on.
    static func rayPoints(directions: Tensor<Scalar>, lambdas: [Double]) -> Tensor<Scalar> {
        let (count, dimension) = (directions.rows, directions.columns)
        let source = directions.scalars
        var scalars: [Scalar] = []
        scalars.reserveCapacity(lambdas.count * source.count)
        for lambda in lambdas { scalars += source.map { Scalar(lambda) * $0 } }
        return Tensor(shape: [lambdas.count * count, dimension], scalars: scalars)
    }

    /// The linearised network after `epochs` epochs, at the rows of `x`.
    func predict(_ x: Tensor<Scalar>, epochs: Int) throws -> Tensor<Scalar> {
        let initial = initialNetwork(x, tape: evaluationTape).converted(to: Double.self)
        let crossKernel = try initialNetwork.empiricalTangentKernel(x, trainingInputs).converted(to: Double.self)
        return (initial + matmul(crossKernel, training.coefficients(epochs: epochs))).converted(to: Scalar.self)
    }

    /// Records the distances after `epoch` when the loss curve records it (every `logEvery`
    /// epochs, and the last); `network` is the real network after that epoch. At the epochs the
    /// training loop saves a checkpoint, the rows so far go to `linearized.csv`, for a resume.
    func epochDone(_ epoch: Int, of epochs: Int, network: Sequential<Scalar>, checkpointEvery: Int, folder: String) {
        if epoch % logEvery == 0 || epoch == epochs, rows.last?.epoch != epoch { record(epoch: epoch, network: network) }
        if epoch % checkpointEvery == 0 && epoch < epochs {
            // Not fatal here: the final write reports the same folder's I/O problem, and a resume
            // without this file says so.
            try? AtomicFile.write(LinearizedFiles.distancesText(rows), to: folder + "/linearized.csv")
        }
    }

    /// Keeps the rows recorded before a resume at `epoch`, from the `linearized.csv` written with
    /// its checkpoint.
    func resume(folder: String, at epoch: Int) throws {
        let path = folder + "/linearized.csv"
        guard FileSystem.exists(path) else {
            throw FileError(path: path, problem: "missing: the distances recorded before the checkpoint at epoch \(epoch) "
                            + "cannot be resumed; delete \(folder)/checkpoint.safetensors to start that run over")
        }
        rows = try LinearizedFiles.readDistances(path).filter { $0.epoch <= epoch }
    }

    /// After training: the last epoch's row, the linearised network's extrapolation table, and the
    /// files. Returns what `metrics.json` records.
    func finish(epochs: Int, network: Sequential<Scalar>, beside run: RunExtrapolation, config: ExperimentConfig, seed: UInt64,
                folder: String) throws -> LinearizedSummary {
        if rows.last?.epoch != epochs { record(epoch: epochs, network: network) }
        let table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: trainingInputs, seed: seed) {
            try predict($0, epochs: epochs)
        }
        try LinearizedFiles.write(csv: LinearizedFiles.distancesText(rows), linearized: table, named: "linearised at initialisation",
                                  beside: run, named: "trained network", folder: folder)
        let residual = training.trainingResidual(epochs: epochs).scalars
        return LinearizedSummary(dynamics: training.dynamics.rawValue, epochs: epochs,
                                 trainLoss: residual.reduce(0) { $0 + $1 * $1 } / Double(residual.count),
                                 growthExponent: table.growthExponent, trainDistance: rows.last?.train, probeDistance: rows.last?.probe)
    }

    /// One line for the terminal: the distances, and a warning when the linearised network's
    /// gradient descent diverges at this learning rate (`c λ_max > 2`), which makes any distance large.
    func report(_ summary: LinearizedSummary) -> String {
        var line = "linearised at initialisation: relative distance after \(summary.epochs) epochs "
            + "\(compact(summary.trainDistance ?? .nan, digits: 3)) on the training points, "
            + "\(compact(summary.probeDistance ?? .nan, digits: 3)) along the rays"
        let stable = training.largestStableLearningRate
        if training.learningRate >= stable {
            line += "; its gradient descent diverges at learning rate \(plainNumber(training.learningRate)) "
                + "(the kernel's largest eigenvalue allows less than \(compact(stable, digits: 3)))"
        }
        return line
    }

    func record(epoch: Int, network: Sequential<Scalar>) {
        let coefficients = training.coefficients(epochs: epoch)
        // On the training points f_lin,t(X) = y + r_t.
        let linearTrain = trainingTargets + training.trainingResidual(epochs: epoch)
        let linearProbe = initialProbeOutputs + matmul(probeKernel, coefficients)
        let realTrain = network(trainingInputs, tape: evaluationTape).converted(to: Double.self)
        let realProbe = network(probes, tape: evaluationTape).converted(to: Double.self)
        rows.append(LinearizedDistance(epoch: epoch, train: relativeDistance(realTrain, linearTrain),
                                       probe: relativeDistance(realProbe, linearProbe)))
    }
}

/// `sqrt(Σ (a - b)^2 / Σ a^2)`: the RMS distance of b from a, relative to a's RMS.
func relativeDistance(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    var difference = 0.0, size = 0.0
    for (x, y) in zip(a.scalars, b.scalars) {
        difference += (x - y) * (x - y)
        size += x * x
    }
    return difference == 0 ? 0 : (difference / size).squareRoot()
}

/// One row of `linearized.csv`.
public struct LinearizedDistance: Sendable, Equatable {
    public var epoch: Int
    /// Relative RMS distance between the real and the linearised network on the training points.
    public var train: Double
    /// The same over every point of the extrapolation rays.
    public var probe: Double
}

/// `evaluation.linearized` at infinite width: the mean prediction of the infinitely wide network
/// after gradient flow to time `τ = learningRate * epochs` from a zero-mean start (f_0 = 0 on
/// average over initialisations), with the analytic NTK Θ,
///
///     f_τ(x) = Θ(x, X) Θ^-1 (I - exp(-(2 / n) Θ τ)) y
///
/// (neural-tangents' `predict.gradient_descent_mse` with `learning_rate = 2 η`, since its loss is
/// half of ours). Gradient flow rather than steps: it is what the theory and neural-tangents
/// state, and it differs from `epochs` steps of size η by O(η λ_max / n). The run's own table stays
/// the t = ∞ kernel regression; `linearized.csv` is `epoch,time,train_loss` at every recorded
/// epoch (every `logEvery`, and the last).
enum LinearizedInfiniteWidth {
    static func measure<Scalar: BLASScalar>(network: Sequential<Double>, data: Dataset<Scalar>, config: ExperimentConfig, seed: UInt64,
                                            beside run: RunExtrapolation, folder: String) throws -> LinearizedSummary {
        let inputs = data.inputs.converted(to: Double.self)
        let kernel = try network.infiniteWidthKernel(inputs).ntk
        let training = try LinearizedTraining(kernel: kernel, initialResidual: Tensor<Double>.zeros(data.targets.shape) - data.targets.converted(to: Double.self),
                                              learningRate: config.training.learningRate, dynamics: .gradientFlow)
        let epochs = config.training.epochs
        let recorded = Array(stride(from: 0, to: epochs, by: config.training.logEvery)) + [epochs]
        let losses = recorded.map { epoch in
            let residual = training.trainingResidual(epochs: epoch).scalars
            return (epoch: epoch, time: config.training.learningRate * Double(epoch),
                    loss: residual.reduce(0) { $0 + $1 * $1 } / Double(residual.count))
        }
        let coefficients = training.coefficients(epochs: epochs)
        // Θ(x*, X) for a batch costs N x batch kernel entries: smaller batches keep memory bounded.
        let table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.inputs, seed: seed, batchRows: 2048) {
            matmul(try network.infiniteWidthKernel($0.converted(to: Double.self), inputs).ntk, coefficients).converted(to: Scalar.self)
        }
        try LinearizedFiles.write(csv: LinearizedFiles.lossText(losses), linearized: table,
                                  named: "gradient flow to t = \(plainNumber(losses.last!.time)) (\(epochs) epochs)",
                                  beside: run, named: "kernel regression (t = \u{221E})", folder: folder)
        return LinearizedSummary(dynamics: training.dynamics.rawValue, epochs: epochs, trainLoss: losses.last!.loss,
                                 growthExponent: table.growthExponent)
    }
}
