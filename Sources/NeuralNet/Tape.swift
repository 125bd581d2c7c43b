// How to add an op (this file holds the only list of ops):
//
// 1. Write the op in a file of its own, as Sources/NeuralNet/LayerNorm.swift does, side by side:
//    - `<op>Forward` and `<op>Backward` over buffers (the backward adds into gradient buffers);
//    - `extension Tape`: the recording function (reads its inputs through `node(of:in:)`, which
//      stops on a variable of another tape or step; checks shapes; takes `nextNode`; runs the
//      forward; returns `recordedVariable()`), `<op>BackwardStep`, and `<op>KernelContribution`
//      (its parameters' part of the empirical NTK: `.noParameters` for an op without any);
//    - if it is a layer: the layer type and its infinite-width `kernelMap`.
// 2. Here, four lines: a case in `Operation`, and its line in each of the three switches below:
//    `backwardStep`, `kernelContribution`, and `rowDependence` (which inputs' rows each output
//    row reads: data-parallel training and the structured empirical NTK split a batch into rows
//    only where that is safe). The compiler points at each switch that lacks the new case.
// 3. A finite-difference test with `GradientCheck` (Tests/NeuralNetTests/GradientTests.swift).
//
// An op written outside the library needs none of this: it conforms to `CustomOperation` and is
// recorded as `.custom` (Sources/NeuralNet/CustomOperation.swift).

/// Reverse-mode automatic differentiation over tensors.
///
/// A `Tape` records each operation in execution order together with what its backward needs
/// (inputs by index, LayerNorm's mean and rstd, MSE's target). `backward` walks the record once in
/// reverse and accumulates (`+=`) gradients; the order of recording is already a topological order.
/// A recorded value's gradient buffer is not zeroed first: the first contribution of a pass
/// writes it (`=`), later ones add, and one that nothing reached is zeroed when the walk gets to
/// it. That saves a fill and a read of every buffer per step.
///
/// Buffers are kept across steps: `reset()` rewinds the tape, and the next step's operations reuse
/// the value, gradient and cache buffers of the operations recorded at the same positions, so a
/// training step with unchanged shapes allocates nothing.
///
/// A `Variable` belongs to one tape and one step: using it with a variable of another tape, or
/// after `reset()`, stops with a precondition failure that says so (each `reset()` starts a new
/// generation, and every variable carries the generation it was recorded in).
///
/// The entry points a training step calls (`input`, `dense`, `layerNorm`, `activation`,
/// `meanSquaredError`, `backward`, `Adam.step`) are `@_specialize`d for Float and Double. The
/// layers behind `any Layer` call them from unspecialised generic code; the specialised bodies
/// know their tensor and node types, where the generic ones looked up their metadata ~190 times
/// a step (3% of the width-128 step).
public final class Tape<Scalar: BLASScalar> {
    @usableFromInline var nodes: [Node<Scalar>] = []
    /// How many entries of `nodes` the current step has recorded.
    @usableFromInline var recorded = 0
    /// Which step this is: `reset()` increments it, so variables of earlier steps are recognised.
    @usableFromInline var generation = 0
    /// Whether the running `backward` adds into parameters' gradients (its `parameterGradients`).
    var accumulatesParameterGradients = true
    /// Where `backward` puts each parameter's gradient when not into the parameter's own
    /// `gradient`: a data-parallel replica's buffers (see `DataParallelTraining`), by identity,
    /// which each pass writes rather than adds to (`parameterGradientForContribution`).
    var parameterGradientDestinations: [ObjectIdentifier: GradientDestination<Scalar>] = [:]
    /// The number of `backward` calls so far (a destination keeps the last one that wrote it).
    var backwardPasses = 0

    public init() {}

    /// Rewinds the tape for a new step, keeping every buffer for reuse. Variables recorded before
    /// cannot be used any more.
    public func reset() {
        recorded = 0
        generation &+= 1
    }

    /// The number of operations recorded since the last `reset()`.
    public var count: Int { recorded }

    /// Records a constant input. With `requiresGradient`, `backward` also computes the gradient
    /// with respect to it (read it with `gradient(of:)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func input(_ value: Tensor<Scalar>, requiresGradient: Bool = false) -> Variable<Scalar> {
        let node = nextNode(shape: value.shape, operation: .input)
        value.withUnsafeBufferPointer { source in
            node.value.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source.baseAddress!, count: source.count) }
        }
        node.requiresGradient = requiresGradient
        return recordedVariable()
    }

    /// Records a parameter as a variable, for use with the general ops (`matmul`, `+`, ...);
    /// its gradient accumulates into `parameter.gradient`.
    public func variable(_ parameter: Parameter<Scalar>) -> Variable<Scalar> {
        let node = nextNode(shape: parameter.shape, operation: .parameter(parameter))
        parameter.value.withUnsafeBufferPointer { source in
            node.value.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source.baseAddress!, count: source.count) }
        }
        node.requiresGradient = true
        return recordedVariable()
    }

    /// A parameter's gradient is its variable's: added into `parameter.gradient` (or written into
    /// a replica's buffer, if this is the pass's first contribution to it).
    func parameterBackwardStep(_ node: Node<Scalar>, parameter: Parameter<Scalar>) {
        guard let destination = parameterGradientForContribution(parameter) else { return }
        if destination.accumulate {
            Scalar.axpy(n: node.value.count, alpha: 1, x: node.gradient.unsafeBaseAddress, y: destination.pointer)
        } else {
            destination.pointer.update(from: node.gradient.unsafeBaseAddress, count: node.value.count)
        }
    }

    /// The value a variable holds (shares storage until either side is written).
    public func value(_ variable: Variable<Scalar>) -> Tensor<Scalar> { node(of: variable, in: "value").value }

    /// The gradient of the last `backward` output with respect to `variable`.
    public func gradient(of variable: Variable<Scalar>) -> Tensor<Scalar> {
        let node = node(of: variable, in: "gradient(of:)")
        precondition(node.requiresGradient,
                     "gradient(of:): this variable does not require a gradient; record it with requiresGradient: true")
        return node.gradient
    }

    /// Back-propagates from `output`: d output / d output = 1 (or `seed`, of the output's shape),
    /// accumulating into every parameter's `gradient` and every recorded gradient buffer.
    /// Parameter gradients add to what they held (zero them between steps); the tape's own
    /// gradient buffers start from zero in each call.
    /// - Parameter parameterGradients: `false` leaves every parameter's `gradient` untouched and
    ///   skips the work that only feeds them (Dense's weight-gradient GEMM): for algorithms that
    ///   read the gradients of recorded values only, such as the structured empirical NTK.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(_ output: Variable<Scalar>, seed: Tensor<Scalar>? = nil, parameterGradients: Bool = true) {
        let outputNode = node(of: output, in: "backward")
        accumulatesParameterGradients = parameterGradients
        backwardPasses &+= 1
        defer { zeroUnreachedDestinations() }
        for index in 0...output.index where nodes[index].requiresGradient {
            nodes[index].prepareGradient()
        }
        guard outputNode.requiresGradient else {
            // The output is a constant: every gradient is zero.
            for index in 0...output.index where nodes[index].requiresGradient { _ = nodes[index].gradientToAddInto() }
            return
        }
        let outputGradient = outputNode.gradientToWrite()
        if let seed {
            precondition(seed.shape == outputNode.value.shape,
                         "backward: seed has shape \(seed.shape) but the output has shape \(outputNode.value.shape)")
            seed.withUnsafeBufferPointer { outputGradient.update(from: $0.baseAddress!, count: $0.count) }
        } else {
            outputGradient.update(repeating: 1, count: outputNode.value.count)
        }
        for index in stride(from: output.index, through: 0, by: -1) where nodes[index].requiresGradient {
            let node = nodes[index]
            // Nothing after it reached this value: its gradient is zero (and read as such).
            if !node.hasGradient { _ = node.gradientToAddInto() }
            backwardStep(node)
        }
    }

    /// The buffer `backward` adds `parameter`'s gradient into (`+=`); nil when it computes none.
    /// A replica's buffer that this pass has not written yet is zeroed first.
    @inline(__always)
    func parameterGradient(_ parameter: Parameter<Scalar>?) -> UnsafeMutablePointer<Scalar>? {
        guard let parameter, let destination = parameterGradientForContribution(parameter) else { return nil }
        if !destination.accumulate { destination.pointer.update(repeating: 0, count: parameter.value.count) }
        return destination.pointer
    }

    /// The node `variable` names, after checking that it belongs to this tape and this step.
    /// `operation` names the op for the message.
    @inlinable @inline(__always)
    func node(of variable: Variable<Scalar>, in operation: StaticString) -> Node<Scalar> {
        if _slowPath(variable.tape !== self || variable.generation != generation) {
            misusedVariable(variable, in: operation)
        }
        return nodes[variable.index]
    }

    @usableFromInline @inline(never)
    func misusedVariable(_ variable: Variable<Scalar>, in operation: StaticString) -> Never {
        if variable.tape !== self {
            preconditionFailure("\(operation): the variables belong to two different tapes; record every variable of "
                + "one computation on one tape")
        }
        preconditionFailure("\(operation): the variable was recorded before its tape's reset() (tape step "
            + "\(variable.generation), now \(generation)); variables are valid only until the next reset()")
    }

    /// The variable for the node recorded last.
    @inlinable @inline(__always)
    func recordedVariable() -> Variable<Scalar> {
        Variable(tape: self, index: recorded &- 1, generation: generation)
    }

    /// The node for the next operation, reusing the buffers recorded at this position last step.
    /// Pass an existing shape array (an input's), so that no new array is allocated per step.
    @usableFromInline
    func nextNode(shape: [Int], operation: Operation<Scalar>) -> Node<Scalar> {
        let node: Node<Scalar>
        if recorded < nodes.count {
            node = nodes[recorded]
            node.prepare(shape: shape)
        } else {
            node = Node(shape: shape)
            nodes.append(node)
        }
        node.operation = operation
        recorded += 1
        return node
    }

    /// `nextNode` for a matrix result: builds the shape array only when the buffer must change.
    @usableFromInline
    func nextNode(rows: Int, columns: Int, operation: Operation<Scalar>) -> Node<Scalar> {
        if recorded < nodes.count {
            let shape = nodes[recorded].value.shape
            if shape.count == 2 && shape[0] == rows && shape[1] == columns {
                return nextNode(shape: shape, operation: operation)
            }
        }
        return nextNode(shape: [rows, columns], operation: operation)
    }

    /// Runs one recorded operation's backward, dispatching to the op's hand-written function.
    func backwardStep(_ node: Node<Scalar>) {
        switch node.operation {
        case .input: break
        case let .parameter(parameter): parameterBackwardStep(node, parameter: parameter)
        case let .dense(input, weight, bias, weightScale, biasScale):
            denseBackwardStep(node, input: nodes[input], weight: weight, bias: bias, weightScale: weightScale, biasScale: biasScale)
        case let .layerNorm(input, weight, bias): layerNormBackwardStep(node, input: nodes[input], weight: weight, bias: bias)
        case let .rmsNorm(input, weight): rmsNormBackwardStep(node, input: nodes[input], weight: weight)
        case let .batchNorm(input, weight, bias, usesBatchStatistics):
            batchNormBackwardStep(node, input: nodes[input], weight: weight, bias: bias, usesBatchStatistics: usesBatchStatistics)
        case let .activation(input, activation): activationBackwardStep(node, input: nodes[input], activation: activation)
        case let .activationDerivative(input, activation):
            activationDerivativeBackwardStep(node, input: nodes[input], activation: activation)
        case let .blockwiseProduct(factor, blocks): blockwiseProductBackwardStep(node, factor: nodes[factor], blocks: nodes[blocks])
        case let .normalizationTangent(input, tangents, weight, centred):
            normalizationTangentBackwardStep(node, input: nodes[input], tangents: nodes[tangents], weight: weight, centred: centred)
        case let .unary(input, function): unaryBackwardStep(node, input: nodes[input], function: function)
        case let .elementwise(a, b, operation): elementwiseBackwardStep(node, nodes[a], nodes[b], operation: operation)
        case let .rowVector(matrix, vector, operation):
            rowVectorBackwardStep(node, matrix: nodes[matrix], vector: nodes[vector], operation: operation)
        case let .scalarAffine(input, factor, _): scalarAffineBackwardStep(node, input: nodes[input], factor: factor)
        case let .matmul(a, b): matmulBackwardStep(node, nodes[a], nodes[b])
        case let .sum(input, divisor): sumBackwardStep(node, input: nodes[input], divisor: divisor)
        case let .axisSum(input, axis, divisor): axisSumBackwardStep(node, input: nodes[input], axis: axis, divisor: divisor)
        case let .meanSquaredError(prediction): meanSquaredErrorBackwardStep(node, prediction: nodes[prediction])
        case let .crossEntropy(logits): crossEntropyBackwardStep(node, logits: nodes[logits])
        case let .custom(operation, inputs): customBackwardStep(node, operation: operation, inputs: inputs)
        }
    }

    /// One recorded operation's parameters' part of the empirical NTK, read after
    /// `backward(_:parameterGradients: false)` from the sum of the outputs (see `TangentKernelTerm`).
    func kernelContribution(_ node: Node<Scalar>) -> KernelContribution<Scalar> {
        switch node.operation {
        case .input, .activation, .unary, .elementwise, .rowVector, .scalarAffine, .matmul, .sum, .axisSum, .meanSquaredError,
             .crossEntropy, .activationDerivative, .blockwiseProduct:
            return .noParameters
        case let .normalizationTangent(_, _, weight, _):
            return weight == nil ? .noParameters : .unsupported("the tangent of an affine LayerNorm or RMSNorm")
        case let .parameter(parameter): return .unsupported("a parameter of shape \(parameter.shape) used as a variable")
        case let .dense(input, weight, bias, weightScale, biasScale):
            return denseKernelContribution(node, input: nodes[input], weight: weight, bias: bias,
                                           weightScale: weightScale, biasScale: biasScale)
        case let .layerNorm(input, weight, bias): return layerNormKernelContribution(node, input: nodes[input], weight: weight, bias: bias)
        case let .rmsNorm(input, weight): return rmsNormKernelContribution(node, input: nodes[input], weight: weight)
        case let .batchNorm(input, weight, bias, usesBatchStatistics):
            return batchNormKernelContribution(node, input: nodes[input], weight: weight, bias: bias,
                                               usesBatchStatistics: usesBatchStatistics)
        case let .custom(operation, inputs): return customKernelContribution(node, operation: operation, inputs: inputs)
        }
    }

    /// Which inputs' rows each output row of a recorded operation reads.
    func rowDependence(_ operation: Operation<Scalar>) -> RowDependence {
        switch operation {
        case .input, .parameter: return RowDependence()
        case let .dense(input, _, _, _, _), let .layerNorm(input, _, _), let .rmsNorm(input, _), let .activation(input, _),
             let .unary(input, _), let .scalarAffine(input, _, _), let .batchNorm(input, _, _, usesBatchStatistics: false):
            return RowDependence(rowwise: OperationInputs(input))
        case let .batchNorm(input, _, _, usesBatchStatistics: true):
            return RowDependence(whole: OperationInputs(input), what: "a BatchNorm in training mode (its batch statistics couple the rows)")
        case let .elementwise(a, b, _): return RowDependence(rowwise: OperationInputs(a, b))
        case let .activationDerivative(input, _): return RowDependence(rowwise: OperationInputs(input))
        // Tangent row j B + i reads sample i's rows only: a batch's samples stay apart.
        case let .blockwiseProduct(a, b), let .normalizationTangent(a, b, _, _): return RowDependence(rowwise: OperationInputs(a, b))
        case let .rowVector(matrix, vector, _):
            return RowDependence(rowwise: OperationInputs(matrix), whole: OperationInputs(vector), what: "a row vector broadcast over rows")
        case let .matmul(a, b): return RowDependence(rowwise: OperationInputs(a), whole: OperationInputs(b), what: "a matrix product")
        case let .sum(input, _): return RowDependence(whole: OperationInputs(input), what: "a sum or mean over all elements")
        case let .axisSum(input, axis, _):
            return axis == .columns ? RowDependence(rowwise: OperationInputs(input))
                : RowDependence(whole: OperationInputs(input), what: "a sum or mean over rows")
        case let .meanSquaredError(prediction): return RowDependence(whole: OperationInputs(prediction), what: "a mean squared error")
        case let .crossEntropy(logits): return RowDependence(whole: OperationInputs(logits), what: "a cross-entropy (a mean over rows)")
        case let .custom(operation, inputs):
            return operation.isRowIndependent ? RowDependence(rowwise: inputs)
                : RowDependence(whole: inputs, what: "\(operation.name) (not declared row-independent)")
        }
    }
}

/// A value recorded on a tape: a handle (the tape, a position and the tape's step), cheap to copy.
public struct Variable<Scalar: BLASScalar> {
    public let tape: Tape<Scalar>
    @usableFromInline let index: Int
    /// The tape's `generation` when this was recorded; the variable is valid only while they agree.
    @usableFromInline let generation: Int

    @usableFromInline
    init(tape: Tape<Scalar>, index: Int, generation: Int) {
        self.tape = tape
        self.index = index
        self.generation = generation
    }

    /// The shape of the value.
    public var shape: [Int] { tape.node(of: self, in: "shape").value.shape }
    /// The value (see `Tape.value`).
    public var value: Tensor<Scalar> { tape.value(self) }
}

/// What a recorded operation did, and what its backward reads: the one list of ops (see the top
/// of this file). Inputs are positions on the tape.
@usableFromInline
enum Operation<Scalar: BLASScalar> {
    case input
    case parameter(Parameter<Scalar>)
    case dense(input: Int, weight: Parameter<Scalar>, bias: Parameter<Scalar>?, weightScale: Scalar, biasScale: Scalar)
    case layerNorm(input: Int, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?)
    case rmsNorm(input: Int, weight: Parameter<Scalar>?)
    /// Normalised by the batch's statistics (training) or by the running ones (evaluation).
    case batchNorm(input: Int, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?, usesBatchStatistics: Bool)
    case activation(input: Int, Activation)
    /// phi'(x), the factor of an activation's tangent.
    case activationDerivative(input: Int, Activation)
    /// A [B, n] factor times each [B, n] block of a [d B, n] matrix (input tangents).
    case blockwiseProduct(factor: Int, blocks: Int)
    /// LayerNorm's (`centred`) or RMSNorm's tangent along d blocks of tangents.
    case normalizationTangent(input: Int, tangents: Int, weight: Parameter<Scalar>?, centred: Bool)
    case unary(input: Int, UnaryFunction)
    case elementwise(Int, Int, ElementwiseOperation)
    /// A [rows, n] matrix combined with a [1, n] vector in every row.
    case rowVector(matrix: Int, vector: Int, RowVectorOperation)
    /// `factor * x + offset`.
    case scalarAffine(input: Int, factor: Scalar, offset: Scalar)
    case matmul(Int, Int)
    /// The sum of all elements divided by `divisor` (1 for a sum, the count for a mean).
    case sum(input: Int, divisor: Scalar)
    /// The sums along one axis divided by `divisor`: over rows to [1, n], over columns to [rows, 1].
    case axisSum(input: Int, axis: Axis, divisor: Scalar)
    case meanSquaredError(prediction: Int)
    /// Softmax cross-entropy against the class indices in the node's cache (CrossEntropy.swift).
    case crossEntropy(logits: Int)
    /// An op written outside the library (`CustomOperation`).
    case custom(any CustomOperation<Scalar>, inputs: OperationInputs)
}

/// Up to four tape positions, stored inline (no array, so recording allocates nothing).
@usableFromInline
struct OperationInputs {
    static var capacity: Int { 4 }
    @usableFromInline var count = 0
    @usableFromInline var storage: (Int, Int, Int, Int) = (0, 0, 0, 0)

    @usableFromInline init() {}
    @usableFromInline init(_ a: Int) { (count, storage.0) = (1, a) }
    @usableFromInline init(_ a: Int, _ b: Int) { (count, storage.0, storage.1) = (2, a, b) }

    @usableFromInline
    subscript(position: Int) -> Int {
        get {
            switch position {
            case 0: storage.0
            case 1: storage.1
            case 2: storage.2
            default: storage.3
            }
        }
        set {
            switch position {
            case 0: storage.0 = newValue
            case 1: storage.1 = newValue
            case 2: storage.2 = newValue
            default: storage.3 = newValue
            }
        }
    }

    @usableFromInline
    mutating func append(_ index: Int) {
        precondition(count < Self.capacity, "a custom operation takes at most \(Self.capacity) inputs")
        self[count] = index
        count &+= 1
    }
}

/// Which inputs' rows each output row of an op reads: its `rowwise` inputs' row r only (output
/// row r), and every row of its `whole` inputs. An op keeps a batch's rows apart when none of its
/// `whole` inputs depends on the batch (they are parameters or constants).
struct RowDependence {
    var rowwise = OperationInputs()
    var whole = OperationInputs()
    /// What the op is, for the message when it mixes a batch's rows.
    var what = ""
}
