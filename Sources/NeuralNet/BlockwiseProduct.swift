/// The product of a [B, n] factor with each of the d blocks of a [d B, n] matrix of tangents
/// (`ValueAndTangents`): out[j B + i, k] = factor[i, k] * blocks[j B + i, k]. An activation's
/// tangent is `blockwiseProduct(phi'(x), dx)`; a custom op's may be too.

/// Forward: out = factor .* block, for each of the `blockCount` blocks of m x n.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func blockwiseProductForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, factor: UnsafePointer<Scalar>, blocks: UnsafePointer<Scalar>,
    m: Int, n: Int, blockCount: Int
) {
    let blockSize = m &* n
    for block in 0..<blockCount {
        let (source, target) = (blocks + block &* blockSize, out + block &* blockSize)
        for k in 0..<blockSize { target[k] = factor[k] * source[k] }
    }
}

/// Backward: dblocks (+)= dout .* factor in each block (`=` unless `accumulateBlocks`), and
/// dfactor += sum over blocks of dout .* block.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func blockwiseProductBackward<Scalar: BLASScalar>(
    factorGradient: UnsafeMutablePointer<Scalar>?, blocksGradient: UnsafeMutablePointer<Scalar>?, accumulateBlocks: Bool,
    outGradient: UnsafePointer<Scalar>, factor: UnsafePointer<Scalar>, blocks: UnsafePointer<Scalar>,
    m: Int, n: Int, blockCount: Int
) {
    let blockSize = m &* n
    for block in 0..<blockCount {
        let offset = block &* blockSize
        let (gradient, source) = (outGradient + offset, blocks + offset)
        if let blocksGradient {
            let target = blocksGradient + offset
            if accumulateBlocks {
                for k in 0..<blockSize { target[k] += gradient[k] * factor[k] }
            } else {
                for k in 0..<blockSize { target[k] = gradient[k] * factor[k] }
            }
        }
        if let factorGradient {
            for k in 0..<blockSize { factorGradient[k] += gradient[k] * source[k] }
        }
    }
}

extension Tape {
    /// Records `factor .* block` for each block of `blocks` ([d B, n], d blocks of the factor's
    /// [B, n] shape).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func blockwiseProduct(_ factor: Variable<Scalar>, _ blocks: Variable<Scalar>) -> Variable<Scalar> {
        let (factorNode, blocksNode) = (node(of: factor, in: "blockwiseProduct"), node(of: blocks, in: "blockwiseProduct"))
        let (factorShape, blocksShape) = (factorNode.value.shape, blocksNode.value.shape)
        precondition(factorShape.count == 2 && blocksShape.count == 2 && factorShape[0] > 0
                        && blocksShape[0] % factorShape[0] == 0 && blocksShape[1] == factorShape[1],
                     "blockwiseProduct: blocks of shape \(blocksShape) are not whole blocks of the factor's shape \(factorShape)")
        let (m, n) = (factorShape[0], factorShape[1])
        let node = nextNode(shape: blocksShape, operation: .blockwiseProduct(factor: factor.index, blocks: blocks.index))
        blockwiseProductForward(out: node.value.unsafeMutableBaseAddress(), factor: factorNode.value.unsafeBaseAddress,
                                blocks: blocksNode.value.unsafeBaseAddress, m: m, n: n, blockCount: blocksShape[0] / m)
        node.requiresGradient = factorNode.requiresGradient || blocksNode.requiresGradient
        return recordedVariable()
    }

    func blockwiseProductBackwardStep(_ node: Node<Scalar>, factor: Node<Scalar>, blocks: Node<Scalar>) {
        let (m, n) = (factor.value.shape[0], factor.value.shape[1])
        let blocksGradient = blocks.requiresGradient ? blocks.gradientForContribution() : nil
        let factorGradient = factor.requiresGradient ? factor.gradientToAddInto() : nil
        blockwiseProductBackward(
            factorGradient: factorGradient, blocksGradient: blocksGradient?.pointer,
            accumulateBlocks: blocksGradient?.accumulate ?? true, outGradient: node.gradient.unsafeBaseAddress,
            factor: factor.value.unsafeBaseAddress, blocks: blocks.value.unsafeBaseAddress,
            m: m, n: n, blockCount: node.value.shape[0] / m)
    }
}
