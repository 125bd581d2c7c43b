import CKernels

extension BLASScalar {
    /// How CKernels' loops read a buffer of this type (the per-element loops of a training step
    /// are C, built for the widest vectors the CPU has: see CKernels.h).
    @inline(__always)
    static var kernelPrecision: finitewidth_precision {
        if Self.self == Double.self { return FINITEWIDTH_FLOAT64 }
        precondition(Self.self == Float.self, "CKernels' loops take Float or Double, not \(Self.self)")
        return FINITEWIDTH_FLOAT32
    }
}
