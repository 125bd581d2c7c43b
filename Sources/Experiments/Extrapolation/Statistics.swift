import Glibc

/// A sample mean with a two-sided 95% Student-t confidence interval.
public struct MeanWithInterval: Sendable, Equatable {
    public let mean: Double
    /// `mean - t * s / sqrt(n)`; equals `mean` for a single value.
    public let lower: Double
    public let upper: Double
    public let count: Int

    /// Summarises `values` (non-empty). NaN values make every field NaN; a spread too large for a
    /// Double (values near ±1e308) gives an infinite interval.
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "MeanWithInterval: no values")
        count = values.count
        var mean = values.reduce(0, +) / Double(values.count)
        if mean.isInfinite && values.allSatisfy(\.isFinite) {
            // The sum of finite values overflowed (1e308 + 1e308): their mean is still a Double,
            // between the least and the greatest value (the rounded sum of fractions may stray past).
            mean = min(max(values.reduce(0) { $0 + $1 / Double(values.count) }, values.min()!), values.max()!)
        }
        self.mean = mean
        guard values.count > 1 else {
            lower = mean
            upper = mean
            return
        }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        let halfWidth = studentTQuantile975(degreesOfFreedom: values.count - 1) * (variance / Double(values.count)).squareRoot()
        lower = mean - halfWidth
        upper = mean + halfWidth
    }
}

/// The 0.975 quantile of Student's t distribution (the multiplier of a 95% interval): exact
/// table values up to 30 degrees of freedom, then the Cornish-Fisher expansion around 1.96
/// (error below 1e-4 there).
public func studentTQuantile975(degreesOfFreedom: Int) -> Double {
    precondition(degreesOfFreedom >= 1, "studentTQuantile975: needs at least 1 degree of freedom")
    let table: [Double] = [
        12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
        2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
        2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
    ]
    if degreesOfFreedom <= table.count { return table[degreesOfFreedom - 1] }
    let z = 1.959964
    let n = Double(degreesOfFreedom)
    let z3 = z * z * z
    let z5 = z3 * z * z
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
}

/// The least-squares slope of `y` against `x` (at least two distinct x values), or NaN.
public func leastSquaresSlope(x: [Double], y: [Double]) -> Double {
    precondition(x.count == y.count, "leastSquaresSlope: \(x.count) x values for \(y.count) y values")
    guard x.count >= 2 else { return .nan }
    let meanX = x.reduce(0, +) / Double(x.count)
    let meanY = y.reduce(0, +) / Double(y.count)
    var covariance = 0.0
    var varianceX = 0.0
    for (a, b) in zip(x, y) {
        covariance += (a - meanX) * (b - meanY)
        varianceX += (a - meanX) * (a - meanX)
    }
    return varianceX > 0 ? covariance / varianceX : .nan
}
