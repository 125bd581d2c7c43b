import Glibc

/// A loss or a parameter that stopped being a number: training cannot continue.
public struct DivergenceError: Error, CustomStringConvertible {
    public let epoch: Int
    /// The non-finite loss; or, when `parametersNonFinite`, the epoch's last (finite) loss.
    public let loss: Double
    public let learningRate: Double
    /// Whether the loss was still a number but an update made a parameter infinite or NaN.
    public var parametersNonFinite = false
    /// For gradient flow: why the integrator stopped (`GradientFlowError`), said in place of the learning-rate hint.
    public var flowProblem: String?

    public init(epoch: Int, loss: Double, learningRate: Double, parametersNonFinite: Bool = false, flowProblem: String? = nil) {
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.parametersNonFinite = parametersNonFinite
        self.flowProblem = flowProblem
    }

    public var description: String {
        if let flowProblem { return "training diverged after \(epoch) accepted steps: \(flowProblem)" }
        let what = parametersNonFinite ? "a parameter became infinite or NaN (the loss was \(loss))" : "the loss is \(loss)"
        return "training diverged at epoch \(epoch): \(what). The likely cause is a learning rate "
            + "too large for this network (\(learningRate)); try \(learningRate / 10) or lower"
    }
}

/// Full-batch or minibatch gradient descent on mean squared error or cross-entropy (plus a Jacobian
/// penalty on the MSE, if given), one epoch at a time, with
/// every buffer allocated once: the tape, the batch tensors, the optimizer state.
public final class Trainer<Scalar: BLASScalar> {
    public let model: Sequential<Scalar>
    public let optimizer: any Optimizer<Scalar>
    public let inputs: Tensor<Scalar>
    public let targets: Tensor<Scalar>
    /// Rows per step; equal to the row count for full-batch training.
    public let batchSize: Int
    /// Draws the minibatch order; saved and restored with a checkpoint.
    public var generator: Xoshiro256StarStar
    /// Epochs completed so far.
    public var epoch = 0
    /// The loss every step takes (and ``evaluateLoss()`` reports).
    public let loss: LossFunction
    /// lambda of the Jacobian penalty: each step's loss is MSE + lambda * (1/B) sum_i ||J(x_i)||_F^2
    /// (`Tape.jacobianPenalizedLoss`); 0 trains on the MSE alone.
    public let jacobianPenalty: Scalar

    /// One tape for full batches and one for the smaller last batch, so neither reallocates.
    let tape = Tape<Scalar>(), remainderTape = Tape<Scalar>()
    /// With `threads` > 1, the same pair split over the threads (they share one team).
    let dataParallel: DataParallelTraining<Scalar>?, remainderDataParallel: DataParallelTraining<Scalar>?
    var order: [Int]
    var batchInputs: Tensor<Scalar>, batchTargets: Tensor<Scalar>
    var remainderInputs: Tensor<Scalar>, remainderTargets: Tensor<Scalar>

    /// - Parameter threads: with 2 or more, each step splits its batch's rows over that many
    ///   threads (`DataParallelTraining`, which leaves BLAS on one thread), as many as pay
    ///   (`DataParallelTraining.threadsWorthUsing`): none for a network so large that BLAS's own
    ///   threads do better or one with a BatchNorm (whose batch statistics need the whole batch),
    ///   fewer for small batches. Split batches give results that
    ///   differ from one thread's in the last bits (the order of additions), the same from run to
    ///   run for one count. BLAS's own thread count is the caller's to set.
    public init(model: Sequential<Scalar>, optimizer: any Optimizer<Scalar>, inputs: Tensor<Scalar>,
                targets: Tensor<Scalar>, batchSize: Int? = nil, generator: Xoshiro256StarStar, threads: Int = 1,
                loss: LossFunction = .meanSquaredError, jacobianPenalty: Scalar = 0) {
        precondition(inputs.rank == 2 && targets.rank == 2 && inputs.rows == targets.rows && inputs.rows > 0,
                     "Trainer: inputs \(inputs.shape) and targets \(targets.shape) must be matrices with the same rows, at least one")
        self.model = model
        self.optimizer = optimizer
        self.inputs = inputs
        self.targets = targets
        self.loss = loss
        let rows = inputs.rows
        self.batchSize = min(max(batchSize ?? rows, 1), rows)
        self.generator = generator
        precondition(jacobianPenalty >= 0 && jacobianPenalty.isFinite && (jacobianPenalty == 0 || model.providesTangents),
                     "Trainer: the Jacobian penalty must be a finite number >= 0 (got \(jacobianPenalty)) and the model's "
                        + "layers must all have tangent forwards (Layer.providesTangents)")
        self.jacobianPenalty = jacobianPenalty
        order = Array(0..<rows)
        let remainder = rows % self.batchSize
        batchInputs = Tensor(uninitializedShape: [self.batchSize, inputs.columns])
        batchTargets = Tensor(uninitializedShape: [self.batchSize, targets.columns])
        remainderInputs = Tensor(uninitializedShape: [remainder, inputs.columns])
        remainderTargets = Tensor(uninitializedShape: [remainder, targets.columns])

        // 1 for a model whose training-mode BatchNorm couples a batch's rows: its batches stay whole.
        let teamSize = DataParallelTraining<Scalar>.threadsWorthUsing(
            available: threads, rows: self.batchSize, model: model, parameters: optimizer.parameters)
        if teamSize > 1 {
            let team = WorkerTeam(size: teamSize)
            let whole = DataParallelTraining(model: model, parameters: optimizer.parameters, team: team)
            whole.loss = loss
            dataParallel = whole
            remainderDataParallel = remainder > 0 ? DataParallelTraining(model: model, parameters: optimizer.parameters, team: team) : nil
            remainderDataParallel?.loss = loss
        } else {
            (dataParallel, remainderDataParallel) = (nil, nil)
        }
        dataParallel?.jacobianPenalty = jacobianPenalty
        remainderDataParallel?.jacobianPenalty = jacobianPenalty
    }

    /// Whether steps split their batches over threads (else one tape, whose products BLAS may
    /// split over the threads it is set to).
    public var splitsBatches: Bool { dataParallel != nil }

    /// Optimizer steps per epoch: one per batch, the last batch possibly short.
    public var batchesPerEpoch: Int { (inputs.rows + batchSize - 1) / batchSize }

    /// Runs one epoch and returns its loss (the row-weighted mean over its batches).
    /// - Throws: `DivergenceError` when a loss is NaN or infinite (the parameters are then left
    ///   as they were before that step), or when the epoch's updates left a parameter infinite or
    ///   NaN. Either way a checkpoint saved after an earlier epoch holds finite parameters.
    @discardableResult
    public func runEpoch() throws -> Double {
        epoch += 1
        let loss = try runBatches()
        // One pass over the parameters per epoch (a step costs far more): a loss computed before
        // the last update cannot show that this update overflowed.
        if !parametersAreFinite {
            throw DivergenceError(epoch: epoch, loss: loss, learningRate: optimizer.learningRate, parametersNonFinite: true)
        }
        return loss
    }

    /// Whether every parameter is a finite number.
    public var parametersAreFinite: Bool {
        for parameter in optimizer.parameters where !parameter.value.allFinite { return false }
        return true
    }

    func runBatches() throws -> Double {
        let rows = inputs.rows
        if batchSize == rows {
            let loss = try step(tape: tape, dataParallel, inputs: inputs, targets: targets)
            return loss
        }
        // Fisher-Yates from the identity with the trainer's own generator, so a seed fixes the
        // batch order, and the order depends only on the generator's state: a checkpoint saves
        // that state (not the order), so a resumed run draws the batches an unstopped one draws.
        for i in 0..<rows { order[i] = i }
        for i in stride(from: rows - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        var total = 0.0
        var start = 0
        while start < rows {
            let count = min(batchSize, rows - start)
            let full = count == batchSize
            if full {
                gather(rows: start..<(start + count), into: &batchInputs, &batchTargets)
                total += try step(tape: tape, dataParallel, inputs: batchInputs, targets: batchTargets) * Double(count)
            } else {
                gather(rows: start..<(start + count), into: &remainderInputs, &remainderTargets)
                total += try step(tape: remainderTape, remainderDataParallel, inputs: remainderInputs, targets: remainderTargets) * Double(count)
            }
            start += count
        }
        return total / Double(rows)
    }

    /// The loss of the model on all training rows, without an optimizer step, in
    /// the model's current mode: a training-mode BatchNorm normalises by these rows' statistics
    /// and moves its running ones, as any forward pass in training mode does (``TrainingLoop``
    /// switches the model to evaluation mode first).
    public func evaluateLoss() -> Double {
        tape.reset()
        return Double(loss(model(tape.input(inputs)), targets).value.scalar)
    }

    /// The full-batch loss at the parameters' current values, with its gradient left in every
    /// parameter's `gradient` (overwritten) and no optimizer step: what ``GradientFlow`` evaluates.
    public func lossAndGradient() -> Double {
        if let dataParallel { return dataParallel.lossAndGradients(inputs: inputs, targets: targets) }
        tape.reset()
        optimizer.zeroGradients()
        let value = loss(model(tape.input(inputs)), targets)
        tape.backward(value)
        return Double(value.value.scalar)
    }


    func step(tape: Tape<Scalar>, _ dataParallel: DataParallelTraining<Scalar>?,
              inputs: Tensor<Scalar>, targets: Tensor<Scalar>) throws -> Double {
        if let dataParallel {
            let value = dataParallel.step(inputs: inputs, targets: targets, optimizer: optimizer)
            guard value.isFinite else {
                throw DivergenceError(epoch: epoch, loss: value, learningRate: optimizer.learningRate)
            }
            return value
        }
        tape.reset()
        optimizer.zeroGradients()
        let loss = jacobianPenalty == 0 ? self.loss(model(tape.input(inputs)), targets)
            : tape.jacobianPenalizedLoss(model, inputs: inputs, targets: targets, penalty: jacobianPenalty).loss
        let value = Double(loss.value.scalar)
        guard value.isFinite else {
            throw DivergenceError(epoch: epoch, loss: value, learningRate: optimizer.learningRate)
        }
        tape.backward(loss)
        optimizer.step()
        return value
    }

    func gather(rows range: Range<Int>, into x: inout Tensor<Scalar>, _ y: inout Tensor<Scalar>) {
        let (inputColumns, targetColumns) = (inputs.columns, targets.columns)
        let (sourceX, sourceY) = (inputs.unsafeBaseAddress, targets.unsafeBaseAddress)
        let (targetX, targetY) = (x.unsafeMutableBaseAddress(), y.unsafeMutableBaseAddress())
        for slot in 0..<range.count {
            let index = order[range.lowerBound + slot]
            (targetX + slot * inputColumns).update(from: sourceX + index * inputColumns, count: inputColumns)
            (targetY + slot * targetColumns).update(from: sourceY + index * targetColumns, count: targetColumns)
        }
    }
}
