import Glibc

/// Pointwise nonlinearities. Each has a forward over `count` contiguous scalars and a backward
/// that accumulates `dx += dy * f'(x)` (or writes `dx = dy * f'(x)` when `accumulate` is false),
/// reading the input x and (where cheaper) the output y.

/// The nonlinearities FiniteWidth knows, with the names configs use.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case relu, tanh, sigmoid
    /// x * Phi(x), with the exact Gaussian CDF (PyTorch's default `approximate='none'`).
    case gelu
    /// The tanh approximation of GELU (PyTorch's `approximate='tanh'`).
    case geluTanh = "gelu_tanh"
    /// x * sigmoid(x) (PyTorch's `nn.SiLU`, also called swish).
    case silu
}

@usableFromInline let geluTanhScale = (2 / Double.pi).squareRoot()
@usableFromInline let geluTanhCubic = 0.044715

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationForward<Scalar: BLASScalar>(
    _ activation: Activation, out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, count: Int
) {
    switch activation {
    case .relu:
        // Branch-free, a Lanes at a time (the signs of a layer's inputs are as good as random).
        let lanes = Scalar.Lanes.scalarCount
        var i = 0
        while i &+ lanes <= count {
            let x = loadLanes(input + i)
            storeLanes(Scalar.keepingWherePositive(x, x), out + i)
            i &+= lanes
        }
        while i < count {
            out[i] = input[i] > 0 ? input[i] : 0
            i &+= 1
        }
    case .tanh:
        for i in 0..<count { out[i] = Scalar.tanh(input[i]) }
    case .sigmoid:
        for i in 0..<count { out[i] = 1 / (1 + Scalar.exp(-input[i])) }
    case .gelu:
        let inverseSqrt2 = Scalar(1 / 2.0.squareRoot())
        for i in 0..<count { out[i] = input[i] * (1 + Scalar.erf(input[i] * inverseSqrt2)) / 2 }
    case .geluTanh:
        let (a, c) = (Scalar(geluTanhScale), Scalar(geluTanhCubic))
        for i in 0..<count {
            let x = input[i]
            out[i] = x * (1 + Scalar.tanh(a * (x + c * x * x * x))) / 2
        }
    case .silu:
        for i in 0..<count { out[i] = input[i] / (1 + Scalar.exp(-input[i])) }
    }
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationBackward<Scalar: BLASScalar>(
    _ activation: Activation, inputGradient: UnsafeMutablePointer<Scalar>, accumulate: Bool = true,
    outGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, output: UnsafePointer<Scalar>, count: Int
) {
    // ReLU writes when asked to; the others add into a buffer zeroed first.
    if !accumulate && activation != .relu { inputGradient.update(repeating: 0, count: count) }
    switch activation {
    case .relu:
        // PyTorch's convention: the derivative at 0 is 0. Branch-free, a Lanes at a time: adds 0
        // where x <= 0, which leaves dx as it was (but for the sign of a zero).
        let lanes = Scalar.Lanes.scalarCount
        var i = 0
        while i &+ lanes <= count {
            let passed = Scalar.keepingWherePositive(loadLanes(outGradient + i), loadLanes(input + i))
            storeLanes(accumulate ? loadLanes(inputGradient + i) + passed : passed, inputGradient + i)
            i &+= lanes
        }
        while i < count {
            let passed = input[i] > 0 ? outGradient[i] : 0
            inputGradient[i] = accumulate ? inputGradient[i] + passed : passed
            i &+= 1
        }
    case .tanh:
        for i in 0..<count { inputGradient[i] += outGradient[i] * (1 - output[i] * output[i]) }
    case .sigmoid:
        for i in 0..<count { inputGradient[i] += outGradient[i] * output[i] * (1 - output[i]) }
    case .gelu:
        // d/dx x Phi(x) = Phi(x) + x phi(x).
        let inverseSqrt2 = Scalar(1 / 2.0.squareRoot())
        let inverseSqrt2Pi = Scalar(1 / (2 * Double.pi).squareRoot())
        for i in 0..<count {
            let x = input[i]
            let cdf = (1 + Scalar.erf(x * inverseSqrt2)) / 2
            let density = inverseSqrt2Pi * Scalar.exp(-x * x / 2)
            inputGradient[i] += outGradient[i] * (cdf + x * density)
        }
    case .geluTanh:
        // With u = a (x + c x^3), t = tanh u: d/dx = (1 + t) / 2 + x (1 - t^2) a (1 + 3 c x^2) / 2.
        let (a, c) = (Scalar(geluTanhScale), Scalar(geluTanhCubic))
        for i in 0..<count {
            let x = input[i]
            let t = Scalar.tanh(a * (x + c * x * x * x))
            inputGradient[i] += outGradient[i] * ((1 + t) + x * (1 - t * t) * a * (1 + 3 * c * x * x)) / 2
        }
    case .silu:
        // With s = sigmoid(x): d/dx x s = s + x s (1 - s) = s (1 + x (1 - s)).
        for i in 0..<count {
            let x = input[i]
            let s = 1 / (1 + Scalar.exp(-x))
            inputGradient[i] += outGradient[i] * s * (1 + x * (1 - s))
        }
    }
}

extension Tape {
    /// Records a pointwise nonlinearity.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func activation(_ x: Variable<Scalar>, _ activation: Activation) -> Variable<Scalar> {
        let input = node(of: x, in: "activation")
        let node = nextNode(shape: input.value.shape, operation: .activation(input: x.index, activation))
        activationForward(activation, out: node.value.unsafeMutableBaseAddress(),
                          input: input.value.unsafeBaseAddress, count: input.value.count)
        node.requiresGradient = input.requiresGradient
        return recordedVariable()
    }

    func activationBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, activation: Activation) {
        guard input.requiresGradient else { return }
        let (inputGradient, accumulate) = input.gradientForContribution()
        activationBackward(activation, inputGradient: inputGradient, accumulate: accumulate,
                           outGradient: node.gradient.unsafeBaseAddress, input: input.value.unsafeBaseAddress,
                           output: node.value.unsafeBaseAddress, count: node.value.count)
    }
}

/// A layer that applies one pointwise nonlinearity and has no parameters.
public protocol PointwiseActivation<Scalar>: Layer {
    var activation: Activation { get }
}

extension PointwiseActivation {
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.tape.activation(x, activation) }
    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] { [] }
}

/// max(0, x).
public struct ReLU<Scalar: BLASScalar>: PointwiseActivation {
    public init() {}
    public var activation: Activation { .relu }
}

/// tanh(x).
public struct Tanh<Scalar: BLASScalar>: PointwiseActivation {
    public init() {}
    public var activation: Activation { .tanh }
}

/// 1 / (1 + exp(-x)).
public struct Sigmoid<Scalar: BLASScalar>: PointwiseActivation {
    public init() {}
    public var activation: Activation { .sigmoid }
}

/// x Phi(x), exact (`approximate: false`, PyTorch's default) or with the tanh approximation.
public struct GELU<Scalar: BLASScalar>: PointwiseActivation {
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    public var activation: Activation { approximate ? .geluTanh : .gelu }
}

/// x * sigmoid(x) (swish).
public struct SiLU<Scalar: BLASScalar>: PointwiseActivation {
    public init() {}
    public var activation: Activation { .silu }
}

/// Any of the nonlinearities, chosen at run time (as a config does).
public struct ActivationLayer<Scalar: BLASScalar>: PointwiseActivation {
    public let activation: Activation
    public init(_ activation: Activation) { self.activation = activation }
}

extension Variable {
    public func relu() -> Variable { tape.activation(self, .relu) }
    public func tanh() -> Variable { tape.activation(self, .tanh) }
    public func sigmoid() -> Variable { tape.activation(self, .sigmoid) }
    public func gelu(approximate: Bool = false) -> Variable { tape.activation(self, approximate ? .geluTanh : .gelu) }
    public func silu() -> Variable { tape.activation(self, .silu) }
}

// MARK: - Infinite-width kernel maps

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

/// One row of entries for a nonlinearity's map: `count` cross entries K12 (and Theta12) of one
/// point of the first set against consecutive points of the second, or, for a diagonal, `count`
/// points against themselves. Each point comes with its K(x, x) and the per-point value the map
/// precomputes (`root`: sqrt(K) for ReLU, sqrt(K + 1) for GELU) and its inverse. The first
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
func reluKernelRow(_ row: KernelMapRow) {
    let width = KernelLanes.scalarCount
    let (root1Broadcast, inverseRoot1Broadcast) = (KernelLanes(repeating: row.root1[0]), KernelLanes(repeating: row.inverseRoot1[0]))
    var j = 0
    while j < row.count {
        let count = min(width, row.count &- j)
        let (root1, inverseRoot1) = row.isDiagonal
            ? (loadLanes(row.root1 + j, count: count, padding: 1), loadLanes(row.inverseRoot1 + j, count: count, padding: 1))
            : (root1Broadcast, inverseRoot1Broadcast)
        let (mapped, derivative) = reluKernelLanes(
            k12: loadLanes(row.nngp + j, count: count, padding: 0),
            root1: root1, root2: loadLanes(row.root2 + j, count: count, padding: 1),
            inverseRoot1: inverseRoot1, inverseRoot2: loadLanes(row.inverseRoot2 + j, count: count, padding: 1))
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

extension Activation {
    /// The closed-form kernel map of this nonlinearity, as the per-point value its row function
    /// precomputes from K(x, x) and the row function itself; nil where none is known. The one
    /// place that says which activations have an analytic kernel map.
    var kernelMapFunctions: (root: (Double) -> Double, row: (KernelMapRow) -> Void)? {
        switch self {
        case .relu: ({ $0.squareRoot() }, reluKernelRow)
        case .gelu: ({ ($0 + 1).squareRoot() }, geluKernelRow)
        // E[phi(u) phi(v)] over Gaussian (u, v) has no closed form (neural-tangents approximates
        // sigmoid by a scaled erf, which is another function).
        case .tanh, .sigmoid, .geluTanh, .silu: nil
        }
    }

    /// Whether `InfiniteWidthKernel.applyActivation` has a closed-form map for this nonlinearity
    /// (ReLU and exact GELU).
    public var hasAnalyticKernelMap: Bool { kernelMapFunctions != nil }
}

extension InfiniteWidthKernel {
    /// Applies a pointwise nonlinearity's map, for the activations with `hasAnalyticKernelMap`:
    /// ReLU (arc-cosine kernel) and exact GELU.
    /// - Throws: `InfiniteWidthKernelError` for the others (no closed form for their Gaussian
    ///   expectations), or when the pre-activations are not centred Gaussian (the nonlinearity
    ///   does not follow a Dense layer or a LayerNorm after one).
    public mutating func applyActivation(_ activation: Activation) throws {
        let name = activation.layerName
        guard let (root, row) = activation.kernelMapFunctions else {
            throw InfiniteWidthKernelError(
                layer: name,
                reason: "E[phi(u) phi(v)] over Gaussian (u, v) has no closed form for \(name) "
                    + "(neural-tangents approximates sigmoid by a scaled erf, which is another function)")
        }
        guard hasCentredGaussianUnits else {
            throw InfiniteWidthKernelError(
                layer: "\(name) after \(previousLayer)",
                reason: "its map needs centred Gaussian pre-activations, the outputs of a Dense layer "
                    + "(or of a LayerNorm after one)")
        }
        mapNonlinearity(&self, root: root, row: row)
        hasCentredGaussianUnits = false
        layers.append(name)
    }
}

extension Activation {
    /// The layer's name in messages: "ReLU", "Tanh", "Sigmoid", "GELU", "GELU(approximate: tanh)", "SiLU".
    public var layerName: String {
        switch self {
        case .relu: "ReLU"
        case .tanh: "Tanh"
        case .sigmoid: "Sigmoid"
        case .gelu: "GELU"
        case .geluTanh: "GELU(approximate: tanh)"
        case .silu: "SiLU"
        }
    }
}

extension PointwiseActivation {
    /// `InfiniteWidthKernel.applyActivation` for this layer's nonlinearity.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        try kernel.applyActivation(activation)
    }
}
