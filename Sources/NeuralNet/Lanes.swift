/// Loads and stores of `Scalar.Lanes` (8 Doubles or 16 Floats) for the vectorised kernels.
///
/// The kernels walk their buffers a `Lanes` at a time and finish the last `count % lanes`
/// elements one by one with the same operations in the same order, so an element's result does
/// not depend on where it falls. They are generic and `@_specialize`d for Float and Double: the
/// specialised bodies use packed instructions (SSE2 on x86-64, the baseline Swift compiles for).

@_transparent
func loadLanes<Scalar: BLASScalar>(_ source: UnsafePointer<Scalar>) -> Scalar.Lanes {
    UnsafeRawPointer(source).loadUnaligned(as: Scalar.Lanes.self)
}

@_transparent
func loadLanes<Scalar: BLASScalar>(_ source: UnsafeMutablePointer<Scalar>) -> Scalar.Lanes {
    UnsafeRawPointer(source).loadUnaligned(as: Scalar.Lanes.self)
}

@_transparent
func storeLanes<Scalar: BLASScalar>(_ lanes: Scalar.Lanes, _ target: UnsafeMutablePointer<Scalar>) {
    UnsafeMutableRawPointer(target).storeBytes(of: lanes, as: Scalar.Lanes.self)
}

/// The sum of `(x[j] - mu)^2` over `count` scalars, a `Lanes` at a time (8 or 16 partial sums,
/// added at the end: a sequential sum is latency-bound), for RMSNorm's and BatchNorm's loops.
@inline(__always)
func laneSumOfSquaredDeviations<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, count: Int, from mu: Scalar) -> Scalar {
    let lanes = Scalar.Lanes.scalarCount
    var partial = Scalar.Lanes()
    var j = 0
    while j &+ lanes <= count {
        let d = loadLanes(x + j) - mu
        partial += d * d
        j &+= lanes
    }
    var total = partial.sum()
    while j < count {
        let d = x[j] - mu
        total += d * d
        j &+= 1
    }
    return total
}

/// `dy * gamma` at `j`, a `Lanes` or one scalar, or `dy` without the affine part. A function
/// rather than `weight.map { ... }`, whose closure the optimizer left as a call per use.
@inline(__always)
func scaledLanes<Scalar: BLASScalar>(_ dy: UnsafePointer<Scalar>, by weight: UnsafePointer<Scalar>?, at j: Int) -> Scalar.Lanes {
    if let weight { return loadLanes(dy + j) * loadLanes(weight + j) }
    return loadLanes(dy + j)
}

@inline(__always)
func scaledScalar<Scalar: BLASScalar>(_ dy: UnsafePointer<Scalar>, by weight: UnsafePointer<Scalar>?, at j: Int) -> Scalar {
    if let weight { return dy[j] * weight[j] }
    return dy[j]
}
