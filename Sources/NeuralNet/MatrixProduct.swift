/// The matrix product of two recorded matrices: C = A B, backward dA += dC Bᵀ, dB += Aᵀ dC
/// (two GEMMs). A parameter enters it through `Tape.variable(_:)`.

extension Tape {
    /// Records the matrix product `a b`.
    public func matmul(_ a: Variable<Scalar>, _ b: Variable<Scalar>) -> Variable<Scalar> {
        let (left, right) = (node(of: a, in: "matmul"), node(of: b, in: "matmul"))
        precondition(left.value.rank == 2 && right.value.rank == 2 && right.value.shape[0] == left.value.shape[1],
                     "matmul: shapes \(left.value.shape) and \(right.value.shape) not aligned")
        let (m, n, k) = (left.value.shape[0], right.value.shape[1], left.value.shape[1])
        let node = nextNode(rows: m, columns: n, operation: .matmul(a.index, b.index))
        Tensors.matmul(left.value.unsafeBaseAddress, right.value.unsafeBaseAddress, node.value.unsafeMutableBaseAddress(),
                       m: m, n: n, k: k, transposeA: false, transposeB: false)
        node.requiresGradient = left.requiresGradient || right.requiresGradient
        return recordedVariable()
    }

    func matmulBackwardStep(_ node: Node<Scalar>, _ a: Node<Scalar>, _ b: Node<Scalar>) {
        let (m, n, k) = (a.value.shape[0], b.value.shape[1], a.value.shape[1])
        if a.requiresGradient {
            let (target, accumulate) = a.gradientForContribution()
            Tensors.matmul(node.gradient.unsafeBaseAddress, b.value.unsafeBaseAddress, target,
                           m: m, n: k, k: n, transposeA: false, transposeB: true, beta: accumulate ? 1 : 0)
        }
        if b.requiresGradient {
            let (target, accumulate) = b.gradientForContribution()
            Tensors.matmul(a.value.unsafeBaseAddress, node.gradient.unsafeBaseAddress, target,
                           m: k, n: n, k: m, transposeA: true, transposeB: false, beta: accumulate ? 1 : 0)
        }
    }
}

/// The matrix product of two recorded matrices.
public func matmul<Scalar: BLASScalar>(_ a: Variable<Scalar>, _ b: Variable<Scalar>) -> Variable<Scalar> {
    a.tape.matmul(a, b)
}
