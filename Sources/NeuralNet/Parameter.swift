/// A trainable tensor and the gradient accumulated into it by `Tape.backward`.
///
/// A class, so a layer, the tape and an optimizer all see the same values: the optimizer updates
/// `value` in place and the next forward pass reads it, with no copies.
public final class Parameter<Scalar: BLASScalar> {
    /// The current value.
    public var value: Tensor<Scalar>
    /// The sum of gradients since the last `zeroGradient()`; same shape as `value`.
    public var gradient: Tensor<Scalar>

    public init(_ value: Tensor<Scalar>) {
        self.value = value
        self.gradient = Tensor(shape: value.shape, repeating: 0)
    }

    /// The shape of the value (and of the gradient).
    public var shape: [Int] { value.shape }

    /// Sets the gradient to zero in place (no allocation).
    public func zeroGradient() {
        gradient.setToZero()
    }
}

/// Non-trainable state a layer carries between calls and saves in checkpoints beside its
/// parameters, as PyTorch's buffers (`register_buffer`): BatchNorm's running statistics.
///
/// A class, as `Parameter` is, so that the layer's forward pass updates the one value that
/// checkpoints read; the optimizers never see it.
public final class Buffer<Scalar: BLASScalar> {
    /// The current value.
    public var value: Tensor<Scalar>

    public init(_ value: Tensor<Scalar>) { self.value = value }

    /// The shape of the value.
    public var shape: [Int] { value.shape }
}
