import CKernels

/// Sums and means on the tape: of all elements (to a scalar, shape []), or along one axis of a
/// matrix (over rows to [1, n], over columns to [rows, 1]); and `addSumsOverRows`, the one helper
/// that sums a matrix's rows, which every backward of a broadcast (a bias, a row vector) uses.

/// The axis a reduction runs along.
public enum Axis: Sendable, Equatable {
    /// Down each column, over the rows: [rows, n] -> [1, n].
    case rows
    /// Along each row, over the columns: [rows, n] -> [rows, 1].
    case columns
}

/// `target[j] += scale * sum over rows i of a[i, j]` (times `b[i, j]` when given), for m x n
/// matrices: the gradient of whatever was broadcast over rows. `=` when `accumulate` is false.
/// Without `b`, the sums are C (CKernels' Dense.c) at the widest vectors the CPU has, adding the
/// rows in the same order.
@inline(__always)
func addSumsOverRows<Scalar: BLASScalar>(
    of a: UnsafePointer<Scalar>, times b: UnsafePointer<Scalar>? = nil, rows m: Int, columns n: Int, scale: Scalar = 1,
    into target: UnsafeMutablePointer<Scalar>, accumulate: Bool = true
) {
    guard let b else {
        finitewidth_sums_over_rows(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, target, accumulate ? 1 : 0, a,
                                   Double(scale), m, n)
        return
    }
    if !accumulate { target.update(repeating: 0, count: n) }
    for i in 0..<m {
        let row = a + i &* n, factor = b + i &* n
        for j in 0..<n { target[j] += scale * (row[j] * factor[j]) }
    }
}

// MARK: - All elements

extension Tape {
    /// Records the sum of all elements divided by `divisor`, as a scalar (shape []).
    func reduce(_ x: Variable<Scalar>, divisor: Scalar) -> Variable<Scalar> {
        let input = node(of: x, in: "sum")
        let node = nextNode(shape: [], operation: .sum(input: x.index, divisor: divisor))
        let source = input.value.unsafeBaseAddress
        var total: Scalar = 0
        for i in 0..<input.value.count { total += source[i] }
        node.value.unsafeMutableBaseAddress().pointee = total / divisor
        node.requiresGradient = input.requiresGradient
        return recordedVariable()
    }

    /// dx += dout / divisor, for every element.
    func sumBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, divisor: Scalar) {
        guard input.requiresGradient else { return }
        let share = node.gradient.unsafeBaseAddress.pointee / divisor
        let target = input.gradientToAddInto()
        for i in 0..<input.value.count { target[i] += share }
    }
}

// MARK: - Along one axis

/// Over rows: out[j] = sum_i x[i, j] / divisor; over columns: out[i] = sum_j x[i, j] / divisor.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func axisSumForward<Scalar: BLASScalar>(
    _ axis: Axis, out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, m: Int, n: Int, divisor: Scalar
) {
    switch axis {
    case .rows:
        out.update(repeating: 0, count: n)
        addSumsOverRows(of: input, rows: m, columns: n, into: out)
        for j in 0..<n { out[j] /= divisor }
    case .columns:
        for i in 0..<m {
            let row = input + i &* n
            var total: Scalar = 0
            for j in 0..<n { total += row[j] }
            out[i] = total / divisor
        }
    }
}

/// Over rows: dx[i, j] += dout[j] / divisor; over columns: dx[i, j] += dout[i] / divisor.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func axisSumBackward<Scalar: BLASScalar>(
    _ axis: Axis, inputGradient: UnsafeMutablePointer<Scalar>, outGradient: UnsafePointer<Scalar>, m: Int, n: Int, divisor: Scalar
) {
    for i in 0..<m {
        let dx = inputGradient + i &* n
        switch axis {
        case .rows: for j in 0..<n { dx[j] += outGradient[j] / divisor }
        case .columns:
            let share = outGradient[i] / divisor
            for j in 0..<n { dx[j] += share }
        }
    }
}

extension Tape {
    func axisSum(_ x: Variable<Scalar>, over axis: Axis, mean: Bool) -> Variable<Scalar> {
        let input = node(of: x, in: "sum(over:)")
        precondition(input.value.rank == 2, "sum(over:)/mean(over:): expected a matrix [rows, columns], got \(input.value.shape)")
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let divisor = mean ? Scalar(axis == .rows ? m : n) : 1
        let node = axis == .rows
            ? nextNode(rows: 1, columns: n, operation: .axisSum(input: x.index, axis: axis, divisor: divisor))
            : nextNode(rows: m, columns: 1, operation: .axisSum(input: x.index, axis: axis, divisor: divisor))
        axisSumForward(axis, out: node.value.unsafeMutableBaseAddress(), input: input.value.unsafeBaseAddress, m: m, n: n, divisor: divisor)
        node.requiresGradient = input.requiresGradient
        return recordedVariable()
    }

    func axisSumBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, axis: Axis, divisor: Scalar) {
        guard input.requiresGradient else { return }
        axisSumBackward(axis, inputGradient: input.gradientToAddInto(), outGradient: node.gradient.unsafeBaseAddress,
                        m: input.value.shape[0], n: input.value.shape[1], divisor: divisor)
    }
}

extension Variable {
    /// The sum of all elements (a scalar).
    public func sum() -> Variable { tape.reduce(self, divisor: 1) }
    /// The mean of all elements (a scalar).
    public func mean() -> Variable { tape.reduce(self, divisor: Scalar(tape.node(of: self, in: "mean").value.count)) }
    /// The sums of a matrix along one axis: over `.rows` to [1, n], over `.columns` to [rows, 1]
    /// (PyTorch's `x.sum(dim=0 or 1, keepdim=True)`).
    public func sum(over axis: Axis) -> Variable { tape.axisSum(self, over: axis, mean: false) }
    /// The means of a matrix along one axis: over `.rows` to [1, n], over `.columns` to [rows, 1].
    public func mean(over axis: Axis) -> Variable { tape.axisSum(self, over: axis, mean: true) }
}
