/// General tensor ops on the tape: elementwise add, subtract, multiply; scaling; matrix product;
/// sum and mean of all elements. Shapes must match exactly (no implicit broadcasting).

@usableFromInline
enum ElementwiseOperation: Sendable { case add, subtract, multiply }

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func elementwiseForward<Scalar: BLASScalar>(
    _ operation: ElementwiseOperation, out: UnsafeMutablePointer<Scalar>,
    a: UnsafePointer<Scalar>, b: UnsafePointer<Scalar>, count: Int
) {
    switch operation {
    case .add: for i in 0..<count { out[i] = a[i] + b[i] }
    case .subtract: for i in 0..<count { out[i] = a[i] - b[i] }
    case .multiply: for i in 0..<count { out[i] = a[i] * b[i] }
    }
}

/// d(a + b) = (dout, dout); d(a - b) = (dout, -dout); d(a * b) = (dout * b, dout * a).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func elementwiseBackward<Scalar: BLASScalar>(
    _ operation: ElementwiseOperation, aGradient: UnsafeMutablePointer<Scalar>?, bGradient: UnsafeMutablePointer<Scalar>?,
    outGradient: UnsafePointer<Scalar>, a: UnsafePointer<Scalar>, b: UnsafePointer<Scalar>, count: Int
) {
    switch operation {
    case .add, .subtract:
        if let aGradient { Scalar.axpy(n: count, alpha: 1, x: outGradient, y: aGradient) }
        if let bGradient { Scalar.axpy(n: count, alpha: operation == .add ? 1 : -1, x: outGradient, y: bGradient) }
    case .multiply:
        if let aGradient { for i in 0..<count { aGradient[i] += outGradient[i] * b[i] } }
        if let bGradient { for i in 0..<count { bGradient[i] += outGradient[i] * a[i] } }
    }
}

extension Tape {
    func elementwise(_ a: Variable<Scalar>, _ b: Variable<Scalar>, _ operation: ElementwiseOperation) -> Variable<Scalar> {
        let (left, right) = (nodes[a.index], nodes[b.index])
        precondition(left.value.shape == right.value.shape,
                     "\(operation): operands could not be combined with shapes \(left.value.shape) and \(right.value.shape)")
        let node = nextNode(shape: left.value.shape, operation: .elementwise(a.index, b.index, operation))
        elementwiseForward(operation, out: node.value.unsafeMutableBaseAddress(), a: left.value.unsafeBaseAddress,
                           b: right.value.unsafeBaseAddress, count: left.value.count)
        node.requiresGradient = left.requiresGradient || right.requiresGradient
        return Variable(tape: self, index: recorded - 1)
    }

    func elementwiseBackwardStep(_ node: Node<Scalar>, _ a: Node<Scalar>, _ b: Node<Scalar>, operation: ElementwiseOperation) {
        // Both may be one node (x * x): each call below marks it written before the next.
        let aGradient = a.requiresGradient ? a.gradientToAddInto() : nil
        let bGradient = b.requiresGradient ? b.gradientToAddInto() : nil
        elementwiseBackward(operation, aGradient: aGradient, bGradient: bGradient,
                            outGradient: node.gradient.unsafeBaseAddress, a: a.value.unsafeBaseAddress,
                            b: b.value.unsafeBaseAddress, count: node.value.count)
    }

    /// Records `factor * x`.
    public func scale(_ x: Variable<Scalar>, by factor: Scalar) -> Variable<Scalar> {
        let input = nodes[x.index]
        let node = nextNode(shape: input.value.shape, operation: .scale(input: x.index, factor: factor))
        let (out, source) = (node.value.unsafeMutableBaseAddress(), input.value.unsafeBaseAddress)
        for i in 0..<input.value.count { out[i] = factor * source[i] }
        node.requiresGradient = input.requiresGradient
        return Variable(tape: self, index: recorded - 1)
    }

    /// Records the matrix product `a b` (C = A B; backward dA += dC Bᵀ, dB += Aᵀ dC).
    public func matmul(_ a: Variable<Scalar>, _ b: Variable<Scalar>) -> Variable<Scalar> {
        let (left, right) = (nodes[a.index], nodes[b.index])
        let (m, n, k) = (left.value.shape[0], right.value.shape[1], left.value.shape[1])
        precondition(left.value.rank == 2 && right.value.rank == 2 && right.value.shape[0] == k,
                     "matmul: shapes \(left.value.shape) and \(right.value.shape) not aligned")
        let node = nextNode(rows: m, columns: n, operation: .matmul(a.index, b.index))
        Tensors.matmul(left.value.unsafeBaseAddress, right.value.unsafeBaseAddress, node.value.unsafeMutableBaseAddress(),
                       m: m, n: n, k: k, transposeA: false, transposeB: false)
        node.requiresGradient = left.requiresGradient || right.requiresGradient
        return Variable(tape: self, index: recorded - 1)
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

    /// Records the sum of all elements divided by `divisor`, as a scalar (shape []).
    func reduce(_ x: Variable<Scalar>, divisor: Scalar) -> Variable<Scalar> {
        let input = nodes[x.index]
        let node = nextNode(shape: [], operation: .sum(input: x.index, divisor: divisor))
        let source = input.value.unsafeBaseAddress
        var total: Scalar = 0
        for i in 0..<input.value.count { total += source[i] }
        node.value.unsafeMutableBaseAddress().pointee = total / divisor
        node.requiresGradient = input.requiresGradient
        return Variable(tape: self, index: recorded - 1)
    }

    func sumBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, divisor: Scalar) {
        guard input.requiresGradient else { return }
        let share = node.gradient.unsafeBaseAddress.pointee / divisor
        let target = input.gradientToAddInto()
        for i in 0..<input.value.count { target[i] += share }
    }
}

extension Variable {
    public static func + (a: Variable, b: Variable) -> Variable { a.tape.elementwise(a, b, .add) }
    public static func - (a: Variable, b: Variable) -> Variable { a.tape.elementwise(a, b, .subtract) }
    public static func * (a: Variable, b: Variable) -> Variable { a.tape.elementwise(a, b, .multiply) }
    public static func * (factor: Scalar, x: Variable) -> Variable { x.tape.scale(x, by: factor) }

    /// The sum of all elements (a scalar).
    public func sum() -> Variable { tape.reduce(self, divisor: 1) }
    /// The mean of all elements (a scalar).
    public func mean() -> Variable { tape.reduce(self, divisor: Scalar(tape.nodes[index].value.count)) }
}

/// The matrix product of two recorded matrices.
public func matmul<Scalar: BLASScalar>(_ a: Variable<Scalar>, _ b: Variable<Scalar>) -> Variable<Scalar> {
    a.tape.matmul(a, b)
}
