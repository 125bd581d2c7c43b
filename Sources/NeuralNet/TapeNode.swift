import Tensors

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
    /// Scratch for `Tape.firstRowMixingOperation`: whether the value depends on the batch.
    var dependsOnBatch = false

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
