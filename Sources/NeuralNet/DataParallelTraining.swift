import Glibc

/// Data-parallel training on one machine's cores: a batch's rows are cut into one contiguous slice
/// per thread of a `WorkerTeam`; each slice's forward and backward runs on its own thread, on its
/// own tape, adding its parameter gradients into its own buffers; then the threads sum the slices'
/// gradients, each thread one range of elements, in slice order. The loss and the gradients are
/// the whole batch's up to the order of additions, and identical from run to run for one team size.
/// A model whose rows interact (`mixesBatchRows`: a BatchNorm in training mode) is not split: its
/// steps run whole on one thread, as a single tape would.
///
/// Why not BLAS's threads: at the paper's sizes (batch 100, width 128, float64) a layer's product is
/// 1.6M multiply-adds, which OpenBLAS's second thread speeds up by about half, while the rest of
/// the step (LayerNorm, activations, loss, the optimizer) stays on one core; slicing the batch
/// splits all of it, and the threads meet twice a step instead of in every product. Measured in
/// `Benchmarks/TrainingStep` on 2 Zen4 cores: 165-190 µs a step split (`t=2`), 235 µs with BLAS's
/// threads (`t=2 blas`), 270-300 µs on one thread.
///
/// Each step allocates nothing once the shapes have been seen: the replicas' tapes, inputs and
/// gradient buffers are reused.
///
/// Splitting is right only for a model whose every op keeps a batch's rows apart (output row r
/// reads only input row r, as Dense, LayerNorm, activations and elementwise arithmetic do, and a
/// `CustomOperation` that declares `isRowIndependent`). The first step checks the model's ops on
/// the tape; a model with an op that mixes rows (a sum over rows, a custom op not declared
/// row-independent) runs every batch on one tape, the first thread's (`rowMixingOperation` says
/// which op).
public final class DataParallelTraining<Scalar: BLASScalar>: TeamJob {
    public let model: Sequential<Scalar>
    /// The parameters whose gradients `lossAndGradients` computes: every one the model uses.
    public let parameters: [Parameter<Scalar>]
    public let team: WorkerTeam
    let replicas: [Replica<Scalar>]
    /// Each parameter's offset in a replica's gradient buffer.
    let offsets: [Int]
    /// Per thread, the pieces of the gradient sum it does: (parameter index, element range).
    let reductionPieces: [[(parameter: Int, elements: Range<Int>)]]
    /// The parameters' own gradient buffers, read on the calling thread before each sum, so that
    /// the team's threads never touch a parameter's `gradient` property.
    var gradientPointers: [UnsafeMutablePointer<Scalar>]
    /// What the team's next `run(thread:)` does, with the number of replicas taking part.
    var phase = Phase.forwardBackward(rowsInBatch: 0, replicas: 0)
    /// The optimizer of the running `step`.
    var optimizer: (any Optimizer<Scalar>)?
    /// Whether the first step has looked for an op that mixes rows.
    var checkedRowIndependence = false
    /// The first op of the model whose output rows read other rows of the batch, described, or
    /// nil: known after the first step. While it is non-nil, every batch runs on one tape.
    public private(set) var rowMixingOperation: String?
    /// The loss each step takes: a mean over rows either way, so the slices' shares add up to it.
    public var loss = LossFunction.meanSquaredError
    /// lambda of the Jacobian penalty (`Tape.jacobianPenalizedLoss`): each slice adds
    /// lambda * sum of its rows' ||J||^2 / its rows, weighted by its share of the batch like its
    /// MSE, so the sum is the whole batch's penalised loss. 0 (the default) trains on the MSE.
    public var jacobianPenalty: Scalar = 0 {
        didSet { precondition(jacobianPenalty == 0 || model.providesTangents, "DataParallelTraining.jacobianPenalty: "
            + "the model has a layer without a tangent forward (Layer.providesTangents), which a Jacobian penalty needs") }
    }

    enum Phase {
        case forwardBackward(rowsInBatch: Int, replicas: Int)
        case sumGradients(replicas: Int)
        case sumGradientsAndUpdate(replicas: Int)
    }

    /// - Parameters:
    ///   - parameters: every parameter the model uses (its own by default), each once; a step that
    ///     reaches another one stops with a precondition failure naming its shape.
    ///   - team: the threads; several `DataParallelTraining`s (one per batch shape) may share one.
    public init(model: Sequential<Scalar>, parameters: [Parameter<Scalar>]? = nil, team: WorkerTeam) {
        self.model = model
        let parameters = parameters ?? model.parameters
        var seen = Set<ObjectIdentifier>()
        for parameter in parameters where !seen.insert(ObjectIdentifier(parameter)).inserted {
            preconditionFailure("DataParallelTraining: a parameter of shape \(parameter.shape) is listed twice "
                + "(a layer used twice?); list each parameter once, and give the optimizer the same list")
        }
        self.parameters = parameters
        self.team = team
        var offsets: [Int] = []
        var total = 0
        for parameter in parameters {
            offsets.append(total)
            total += parameter.value.count
        }
        self.offsets = offsets
        replicas = (0..<team.size).map { _ in Replica(parameters: parameters, offsets: offsets, totalCount: total) }
        gradientPointers = parameters.map { $0.gradient.unsafeMutableBaseAddress() }

        // Thread t sums elements [t T / P, (t + 1) T / P) of the parameters laid end to end, its
        // bounds rounded to 16 scalars so that no two threads write one cache line.
        var pieces: [[(parameter: Int, elements: Range<Int>)]] = []
        for thread in 0..<team.size {
            let start = min(total, (thread * total / team.size + 15) / 16 * 16)
            let end = thread == team.size - 1 ? total : min(total, ((thread + 1) * total / team.size + 15) / 16 * 16)
            var threadPieces: [(parameter: Int, elements: Range<Int>)] = []
            for (index, parameter) in parameters.enumerated() {
                let lower = max(start, offsets[index]), upper = min(end, offsets[index] + parameter.value.count)
                if lower < upper { threadPieces.append((index, (lower - offsets[index])..<(upper - offsets[index]))) }
            }
            pieces.append(threadPieces)
        }
        reductionPieces = pieces
    }

    /// How many of `available` threads are worth splitting batches of `rows` over, for a network
    /// with these parameters: 1 (do not split; let BLAS have the threads) when the step's largest
    /// product, rows times the largest weight matrix, is `largestProductForSplitting` or more;
    /// else at most one thread per `minimumRowsPerThread` rows, and no more than the machine's
    /// cores (the team's threads spin while they wait; more of them than cores would take turns).
    /// 1 also for a network that lists a parameter twice (a layer used twice), which only one
    /// tape handles. For a network with a BatchNorm, use `threadsWorthUsing(available:rows:model:parameters:)`.
    public static func threadsWorthUsing(available: Int, rows: Int, parameters: [Parameter<Scalar>]) -> Int {
        guard Set(parameters.map(ObjectIdentifier.init)).count == parameters.count else { return 1 }
        let largestWeight = parameters.lazy.filter { $0.value.rank == 2 }.map { $0.value.count }.max() ?? 0
        guard rows * largestWeight < largestProductForSplitting else { return 1 }
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return max(1, min(available, cores, rows / minimumRowsPerThread))
    }

    /// `threadsWorthUsing(available:rows:parameters:)` for `model` (its parameters by default), and 1
    /// while the model couples the rows of a batch (`mixesBatchRows`: a BatchNorm in training
    /// mode), whose statistics over a slice would not be the batch's. A step of such a model runs
    /// on one thread whatever the team's size.
    public static func threadsWorthUsing(
        available: Int, rows: Int, model: some Layer<Scalar>, parameters: [Parameter<Scalar>]? = nil
    ) -> Int {
        guard !model.mixesBatchRows else { return 1 }
        return threadsWorthUsing(available: available, rows: rows, parameters: parameters ?? model.parameters)
    }

    /// The fewest rows worth a thread of their own: below it, waking a thread and summing its
    /// gradients cost about what the rows' forward and backward do. Measured at width 128 with
    /// LayerNorm, float64, 2 Zen4 cores: batch 16 takes 59 µs a step split, 72 µs on one
    /// thread; batch 8 takes 51 µs split, 49 µs on one.
    public static var minimumRowsPerThread: Int { 8 }

    /// The multiply-adds of a step's largest product from which BLAS's own threads do better than
    /// split batches (each product is then large enough to split well). Measured on 2 Zen4 cores
    /// (`Benchmarks/TrainingStep`, t=2 against t=2 blas): width 512, batch 256 (67M), float32:
    /// 7.3-8.2 ms split, 7.7-12 ms with BLAS's threads; width 2048, batch 256 (1.07G): 46-47 ms
    /// split, 40-41 ms with BLAS's threads.
    public static var largestProductForSplitting: Int { 1 << 28 }

    /// The loss (`loss`: by default the mean squared error, the mean over every element; plus the
    /// Jacobian penalty, if `jacobianPenalty` is set) of `model` on `inputs` against `targets`, with its gradient left in every parameter's `gradient`,
    /// which is overwritten, not added to. A batch of fewer rows than the team's threads uses
    /// one thread a row. BLAS is set to one thread, and left there (see `withOneBLASThread`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func lossAndGradients(inputs: Tensor<Scalar>, targets: Tensor<Scalar>) -> Double {
        withOneBLASThread {
            let (loss, active) = forwardBackward(inputs: inputs, targets: targets)
            phase = .sumGradients(replicas: active)
            team.run(self)
            return loss
        }
    }

    /// One training step: the loss and gradients of `lossAndGradients`, then, if the loss is a
    /// number, `optimizer`'s update, each thread summing and updating its own range of elements.
    /// A loss that is NaN or infinite leaves the parameters and their gradients as they were.
    /// - Parameter optimizer: over `parameters`, in their order.
    /// - Returns: the loss.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func step(inputs: Tensor<Scalar>, targets: Tensor<Scalar>, optimizer: any Optimizer<Scalar>) -> Double {
        let optimized = optimizer.parameters
        precondition(optimized.count == parameters.count && zip(optimized, parameters).allSatisfy { $0 === $1 },
                     "DataParallelTraining.step: the optimizer's parameters are not this training's, in its order")
        return withOneBLASThread {
            let (loss, active) = forwardBackward(inputs: inputs, targets: targets)
            guard loss.isFinite else { return loss }
            optimizer.beginStep()
            self.optimizer = optimizer
            defer { self.optimizer = nil }
            phase = .sumGradientsAndUpdate(replicas: active)
            team.run(self)
            return loss
        }
    }

    /// Runs each slice's forward and backward on its thread: the batch's loss, and how many
    /// replicas took part (one for a model that couples the rows of a batch: a BatchNorm in
    /// training mode must see the whole batch).
    func forwardBackward(inputs: Tensor<Scalar>, targets: Tensor<Scalar>) -> (loss: Double, replicas: Int) {
        precondition(inputs.rank == 2 && targets.rank == 2 && inputs.rows == targets.rows && inputs.rows > 0,
                     "DataParallelTraining: inputs \(inputs.shape) and targets \(targets.shape) must be matrices with the same rows, at least one")
        let rows = inputs.rows
        // A training-mode BatchNorm says so itself (checked every step: modes change); other ops
        // are checked once, by one forward pass of the batch (which then cannot move running
        // statistics, none being in training mode).
        var active = 1
        if !model.mixesBatchRows {
            if !checkedRowIndependence {
                rowMixingOperation = replicas[0].firstRowMixingOperation(model, inputs: inputs)
                checkedRowIndependence = true
            }
            active = rowMixingOperation == nil ? min(team.size, rows) : 1
        }
        for index in 0..<active {
            replicas[index].take(rows: (index * rows / active)..<((index + 1) * rows / active), of: inputs, targets)
        }
        for index in parameters.indices {
            gradientPointers[index] = parameters[index].gradient.unsafeMutableBaseAddress()
        }
        phase = .forwardBackward(rowsInBatch: rows, replicas: active)
        team.run(self)
        var loss = 0.0
        for index in 0..<active { loss += replicas[index].loss }
        return (loss, active)
    }

    /// Runs `body` with BLAS on one thread, setting it there if it is not, and leaving it there:
    /// switching per step costs more than the step (OpenBLAS's idle threads spin for a while after
    /// each change, on the cores the team needs). Set it back when training is done.
    func withOneBLASThread<R>(_ body: () -> R) -> R {
        if BLASRuntime.threadCount != 1 { BLASRuntime.setThreadCount(1) }
        return body()
    }

    /// One thread's part of the current phase (called by the team).
    public func run(thread: Int) {
        switch phase {
        case let .forwardBackward(rows, active):
            if thread < active { replicas[thread].forwardBackward(model, rowsInBatch: rows, loss: loss, jacobianPenalty: jacobianPenalty) }
        case let .sumGradients(active):
            sumGradients(thread: thread, replicas: active)
        case let .sumGradientsAndUpdate(active):
            sumGradients(thread: thread, replicas: active)
            for piece in reductionPieces[thread] { optimizer!.update(parameter: piece.parameter, elements: piece.elements) }
        }
    }

    /// gradient = replica 0's + replica 1's + ... over this thread's pieces.
    func sumGradients(thread: Int, replicas active: Int) {
        for piece in reductionPieces[thread] {
            let destination = gradientPointers[piece.parameter] + piece.elements.lowerBound
            let offset = offsets[piece.parameter] + piece.elements.lowerBound
            let count = piece.elements.count
            memcpy(destination, replicas[0].gradients + offset, count * MemoryLayout<Scalar>.stride)
            for index in 1..<active {
                Scalar.axpy(n: count, alpha: 1, x: replicas[index].gradients + offset, y: destination)
            }
        }
    }
}

/// One slice's tape, its rows of the batch and its parameter gradients.
final class Replica<Scalar: BLASScalar> {
    let tape = Tape<Scalar>()
    var inputs = Tensor<Scalar>(uninitializedShape: [0, 0])
    var targets = Tensor<Scalar>(uninitializedShape: [0, 0])
    /// `backward`'s seed: this slice's share of the batch's rows, its weight in the batch's mean.
    var seed = Tensor<Scalar>(shape: [], repeating: 0)
    /// Every parameter's gradient, end to end (at `DataParallelTraining.offsets`), written by each
    /// backward pass (see `Tape.parameterGradientDestinations`): never zeroed in between.
    let gradients: UnsafeMutablePointer<Scalar>
    let totalCount: Int
    /// This slice's share of the batch's loss, from the last `forwardBackward`.
    var loss = 0.0

    init(parameters: [Parameter<Scalar>], offsets: [Int], totalCount: Int) {
        self.totalCount = totalCount
        gradients = .allocate(capacity: max(totalCount, 1))
        for (parameter, offset) in zip(parameters, offsets) {
            tape.parameterGradientDestinations[ObjectIdentifier(parameter)] =
                GradientDestination(pointer: gradients + offset, count: parameter.value.count)
        }
    }

    deinit { gradients.deallocate() }

    /// Copies `rows` of the batch into this replica's own inputs and targets.
    func take(rows: Range<Int>, of batchInputs: Tensor<Scalar>, _ batchTargets: Tensor<Scalar>) {
        let (inputColumns, targetColumns) = (batchInputs.columns, batchTargets.columns)
        if inputs.shape != [rows.count, inputColumns] { inputs = Tensor(uninitializedShape: [rows.count, inputColumns]) }
        if targets.shape != [rows.count, targetColumns] { targets = Tensor(uninitializedShape: [rows.count, targetColumns]) }
        inputs.unsafeMutableBaseAddress().update(from: batchInputs.unsafeBaseAddress + rows.lowerBound * inputColumns,
                                                 count: rows.count * inputColumns)
        targets.unsafeMutableBaseAddress().update(from: batchTargets.unsafeBaseAddress + rows.lowerBound * targetColumns,
                                                  count: rows.count * targetColumns)
    }

    /// The first op of `model` that mixes the rows of a batch (`Tape.firstRowMixingOperation`),
    /// recorded on this replica's tape over the whole batch.
    func firstRowMixingOperation(_ model: Sequential<Scalar>, inputs batchInputs: Tensor<Scalar>) -> String? {
        tape.reset()
        let input = tape.input(batchInputs)
        return tape.firstRowMixingOperation(input: input, output: model(input))
    }

    /// This slice's forward, loss and backward; its gradients are scaled by its share of the rows.
    func forwardBackward(_ model: Sequential<Scalar>, rowsInBatch: Int, loss lossFunction: LossFunction, jacobianPenalty: Scalar) {
        let share = Scalar(inputs.rows) / Scalar(rowsInBatch)
        seed.unsafeMutableBaseAddress().pointee = share
        tape.reset()
        // The penalised loss is MSE-based (configs refuse cross-entropy with a penalty).
        let loss = jacobianPenalty == 0 ? lossFunction(model(tape.input(inputs)), targets)
            : tape.jacobianPenalizedLoss(model, inputs: inputs, targets: targets, penalty: jacobianPenalty).loss
        self.loss = Double(loss.value.scalar * share)
        tape.backward(loss, seed: seed)
    }
}

// MARK: - A replica's gradient buffers on its tape

/// A buffer `backward` writes a parameter's gradient in (see `Tape.parameterGradientDestinations`).
struct GradientDestination<Scalar> {
    let pointer: UnsafeMutablePointer<Scalar>
    let count: Int
    /// The `Tape.backwardPasses` of the last pass that wrote it.
    var writtenInPass = 0
}

extension Tape {
    /// The buffer `backward` puts `parameter`'s gradient in, and whether to add to it (`+=`):
    /// always for a parameter's own `gradient` (users zero it between steps); for a replica's
    /// buffer, unless this is the pass's first contribution to it, which overwrites it (`=`), so
    /// that nothing zeroes the replicas' buffers between steps. Nil when it computes none.
    @inline(__always)
    func parameterGradientForContribution(_ parameter: Parameter<Scalar>?) -> (pointer: UnsafeMutablePointer<Scalar>, accumulate: Bool)? {
        guard accumulatesParameterGradients, let parameter else { return nil }
        if parameterGradientDestinations.isEmpty { return (parameter.gradient.unsafeMutableBaseAddress(), true) }
        let key = ObjectIdentifier(parameter)
        guard let destination = parameterGradientDestinations[key] else {
            preconditionFailure("backward: a parameter of shape \(parameter.shape) is not among this replica's parameters")
        }
        if destination.writtenInPass == backwardPasses { return (destination.pointer, true) }
        parameterGradientDestinations[key]!.writtenInPass = backwardPasses
        return (destination.pointer, false)
    }

    /// `parameterGradientForContribution` for an op's weight and bias, whose kernel takes one flag
    /// for both: if one adds and the other is a first contribution, that one is zeroed and both add.
    func parameterGradients(_ weight: Parameter<Scalar>?, _ bias: Parameter<Scalar>?)
        -> (weight: UnsafeMutablePointer<Scalar>?, bias: UnsafeMutablePointer<Scalar>?, accumulate: Bool) {
        let (weightGradient, biasGradient) = (parameterGradientForContribution(weight), parameterGradientForContribution(bias))
        let accumulate = weightGradient?.accumulate ?? false || biasGradient?.accumulate ?? false
        if accumulate {
            if let weight, let weightGradient, !weightGradient.accumulate {
                weightGradient.pointer.update(repeating: 0, count: weight.value.count)
            }
            if let bias, let biasGradient, !biasGradient.accumulate {
                biasGradient.pointer.update(repeating: 0, count: bias.value.count)
            }
        }
        return (weightGradient?.pointer, biasGradient?.pointer, accumulate)
    }

    /// Zeroes the replica's buffers the finished pass did not reach (parameters the output does
    /// not depend on), so that each holds this pass's gradient.
    func zeroUnreachedDestinations() {
        guard accumulatesParameterGradients else { return }
        for destination in parameterGradientDestinations.values where destination.writtenInPass != backwardPasses {
            destination.pointer.update(repeating: 0, count: destination.count)
        }
    }
}
