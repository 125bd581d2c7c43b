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
/// The entry points a training step calls (`input`, `dense`, `layerNorm`, `activation`,
/// `meanSquaredError`, `backward`, `Adam.step`) are `@_specialize`d for Float and Double. The
/// layers behind `any Layer` call them from unspecialised generic code; the specialised bodies
/// know their tensor and node types, where the generic ones looked up their metadata ~190 times
/// a step (3% of the width-128 step).
public final class Tape<Scalar: BLASScalar> {
    @usableFromInline var nodes: [Node<Scalar>] = []
    /// How many entries of `nodes` the current step has recorded.
    @usableFromInline var recorded = 0
    /// Whether the running `backward` adds into parameters' gradients (its `parameterGradients`).
    var accumulatesParameterGradients = true
    /// Where `backward` adds each parameter's gradient when not into the parameter's own
    /// `gradient`: a data-parallel replica's buffers (see `DataParallelTraining`), by identity.
    var parameterGradientDestinations: [ObjectIdentifier: UnsafeMutablePointer<Scalar>] = [:]

    public init() {}

    /// Rewinds the tape for a new step, keeping every buffer for reuse.
    public func reset() { recorded = 0 }

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
        return Variable(tape: self, index: recorded - 1)
    }

    /// Records a parameter as a variable, for use with the general ops (`matmul`, `add`, ...);
    /// its gradient accumulates into `parameter.gradient`.
    public func variable(_ parameter: Parameter<Scalar>) -> Variable<Scalar> {
        let node = nextNode(shape: parameter.shape, operation: .parameter(parameter))
        parameter.value.withUnsafeBufferPointer { source in
            node.value.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source.baseAddress!, count: source.count) }
        }
        node.requiresGradient = true
        return Variable(tape: self, index: recorded - 1)
    }

    /// The value a variable holds (shares storage until either side is written).
    public func value(_ variable: Variable<Scalar>) -> Tensor<Scalar> { nodes[variable.index].value }

    /// The gradient of the last `backward` output with respect to `variable`.
    public func gradient(of variable: Variable<Scalar>) -> Tensor<Scalar> {
        let node = nodes[variable.index]
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
        precondition(output.index < recorded, "backward: the variable was not recorded in this step")
        accumulatesParameterGradients = parameterGradients
        for index in 0...output.index where nodes[index].requiresGradient {
            nodes[index].prepareGradient()
        }
        let outputNode = nodes[output.index]
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

    /// The buffer `backward` adds `parameter`'s gradient into; nil when it computes none.
    @inline(__always)
    func parameterGradient(_ parameter: Parameter<Scalar>?) -> UnsafeMutablePointer<Scalar>? {
        guard accumulatesParameterGradients, let parameter else { return nil }
        if parameterGradientDestinations.isEmpty { return parameter.gradient.unsafeMutableBaseAddress() }
        guard let destination = parameterGradientDestinations[ObjectIdentifier(parameter)] else {
            preconditionFailure("backward: a parameter of shape \(parameter.shape) is not among this replica's parameters")
        }
        return destination
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
        case .input:
            break
        case let .parameter(parameter):
            if let destination = parameterGradient(parameter) {
                Scalar.axpy(n: node.value.count, alpha: 1, x: node.gradient.unsafeBaseAddress, y: destination)
            }
        case let .dense(input, weight, bias, weightScale, biasScale):
            denseBackwardStep(node, input: nodes[input], weight: weight, bias: bias,
                              weightScale: weightScale, biasScale: biasScale)
        case let .layerNorm(input, weight, bias):
            layerNormBackwardStep(node, input: nodes[input], weight: weight, bias: bias)
        case let .rmsNorm(input, weight):
            rmsNormBackwardStep(node, input: nodes[input], weight: weight)
        case let .batchNorm(input, weight, bias, usesBatchStatistics):
            batchNormBackwardStep(node, input: nodes[input], weight: weight, bias: bias, usesBatchStatistics: usesBatchStatistics)
        case let .activation(input, activation):
            activationBackwardStep(node, input: nodes[input], activation: activation)
        case let .elementwise(a, b, operation):
            elementwiseBackwardStep(node, nodes[a], nodes[b], operation: operation)
        case let .scale(input, factor):
            let source = nodes[input]
            if source.requiresGradient {
                Scalar.axpy(n: node.value.count, alpha: factor, x: node.gradient.unsafeBaseAddress, y: source.gradientToAddInto())
            }
        case let .matmul(a, b):
            matmulBackwardStep(node, nodes[a], nodes[b])
        case let .sum(input, divisor):
            sumBackwardStep(node, input: nodes[input], divisor: divisor)
        case let .meanSquaredError(prediction):
            meanSquaredErrorBackwardStep(node, prediction: nodes[prediction])
        }
    }
}

/// A value recorded on a tape: a handle (the tape and a position), cheap to copy.
public struct Variable<Scalar: BLASScalar> {
    public let tape: Tape<Scalar>
    @usableFromInline let index: Int

    @usableFromInline
    init(tape: Tape<Scalar>, index: Int) {
        self.tape = tape
        self.index = index
    }

    /// The shape of the value.
    public var shape: [Int] { tape.nodes[index].value.shape }
    /// The value (see `Tape.value`).
    public var value: Tensor<Scalar> { tape.value(self) }
}

/// What a recorded operation did, and what its backward reads.
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
    case elementwise(Int, Int, ElementwiseOperation)
    case scale(input: Int, factor: Scalar)
    case matmul(Int, Int)
    /// The sum of all elements divided by `divisor` (1 for a sum, the count for a mean).
    case sum(input: Int, divisor: Scalar)
    case meanSquaredError(prediction: Int)
}

/// One recorded operation's buffers. `cache` holds what the backward needs beyond the inputs.
@usableFromInline
final class Node<Scalar: BLASScalar> {
    @usableFromInline var operation: Operation<Scalar> = .input
    @usableFromInline var value: Tensor<Scalar>
    @usableFromInline var gradient: Tensor<Scalar>
    @usableFromInline var cache: Tensor<Scalar>
    @usableFromInline var requiresGradient = false
    /// Whether a contribution of the running backward pass is in `gradient`; until then the
    /// buffer holds stale values (see `gradientToWrite` and `gradientToAddInto`).
    @usableFromInline var hasGradient = false

    init(shape: [Int]) {
        value = Tensor(uninitializedShape: shape)
        gradient = Tensor(uninitializedShape: [0])
        cache = Tensor(uninitializedShape: [0])
    }

    /// Makes `value` a writable buffer of `shape`, reusing the old one when the shape matches and
    /// nobody else holds it.
    @usableFromInline
    func prepare(shape: [Int]) {
        if value.shape != shape || !value.hasUniqueStorage() {
            value = Tensor(uninitializedShape: shape)
        }
        requiresGradient = false
    }

    /// Makes `cache` a buffer of `count` scalars, reusing the old one when it is large enough.
    func prepareCache(count: Int) {
        if cache.count != count || !cache.hasUniqueStorage() {
            cache = Tensor(uninitializedShape: [count])
        }
    }

    /// Readies the gradient buffer for a backward pass: sized to the value's shape, its contents
    /// stale until the first contribution (no zeroing).
    func prepareGradient() {
        if gradient.shape != value.shape || !gradient.hasUniqueStorage() {
            gradient = Tensor(uninitializedShape: value.shape)
        }
        hasGradient = false
    }

    /// The gradient buffer for a contribution that may overwrite it (`=`) when `accumulate` is
    /// false, the pass's first contribution, and must add to it (`+=`) otherwise.
    func gradientForContribution() -> (pointer: UnsafeMutablePointer<Scalar>, accumulate: Bool) {
        let accumulate = hasGradient
        hasGradient = true
        return (gradient.unsafeMutableBaseAddress(), accumulate)
    }

    /// The gradient buffer for a contribution that overwrites it: the output's seed.
    func gradientToWrite() -> UnsafeMutablePointer<Scalar> {
        hasGradient = true
        return gradient.unsafeMutableBaseAddress()
    }

    /// The gradient buffer for a contribution that can only add (`+=`): zeroed first if nothing
    /// has been written to it in this pass.
    func gradientToAddInto() -> UnsafeMutablePointer<Scalar> {
        let (pointer, accumulate) = gradientForContribution()
        if !accumulate { pointer.update(repeating: 0, count: value.count) }
        return pointer
    }
}
