import Glibc
import Testing
@testable import NeuralNet

/// A layer through the general ops (`tape.variable`, `matmul`): y = x Wᵀ, the `.parameter` path
/// of the tape's backward, which `Dense` and `LayerNorm` do not take.
struct GeneralOpsLinear: Layer {
    typealias Scalar = Double
    let weight: Parameter<Double>
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> {
        let transposed = x.tape.variable(weight)
        return matmul(x, transposed)
    }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [("weight", weight)] }
}

/// A Dense layer over a weight `Parameter` that other layers may share, with a bias of its own.
struct SharedWeightDense: Layer {
    typealias Scalar = Double
    let weight: Parameter<Double>, bias: Parameter<Double>
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x.tape.dense(x, weight: weight, bias: bias) }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [("weight", weight), ("bias", bias)] }
}

/// Data-parallel steps against one tape on the whole batch: the same loss and gradients up to
/// the order of additions, whatever the split; the same bits from run to run for one team size.
@Suite struct DataParallelTrainingTests {
    /// Dense, LayerNorm (affine), tanh, Dense, GELU, the general-ops layer, Dense: every kind of
    /// parameter gradient the tape writes.
    static func network(seed: UInt64 = 3) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        let layerNorm = LayerNorm<Double>(16)
        layerNorm.weight?.value = .randomNormal([16], standardDeviation: 0.3, using: &generator).map { $0 + 1 }
        layerNorm.bias?.value = .randomNormal([16], standardDeviation: 0.3, using: &generator)
        return Sequential(
            Dense<Double>(3, 16, generator: &generator), layerNorm, Tanh<Double>(),
            Dense<Double>(16, 12, generator: &generator), GELU<Double>(),
            GeneralOpsLinear(weight: Parameter(.randomNormal([12, 12], standardDeviation: 0.3, using: &generator))),
            Dense<Double>(12, 2, generator: &generator))
    }

    static func batch(rows: Int, seed: UInt64 = 9) -> (Tensor<Double>, Tensor<Double>) {
        var generator = Xoshiro256StarStar(seed: seed)
        return (.randomNormal([rows, 3], standardDeviation: 1, using: &generator),
                .randomNormal([rows, 2], standardDeviation: 1, using: &generator))
    }

    /// The loss and every parameter's gradient from one tape over the whole batch.
    static func serialLossAndGradients(_ model: Sequential<Double>, _ x: Tensor<Double>, _ y: Tensor<Double>) -> (Double, [[Double]]) {
        let tape = Tape<Double>()
        model.zeroGradients()
        let loss = meanSquaredError(model(tape.input(x)), y)
        tape.backward(loss)
        return (loss.value.scalar, model.parameters.map { $0.gradient.scalars })
    }

    static func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        let scale = max(a.map(abs).max() ?? 0, 1e-300)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: [1, 2, 3, 4], [101, 7, 3])
    func lossAndGradientsMatchOneTape(threads: Int, rows: Int) {
        let model = Self.network()
        let (x, y) = Self.batch(rows: rows)
        let (serialLoss, serialGradients) = Self.serialLossAndGradients(model, x, y)
        // Stale values in the gradients must be overwritten, not added to.
        for parameter in model.parameters { parameter.gradient = parameter.gradient.map { _ in 7 } }
        let training = DataParallelTraining(model: model, team: WorkerTeam(size: threads))
        for _ in 0..<2 {  // the second call reuses every buffer
            let loss = training.lossAndGradients(inputs: x, targets: y)
            #expect(abs(loss - serialLoss) <= 1e-13 * serialLoss)
            for (parameter, expected) in zip(model.parameters, serialGradients) {
                let difference = Self.maxRelativeDifference(expected, parameter.gradient.scalars)
                #expect(difference < 1e-13, "threads \(threads), rows \(rows), parameter \(parameter.shape): \(difference)")
            }
        }
    }

    /// A replica's gradient buffers are written by each pass, not zeroed and added to: a weight
    /// two layers share (the first contribution writes, the second adds, also where its layer's
    /// bias is a first contribution) and a listed parameter the loss does not reach (zeros) come
    /// out as on one tape, call after call.
    @Test func sharedAndUnreachedParametersMatchOneTape() {
        var generator = Xoshiro256StarStar(seed: 5)
        let shared = Parameter<Double>(.randomNormal([3, 3], standardDeviation: 0.5, using: &generator))
        let (firstBias, secondBias) = (Parameter<Double>(.randomNormal([3], using: &generator)),
                                       Parameter<Double>(.randomNormal([3], using: &generator)))
        let tied = GeneralOpsLinear(weight: Parameter(.randomNormal([3, 3], standardDeviation: 0.5, using: &generator)))
        let last = Dense<Double>(3, 2, generator: &generator)
        let model = Sequential(SharedWeightDense(weight: shared, bias: firstBias), Tanh<Double>(), tied, Tanh<Double>(),
                               SharedWeightDense(weight: shared, bias: secondBias), tied, last)
        let unreached = Parameter<Double>(.randomNormal([4], using: &generator))
        let parameters = [shared, firstBias, secondBias, tied.weight, last.weight, last.bias!, unreached]
        let (x, y) = Self.batch(rows: 40)
        let tape = Tape<Double>()
        for parameter in parameters { parameter.zeroGradient() }
        let serialLoss = meanSquaredError(model(tape.input(x)), y)
        tape.backward(serialLoss)
        let serialGradients = parameters.map { $0.gradient.scalars }
        #expect(serialGradients.last! == [0, 0, 0, 0])
        for parameter in parameters { parameter.gradient = parameter.gradient.map { _ in 7 } }
        let training = DataParallelTraining(model: model, parameters: parameters, team: WorkerTeam(size: 2))
        for call in 0..<3 {
            let loss = training.lossAndGradients(inputs: x, targets: y)
            #expect(abs(loss - serialLoss.value.scalar) <= 1e-13 * loss)
            for (index, expected) in serialGradients.enumerated() {
                let difference = Self.maxRelativeDifference(expected, parameters[index].gradient.scalars)
                #expect(expected == [0, 0, 0, 0] ? parameters[index].gradient.scalars == expected : difference < 1e-13,
                        "call \(call), parameter \(index): \(difference)")
            }
        }
    }

    @Test func fewerRowsThanThreadsUseOneThreadARow() {
        let model = Self.network()
        let (x, y) = Self.batch(rows: 2)
        let (serialLoss, serialGradients) = Self.serialLossAndGradients(model, x, y)
        let loss = DataParallelTraining(model: model, team: WorkerTeam(size: 5)).lossAndGradients(inputs: x, targets: y)
        #expect(abs(loss - serialLoss) <= 1e-13 * serialLoss)
        for (parameter, expected) in zip(model.parameters, serialGradients) {
            #expect(Self.maxRelativeDifference(expected, parameter.gradient.scalars) < 1e-13)
        }
    }

    /// Adam split across threads against Adam on one thread, and SGD with momentum likewise.
    @Test(arguments: [2, 3])
    func stepsMatchOneThreadsSteps(threads: Int) {
        let (x, y) = Self.batch(rows: 64)
        for useAdam in [true, false] {
            let serialModel = Self.network(), parallelModel = Self.network()
            func optimizer(_ model: Sequential<Double>) -> any Optimizer<Double> {
                useAdam ? Adam(parameters: model.parameters, learningRate: 1e-2)
                    : SGD(parameters: model.parameters, learningRate: 1e-2, momentum: 0.9)
            }
            let serialOptimizer = optimizer(serialModel), parallelOptimizer = optimizer(parallelModel)
            let training = DataParallelTraining(model: parallelModel, team: WorkerTeam(size: threads))
            let tape = Tape<Double>()
            for step in 0..<5 {
                tape.reset()
                serialOptimizer.zeroGradients()
                let serialLoss = meanSquaredError(serialModel(tape.input(x)), y)
                tape.backward(serialLoss)
                serialOptimizer.step()
                let loss = training.step(inputs: x, targets: y, optimizer: parallelOptimizer)
                #expect(abs(loss - serialLoss.value.scalar) <= 1e-12 * loss, "step \(step)")
            }
            for (serial, parallel) in zip(serialModel.parameters, parallelModel.parameters) {
                let difference = Self.maxRelativeDifference(serial.value.scalars, parallel.value.scalars)
                #expect(difference < 1e-12, "\(useAdam ? "Adam" : "SGD") \(parallel.shape): \(difference)")
            }
        }
    }

    @Test func sameBitsFromRunToRun() {
        let (x, y) = Self.batch(rows: 50)
        func train() -> [[Double]] {
            let model = Self.network()
            let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
            let training = DataParallelTraining(model: model, team: WorkerTeam(size: 3))
            for _ in 0..<10 { _ = training.step(inputs: x, targets: y, optimizer: optimizer) }
            return model.parameters.map { $0.value.scalars }
        }
        #expect(train() == train())
    }

    @Test func aLossThatIsNotANumberLeavesTheParameters() {
        let model = Self.network()
        let (x, clean) = Self.batch(rows: 20)
        var y = clean
        y[13, 1] = .nan
        let before = model.parameters.map { $0.value.scalars }
        let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
        let loss = DataParallelTraining(model: model, team: WorkerTeam(size: 2)).step(inputs: x, targets: y, optimizer: optimizer)
        #expect(loss.isNaN)
        #expect(model.parameters.map { $0.value.scalars } == before)
        // The step did not count: the next finite one is Adam's first.
        #expect(optimizer.state.step == 0)
    }

    @Test func splitsWhereItPays() {
        var generator = Xoshiro256StarStar(seed: 1)
        func parameters(width: Int) -> [Parameter<Float>] {
            MLPDescription(inputSize: 1, width: width, hiddenLayers: 2).build(Float.self, generator: &generator).parameters
        }
        let small = parameters(width: 128), large = parameters(width: 2048)
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 100, parameters: small) == min(2, cores))
        #expect(DataParallelTraining.threadsWorthUsing(available: 64, rows: 100, parameters: small) == min(12, cores))
        #expect(DataParallelTraining.threadsWorthUsing(available: 8, rows: 20, parameters: small) == min(2, cores))
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 8, parameters: small) == 1)
        #expect(DataParallelTraining.threadsWorthUsing(available: 1, rows: 100, parameters: small) == 1)
        // 256 x 2048 x 2048 multiply-adds a product: BLAS's threads do better.
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 256, parameters: large) == 1)
        // A layer used twice: its parameters would be listed twice.
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 100, parameters: small + small.prefix(2)) == 1)
    }

    /// Dense, BatchNorm, ReLU, Dense, with non-trivial running statistics.
    static func batchNormNetwork() -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 5)
        let batchNorm = BatchNorm<Double>(16)
        batchNorm.runningMean.value = .randomNormal([16], using: &generator)
        batchNorm.runningVariance.value = .randomUniform([16], low: 0.5, high: 2, using: &generator)
        return Sequential(Dense<Double>(3, 16, generator: &generator), batchNorm, ReLU<Double>(),
                          Dense<Double>(16, 2, generator: &generator))
    }

    /// A training-mode BatchNorm normalises by the whole batch's statistics: a split batch would
    /// give each slice its own. So the step runs on one thread, whatever the team, and gives the
    /// serial step's loss, gradients and running statistics; in evaluation mode it splits again.
    @Test func aTrainingModeBatchNormKeepsTheBatchWhole() {
        let (x, y) = Self.batch(rows: 64)
        let serial = Self.batchNormNetwork(), parallel = Self.batchNormNetwork()
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 64, model: parallel) == 1)
        let (serialLoss, serialGradients) = Self.serialLossAndGradients(serial, x, y)
        let training = DataParallelTraining(model: parallel, team: WorkerTeam(size: 2))
        let loss = training.lossAndGradients(inputs: x, targets: y)
        #expect(loss == serialLoss)
        #expect(parallel.parameters.map { $0.gradient.scalars } == serialGradients)
        #expect(parallel.namedBuffers.map { $0.buffer.value } == serial.namedBuffers.map { $0.buffer.value })

        for network in [serial, parallel] { network.setTraining(false) }
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect(DataParallelTraining.threadsWorthUsing(available: 2, rows: 64, model: parallel) == min(2, cores))
        let (evaluationLoss, evaluationGradients) = Self.serialLossAndGradients(serial, x, y)
        #expect(abs(training.lossAndGradients(inputs: x, targets: y) - evaluationLoss) <= 1e-13 * evaluationLoss)
        for (parameter, expected) in zip(parallel.parameters, evaluationGradients) {
            #expect(Self.maxRelativeDifference(expected, parameter.gradient.scalars) < 1e-13)
        }
        #expect(parallel.namedBuffers.map { $0.buffer.value } == serial.namedBuffers.map { $0.buffer.value })
    }

    @Test func stepLeavesBLASOnOneThread() {
        let model = Self.network()
        let (x, y) = Self.batch(rows: 8)
        let saved = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(saved) }
        BLASRuntime.setThreadCount(2)
        _ = DataParallelTraining(model: model, team: WorkerTeam(size: 2)).lossAndGradients(inputs: x, targets: y)
        #expect(BLASRuntime.threadCount == 1)
    }
}

@Suite struct WorkerTeamTests {
    final class Counter: TeamJob, @unchecked Sendable {
        var calls: [Int]
        init(size: Int) { calls = Array(repeating: 0, count: size * 16) }
        // One counter per thread, 16 apart: no two threads write one cache line.
        func run(thread: Int) { calls[thread * 16] += 1 }
    }

    @Test(arguments: [1, 2, 4])
    func everyThreadRunsEveryJobOnce(size: Int) {
        let team = WorkerTeam(size: size)
        let counter = Counter(size: size)
        for _ in 0..<2_000 { team.run(counter) }
        #expect((0..<size).map { counter.calls[$0 * 16] } == Array(repeating: 2_000, count: size))
    }

    /// Gaps longer than the spin: the threads sleep and must wake for the next job.
    @Test func threadsThatFellAsleepWake() {
        let team = WorkerTeam(size: 3)
        let counter = Counter(size: 3)
        for _ in 0..<5 {
            team.run(counter)
            usleep(UInt32(WorkerTeam.spinMicroseconds * 5))
        }
        #expect((0..<3).map { counter.calls[$0 * 16] } == [5, 5, 5])
    }

    @Test func teamsStopTheirThreadsWhenDropped() {
        let counter = Counter(size: 2)
        for _ in 0..<200 { WorkerTeam(size: 2).run(counter) }
        #expect(counter.calls[0] == 200 && counter.calls[16] == 200)
    }
}
