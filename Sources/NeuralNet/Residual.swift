/// A residual block, `x + inner(x)` (He et al. 2016), the skip connection of ResNets and
/// transformers. Its tape entry is the tape's elementwise add (`Variable.+`), whose backward
/// sends the output's gradient both ways: into x directly and through the inner block.
///
/// Transformer-style blocks are built from it:
/// - pre-LN, `x + f(LN(x))`: `Residual(Sequential(LayerNorm(n), Dense(n, n), ReLU(), Dense(n, n)))`;
/// - post-LN, `LN(x + f(x))`: `Sequential(Residual(Sequential(Dense(n, n), ReLU(), Dense(n, n))), LayerNorm(n))`.
///
/// Parameter and buffer names are the inner block's behind `inner.`, as PyTorch names a submodule
/// held in an attribute `inner`:
/// ```python
/// class Residual(nn.Module):
///     def __init__(self, inner):
///         super().__init__()
///         self.inner = inner
///     def forward(self, x):
///         return x + self.inner(x)
/// ```
/// so `Sequential(Dense(2, 8), Residual(Sequential(Dense(8, 8), ReLU(), Dense(8, 8))))` names its
/// parameters `0.weight`, ..., `1.inner.0.weight`, `1.inner.2.bias`, as `nn.Sequential(nn.Linear(2, 8),
/// Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))))` does, and each loads
/// the other's state dict.
public struct Residual<Scalar: BLASScalar>: Layer {
    /// The block on the residual branch; its output must have its input's shape.
    public let inner: any Layer<Scalar>

    public init(_ inner: any Layer<Scalar>) { self.inner = inner }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let branch = inner(x)
        precondition(branch.shape == x.shape,
                     "Residual: the inner block maps an input of shape \(x.shape) to shape \(branch.shape); "
                        + "x + inner(x) needs the inner block to keep the width (for a change of width, put a Dense "
                        + "outside the Residual)")
        return x + branch
    }

    /// The tangent of x + inner(x) is dx + the inner block's tangent.
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        let branch = inner(x)
        precondition(branch.value.shape == x.value.shape,
                     "Residual: the inner block maps an input of shape \(x.value.shape) to shape \(branch.value.shape)")
        return ValueAndTangents(value: x.value + branch.value, tangents: x.tangents + branch.tangents)
    }

    public var providesTangents: Bool { inner.providesTangents }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        inner.namedParameters.map { ("inner.\($0.name)", $0.parameter) }
    }

    public var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] {
        inner.namedBuffers.map { ("inner.\($0.name)", $0.buffer) }
    }

    public func setTraining(_ training: Bool) { inner.setTraining(training) }

    public var mixesBatchRows: Bool { inner.mixesBatchRows }
}

// MARK: - Infinite-width kernel map

extension Residual {
    /// The identity's kernels plus the inner block's: for inputs with kernels (K, Theta),
    /// `K' = K + K_inner(K, Theta)` and `Theta' = Theta + Theta_inner(K, Theta)`, where
    /// (K_inner, Theta_inner) is the inner block's map applied to (K, Theta), as neural-tangents'
    /// `stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), inner), stax.FanInSum())`.
    ///
    /// Valid when the inner block ends with a Dense layer (possibly followed by LayerNorm or
    /// RMSNorm without affine parameters): its output `W h / sqrt(n) + b` has fresh weights with
    /// E[W] = 0, independent of the skip path x, so the cross terms E[x(x1) inner(x2)] vanish, and
    /// so do the NTK's cross terms (sums over units of W times O(1) terms, O(1 / sqrt(width)) in
    /// all). A block ending in a nonlinearity would not do in general: E[x relu(u)] = E[x] E[relu(u)]
    /// is not zero when x is not centred; nor one ending in a Residual, whose output holds x itself.
    /// (The condition is checked on the structure: the block is a Dense, or a Sequential whose
    /// last layer other than LayerNorm and RMSNorm is one of these.) The output is centred
    /// Gaussian when x is.
    /// - Throws: `InfiniteWidthKernelError` when the inner block has no map, or does not end with
    ///   a Dense layer.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        var branch = kernel
        let mappedBefore = branch.layers.count
        try inner.kernelMap(&branch)
        guard Self.outputIsDense(inner) else {
            throw InfiniteWidthKernelError(
                layer: "Residual(\(branch.layers[mappedBefore...].joined(separator: ", ")))",
                reason: "its map adds the inner block's kernels to the skip path's, which holds only when the inner "
                    + "block's output is independent of the skip path and centred, as a Dense layer's output is; "
                    + "end the inner block with a Dense layer (optionally followed by a LayerNorm or an RMSNorm "
                    + "without affine parameters)")
        }
        let (rows, columns) = (kernel.count1, kernel.count2)
        kernel.withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
            branch.withMutableBuffers { branchNNGP, branchNTK, branchNNGPDiagonal1, branchNNGPDiagonal2, branchNTKDiagonal1, branchNTKDiagonal2 in
                for (target, source, count) in [
                    (nngp, branchNNGP, rows &* columns), (ntk, branchNTK, rows &* columns),
                    (nngpDiagonal1, branchNNGPDiagonal1, rows), (ntkDiagonal1, branchNTKDiagonal1, rows),
                    (nngpDiagonal2, branchNNGPDiagonal2, columns), (ntkDiagonal2, branchNTKDiagonal2, columns),
                ] {
                    for i in 0..<count { target[i] += source[i] }
                }
            }
        }
        kernel.layers.append("Residual(\(branch.layers[mappedBefore...].joined(separator: ", ")))")
    }

    /// Whether `layer`'s output is a Dense layer's, normalised at most by LayerNorm or RMSNorm.
    static func outputIsDense(_ layer: any Layer<Scalar>) -> Bool {
        switch layer {
        case is Dense<Scalar>:
            return true
        case let sequential as Sequential<Scalar>:
            let last = sequential.layers.last { !($0 is LayerNorm<Scalar> || $0 is RMSNorm<Scalar>) }
            return last.map(outputIsDense) ?? false
        default:
            return false
        }
    }
}
