/// Sums, means and maxima over all elements or along one axis of a matrix.
extension Tensor {
    /// The sum of all elements.
    @inlinable
    public func sum() -> Scalar {
        withUnsafeBufferPointer { buffer in
            var total: Scalar = 0
            for value in buffer { total += value }
            return total
        }
    }

    /// The mean of all elements.
    @inlinable
    public func mean() -> Scalar { count == 0 ? .nan : sum() / Scalar(count) }

    /// Whether every element is a finite number. One pass, 64 bytes at a time: x - x is 0 for a
    /// finite x and NaN for an infinite or NaN one, so the sum of those differences is 0 exactly
    /// when all are finite (a training loop checks its parameters this way every epoch).
    @inlinable
    public var allFinite: Bool {
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return true }
            let lanes = Scalar.Lanes.scalarCount
            var differences = Scalar.Lanes()
            var i = 0
            while i &+ lanes <= buffer.count {
                let values = UnsafeRawPointer(base + i).loadUnaligned(as: Scalar.Lanes.self)
                differences += values - values
                i &+= lanes
            }
            var tail: Scalar = 0
            while i < buffer.count {
                tail += base[i] - base[i]
                i &+= 1
            }
            return differences.sum() + tail == 0
        }
    }

    /// The largest absolute value (0 for an empty tensor; NaN if any element is NaN).
    @inlinable
    public func maxAbs() -> Scalar {
        withUnsafeBufferPointer { buffer in
            var result: Scalar = 0
            for value in buffer {
                if value.isNaN { return .nan }
                result = Swift.max(result, Swift.abs(value))
            }
            return result
        }
    }

    /// Sums a matrix along an axis: `alongAxis: 0` sums over rows (one value per column, shape
    /// `[columns]`); `alongAxis: 1` sums over columns (one value per row, shape `[rows]`).
    public func sum(alongAxis axis: Int) -> Tensor {
        precondition(rank == 2, "sum(alongAxis:): expected a matrix, got shape \(shape)")
        precondition(axis == 0 || axis == 1, "sum(alongAxis:): axis \(axis) is not 0 or 1 for shape \(shape)")
        let (m, n) = (shape[0], shape[1])
        var result = Tensor.zeros([axis == 0 ? n : m])
        withUnsafeBufferPointer { a in
            result.withUnsafeMutableBufferPointer { r in
                for i in 0..<m {
                    let base = i &* n
                    if axis == 0 {
                        for j in 0..<n { r[j] += a[base &+ j] }
                    } else {
                        var total: Scalar = 0
                        for j in 0..<n { total += a[base &+ j] }
                        r[i] = total
                    }
                }
            }
        }
        return result
    }

    /// The mean of a matrix along an axis (see `sum(alongAxis:)`).
    public func mean(alongAxis axis: Int) -> Tensor {
        precondition(rank == 2, "mean(alongAxis:): expected a matrix, got shape \(shape)")
        let extent = shape[axis == 0 ? 0 : 1]
        return sum(alongAxis: axis).scaled(by: 1 / Scalar(extent))
    }
}
