/// Elementwise arithmetic over contiguous buffers. Binary operators require equal shapes
/// (no implicit broadcasting); `addingRowVector` is the one explicit broadcast.
extension Tensor {
    @inlinable
    func checkSameShape(_ other: Tensor, _ operation: String) {
        precondition(shape == other.shape,
                     "\(operation): operands could not be combined with shapes \(shape) and \(other.shape)")
    }

    /// A new tensor from applying `body` to each pair of elements.
    @inlinable
    func zipped(_ other: Tensor, _ operation: String, _ body: (Scalar, Scalar) -> Scalar) -> Tensor {
        checkSameShape(other, operation)
        var result = Tensor(uninitializedShape: shape)
        withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { r in
                    for i in 0..<r.count { r[i] = body(a[i], b[i]) }
                }
            }
        }
        return result
    }

    @inlinable public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipped(rhs, "add", +) }
    @inlinable public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipped(rhs, "subtract", -) }
    @inlinable public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipped(rhs, "multiply", *) }
    @inlinable public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipped(rhs, "divide", /) }

    /// Every element times `factor`.
    @inlinable
    public static func * (factor: Scalar, tensor: Tensor) -> Tensor { tensor.scaled(by: factor) }

    @inlinable
    public func scaled(by factor: Scalar) -> Tensor {
        var result = self
        result.scale(by: factor)
        return result
    }

    /// Multiplies every element by `factor` in place (BLAS `?scal`).
    @inlinable
    public mutating func scale(by factor: Scalar) {
        withUnsafeMutableBufferPointer { Scalar.scal(n: $0.count, alpha: factor, x: $0.baseAddress!) }
    }

    /// `self += alpha * other` in place (BLAS `?axpy`).
    @inlinable
    public mutating func add(_ other: Tensor, scaledBy alpha: Scalar = 1) {
        checkSameShape(other, "add")
        other.withUnsafeBufferPointer { x in
            withUnsafeMutableBufferPointer { y in
                Scalar.axpy(n: y.count, alpha: alpha, x: x.baseAddress!, y: y.baseAddress!)
            }
        }
    }

    @inlinable public static func += (lhs: inout Tensor, rhs: Tensor) { lhs.add(rhs) }
    @inlinable public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs.add(rhs, scaledBy: -1) }

    /// A matrix with `row` (a vector of `columns` elements) added to each of its rows.
    @inlinable
    public func addingRowVector(_ row: Tensor) -> Tensor {
        precondition(rank == 2 && row.count == columns,
                     "addingRowVector: cannot add a row of shape \(row.shape) to each row of \(shape)")
        var result = self
        result.withUnsafeMutableBufferPointer { r in
            row.withUnsafeBufferPointer { v in
                let n = v.count
                for i in 0..<rows {
                    let base = i &* n
                    for j in 0..<n { r[base &+ j] += v[j] }
                }
            }
        }
        return result
    }

    /// A new tensor with `transform` applied to each element.
    @inlinable
    public func map(_ transform: (Scalar) -> Scalar) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        withUnsafeBufferPointer { a in
            result.withUnsafeMutableBufferPointer { r in
                for i in 0..<r.count { r[i] = transform(a[i]) }
            }
        }
        return result
    }

    /// The transpose of a matrix.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed: expected a matrix, got shape \(shape)")
        let (m, n) = (shape[0], shape[1])
        var result = Tensor(uninitializedShape: [n, m])
        withUnsafeBufferPointer { a in
            result.withUnsafeMutableBufferPointer { r in
                // Blocked so both the reads and the writes stay within a few cache lines.
                let block = 32
                for i0 in stride(from: 0, to: m, by: block) {
                    for j0 in stride(from: 0, to: n, by: block) {
                        for i in i0..<min(i0 + block, m) {
                            for j in j0..<min(j0 + block, n) { r[j &* m &+ i] = a[i &* n &+ j] }
                        }
                    }
                }
            }
        }
        return result
    }
}
