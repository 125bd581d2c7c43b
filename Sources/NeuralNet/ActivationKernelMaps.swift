#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif
import Glibc

/// The closed-form infinite-width kernel maps of the activations that have one (ReLU, exact
/// GELU, erf), pair by pair, eight pairs at a time; `Activation.kernelMapFunctions` (Activations.swift)
/// says which activations have one and hands these to `InfiniteWidthKernel.applyActivation`.


/// For centred Gaussian pre-activations (u, v) with variances K11, K22 and covariance K12, a
/// nonlinearity phi maps the kernels to
/// `K' = E[phi(u) phi(v)]` and `Theta' = Theta * Kdot` with `Kdot = E[phi'(u) phi'(v)]`
/// (the derivative kernel; by Price's theorem Kdot = dK'/dK12 at fixed K11, K22).
/// Each map below works on eight pairs at a time (`KernelLanes`) and takes, besides K12, the
/// per-point quantities it needs, computed once per row and per column.

/// ReLU (the arc-cosine kernel of degree 1, Cho and Saul 2009), with `c = K12 / sqrt(K11 K22)`
/// clamped to [-1, 1] and `t = arccos c`:
/// `K' = sqrt(K11 K22) / (2 pi) * (sin t + (pi - t) c)` and `Kdot = (pi - t) / (2 pi)`.
/// Computed as `pi - t = arccos(-c)` (accurate when it is small) and `sin t = sqrt((1 - c)(1 + c))`,
/// so one arccos and one more square root per pair; `sqrt(K11 K22)` and `1 / sqrt(K11 K22)` come
/// from per-point roots. A c within 8 ulps of ±1 is taken as ±1: the two points are parallel to
/// working precision (a point with itself, or its multiple), and rounding must not make up an
/// angle of order sqrt(ulp), which would move Kdot by ~1e-8 relative. Where K11 K22 = 0, c = 0
/// (as neural-tangents does), which gives K' = 0 and Kdot = 1/4.
@_transparent
func reluKernelLanes(
    k12: KernelLanes, root1: KernelLanes, root2: KernelLanes, inverseRoot1: KernelLanes, inverseRoot2: KernelLanes
) -> (nngp: KernelLanes, derivative: KernelLanes) {
    let root = root1 * root2
    var c = k12 * inverseRoot1 * inverseRoot2
    c.replace(with: 0, where: root .== 0)
    let nearlyOne = 1 - 8 * Double.ulpOfOne
    c.replace(with: 1, where: c .> nearlyOne)
    c.replace(with: -1, where: c .< -nearlyOne)
    let piMinusT = piMinusArccosines(c)
    let sinT = squareRoots((1 - c) * (1 + c))
    let inverseTwoPi = 1 / (2 * Double.pi)
    let derivative = piMinusT * inverseTwoPi
    return (root * sinT * inverseTwoPi + derivative * k12, derivative)
}

/// Exact GELU, `phi(x) = x Phi(x)` (neural-tangents' `stax.Gelu`; NNGP from Tsuchida et al.,
/// arXiv:2002.08517). With `A = K11 + 1`, `B = K22 + 1`, `P = K11 K22`,
/// `delta = sqrt(A B - K12^2)` and `theta = arcsin(K12 / sqrt(A B))`:
/// `K' = K12 / 4 + ((K12^2 + P delta^2) / (A B delta) + K12 theta) / (2 pi)` and
/// `Kdot = dK'/dK12 = 1/4 + theta / (2 pi) + K12 / (2 pi delta) * (1 / delta^2 + (1 - P) / (A B) + 1)`
/// (derived from K' with d delta/dK12 = -K12/delta and d theta/dK12 = 1/delta; it matches
/// neural-tangents' expression). At K12 = 0 this gives E[phi(u)] E[phi(v)] with
/// E[u Phi(u)] = K11 / sqrt(2 pi (1 + K11)), as it must. Computed with
/// `rho = K12 / sqrt(A B)` and `delta = sqrt(A B) sqrt((1 - rho)(1 + rho))`.
@_transparent
func geluKernelLanes(
    k12: KernelLanes, k11: KernelLanes, k22: KernelLanes, root1: KernelLanes, root2: KernelLanes,
    inverseRoot1: KernelLanes, inverseRoot2: KernelLanes
) -> (nngp: KernelLanes, derivative: KernelLanes) {
    // root = sqrt(K + 1) per point.
    let rootAB = root1 * root2
    let inverseRootAB = inverseRoot1 * inverseRoot2
    let inverseAB = inverseRootAB * inverseRootAB
    var rho = k12 * inverseRootAB
    rho.replace(with: 1, where: rho .> 1)
    rho.replace(with: -1, where: rho .< -1)
    let theta = arcsines(rho)
    let delta = rootAB * squareRoots((1 - rho) * (1 + rho))
    let inverseDelta = 1 / delta
    let product = k11 * k22
    let inverseTwoPi = 1 / (2 * Double.pi)
    let k12Squared = k12 * k12
    let ratio = (k12Squared + product * (delta * delta)) * inverseAB * inverseDelta
    let nngp = 0.25 * k12 + (ratio + k12 * theta) * inverseTwoPi
    let bracket = inverseDelta * inverseDelta + (1 - product) * inverseAB + 1
    let derivative = 0.25 + theta * inverseTwoPi + k12 * inverseDelta * inverseTwoPi * bracket
    return (nngp, derivative)
}

/// erf, `phi(x) = erf(x)` (Williams 1997; neural-tangents' `stax.Erf(a=1, b=1, c=0)`). With the
/// per-point roots `sqrt(1 + 2 K11)`, `sqrt(1 + 2 K22)` and `rho = 2 K12 / sqrt((1 + 2 K11)(1 + 2 K22))`:
/// `K' = (2 / pi) arcsin(rho)` and
/// `Kdot = dK'/dK12 = (4 / pi) / sqrt((1 + 2 K11)(1 + 2 K22) - 4 K12^2)`, computed as
/// `(4 / pi) / (sqrt(1 + 2 K11) sqrt(1 + 2 K22) sqrt((1 - rho)(1 + rho)))`. Since |K12| <= sqrt(K11 K22),
/// |rho| < 1 strictly (1 + 2K > 2K), so Kdot is finite everywhere; rho is clamped only against rounding.
@_transparent
func erfKernelLanes(
    k12: KernelLanes, root1: KernelLanes, root2: KernelLanes, inverseRoot1: KernelLanes, inverseRoot2: KernelLanes
) -> (nngp: KernelLanes, derivative: KernelLanes) {
    let inverseRoot = inverseRoot1 * inverseRoot2
    var rho = 2 * k12 * inverseRoot
    rho.replace(with: 1, where: rho .> 1)
    rho.replace(with: -1, where: rho .< -1)
    let nngp = (2 / Double.pi) * arcsines(rho)
    let derivative = (4 / Double.pi) * inverseRoot / squareRoots((1 - rho) * (1 + rho))
    return (nngp, derivative)
}

/// One row of entries for a nonlinearity's map: `count` cross entries K12 (and Theta12) of one
/// point of the first set against consecutive points of the second, or, for a diagonal, `count`
/// points against themselves. Each point comes with its K(x, x) and the per-point value the map
/// precomputes (`root`: sqrt(K) for ReLU, sqrt(K + 1) for GELU, sqrt(1 + 2 K) for erf) and its inverse. The first
/// point's values are read at offset 0 for a cross row and entry by entry for a diagonal.
struct KernelMapRow {
    let nngp: UnsafeMutablePointer<Double>, ntk: UnsafeMutablePointer<Double>
    let k11: UnsafePointer<Double>, root1: UnsafePointer<Double>, inverseRoot1: UnsafePointer<Double>
    let k22: UnsafePointer<Double>, root2: UnsafePointer<Double>, inverseRoot2: UnsafePointer<Double>
    let count: Int
    let isDiagonal: Bool
}

/// ReLU's map over one row. Not inlined into its callers, so that the lane functions inline into
/// this small loop (Swift stops inlining, even `@inline(__always)`, into very large callers).
@inline(never)
func reluKernelRow(_ row: KernelMapRow) { mapRowFromRoots(row, reluKernelLanes) }

/// erf's map over one row (see `reluKernelRow`).
@inline(never)
func erfKernelRow(_ row: KernelMapRow) { mapRowFromRoots(row, erfKernelLanes) }

/// The loop of a map whose lanes need only K12 and the per-point roots (ReLU, erf), eight
/// entries at a time; `@_transparent`, so that each row function gets its own loop with the
/// lane function inlined.
@_transparent
func mapRowFromRoots(
    _ row: KernelMapRow,
    _ lanes: (_ k12: KernelLanes, _ root1: KernelLanes, _ root2: KernelLanes, _ inverseRoot1: KernelLanes,
              _ inverseRoot2: KernelLanes) -> (nngp: KernelLanes, derivative: KernelLanes)
) {
    let width = KernelLanes.scalarCount
    let (root1Broadcast, inverseRoot1Broadcast) = (KernelLanes(repeating: row.root1[0]), KernelLanes(repeating: row.inverseRoot1[0]))
    var j = 0
    while j < row.count {
        let count = min(width, row.count &- j)
        let (root1, inverseRoot1) = row.isDiagonal
            ? (loadLanes(row.root1 + j, count: count, padding: 1), loadLanes(row.inverseRoot1 + j, count: count, padding: 1))
            : (root1Broadcast, inverseRoot1Broadcast)
        let (mapped, derivative) = lanes(
            loadLanes(row.nngp + j, count: count, padding: 0),
            root1, loadLanes(row.root2 + j, count: count, padding: 1),
            inverseRoot1, loadLanes(row.inverseRoot2 + j, count: count, padding: 1))
        storeLanes(mapped, row.nngp + j, count: count)
        storeLanes(loadLanes(row.ntk + j, count: count, padding: 0) * derivative, row.ntk + j, count: count)
        j &+= width
    }
}

/// GELU's map over one row (see `reluKernelRow`).
@inline(never)
func geluKernelRow(_ row: KernelMapRow) {
    let width = KernelLanes.scalarCount
    let (k11Broadcast, root1Broadcast, inverseRoot1Broadcast) = (
        KernelLanes(repeating: row.k11[0]), KernelLanes(repeating: row.root1[0]), KernelLanes(repeating: row.inverseRoot1[0]))
    var j = 0
    while j < row.count {
        let count = min(width, row.count &- j)
        let (k11, root1, inverseRoot1) = row.isDiagonal
            ? (loadLanes(row.k11 + j, count: count, padding: 1), loadLanes(row.root1 + j, count: count, padding: 1),
               loadLanes(row.inverseRoot1 + j, count: count, padding: 1))
            : (k11Broadcast, root1Broadcast, inverseRoot1Broadcast)
        let (mapped, derivative) = geluKernelLanes(
            k12: loadLanes(row.nngp + j, count: count, padding: 0), k11: k11,
            k22: loadLanes(row.k22 + j, count: count, padding: 1),
            root1: root1, root2: loadLanes(row.root2 + j, count: count, padding: 1),
            inverseRoot1: inverseRoot1, inverseRoot2: loadLanes(row.inverseRoot2 + j, count: count, padding: 1))
        storeLanes(mapped, row.nngp + j, count: count)
        storeLanes(loadLanes(row.ntk + j, count: count, padding: 0) * derivative, row.ntk + j, count: count)
        j &+= width
    }
}

/// Maps the cross kernels (rows x columns) and both diagonals of `kernel` through a
/// nonlinearity's row function, with the per-point values `root(K)` computed once per point.
/// A diagonal goes through the same expression as the cross entries (K12 = K11 = K22), so a
/// point's entry with itself in a symmetric kernel equals its diagonal entry bit for bit.
func mapNonlinearity(
    _ kernel: inout InfiniteWidthKernel, root: (Double) -> Double, row mapRow: (KernelMapRow) -> Void
) {
    let (rows, columns) = (kernel.count1, kernel.count2)
    kernel.withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
        let roots1 = (0..<rows).map { root(nngpDiagonal1[$0]) }, inverseRoots1 = roots1.map { 1 / $0 }
        let roots2 = (0..<columns).map { root(nngpDiagonal2[$0]) }, inverseRoots2 = roots2.map { 1 / $0 }
        roots1.withUnsafeBufferPointer { roots1 in
        inverseRoots1.withUnsafeBufferPointer { inverseRoots1 in
        roots2.withUnsafeBufferPointer { roots2 in
        inverseRoots2.withUnsafeBufferPointer { inverseRoots2 in
            let (roots1, inverseRoots1) = (roots1.baseAddress!, inverseRoots1.baseAddress!)
            let (roots2, inverseRoots2) = (roots2.baseAddress!, inverseRoots2.baseAddress!)
            for i in 0..<rows {
                mapRow(KernelMapRow(
                    nngp: nngp + i &* columns, ntk: ntk + i &* columns,
                    k11: nngpDiagonal1 + i, root1: roots1 + i, inverseRoot1: inverseRoots1 + i,
                    k22: nngpDiagonal2, root2: roots2, inverseRoot2: inverseRoots2, count: columns, isDiagonal: false))
            }
            // Diagonals last: the cross rows above read them as they were.
            mapRow(KernelMapRow(
                nngp: nngpDiagonal1, ntk: ntkDiagonal1, k11: nngpDiagonal1, root1: roots1, inverseRoot1: inverseRoots1,
                k22: nngpDiagonal1, root2: roots1, inverseRoot2: inverseRoots1, count: rows, isDiagonal: true))
            mapRow(KernelMapRow(
                nngp: nngpDiagonal2, ntk: ntkDiagonal2, k11: nngpDiagonal2, root1: roots2, inverseRoot1: inverseRoots2,
                k22: nngpDiagonal2, root2: roots2, inverseRoot2: inverseRoots2, count: columns, isDiagonal: true))
        }
        }
        }
        }
    }
}
