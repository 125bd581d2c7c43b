/// A building block of a network: a function of a batch of rows, with named parameters.
///
/// A layer's forward records onto the tape of its input, so the backward comes with it.
public protocol Layer<Scalar> {
    associatedtype Scalar: BLASScalar

    /// Applies the layer to a batch (one sample per row).
    func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar>

    /// The layer's parameters with their local names (`weight`, `bias`), in a fixed order.
    var namedParameters: [(name: String, parameter: Parameter<Scalar>)] { get }

    /// Maps the infinite-width NNGP and NTK kernels of this layer's input to those of its output,
    /// the kernel counterpart of the forward pass (neural-tangents' `kernel_fn`). It may be called
    /// from several threads at once, on different kernels (tiles of one large kernel), so it
    /// must not change shared state.
    /// - Throws: `InfiniteWidthKernelError` when the layer has no closed-form map, or none where it
    ///   sits (the default for layers that do not provide one).
    func kernelMap(_ kernel: inout InfiniteWidthKernel) throws
}

extension Layer {
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
/// the i-th layer's parameters are `i.weight`, `i.bias` (activations take an index too).
public struct Sequential<Scalar: BLASScalar>: Layer {
    public let layers: [any Layer<Scalar>]

    public init(_ layers: [any Layer<Scalar>]) { self.layers = layers }
    public init(_ layers: any Layer<Scalar>...) { self.layers = layers }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        var current = x
        for layer in layers { current = layer(current) }
        return current
    }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("\(index).\($0.name)", $0.parameter) }
        }
    }

    /// Each layer's kernel map in order, as neural-tangents' `stax.serial` composes `kernel_fn`s.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        for layer in layers { try layer.kernelMap(&kernel) }
    }
}
