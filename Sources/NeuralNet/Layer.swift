/// A building block of a network: a function of a batch of rows, with named parameters.
///
/// A layer's forward records onto the tape of its input, so the backward comes with it.
public protocol Layer<Scalar> {
    associatedtype Scalar: BLASScalar

    /// Applies the layer to a batch (one sample per row).
    func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar>

    /// The layer's parameters with their local names (`weight`, `bias`), in a fixed order.
    var namedParameters: [(name: String, parameter: Parameter<Scalar>)] { get }

    /// The layer's non-trainable state with its local names (BatchNorm's `running_mean`,
    /// `running_var`, `num_batches_tracked`), saved in checkpoints beside the parameters as
    /// PyTorch saves buffers. None by default.
    var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] { get }

    /// Switches between training and evaluation behaviour, as PyTorch's `module.train(mode)` and
    /// `module.eval()`: a BatchNorm normalises by batch statistics (and updates its running ones)
    /// while training, by its running statistics in evaluation. Layers that behave the same in
    /// both ignore it (the default); containers pass it to every layer they hold. Layers start in
    /// training mode, as in PyTorch.
    func setTraining(_ training: Bool)

    /// Whether a row's output depends on the other rows of its batch (a BatchNorm in training
    /// mode): such a batch cannot be split across threads, and a point has no gradient of its own
    /// (no per-point NTK). False by default.
    var mixesBatchRows: Bool { get }

    /// Maps the infinite-width NNGP and NTK kernels of this layer's input to those of its output,
    /// the kernel counterpart of the forward pass (neural-tangents' `kernel_fn`). It may be called
    /// from several threads at once, on different kernels (tiles of one large kernel), so it
    /// must not change shared state.
    /// - Throws: `InfiniteWidthKernelError` when the layer has no closed-form map, or none where it
    ///   sits (the default for layers that do not provide one).
    func kernelMap(_ kernel: inout InfiniteWidthKernel) throws

    /// The forward pass with input tangents (`ValueAndTangents`): the output's values and their
    /// derivatives along the same input coordinates, recorded with differentiable ops so that
    /// input Jacobians and the Jacobian penalty back-propagate. Layers without one refuse with a
    /// message (the default); `providesTangents` says which.
    func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar>

    /// Whether `callAsFunction(_: ValueAndTangents)` is implemented (false by default).
    var providesTangents: Bool { get }
}

extension Layer {
    public var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] { [] }
    public func setTraining(_ training: Bool) {}
    public var mixesBatchRows: Bool { false }
    public var providesTangents: Bool { false }
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> { missingTangents("\(Self.self)") }

    /// No closed form known: throws, naming the layer and what is supported.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        throw InfiniteWidthKernelError(
            layer: "\(Self.self)",
            reason: "this layer declares no infinite-width kernel map (it does not implement kernelMap(_:), "
                + "which a layer of your own may do: see InfiniteWidthKernel)")
    }

    /// The parameters, in the order of `namedParameters`.
    public var parameters: [Parameter<Scalar>] { namedParameters.map(\.parameter) }

    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }

    /// Evaluates the layer on a batch without keeping gradients, on a tape of its own or a given
    /// one (reusing a tape across calls reuses its buffers).
    public func callAsFunction(_ x: Tensor<Scalar>, tape: Tape<Scalar> = Tape()) -> Tensor<Scalar> {
        tape.reset()
        return self(tape.input(x)).value
    }
}

/// Layers applied one after another, named as PyTorch's `nn.Sequential` names its modules:
/// the i-th layer's parameters are `i.weight`, `i.bias` (activations take an index too), and its
/// buffers `i.running_mean`, ...
public struct Sequential<Scalar: BLASScalar>: Layer {
    public let layers: [any Layer<Scalar>]

    public init(_ layers: [any Layer<Scalar>]) { self.layers = layers }
    public init(_ layers: any Layer<Scalar>...) { self.layers = layers }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        var current = x
        for layer in layers { current = layer(current) }
        return current
    }

    /// Each layer's tangent forward in order.
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        var current = x
        for layer in layers { current = layer(current) }
        return current
    }

    public var providesTangents: Bool {
        for layer in layers where !layer.providesTangents { return false }
        return true
    }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("\(index).\($0.name)", $0.parameter) }
        }
    }

    public var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedBuffers.map { ("\(index).\($0.name)", $0.buffer) }
        }
    }

    public func setTraining(_ training: Bool) {
        for layer in layers { layer.setTraining(training) }
    }

    public var mixesBatchRows: Bool {
        // A loop, not `contains(where:)`: through a Residual this runs unspecialised, where the
        // generic `contains` allocated (3 mallocs a call, `Benchmarks/TrainingStep`).
        for layer in layers where layer.mixesBatchRows { return true }
        return false
    }

    /// Each layer's kernel map in order, as neural-tangents' `stax.serial` composes `kernel_fn`s.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        for layer in layers { try layer.kernelMap(&kernel) }
    }
}
