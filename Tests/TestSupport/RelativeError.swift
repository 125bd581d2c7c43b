import Tensors

/// The largest entrywise |a - b| / |b|, with |b| floored at 1e-12 of b's largest magnitude so
/// that entries which are zero in both compare absolutely.
public func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    let floor = max(b.maxAbs() * 1e-12, 1e-300)
    return zip(a.scalars, b.scalars).map { abs($0 - $1) / max(abs($1), floor) }.max() ?? 0
}

/// ||a - b||_F / ||b||_F.
public func frobeniusRelativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "frobeniusRelativeError: \(a.shape) vs \(b.shape)")
    let difference = zip(a.scalars, b.scalars).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
    let norm = b.scalars.map { $0 * $0 }.reduce(0, +)
    return (difference / norm).squareRoot()
}

/// The largest |a - b| / max(1, |b|) over two equally sized arrays: relative for large values,
/// absolute below 1.
public func maxRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
}
