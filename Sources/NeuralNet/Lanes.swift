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
