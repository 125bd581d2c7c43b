/// Arithmetic on ranges that stays finite for every finite input, where the plain formula's
/// intermediate `high - low` overflows (a range from -1e308 to 1e308). Each gives the plain
/// formula's bits whenever that is finite, so ordinary ranges are computed exactly as before.

/// `low + (high - low) * fraction`, or in weights of the two ends when that overflows.
public func interpolate(from low: Double, to high: Double, fraction: Double) -> Double {
    let direct = low + (high - low) * fraction
    return direct.isFinite ? direct : low * (1 - fraction) + high * fraction
}

/// The `index`-th of `steps` equal steps from `low` to `high`: `low + (high - low) * index / steps`
/// (evaluated in that order), or in weights of the two ends when that overflows.
public func interpolate(from low: Double, to high: Double, step index: Int, of steps: Int) -> Double {
    let direct = low + (high - low) * Double(index) / Double(steps)
    return direct.isFinite ? direct : interpolate(from: low, to: high, fraction: Double(index) / Double(steps))
}

/// Halfway between `a` and `b`.
public func midpoint(_ a: Double, _ b: Double) -> Double {
    let direct = (a + b) / 2
    return direct.isFinite ? direct : a / 2 + b / 2
}

/// `(value - low) / (high - low)`, in halves when a difference overflows.
public func fractionAlong(_ value: Double, from low: Double, to high: Double) -> Double {
    let direct = (value - low) / (high - low)
    return direct.isFinite ? direct : (value / 2 - low / 2) / (high / 2 - low / 2)
}

/// `value` clamped to the finite Doubles (infinities become ±1.8e308; NaN stays NaN).
public func clampedToFinite(_ value: Double) -> Double {
    min(max(value, -.greatestFiniteMagnitude), .greatestFiniteMagnitude)
}
