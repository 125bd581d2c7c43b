import Testing
import TestSupport
import Experiments

/// The kernel drift, dispersion and stability number against quantities computed here the naive
/// way: every point's own gradient by its own backward pass, the kernel as their dot products.
@Suite struct KernelDriftTests {
    /// J, one row per point: df(x_i)/dp for every parameter, each point through its own backward pass.
    static func perSampleGradients(_ model: Sequential<Double>, _ x: Tensor<Double>) -> [[Double]] {
        let tape = Tape<Double>()
        return (0..<x.rows).map { row in
            for parameter in model.parameters { parameter.zeroGradient() }
            tape.reset()
            let point = Tensor(shape: [1, x.columns], scalars: (0..<x.columns).map { x[row, $0] })
            tape.backward(model(tape.input(point)))
            return model.parameters.flatMap(\.gradient.scalars)
        }
    }

    /// Theta = J Jᵀ, entry by entry.
    static func naiveKernel(_ model: Sequential<Double>, _ x: Tensor<Double>) -> [[Double]] {
        let jacobian = perSampleGradients(model, x)
        return jacobian.map { a in jacobian.map { b in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } } }
    }

    static func frobenius(_ a: [[Double]], minus b: [[Double]]? = nil) -> Double {
        var sum = 0.0
        for i in a.indices { for j in a[i].indices { let d = a[i][j] - (b?[i][j] ?? 0); sum += d * d } }
        return sum.squareRoot()
    }

    /// The largest eigenvalue of a symmetric positive semidefinite matrix by power iteration.
    static func powerIteration(_ a: [[Double]]) -> Double {
        var v = [Double](repeating: 1, count: a.count)
        var value = 0.0
        for _ in 0..<5000 {
            let w = a.map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
            let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            value = zip(v, w).reduce(0) { $0 + $1.0 * $1.1 } / v.reduce(0) { $0 + $1 * $1 }
            v = w.map { $0 / norm }
        }
        return value
    }

    static func data(points: Int, inputs: Int, seed: UInt64) -> (x: Tensor<Double>, y: Tensor<Double>) {
        var generator = Xoshiro256StarStar(seed: seed)
        return (Tensor<Double>.randomUniform([points, inputs], low: -1, high: 1, using: &generator),
                Tensor<Double>.randomUniform([points, 1], low: -1, high: 1, using: &generator))
    }

    @Test(arguments: [Parameterization.ntk, .standard])
    func measurementsEqualTheNaivePerSampleGradientKernel(_ parameterization: Parameterization) throws {
        var description = MLPDescription(inputSize: 3, width: 12, hiddenLayers: 2)
        description.parameterization = parameterization
        description.layerNormAfter = [1]
        description.activation = .tanh
        var generator = Xoshiro256StarStar(seed: 4)
        let model: Sequential<Double> = description.build(generator: &generator)
        let (x, y) = Self.data(points: 10, inputs: 3, seed: 5)
        let probe = Tensor(shape: [6, 3], scalars: Array(x.scalars[0..<18]))
        let targets = Array(y.scalars[0..<6])

        let initial = Self.naiveKernel(model, probe)
        let tracker = try KernelDriftTracker(model: model, probeInputs: probe, probeTargets: targets, analyticKernel: nil)
        let trainer = Trainer(model: model, optimizer: SGD(parameters: model.parameters, learningRate: 0.05), inputs: x, targets: y,
                              generator: Xoshiro256StarStar(seed: 6))
        for _ in 0..<30 { try trainer.runEpoch() }
        let record = try tracker.measure(epoch: 30)

        let now = Self.naiveKernel(model, probe)
        let change = Self.frobenius(now, minus: initial) / Self.frobenius(initial)
        #expect(change > 1e-3, "the kernel must move for the comparison to mean something: \(change)")
        #expect(abs(record.kernelChange - change) <= 1e-10 * change, "\(record.kernelChange) vs \(change)")
        let quadratic = zip(targets, now).reduce(0) { sum, pair in sum + pair.0 * zip(pair.1, targets).reduce(0) { $0 + $1.0 * $1.1 } }
        let alignment = quadratic / (Self.frobenius(now) * targets.reduce(0) { $0 + $1 * $1 })
        #expect(abs(record.alignment - alignment) <= 1e-10 * abs(alignment))
        let top = Self.powerIteration(now)
        #expect(abs(record.topEigenvalue - top) <= 1e-9 * top, "\(record.topEigenvalue) vs \(top)")
        #expect(tracker.records.map(\.epoch) == [0, 30] && tracker.records[0].kernelChange == 0)
        #expect(record.distanceToAnalytic == nil)
    }

    /// In the NTK parameterisation the kernel of a wider network moves less under the same
    /// gradient descent, about as 1/sqrt(width) (Jacot et al. 2018; Lee et al. 2019), as long as
    /// the step is stable (above the critical number the kernel moves until the step fits, at any width).
    /// On sin(pi (x1 + x2)) at 16 points, seeds 0, 1, 2 as `train` runs them (measured with the
    /// release build up to width 2048: 0.099, 0.047, 0.020, 0.0063 for widths 32, 128, 512, 2048).
    @Test func kernelChangeFallsAsTheWidthGrows() throws {
        func meanChange(width: Int) throws -> Double {
            var total = 0.0
            for seed in 0..<3 as Range<UInt64> {
                let data: Dataset<Double> = SyntheticDataConfig(target: .sin, inputDim: 2, trainSize: 16).makeDataset(seed: seed)
                var description = MLPDescription(inputSize: 2, width: width, hiddenLayers: 2)
                description.parameterization = .ntk
                description.weightStandardDeviation = 2.0.squareRoot()
                description.biasStandardDeviation = 1
                var generator = Xoshiro256StarStar(seed: seed, stream: .initialization)
                let model: Sequential<Double> = description.build(generator: &generator)
                let stability = try GradientDescentStability.measure(model, inputs: data.inputs, learningRate: 0.1)
                #expect(stability.number < GradientDescentStability.criticalValue, "width \(width): \(stability.number)")
                let tracker = try KernelDriftTracker(model: model, probeInputs: data.inputs, probeTargets: data.targets.scalars,
                                                     analyticKernel: nil)
                let trainer = Trainer(model: model, optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                                      inputs: data.inputs, targets: data.targets, generator: Xoshiro256StarStar(seed: 1))
                for _ in 0..<100 { try trainer.runEpoch() }
                total += try tracker.measure(epoch: 100).kernelChange
            }
            return total / 3
        }
        let changes = try [32, 128, 512].map(meanChange)
        #expect(changes[0] > changes[1] && changes[1] > changes[2], "\(changes)")
        // 1/sqrt(width) halves the change with each 4x in width; finite widths: a factor 1.4 to 4.
        for (wider, narrower) in zip(changes.dropFirst(), changes) {
            #expect(narrower / wider > 1.4 && narrower / wider < 4, "\(changes)")
        }
    }

    /// Where the analytic NTK describes the network (NTK parameterisation, maps for every layer),
    /// the drift compares with it; in the standard parameterisation it says why not.
    @Test func theAnalyticComparisonIsMadeOnlyWhereItMeansSomething() throws {
        let (x, _) = Self.data(points: 5, inputs: 2, seed: 3)
        var model = ModelConfig(hiddenLayers: 2, width: .finite(16), activation: .relu, parameterization: .ntk,
                                weightInit: nil, biasInit: nil, weightStd: 1.5, biasStd: 0.5)
        let ntk = KernelDriftTracker<Double>.analyticKernel(model: model, probeInputs: x)
        let expected = try model.analyticNetwork(inputSize: 2).infiniteWidthKernel(x).ntk
        #expect(ntk.kernel == expected && ntk.reason == "analytic NTK")
        model.parameterization = .standard
        let standard = KernelDriftTracker<Double>.analyticKernel(model: model, probeInputs: x)
        #expect(standard.kernel == nil && standard.reason.contains("grows with the width"))
    }

    @Test func dispersionIsTheRatioOfTheDiagonalsMoments() throws {
        var description = MLPDescription(inputSize: 3, width: 8, hiddenLayers: 3)
        description.parameterization = .standard
        description.weightInitialization = .normalScaledByFanIn(weightStandardDeviation: 3.0.squareRoot())
        description.biasInitialization = .normal(standardDeviation: 1)
        description.activation = .tanh
        let (x, _) = Self.data(points: 4, inputs: 3, seed: 2)
        var generator = Xoshiro256StarStar(seed: 9), bootstrap = Xoshiro256StarStar(seed: 10)
        let dispersion = try KernelDispersion.measure(description, probeInputs: x, initializations: 30, generator: &generator,
                                                      bootstrap: &bootstrap)
        // The same 30 networks, drawn again, their diagonals from per-sample gradients.
        var again = Xoshiro256StarStar(seed: 9)
        let diagonals = (0..<30).map { _ in
            let network: Sequential<Double> = description.build(generator: &again)
            return Self.perSampleGradients(network, x).map { $0.reduce(0) { $0 + $1 * $1 } }
        }
        for point in 0..<4 {
            let values = diagonals.map { $0[point] }
            let mean = values.reduce(0, +) / 30, meanOfSquares = values.reduce(0) { $0 + $1 * $1 } / 30
            let ratio = meanOfSquares / (mean * mean)
            let measured = dispersion.points[point]
            #expect(abs(measured.ratio - ratio) <= 1e-10 * ratio, "\(measured.ratio) vs \(ratio)")
            #expect(measured.low <= measured.ratio && measured.ratio <= measured.high && measured.ratio >= 1)
        }
        #expect(abs(dispersion.mean.ratio - dispersion.points.map(\.ratio).reduce(0, +) / 4) < 1e-12)
        // Seeded: the same generators give the same intervals.
        var generator2 = Xoshiro256StarStar(seed: 9), bootstrap2 = Xoshiro256StarStar(seed: 10)
        #expect(try KernelDispersion.measure(description, probeInputs: x, initializations: 30, generator: &generator2,
                                             bootstrap: &bootstrap2) == dispersion)
    }

    /// A linear model's NTK is constant, so gradient descent on it is exactly the linearised
    /// dynamics: it converges below the critical stability number and diverges above it.
    @Test func theStabilityNumberSeparatesConvergenceFromDivergence() throws {
        let (x, y) = Self.data(points: 20, inputs: 4, seed: 21)
        func finalLossRatio(times fraction: Double) throws -> Double {
            var generator = Xoshiro256StarStar(seed: 1)
            let model = Sequential<Double>(Dense(4, 1, generator: &generator))
            let probe = try GradientDescentStability.measure(model, inputs: x, learningRate: 1)
            let learningRate = fraction * GradientDescentStability.criticalValue / probe.number
            let stability = try GradientDescentStability.measure(model, inputs: x, learningRate: learningRate)
            #expect(abs(stability.number - fraction) < 1e-12 && stability.points == 20)
            #expect((stability.warning != nil) == (fraction > 1))
            let trainer = Trainer(model: model, optimizer: SGD(parameters: model.parameters, learningRate: learningRate),
                                  inputs: x, targets: y, generator: Xoshiro256StarStar(seed: 2))
            let first = try trainer.runEpoch()
            for _ in 0..<300 { try trainer.runEpoch() }
            return trainer.evaluateLoss() / first
        }
        #expect(try finalLossRatio(times: 0.95) < 1)
        #expect(try finalLossRatio(times: 1.05) > 1e6)
    }
}

@Suite struct EarlyStopTests {
    /// Full-batch gradient descent on a small network, the same every call.
    static func trainer() -> Trainer<Double> {
        var generator = Xoshiro256StarStar(seed: 3)
        let model: Sequential<Double> = MLPDescription(inputSize: 2, width: 8, hiddenLayers: 1).build(generator: &generator)
        let (x, y) = KernelDriftTests.data(points: 12, inputs: 2, seed: 4)
        return Trainer(model: model, optimizer: SGD(parameters: model.parameters, learningRate: 0.05), inputs: x, targets: y,
                       generator: Xoshiro256StarStar(seed: 5))
    }

    /// The first epoch at which the loss has not fallen by `minDecrease` below its best (as of
    /// its last improvement) for `window` epochs, from the losses of an unstopped run.
    static func expectedStop(_ losses: [Double], window: Int, minDecrease: Double) -> Int? {
        var best = Double.infinity, bestEpoch = 0
        for (index, loss) in losses.enumerated() {
            let epoch = index + 1
            if best == .infinity || loss <= best - minDecrease { (best, bestEpoch) = (loss, epoch) }
            else if epoch - bestEpoch >= window { return epoch }
        }
        return nil
    }

    /// The loss falls by about 1e-4 an epoch at first, 1e-5 later: a plateau test of 1e-3 in 50
    /// epochs stops it well inside 3000 epochs.
    static let earlyStop = EarlyStopConfig(window: 50, minDecrease: 1e-3)

    @Test func stopsWhereTheLossStopsFalling() throws {
        let byHand = Self.trainer()
        let losses = try (0..<3000).map { _ in try byHand.runEpoch() }
        let expected = Self.expectedStop(losses, window: 50, minDecrease: 1e-3)
        let stop = try #require(expected, "the loss never plateaus in 3000 epochs")
        #expect(stop > 50 && stop < 3000, "\(stop)")
        var observed: [Int] = []
        let loop = TrainingLoop(trainer: Self.trainer(), schedule: .init(epochs: 3000, logEvery: 50, earlyStop: Self.earlyStop))
        loop.observation = .init(every: 100) { observed.append($0) }
        let outcome = try loop.run()
        #expect(outcome.epochsRun == stop && outcome.stopReason == .earlyStop && outcome.stoppedEarly)
        #expect(outcome.minimumLoss == min(losses[..<stop].min()!, outcome.finalLoss))
        #expect(outcome.lossCurve.last?.epoch == stop)
        // Observed every 100 epochs and where training ended.
        #expect(observed == Array(stride(from: 100, to: stop, by: 100)) + [stop], "\(observed)")

        let unstopped = try TrainingLoop(trainer: Self.trainer(), schedule: .init(epochs: 50)).run()
        #expect(unstopped.stopReason == .epochs && !unstopped.stoppedEarly && unstopped.epochsRun == 50)
    }

    @Test func aResumedRunStopsWhereAnUnstoppedOneDoes() throws {
        let config = Self.earlyStop
        let whole = try TrainingLoop(trainer: Self.trainer(), schedule: .init(epochs: 3000, earlyStop: config)).run()
        try withTemporaryFolder { folder in
            let path = folder + "/checkpoint.safetensors"
            // Checkpoints every 7 epochs: the file left behind is from the plateau, mid-window.
            _ = try TrainingLoop(trainer: Self.trainer(), schedule: .init(epochs: 3000, earlyStop: config, checkpointEvery: 7),
                                 checkpointPath: path).run()
            let resumed = TrainingLoop(trainer: Self.trainer(), schedule: .init(epochs: 3000, earlyStop: config, checkpointEvery: 7),
                                       checkpointPath: path)
            let restored = try #require(try resumed.resumeFromCheckpoint())
            #expect(whole.stopReason == .earlyStop && restored.epoch > whole.epochsRun - 50 && restored.epoch < whole.epochsRun)
            let outcome = try resumed.run()
            #expect(outcome.epochsRun == whole.epochsRun && outcome.finalLoss == whole.finalLoss)
            #expect(outcome.minimumLoss == whole.minimumLoss && outcome.stopReason == .earlyStop)
        }
    }
}
