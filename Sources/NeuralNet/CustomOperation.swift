/// Ops written outside the library, with a hand-written forward and backward, as PyTorch's
/// `torch.autograd.Function` and JAX's `jax.custom_vjp`. The tape records one like a built-in op
/// (the case `.custom` of `Operation`, holding a reference to the op object and its inputs'
/// positions) and owns its value, gradient and cache buffers, so a training step that records it
/// allocates nothing once the shapes have been seen.
///
/// ```swift
/// /// softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), stable for any x.
/// final class Softplus: CustomOperation {
///     typealias Scalar = Double
///     var isRowIndependent: Bool { true }
///     func forward(_ context: CustomOperationContext<Double>) {
///         let (x, y) = (context.input(0), context.output)
///         for i in 0..<x.count { y[i] = max(x[i], 0) + log1p(exp(-abs(x[i]))) }
///     }
///     func backward(_ context: CustomOperationContext<Double>) {
///         guard let dx = context.inputGradient(0) else { return }
///         let (x, dy) = (context.input(0), context.outputGradient)
///         for i in 0..<x.count { dx[i] += dy[i] / (1 + exp(-x[i])) }     // the sigmoid
///     }
/// }
/// let softplus = Softplus()        // once; then in every step:
/// let y = softplus(x)              // x: a Variable<Double>
/// ```
/// Check it with `GradientCheck`. The op is called from the thread that runs the tape; when
/// `DataParallelTraining` splits a batch, each thread runs its own tape, so an op object shared by
/// the threads must keep no state of its own between `forward` and `backward` (keep it in
/// `context.cache`, which is per tape).
public protocol CustomOperation<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar

    /// The op's name in messages; the type's name by default.
    var name: String { get }

    /// The output's shape, from the inputs' (`context.inputShape(_:)`); `.sameAsInput(0)` by
    /// default. Stop with a precondition failure naming the op for shapes it does not take.
    func outputShape(_ context: CustomOperationContext<Scalar>) -> CustomOperationShape

    /// How many scalars `context.cache` holds for what `backward` needs beyond the inputs and the
    /// output (0 by default).
    func cacheCount(_ context: CustomOperationContext<Scalar>) -> Int

    /// Writes every element of `context.output` (and of `context.cache`, if used) from the inputs.
    func forward(_ context: CustomOperationContext<Scalar>)

    /// Adds (`+=`) the gradient with respect to each input into `context.inputGradient(i)` (nil
    /// for an input that needs none) and each parameter's into `context.gradient(of:)` (nil when
    /// this backward pass computes no parameter gradients), from `context.outputGradient`.
    func backward(_ context: CustomOperationContext<Scalar>)

    /// Whether output row r depends only on row r of each input (and on parameters): then
    /// `DataParallelTraining` may split a batch's rows over threads, and the structured empirical
    /// NTK can take the network apart. False by default, the safe answer: the batch then stays
    /// on one tape, and the empirical NTK falls back to per-sample Jacobians.
    var isRowIndependent: Bool { get }

    /// The parameters the op reads (and whose gradients `backward` adds); none by default. Return
    /// a stored array.
    var parameters: [Parameter<Scalar>] { get }

    /// The op's parameters' part of the empirical NTK (see `TangentKernelTerm`), from the inputs
    /// and `context.outputGradient`, which holds each point's own gradient at the output (one
    /// point a row); nil when the op declares none. By default none are needed for an op without
    /// parameters and none are declared for one with parameters: the empirical NTK of a network
    /// containing it then comes from per-sample Jacobians (correct, slower).
    func tangentKernelTerms(_ context: CustomOperationContext<Scalar>) -> [TangentKernelTerm<Scalar>]?

    /// The tangents of a one-input op's output (`ValueAndTangents`: d blocks beside the values),
    /// given its input with tangents and its recorded output, built from differentiable tape ops
    /// (`blockwiseProduct`, `activationDerivative`, `+`, `*`, ... or other custom ops), so that
    /// their backward comes with them. For softplus: `tape.blockwiseProduct(x.value.sigmoid(),
    /// x.tangents)`. By default the op has none and refuses with a message; say so with
    /// `providesTangents`.
    func tangents(of input: ValueAndTangents<Scalar>, output: Variable<Scalar>) -> Variable<Scalar>

    /// Whether `tangents(of:output:)` is implemented (false by default).
    var providesTangents: Bool { get }
}

extension CustomOperation {
    public var name: String { "\(Self.self)" }
    public func outputShape(_ context: CustomOperationContext<Scalar>) -> CustomOperationShape { .sameAsInput(0) }
    public func cacheCount(_ context: CustomOperationContext<Scalar>) -> Int { 0 }
    public var isRowIndependent: Bool { false }
    public var parameters: [Parameter<Scalar>] { [] }
    public func tangentKernelTerms(_ context: CustomOperationContext<Scalar>) -> [TangentKernelTerm<Scalar>]? {
        parameters.isEmpty ? [] : nil
    }

    public var providesTangents: Bool { false }
    public func tangents(of input: ValueAndTangents<Scalar>, output: Variable<Scalar>) -> Variable<Scalar> {
        missingTangents("the custom operation \(name)")
    }

    /// Records the op on the tape of its input.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.tape.record(self, x) }
    /// Records the op on the tape of its input, with its output's tangents (`tangents(of:output:)`).
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        let output = x.tape.record(self, x.value)
        return ValueAndTangents(value: output, tangents: tangents(of: x, output: output))
    }
    /// Records the op on the tape of its inputs.
    public func callAsFunction(_ x: Variable<Scalar>, _ y: Variable<Scalar>) -> Variable<Scalar> { x.tape.record(self, x, y) }
    /// Records the op on the tape of its inputs.
    public func callAsFunction(_ x: Variable<Scalar>, _ y: Variable<Scalar>, _ z: Variable<Scalar>) -> Variable<Scalar> {
        x.tape.record(self, x, y, z)
    }
}

/// The shape of a custom op's output.
public enum CustomOperationShape {
    /// The shape of input `position`.
    case sameAsInput(Int)
    /// A matrix.
    case matrix(rows: Int, columns: Int)
    /// A scalar, shape [].
    case scalar
    /// Any shape (building the array allocates: in a training step prefer the cases above).
    case shape([Int])
}

/// What a custom op's functions read and write: its inputs, its output, its cache and, in the
/// backward pass, the gradients. The buffers belong to the tape; use them only during the call.
public struct CustomOperationContext<Scalar: BLASScalar> {
    enum Phase { case shape, forward, backward, kernelTerms }

    let tape: Tape<Scalar>
    let node: Node<Scalar>?
    let inputs: OperationInputs
    let phase: Phase

    /// The number of inputs.
    public var inputCount: Int { inputs.count }

    /// The shape of input `position`.
    public func inputShape(_ position: Int) -> [Int] { inputNode(position).value.shape }

    /// The value of input `position`, flat in row-major order.
    public func input(_ position: Int) -> UnsafeBufferPointer<Scalar> {
        let value = inputNode(position).value
        return UnsafeBufferPointer(start: value.unsafeBaseAddress, count: value.count)
    }

    /// The value of input `position` as a tensor (shares storage with the tape: copy it to keep it).
    public func inputTensor(_ position: Int) -> Tensor<Scalar> { inputNode(position).value }

    /// The output's shape.
    public var outputShape: [Int] { recordedNode("outputShape").value.shape }

    /// The output: written by `forward`, read by `backward`.
    public var output: UnsafeMutableBufferPointer<Scalar> {
        let node = recordedNode("output")
        return UnsafeMutableBufferPointer(start: node.value.unsafeMutableBaseAddress(), count: node.value.count)
    }

    /// The scalars `cacheCount` asked for: written by `forward`, read by `backward`.
    public var cache: UnsafeMutableBufferPointer<Scalar> {
        let node = recordedNode("cache")
        return UnsafeMutableBufferPointer(start: node.cache.unsafeMutableBaseAddress(), count: node.cache.count)
    }

    /// The gradient with respect to the output (in `backward`; in `tangentKernelTerms`, each
    /// point's own gradient at the output, one point a row).
    public var outputGradient: UnsafeBufferPointer<Scalar> {
        precondition(phase == .backward || phase == .kernelTerms, "CustomOperationContext.outputGradient: only in backward and tangentKernelTerms")
        let node = recordedNode("outputGradient")
        return UnsafeBufferPointer(start: node.gradient.unsafeBaseAddress, count: node.gradient.count)
    }

    /// `outputGradient` as a tensor (shares storage with the tape: copy it to keep it).
    public var outputGradientTensor: Tensor<Scalar> {
        precondition(phase == .backward || phase == .kernelTerms, "CustomOperationContext.outputGradientTensor: only in backward and tangentKernelTerms")
        return recordedNode("outputGradientTensor").gradient
    }

    /// The buffer to add input `position`'s gradient into (`+=`; it reads zero until the first
    /// contribution), or nil when that input needs no gradient. Only in `backward`.
    public func inputGradient(_ position: Int) -> UnsafeMutableBufferPointer<Scalar>? {
        precondition(phase == .backward, "CustomOperationContext.inputGradient: only in backward")
        let input = inputNode(position)
        guard input.requiresGradient else { return nil }
        return UnsafeMutableBufferPointer(start: input.gradientToAddInto(), count: input.value.count)
    }

    /// The buffer to add `parameter`'s gradient into (`+=`): the parameter's `gradient`, or a
    /// data-parallel replica's buffer for it; nil when this pass computes no parameter
    /// gradients. Only in `backward`.
    public func gradient(of parameter: Parameter<Scalar>) -> UnsafeMutableBufferPointer<Scalar>? {
        precondition(phase == .backward, "CustomOperationContext.gradient(of:): only in backward")
        return tape.parameterGradient(parameter).map { UnsafeMutableBufferPointer(start: $0, count: parameter.value.count) }
    }

    func inputNode(_ position: Int) -> Node<Scalar> {
        precondition(position >= 0 && position < inputs.count,
                     "CustomOperationContext: input \(position) asked of an op with \(inputs.count) inputs")
        return tape.nodes[inputs[position]]
    }

    func recordedNode(_ what: StaticString) -> Node<Scalar> {
        guard let node else { preconditionFailure("CustomOperationContext.\(what): not available in outputShape and cacheCount") }
        return node
    }
}

extension Tape {
    /// Records a custom op of one input (`operation(x)` does the same).
    public func record(_ operation: some CustomOperation<Scalar>, _ x: Variable<Scalar>) -> Variable<Scalar> {
        _ = node(of: x, in: "custom operation")
        return recordCustom(operation, inputs: OperationInputs(x.index))
    }

    /// Records a custom op of two inputs.
    public func record(_ operation: some CustomOperation<Scalar>, _ x: Variable<Scalar>, _ y: Variable<Scalar>) -> Variable<Scalar> {
        _ = (node(of: x, in: "custom operation"), node(of: y, in: "custom operation"))
        return recordCustom(operation, inputs: OperationInputs(x.index, y.index))
    }

    /// Records a custom op of three inputs.
    public func record(
        _ operation: some CustomOperation<Scalar>, _ x: Variable<Scalar>, _ y: Variable<Scalar>, _ z: Variable<Scalar>
    ) -> Variable<Scalar> {
        _ = (node(of: x, in: "custom operation"), node(of: y, in: "custom operation"), node(of: z, in: "custom operation"))
        var inputs = OperationInputs(x.index, y.index)
        inputs.append(z.index)
        return recordCustom(operation, inputs: inputs)
    }

    /// Records a custom op of up to four inputs (the array is the caller's: in a training step,
    /// the fixed-arity `record` functions avoid allocating it).
    public func record(_ operation: some CustomOperation<Scalar>, inputs variables: [Variable<Scalar>]) -> Variable<Scalar> {
        var inputs = OperationInputs()
        for variable in variables {
            _ = node(of: variable, in: "custom operation")
            inputs.append(variable.index)
        }
        return recordCustom(operation, inputs: inputs)
    }

    func recordCustom(_ operation: any CustomOperation<Scalar>, inputs: OperationInputs) -> Variable<Scalar> {
        let shapeContext = CustomOperationContext(tape: self, node: nil, inputs: inputs, phase: .shape)
        let recorded = Operation.custom(operation, inputs: inputs)
        let node: Node<Scalar>
        switch operation.outputShape(shapeContext) {
        case let .sameAsInput(position): node = nextNode(shape: shapeContext.inputNode(position).value.shape, operation: recorded)
        case let .matrix(rows, columns): node = nextNode(rows: rows, columns: columns, operation: recorded)
        case .scalar: node = nextNode(shape: [], operation: recorded)
        case let .shape(shape): node = nextNode(shape: shape, operation: recorded)
        }
        node.prepareCache(count: operation.cacheCount(shapeContext))
        // Always: the op may have parameters (reading `parameters` here could allocate each step).
        node.requiresGradient = true
        operation.forward(CustomOperationContext(tape: self, node: node, inputs: inputs, phase: .forward))
        return recordedVariable()
    }

    func customBackwardStep(_ node: Node<Scalar>, operation: any CustomOperation<Scalar>, inputs: OperationInputs) {
        operation.backward(CustomOperationContext(tape: self, node: node, inputs: inputs, phase: .backward))
    }

    func customKernelContribution(
        _ node: Node<Scalar>, operation: any CustomOperation<Scalar>, inputs: OperationInputs
    ) -> KernelContribution<Scalar> {
        let context = CustomOperationContext(tape: self, node: node, inputs: inputs, phase: .kernelTerms)
        guard let terms = operation.tangentKernelTerms(context) else {
            return .unsupported("\(operation.name), which declares no empirical-NTK factors for its parameters "
                + "(CustomOperation.tangentKernelTerms)")
        }
        let parameters = operation.parameters
        return terms.isEmpty && parameters.isEmpty ? .noParameters : .terms(terms, parameters: parameters)
    }
}
