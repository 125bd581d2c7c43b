import CKernels
import Glibc

/// The infinite-width kernel map of a pointwise nonlinearity without a closed form (tanh, sigmoid,
/// SiLU, GELU with the tanh approximation, functions of your own), by two-dimensional quadrature
/// of the Gaussian expectations, as neural-tangents' `stax.ElementwiseNumerical`:
/// `K' = E[phi(u) phi(v)]` and `Kdot = E[phi'(u) phi'(v)]`, `Theta' = Theta * Kdot`, for
/// `(u, v) ~ N(0, [[K11, K12], [K12, K22]])`.
///
/// Write `u = a z1`, `v = b (c z1 + s z2)` with `a = sqrt(K11)`, `b = sqrt(K22)`,
/// `c = K12 / (a b)`, `s = sqrt(1 - c^2)` and z1, z2 independent standard normals. Then
/// `E[f(u) g(v)] = sum_i sum_j w_i w_j f(a z_i) g(b (c z_i + s z_j))` over the nodes of a 1-D rule.
///
/// The rule is the trapezoidal rule on the Gaussian density, not Gauss-Hermite: nodes equally
/// spaced on [-L, L] (L = 8.5 standard deviations; beyond it lies 2e-17 of the mass), weights
/// `h * exp(-z^2 / 2) / sqrt(2 pi)`, and in 2-D only the node pairs inside the disc of radius L.
/// For an integrand analytic in a strip of half-width d (in z) the trapezoidal rule converges as
/// `exp(-2 pi d / h)` (Trefethen and Weideman, SIAM Review 2014); tanh(sqrt(q) z) has poles at
/// `d = pi / (2 sqrt(q))`, so the error is about `exp(-pi^2 / (h sqrt(q)))`. Gauss-Hermite spends
/// its nodes out to |z| ~ sqrt(4n), where the weight is negligible, and near 0 has spacing
/// ~ pi / sqrt(n): at pre-activation variance 10 its error for tanh is 1e-5 with 200 nodes a
/// side, where this rule with 160 is below 1e-9 (docs/kernels.md has the measurements).
public struct GaussianQuadrature: Sendable {
    /// Nodes per axis by default: errors below 1e-9 for tanh at
    /// variances up to 10; see the type's documentation for larger ones.
    public static let defaultPointsPerAxis = 160
    /// How far the nodes reach, in standard deviations.
    public static let range = 8.5
    /// The rule with `defaultPointsPerAxis`, built once.
    public static let standard = GaussianQuadrature()

    /// Nodes per axis.
    public let pointsPerAxis: Int
    /// The 1-D nodes z_i (ascending, symmetric about 0) and weights w_i (summing to 1 - 2e-17).
    public let nodes: [Double], weights: [Double]
    /// For outer node i, the inner nodes j with z_i^2 + z_j^2 <= L^2: `innerStart[i]..<pointsPerAxis - innerStart[i]`.
    let innerStart: [Int]
    /// For outer node i, the sum of the inner weights w_j over its range: the inner sum where the
    /// two points are parallel (|c| = 1), when phi(v) does not depend on j.
    let innerWeightSums: [Double]
    /// The number of node pairs in the disc: how many function values one entry costs.
    public let pairCount: Int

    /// - Parameter pointsPerAxis: nodes per axis (at least 8); the cost of one kernel entry grows
    ///   as its square (0.79 n^2 evaluations of phi and phi').
    public init(pointsPerAxis: Int = GaussianQuadrature.defaultPointsPerAxis) {
        precondition(pointsPerAxis >= 8, "GaussianQuadrature: pointsPerAxis must be at least 8, got \(pointsPerAxis)")
        self.pointsPerAxis = pointsPerAxis
        let range = Self.range
        let spacing = 2 * range / Double(pointsPerAxis - 1)
        let nodes = (0..<pointsPerAxis).map { -range + Double($0) * spacing }
        let inverseSqrtTwoPi = 1 / (2 * Double.pi).squareRoot()
        let weights = nodes.map { spacing * inverseSqrtTwoPi * Glibc.exp(-$0 * $0 / 2) }
        // A little slack, so that rounding does not drop the corner pairs of the axes.
        let radiusSquared = range * range * (1 + 1e-12)
        let innerStart = nodes.map { z in
            let reach = (radiusSquared - z * z).squareRoot()
            return nodes.firstIndex { $0 >= -reach } ?? 0
        }
        (self.nodes, self.weights, self.innerStart) = (nodes, weights, innerStart)
        pairCount = innerStart.reduce(0) { $0 + pointsPerAxis - 2 * $1 }
        innerWeightSums = innerStart.map { weights[$0..<(pointsPerAxis - $0)].reduce(0, +) }
    }
}

/// A pointwise function and its derivative, evaluated on contiguous buffers: what the numerical
/// kernel map needs of a nonlinearity. One call evaluates thousands of points (every node pair
/// of one kernel entry), so the closure's cost is paid once per entry, not per point.
///
/// For a nonlinearity of your own (say a `CustomOperation` softplus), give its value and
/// derivative and use it in your layer's `kernelMap(_:)`:
/// ```swift
/// let softplus = ElementwiseFunction(name: "Softplus") { x, values, derivatives, count in
///     for i in 0..<count {
///         values[i] = max(x[i], 0) + log1p(exp(-abs(x[i])))
///         derivatives[i] = 1 / (1 + exp(-x[i]))
///     }
/// }
/// func kernelMap(_ kernel: inout InfiniteWidthKernel) throws { try kernel.applyNumerical(softplus) }
/// ```
/// The closure may be called from several threads at once (tiles are mapped in parallel).
public struct ElementwiseFunction: Sendable {
    /// The layer's name in messages.
    public let name: String
    /// Writes `values[i] = phi(x[i])` and `derivatives[i] = phi'(x[i])` for i in 0..<count.
    public let evaluate: @Sendable (_ x: UnsafePointer<Double>, _ values: UnsafeMutablePointer<Double>,
                                    _ derivatives: UnsafeMutablePointer<Double>, _ count: Int) -> Void

    public init(
        name: String,
        evaluate: @escaping @Sendable (_ x: UnsafePointer<Double>, _ values: UnsafeMutablePointer<Double>,
                                       _ derivatives: UnsafeMutablePointer<Double>, _ count: Int) -> Void
    ) {
        self.name = name
        self.evaluate = evaluate
    }

    /// A built-in nonlinearity, through the same forward and backward loops training uses; tanh,
    /// sigmoid and SiLU through CKernels' vector loops instead (within 4 ulp, and 4-8x
    /// faster), as the quadrature evaluates them ~20,000 times an entry.
    public init(_ activation: Activation) {
        name = activation.layerName
        let vectorLoop: finitewidth_quadrature_function? = switch activation {
        case .tanh: FINITEWIDTH_QUADRATURE_TANH
        case .sigmoid: FINITEWIDTH_QUADRATURE_SIGMOID
        case .silu: FINITEWIDTH_QUADRATURE_SILU
        case .relu, .gelu, .geluTanh, .erf: nil
        }
        if let vectorLoop {
            evaluate = { x, values, derivatives, count in
                finitewidth_quadrature_values_and_derivatives(FINITEWIDTH_VECTORS_WIDEST, vectorLoop, values, derivatives, x, count)
            }
            return
        }
        evaluate = { x, values, derivatives, count in
            activationForward(activation, out: values, input: x, count: count)
            // phi'(x) as the backward of dy = 1, a chunk at a time against a buffer of ones.
            derivatives.update(repeating: 0, count: count)
            onesForDerivatives.withUnsafeBufferPointer { ones in
                var start = 0
                while start < count {
                    let chunk = min(ones.count, count - start)
                    activationBackward(activation, inputGradient: derivatives + start, accumulate: true,
                                       outGradient: ones.baseAddress!, input: x + start, output: values + start, count: chunk)
                    start += chunk
                }
            }
        }
    }
}

private let onesForDerivatives = [Double](repeating: 1, count: 1024)

extension InfiniteWidthKernel {
    /// Applies a pointwise nonlinearity's map by quadrature (`GaussianQuadrature`): for
    /// nonlinearities without a closed form, built-in (`applyActivation` calls this for them) or
    /// your own.
    /// - Parameters:
    ///   - function: phi and phi' on buffers.
    ///   - quadrature: the rule; `GaussianQuadrature.standard` (160 nodes a side) by default.
    /// - Throws: `InfiniteWidthKernelError` when the pre-activations are not centred Gaussian (the
    ///   nonlinearity does not follow a Dense layer or a LayerNorm after one).
    public mutating func applyNumerical(_ function: ElementwiseFunction, quadrature: GaussianQuadrature = .standard) throws {
        try requireCentredGaussianUnits(before: function.name)
        mapNumerically(&self, function, quadrature)
        hasCentredGaussianUnits = false
        layers.append(function.name)
    }
}

/// Maps every cross entry and both diagonals through `function` by `quadrature`. Each entry goes
/// through `numericalKernelEntry`, the diagonals too (with K12 = K11 = K22), so a point's entry
/// with itself in a symmetric kernel equals its diagonal entry bit for bit.
func mapNumerically(_ kernel: inout InfiniteWidthKernel, _ function: ElementwiseFunction, _ quadrature: GaussianQuadrature) {
    let (rows, columns, n) = (kernel.count1, kernel.count2, quadrature.pointsPerAxis)
    // Scratch: the node-pair arguments and their values, and the outer point's values at its n nodes.
    var scratch = [Double](repeating: 0, count: 3 * quadrature.pairCount + 3 * n)
    kernel.withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
        scratch.withUnsafeMutableBufferPointer { scratch in
            let workspace = NumericalKernelWorkspace(base: scratch.baseAddress!, pairs: quadrature.pairCount, points: n)
            quadrature.nodes.withUnsafeBufferPointer { nodes in
            quadrature.weights.withUnsafeBufferPointer { weights in
            quadrature.innerStart.withUnsafeBufferPointer { innerStart in
            quadrature.innerWeightSums.withUnsafeBufferPointer { innerWeightSums in
                let rule = (nodes: nodes.baseAddress!, weights: weights.baseAddress!, innerStart: innerStart.baseAddress!,
                            innerWeightSums: innerWeightSums.baseAddress!, count: n)
                for i in 0..<rows {
                    let k11 = nngpDiagonal1[i]
                    workspace.evaluateOuter(function, rule, root: k11.squareRoot())
                    for j in 0..<columns {
                        let (mapped, derivative) = numericalKernelEntry(
                            k11: k11, k22: nngpDiagonal2[j], k12: nngp[i &* columns &+ j], function, rule, workspace)
                        nngp[i &* columns &+ j] = mapped
                        ntk[i &* columns &+ j] *= derivative
                    }
                }
                // Diagonals last: the cross rows above read them as they were.
                for (nngpDiagonal, ntkDiagonal, count) in [(nngpDiagonal1, ntkDiagonal1, rows), (nngpDiagonal2, ntkDiagonal2, columns)] {
                    for i in 0..<count {
                        let k = nngpDiagonal[i]
                        workspace.evaluateOuter(function, rule, root: k.squareRoot())
                        let (mapped, derivative) = numericalKernelEntry(k11: k, k22: k, k12: k, function, rule, workspace)
                        nngpDiagonal[i] = mapped
                        ntkDiagonal[i] *= derivative
                    }
                }
            }
            }
            }
            }
        }
    }
}

typealias QuadratureRule = (nodes: UnsafePointer<Double>, weights: UnsafePointer<Double>, innerStart: UnsafePointer<Int>,
                            innerWeightSums: UnsafePointer<Double>, count: Int)

/// Where one thread's map keeps its intermediate values: node-pair arguments, phi and phi' at
/// them (`pairs` each), and the outer point's arguments, phi and phi' (`points` each).
struct NumericalKernelWorkspace {
    let arguments: UnsafeMutablePointer<Double>, values: UnsafeMutablePointer<Double>, derivatives: UnsafeMutablePointer<Double>
    let outerArguments: UnsafeMutablePointer<Double>, outerValues: UnsafeMutablePointer<Double>
    let outerDerivatives: UnsafeMutablePointer<Double>

    init(base: UnsafeMutablePointer<Double>, pairs: Int, points: Int) {
        (arguments, values, derivatives) = (base, base + pairs, base + 2 * pairs)
        let outer = base + 3 * pairs
        (outerArguments, outerValues, outerDerivatives) = (outer, outer + points, outer + 2 * points)
    }

    /// phi(a z_i) and phi'(a z_i) for the first point of an entry, a = sqrt(K11).
    func evaluateOuter(_ function: ElementwiseFunction, _ rule: QuadratureRule, root: Double) {
        for i in 0..<rule.count { outerArguments[i] = root * rule.nodes[i] }
        function.evaluate(outerArguments, outerValues, outerDerivatives, rule.count)
    }
}

/// `(E[phi(u) phi(v)], E[phi'(u) phi'(v)])` for one entry, with phi and phi' at the first point's
/// nodes already in the workspace. A correlation within 8 ulps of +-1 is taken as +-1 (the two
/// points are parallel to working precision; see `reluKernelLanes`); where K11 K22 = 0, c = 0.
@inline(__always)
func numericalKernelEntry(
    k11: Double, k22: Double, k12: Double, _ function: ElementwiseFunction, _ rule: QuadratureRule,
    _ workspace: NumericalKernelWorkspace
) -> (nngp: Double, derivative: Double) {
    let b = k22.squareRoot()
    let rootProduct = k11.squareRoot() * b
    var c = rootProduct > 0 ? k12 / rootProduct : 0
    let nearlyOne = 1 - 8 * Double.ulpOfOne
    if c > nearlyOne { c = 1 } else if c < -nearlyOne { c = -1 }
    let (bc, bs) = (b * c, b * ((1 - c) * (1 + c)).squareRoot())
    let n = rule.count
    if bs == 0 {
        // Parallel points (a point with itself: every diagonal entry): v = b c z_i for every j,
        // so n values instead of n^2.
        for i in 0..<n { workspace.arguments[i] = bc * rule.nodes[i] }
        function.evaluate(workspace.arguments, workspace.values, workspace.derivatives, n)
        var (nngp, derivative) = (0.0, 0.0)
        for i in 0..<n {
            let weight = rule.weights[i] * rule.innerWeightSums[i]
            nngp += weight * workspace.outerValues[i] * workspace.values[i]
            derivative += weight * workspace.outerDerivatives[i] * workspace.derivatives[i]
        }
        return (nngp, derivative)
    }
    // Arguments b (c z_i + s z_j), pair by pair, outer node by outer node.
    var pair = 0
    for i in 0..<n {
        let start = rule.innerStart[i]
        let shift = bc * rule.nodes[i]
        for j in start..<(n &- start) {
            workspace.arguments[pair] = shift + bs * rule.nodes[j]
            pair &+= 1
        }
    }
    function.evaluate(workspace.arguments, workspace.values, workspace.derivatives, pair)
    var (nngp, derivative) = (0.0, 0.0)
    pair = 0
    for i in 0..<n {
        let start = rule.innerStart[i]
        var (innerValue, innerDerivative) = (0.0, 0.0)
        for j in start..<(n &- start) {
            innerValue += rule.weights[j] * workspace.values[pair]
            innerDerivative += rule.weights[j] * workspace.derivatives[pair]
            pair &+= 1
        }
        nngp += rule.weights[i] * workspace.outerValues[i] * innerValue
        derivative += rule.weights[i] * workspace.outerDerivatives[i] * innerDerivative
    }
    return (nngp, derivative)
}
