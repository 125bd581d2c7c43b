/// Arithmetic on the tape: elementwise `+ - * /` of two variables of one shape; a [1, n] row
/// vector added to or multiplying every row of a [rows, n] matrix (bias-like and gate-like);
/// `factor * x + offset` with constant scalars. Each forward sits above its backward.
/// Shapes must match exactly, but for the row vector of `+` and `*`.

// MARK: - Elementwise, two variables of one shape

@usableFromInline
enum ElementwiseOperation: Sendable { case add, subtract, multiply, divide }

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
    case .divide: for i in 0..<count { out[i] = a[i] / b[i] }
    }
}

/// d(a + b) = (dout, dout); d(a - b) = (dout, -dout); d(a * b) = (dout * b, dout * a);
/// d(a / b) = (dout / b, -dout * a / b^2).
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
    case .divide:
        if let aGradient { for i in 0..<count { aGradient[i] += outGradient[i] / b[i] } }
        if let bGradient { for i in 0..<count { bGradient[i] -= outGradient[i] * a[i] / (b[i] * b[i]) } }
    }
}

extension Tape {
    func elementwise(_ a: Variable<Scalar>, _ b: Variable<Scalar>, _ operation: ElementwiseOperation) -> Variable<Scalar> {
        let (left, right) = (node(of: a, in: "elementwise arithmetic"), node(of: b, in: "elementwise arithmetic"))
        precondition(left.value.shape == right.value.shape,
                     "\(operation): operands could not be combined with shapes \(left.value.shape) and \(right.value.shape)"
                        + " (only + and * broadcast, a [1, n] row vector over the rows of a [rows, n] matrix)")
        let node = nextNode(shape: left.value.shape, operation: .elementwise(a.index, b.index, operation))
        elementwiseForward(operation, out: node.value.unsafeMutableBaseAddress(), a: left.value.unsafeBaseAddress,
                           b: right.value.unsafeBaseAddress, count: left.value.count)
        node.requiresGradient = left.requiresGradient || right.requiresGradient
        return recordedVariable()
    }

    func elementwiseBackwardStep(_ node: Node<Scalar>, _ a: Node<Scalar>, _ b: Node<Scalar>, operation: ElementwiseOperation) {
        // Both may be one node (x * x): each call below marks it written before the next.
        let aGradient = a.requiresGradient ? a.gradientToAddInto() : nil
        let bGradient = b.requiresGradient ? b.gradientToAddInto() : nil
        elementwiseBackward(operation, aGradient: aGradient, bGradient: bGradient,
                            outGradient: node.gradient.unsafeBaseAddress, a: a.value.unsafeBaseAddress,
                            b: b.value.unsafeBaseAddress, count: node.value.count)
    }
}

// MARK: - A row vector broadcast over the rows of a matrix

@usableFromInline
enum RowVectorOperation: Sendable { case add, multiply }

/// out[i, j] = x[i, j] + v[j] (bias-like) or x[i, j] * v[j] (gate-like), x being m x n.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func rowVectorForward<Scalar: BLASScalar>(
    _ operation: RowVectorOperation, out: UnsafeMutablePointer<Scalar>, matrix: UnsafePointer<Scalar>,
    vector: UnsafePointer<Scalar>, m: Int, n: Int
) {
    for i in 0..<m {
        let (x, y) = (matrix + i &* n, out + i &* n)
        switch operation {
        case .add: for j in 0..<n { y[j] = x[j] + vector[j] }
        case .multiply: for j in 0..<n { y[j] = x[j] * vector[j] }
        }
    }
}

/// add: dx += dout, dv += sum over rows of dout; multiply: dx += dout * v, dv += sum over rows of
/// dout * x. The row sums go through the shared `addSumsOverRows`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func rowVectorBackward<Scalar: BLASScalar>(
    _ operation: RowVectorOperation, matrixGradient: UnsafeMutablePointer<Scalar>?, vectorGradient: UnsafeMutablePointer<Scalar>?,
    outGradient: UnsafePointer<Scalar>, matrix: UnsafePointer<Scalar>, vector: UnsafePointer<Scalar>, m: Int, n: Int
) {
    switch operation {
    case .add:
        if let matrixGradient { Scalar.axpy(n: m &* n, alpha: 1, x: outGradient, y: matrixGradient) }
        if let vectorGradient { addSumsOverRows(of: outGradient, rows: m, columns: n, into: vectorGradient) }
    case .multiply:
        if let matrixGradient {
            for i in 0..<m {
                let (dx, dy) = (matrixGradient + i &* n, outGradient + i &* n)
                for j in 0..<n { dx[j] += dy[j] * vector[j] }
            }
        }
        if let vectorGradient { addSumsOverRows(of: outGradient, times: matrix, rows: m, columns: n, into: vectorGradient) }
    }
}

extension Tape {
    func rowVector(_ x: Variable<Scalar>, _ v: Variable<Scalar>, _ operation: RowVectorOperation) -> Variable<Scalar> {
        let (matrix, vector) = (node(of: x, in: "row-vector arithmetic"), node(of: v, in: "row-vector arithmetic"))
        precondition(matrix.value.rank == 2 && vector.value.shape == [1, matrix.value.shape[1]],
                     "\(operation): a row vector of shape \(vector.value.shape) does not fit the rows of a matrix of shape \(matrix.value.shape)")
        let (m, n) = (matrix.value.shape[0], matrix.value.shape[1])
        let node = nextNode(shape: matrix.value.shape, operation: .rowVector(matrix: x.index, vector: v.index, operation))
        rowVectorForward(operation, out: node.value.unsafeMutableBaseAddress(), matrix: matrix.value.unsafeBaseAddress,
                         vector: vector.value.unsafeBaseAddress, m: m, n: n)
        node.requiresGradient = matrix.requiresGradient || vector.requiresGradient
        return recordedVariable()
    }

    func rowVectorBackwardStep(_ node: Node<Scalar>, matrix: Node<Scalar>, vector: Node<Scalar>, operation: RowVectorOperation) {
        let matrixGradient = matrix.requiresGradient ? matrix.gradientToAddInto() : nil
        let vectorGradient = vector.requiresGradient ? vector.gradientToAddInto() : nil
        rowVectorBackward(operation, matrixGradient: matrixGradient, vectorGradient: vectorGradient,
                          outGradient: node.gradient.unsafeBaseAddress, matrix: matrix.value.unsafeBaseAddress,
                          vector: vector.value.unsafeBaseAddress, m: matrix.value.shape[0], n: matrix.value.shape[1])
    }

    /// `a op b` for two variables of one shape, or a [rows, n] matrix and a [1, n] row vector in
    /// either order.
    func broadcasting(_ a: Variable<Scalar>, _ b: Variable<Scalar>, _ operation: RowVectorOperation) -> Variable<Scalar> {
        let (left, right) = (node(of: a, in: "arithmetic").value.shape, node(of: b, in: "arithmetic").value.shape)
        if left != right && left.count == 2 && right.count == 2 && left[1] == right[1] {
            if right[0] == 1 { return rowVector(a, b, operation) }
            if left[0] == 1 { return rowVector(b, a, operation) }
        }
        return elementwise(a, b, operation == .add ? .add : .multiply)
    }
}

// MARK: - factor * x + offset, constant scalars

/// out = factor * x + offset; backward dx += factor * dout.
extension Tape {
    /// Records `factor * x + offset` for constant scalars.
    public func affine(_ x: Variable<Scalar>, factor: Scalar, offset: Scalar = 0) -> Variable<Scalar> {
        let input = node(of: x, in: "scalar arithmetic")
        let node = nextNode(shape: input.value.shape, operation: .scalarAffine(input: x.index, factor: factor, offset: offset))
        let (out, source) = (node.value.unsafeMutableBaseAddress(), input.value.unsafeBaseAddress)
        for i in 0..<input.value.count { out[i] = factor * source[i] + offset }
        node.requiresGradient = input.requiresGradient
        return recordedVariable()
    }

    /// Records `factor * x`.
    public func scale(_ x: Variable<Scalar>, by factor: Scalar) -> Variable<Scalar> { affine(x, factor: factor) }

    func scalarAffineBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, factor: Scalar) {
        guard input.requiresGradient else { return }
        Scalar.axpy(n: node.value.count, alpha: factor, x: node.gradient.unsafeBaseAddress, y: input.gradientToAddInto())
    }
}

extension Variable {
    /// Elementwise sum; a [1, n] row vector on either side is added to every row of the other.
    public static func + (a: Variable, b: Variable) -> Variable { a.tape.broadcasting(a, b, .add) }
    public static func - (a: Variable, b: Variable) -> Variable { a.tape.elementwise(a, b, .subtract) }
    /// Elementwise product; a [1, n] row vector on either side multiplies every row of the other.
    public static func * (a: Variable, b: Variable) -> Variable { a.tape.broadcasting(a, b, .multiply) }
    public static func / (a: Variable, b: Variable) -> Variable { a.tape.elementwise(a, b, .divide) }

    public static func * (factor: Scalar, x: Variable) -> Variable { x.tape.affine(x, factor: factor) }
    public static func * (x: Variable, factor: Scalar) -> Variable { x.tape.affine(x, factor: factor) }
    public static func / (x: Variable, divisor: Scalar) -> Variable { x.tape.affine(x, factor: 1 / divisor) }
    public static func + (x: Variable, offset: Scalar) -> Variable { x.tape.affine(x, factor: 1, offset: offset) }
    public static func + (offset: Scalar, x: Variable) -> Variable { x.tape.affine(x, factor: 1, offset: offset) }
    public static func - (x: Variable, offset: Scalar) -> Variable { x.tape.affine(x, factor: 1, offset: -offset) }
    public static func - (offset: Scalar, x: Variable) -> Variable { x.tape.affine(x, factor: -1, offset: offset) }
    public static prefix func - (x: Variable) -> Variable { x.tape.affine(x, factor: -1) }
}
