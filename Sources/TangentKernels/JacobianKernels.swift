import Dispatch
import NeuralNet

/// The infinite-width Jacobian kernels of a network with one output (Kim & Yang, ICML 2024,
/// arXiv:2312.03386): the kernels of the joint outputs `g(x) = (f(x), df/dx_1, ..., df/dx_d)`.
///
/// For a pair of points the block is, with k the NTK (or the NNGP kernel),
/// ```
/// [[ k(x, x'),       d_x' k(x, x')ᵀ       ],
///  [ d_x k(x, x'),   d_x d_x'ᵀ k(x, x')  ]]      (1 + d) x (1 + d)
/// ```
/// and the whole matrix is point-major: rows `f(x1_1), d_1 f(x1_1), ..., d_d f(x1_1), f(x1_2), ...`,
/// columns likewise over x2. The NTK version governs gradient flow on a loss that also penalises
/// the input Jacobian; the NNGP version is the covariance of (f, df/dx) over initialisations.
/// docs/jacobian-kernels.md derives the recursion.
public struct InfiniteWidthJacobianKernel: Sendable {
    /// The Jacobian NTK, `N1 (1 + d)` x `N2 (1 + d)`, point-major.
    public let ntk: Tensor<Double>
    /// The Jacobian NNGP kernel, the same shape.
    public let nngp: Tensor<Double>
    /// d, the number of input features.
    public let inputDimension: Int

    /// The number of points in the first set.
    public var count1: Int { ntk.shape[0] / (1 + inputDimension) }
    /// The number of points in the second set.
    public var count2: Int { ntk.shape[1] / (1 + inputDimension) }

    /// The `(1 + d)` x `(1 + d)` block of the Jacobian NTK (or NNGP kernel) of point `i` of x1
    /// and point `j` of x2.
    public func block(_ i: Int, _ j: Int, of kind: InfiniteWidthKernelKind = .ntk) -> Tensor<Double> {
        let size = 1 + inputDimension
        precondition(i >= 0 && i < count1 && j >= 0 && j < count2,
                     "InfiniteWidthJacobianKernel.block: points (\(i), \(j)) outside \(count1) x \(count2)")
        let matrix = kind == .ntk ? ntk : nngp
        let columns = matrix.shape[1]
        return Tensor(shape: [size, size], scalars: (0..<size).flatMap { r in
            (0..<size).map { s in matrix.unsafeBaseAddress[(i * size + r) * columns + j * size + s] }
        })
    }
}

/// A network whose Jacobian kernels are not implemented, or do not exist; the message says why
/// and what is supported.
public struct JacobianKernelError: Error, CustomStringConvertible, Equatable {
    /// The layer, as a type name or a description.
    public let layer: String
    /// Why there is no Jacobian kernel.
    public let reason: String

    public init(layer: String, reason: String) {
        self.layer = layer
        self.reason = reason
    }

    /// What the analytic Jacobian kernels support.
    public static let supported = "Dense in the NTK parameterization (Dense(ntk:...)), "
        + Activation.allCases.filter { JacobianKernelActivationMap.of($0) != nil }.map(\.layerName).joined(separator: " and ")
        + " after a Dense (or a LayerNorm that follows one), LayerNorm without affine parameters after a Dense, "
        + "RMSNorm without affine parameters, Residual blocks whose inner block ends with a Dense, and Sequential "
        + "compositions of these, with one output"

    public var description: String {
        "\(layer) has no analytic Jacobian kernel: \(reason). Supported: \(Self.supported)."
    }

    /// ReLU's refusal: the reason is mathematical, not a missing implementation.
    static let relu = JacobianKernelError(
        layer: "ReLU",
        reason: "the Jacobian NTK of a ReLU network does not exist in the infinite-width limit: phi'' is a Dirac "
            + "delta, so E[phi''(u) phi''(v)] diverges as x' -> x and the diagonal blocks d_x d_x'ᵀ Theta(x, x) are "
            + "infinite (Kim & Yang 2024); use a smooth activation (ReLU networks can still train with a Jacobian penalty)")
}

extension Layer {
    /// The infinite-width Jacobian NTK and Jacobian NNGP kernel of this network between the rows
    /// of `x1` and those of `x2` (see `InfiniteWidthJacobianKernel`), in the NTK parameterization.
    /// Computed in Float64, pair by pair; the layers' widths and parameter values do not matter.
    /// - Parameters:
    ///   - x1: N1 points, one a row, d features.
    ///   - x2: N2 points with the same features; nil means x1 (then the result is exactly
    ///     symmetric: each block below the diagonal is the transpose of one above).
    ///   - threads: rows of points are spread over this many threads.
    /// - Throws: `JacobianKernelError` naming the first layer without a Jacobian kernel (ReLU's
    ///   does not exist), before any work on the points.
    public func infiniteWidthJacobianKernel(
        _ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil, threads: Int = BLASRuntime.threadCount
    ) throws -> InfiniteWidthJacobianKernel {
        precondition(x1.rank == 2 && x1.shape[1] > 0, "infiniteWidthJacobianKernel: x1 must be a matrix [points, features], got \(x1.shape)")
        if let x2 {
            precondition(x2.rank == 2 && x2.shape[1] == x1.shape[1],
                         "infiniteWidthJacobianKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape); the features must agree")
        }
        let steps = try JacobianKernelPlan.steps(of: self)
        let first = x1.converted(to: Double.self), second = (x2 ?? x1).converted(to: Double.self)
        let symmetric = x2 == nil
        let (rows, columns, features) = (first.shape[0], second.shape[0], first.shape[1])
        let size = 1 + features
        var ntk = Tensor<Double>(shape: [rows * size, columns * size], repeating: 0)
        var nngp = Tensor<Double>(shape: [rows * size, columns * size], repeating: 0)
        nonisolated(unsafe) let (ntkOutput, nngpOutput) = (ntk.unsafeMutableBaseAddress(), nngp.unsafeMutableBaseAddress())
        nonisolated(unsafe) let (points1, points2) = (first.unsafeBaseAddress, second.unsafeBaseAddress)
        let width = columns * size
        let workers = max(1, min(threads, rows))
        // Each worker writes the blocks of its own rows of points (and, without x2, their
        // mirrors, which no other row writes), so the outputs are shared without a lock.
        let work: @Sendable (Int) -> Void = { worker in
            var pair = JacobianKernelPair(features: features)
            for i in stride(from: worker, to: rows, by: workers) {
                for j in 0..<(symmetric ? i + 1 : columns) {
                    pair.start(points1 + i * features, points2 + j * features)
                    for step in steps { pair.apply(step) }
                    for r in 0..<size {
                        for s in 0..<size {
                            ntkOutput[(i * size + r) * width + j * size + s] = pair.ntk[r * size + s]
                            nngpOutput[(i * size + r) * width + j * size + s] = pair.nngp[r * size + s]
                            if symmetric && j < i {
                                ntkOutput[(j * size + s) * width + i * size + r] = pair.ntk[r * size + s]
                                nngpOutput[(j * size + s) * width + i * size + r] = pair.nngp[r * size + s]
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime((first, second, ntk, nngp)) {
            if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
        }
        return InfiniteWidthJacobianKernel(ntk: ntk, nngp: nngp, inputDimension: features)
    }
}

// MARK: - The network as steps

/// One layer's map on the kernels of a pair of points and their derivatives.
indirect enum JacobianKernelStep: Sendable {
    /// NTK-parameterization Dense: `K' = sigma_w^2 K + sigma_b^2`, `Theta' = K' + sigma_w^2 Theta`.
    case dense(weightVariance: Double, biasVariance: Double)
    /// A nonlinearity: `K' = E[phi(u) phi(v)]`, `Theta' = Theta E[phi'(u) phi'(v)]`.
    case activation(JacobianKernelActivationMap)
    /// LayerNorm (on centred Gaussian units) or RMSNorm, without affine parameters: every unit
    /// divided by `sqrt(K(x, x) + eps)`.
    case normalisation(epsilon: Double)
    /// `K' = K + K_inner`, `Theta' = Theta + Theta_inner`.
    case residual([JacobianKernelStep])
}

/// The steps of a network, checked as `InfiniteWidthKernel`'s maps check them: a nonlinearity and
/// a LayerNorm need centred Gaussian units (after a Dense), a Residual's inner block must end
/// with a Dense.
struct JacobianKernelPlan {
    var steps: [JacobianKernelStep] = []
    var hasCentredGaussianUnits = false
    /// Whether the output so far is a Dense layer's, normalised at most (a Residual's inner block must end so).
    var outputIsDense = false
    var layers: [String] = []
    var outputs = 1

    var previousLayer: String { layers.last ?? "the inputs" }

    mutating func append<Scalar: BLASScalar>(_ layer: any Layer<Scalar>) throws {
        switch layer {
        case let sequential as Sequential<Scalar>:
            for inner in sequential.layers { try append(inner) }
        case let dense as Dense<Scalar>:
            guard dense.parameterization == .ntk else {
                throw JacobianKernelError(
                    layer: "Dense(\(dense.inputSize), \(dense.outputSize)) in the standard parameterization",
                    reason: "its NTK has no width-independent limit; build the layer with Dense(ntk:_:weightStandardDeviation:biasStandardDeviation:)")
            }
            let biasStandardDeviation = dense.bias == nil ? 0 : dense.biasStandardDeviation
            steps.append(.dense(weightVariance: dense.weightStandardDeviation * dense.weightStandardDeviation,
                                biasVariance: biasStandardDeviation * biasStandardDeviation))
            (hasCentredGaussianUnits, outputIsDense, outputs) = (true, true, dense.outputSize)
            layers.append("Dense")
        case let activation as any PointwiseActivation<Scalar>:
            let name = activation.activation.layerName
            if activation.activation == .relu { throw JacobianKernelError.relu }
            guard let map = JacobianKernelActivationMap.of(activation.activation) else {
                throw JacobianKernelError(layer: name, reason: "its Gaussian expectations and their derivatives are not implemented")
            }
            guard hasCentredGaussianUnits else {
                throw JacobianKernelError(
                    layer: "\(name) after \(previousLayer)",
                    reason: "its map needs centred Gaussian pre-activations, the outputs of a Dense layer (or of a LayerNorm after one)")
            }
            steps.append(.activation(map))
            (hasCentredGaussianUnits, outputIsDense) = (false, false)
            layers.append(name)
        case let norm as LayerNorm<Scalar>:
            guard !norm.isAffine else {
                throw JacobianKernelError(layer: "LayerNorm(\(norm.width), affine: true)",
                                          reason: "its NTK has no layer-by-layer limit (see InfiniteWidthKernelError); use LayerNorm(_:affine: false)")
            }
            guard hasCentredGaussianUnits else {
                throw JacobianKernelError(
                    layer: "LayerNorm after \(previousLayer)",
                    reason: "its limit divides by sqrt(K(x, x)) only when the units it normalises are centred Gaussian, as a Dense layer's outputs are")
            }
            steps.append(.normalisation(epsilon: Double(norm.epsilon)))
            layers.append("LayerNorm")
        case let norm as RMSNorm<Scalar>:
            guard !norm.isAffine else {
                throw JacobianKernelError(layer: "RMSNorm(\(norm.width), affine: true)",
                                          reason: "its NTK has no layer-by-layer limit (see InfiniteWidthKernelError); use RMSNorm(_:affine: false)")
            }
            steps.append(.normalisation(epsilon: Double(norm.epsilon)))
            layers.append("RMSNorm")
        case let residual as Residual<Scalar>:
            var inner = JacobianKernelPlan(
                hasCentredGaussianUnits: hasCentredGaussianUnits, outputIsDense: false, layers: [previousLayer])
            try inner.append(residual.inner)
            let name = "Residual(\(inner.layers.dropFirst().joined(separator: ", ")))"
            guard inner.outputIsDense else {
                throw JacobianKernelError(
                    layer: name,
                    reason: "its map adds the inner block's kernels to the skip path's, which holds only when the inner block "
                        + "ends with a Dense layer (optionally followed by a LayerNorm or an RMSNorm without affine parameters)")
            }
            steps.append(.residual(inner.steps))
            outputIsDense = false
            layers.append(name)
        default:
            throw JacobianKernelError(layer: "\(type(of: layer))", reason: "no Jacobian kernel map is implemented for this layer")
        }
    }

    /// The steps of a whole network with one output.
    static func steps<Scalar: BLASScalar>(of network: any Layer<Scalar>) throws -> [JacobianKernelStep] {
        var plan = JacobianKernelPlan()
        try plan.append(network)
        guard plan.outputs == 1 else {
            throw JacobianKernelError(
                layer: "the network's last Dense (\(plan.outputs) outputs)",
                reason: "the Jacobian kernels are for networks with one output (each output's kernel is the same)")
        }
        return plan.steps
    }
}

// MARK: - One pair of points

/// The kernels of one pair of points (x, x') with their derivatives in x and x', through the
/// layers. With n = 1 + d, a pair quantity k is an n x n block `M[r][s]`: r = 0 for no
/// derivative in x and r = 1 + i for d/dx_i, s likewise in x' (the Jacobian kernel's block
/// layout). A point's own kernel K(x, x) is a vector of n: its value and its gradient in x.
struct JacobianKernelPair {
    let features: Int, size: Int
    /// K(x, x') and Theta(x, x') with derivatives, size x size each.
    var nngp: [Double], ntk: [Double]
    /// K(x, x) with its gradient in x, and K(x', x') with its gradient in x'.
    var nngpOfFirst: [Double], nngpOfSecond: [Double]
    /// Work space for a map's new block.
    private var scratch: [Double]

    init(features: Int) {
        self.features = features
        size = 1 + features
        nngp = Array(repeating: 0, count: size * size)
        ntk = nngp
        scratch = nngp
        nngpOfFirst = Array(repeating: 0, count: size)
        nngpOfSecond = nngpOfFirst
    }

    /// The inputs' kernels: `K = x . x' / d` (d_x K = x'/d, d_x' K = x/d, d_x d_x'ᵀ K = I/d),
    /// `K(x, x) = |x|^2 / d` (gradient 2x/d), `Theta = 0`.
    mutating func start(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) {
        let inverseFeatures = 1 / Double(features)
        var (dot, squaredX, squaredY) = (0.0, 0.0, 0.0)
        for i in 0..<features {
            dot += x[i] * y[i]
            squaredX += x[i] * x[i]
            squaredY += y[i] * y[i]
        }
        for index in 0..<(size * size) { (nngp[index], ntk[index]) = (0, 0) }
        nngp[0] = dot * inverseFeatures
        nngpOfFirst[0] = squaredX * inverseFeatures
        nngpOfSecond[0] = squaredY * inverseFeatures
        for i in 0..<features {
            nngp[(1 + i) * size] = y[i] * inverseFeatures
            nngp[1 + i] = x[i] * inverseFeatures
            nngp[(1 + i) * size + 1 + i] = inverseFeatures
            nngpOfFirst[1 + i] = 2 * x[i] * inverseFeatures
            nngpOfSecond[1 + i] = 2 * y[i] * inverseFeatures
        }
    }

    mutating func apply(_ step: JacobianKernelStep) {
        switch step {
        case let .dense(weightVariance, biasVariance):
            // Linear in the kernels, so the derivatives scale alike and the constant enters the value only.
            for index in 0..<(size * size) {
                nngp[index] *= weightVariance
                ntk[index] = nngp[index] + weightVariance * ntk[index]
            }
            nngp[0] += biasVariance
            ntk[0] += biasVariance
            for r in 0..<size {
                nngpOfFirst[r] *= weightVariance
                nngpOfSecond[r] *= weightVariance
            }
            nngpOfFirst[0] += biasVariance
            nngpOfSecond[0] += biasVariance
        case let .activation(map):
            let (mapped, derivative) = map.pair(k11: nngpOfFirst[0], k12: nngp[0], k22: nngpOfSecond[0])
            // Theta' = Theta * Kdot: Kdot's block into the scratch, then the product rule.
            Self.composeBlock(derivative, first: nngpOfFirst, pair: nngp, second: nngpOfSecond, size: size, into: &scratch)
            Self.multiplyBlock(&ntk, by: scratch, size: size)
            Self.composeBlock(mapped, first: nngpOfFirst, pair: nngp, second: nngpOfSecond, size: size, into: &scratch)
            swap(&nngp, &scratch)
            // A point with itself: K(x, x)' = g(K(x, x)), its gradient g' d_x K(x, x).
            for index in 0..<2 {
                let k = index == 0 ? nngpOfFirst[0] : nngpOfSecond[0]
                let (value, slope) = map.diagonal(k)
                for r in 1..<size {
                    if index == 0 { nngpOfFirst[r] *= slope } else { nngpOfSecond[r] *= slope }
                }
                if index == 0 { nngpOfFirst[0] = value } else { nngpOfSecond[0] = value }
            }
        case let .normalisation(epsilon):
            // Both kernels times rho(x) rho(x') with rho = (K(x, x) + eps)^(-1/2),
            // d_x rho = -rho^3 d_x K(x, x) / 2; K(x, x)' = K / (K + eps), slope eps / (K + eps)^2.
            let rho1 = 1 / (nngpOfFirst[0] + epsilon).squareRoot(), rho2 = 1 / (nngpOfSecond[0] + epsilon).squareRoot()
            for r in 0..<size {
                for s in 0..<size {
                    let factor1 = r == 0 ? rho1 : -0.5 * rho1 * rho1 * rho1 * nngpOfFirst[r]
                    let factor2 = s == 0 ? rho2 : -0.5 * rho2 * rho2 * rho2 * nngpOfSecond[s]
                    scratch[r * size + s] = factor1 * factor2
                }
            }
            Self.multiplyBlock(&nngp, by: scratch, size: size)
            Self.multiplyBlock(&ntk, by: scratch, size: size)
            let (slope1, slope2) = (epsilon * rho1 * rho1 * rho1 * rho1, epsilon * rho2 * rho2 * rho2 * rho2)
            for r in 1..<size {
                nngpOfFirst[r] *= slope1
                nngpOfSecond[r] *= slope2
            }
            nngpOfFirst[0] *= rho1 * rho1
            nngpOfSecond[0] *= rho2 * rho2
        case let .residual(innerSteps):
            var branch = self
            for inner in innerSteps { branch.apply(inner) }
            for index in 0..<(size * size) {
                nngp[index] += branch.nngp[index]
                ntk[index] += branch.ntk[index]
            }
            for r in 0..<size {
                nngpOfFirst[r] += branch.nngpOfFirst[r]
                nngpOfSecond[r] += branch.nngpOfSecond[r]
            }
        }
    }

    /// The block of `F(K(x, x), K(x, x'), K(x', x'))` by the chain rule, with a = K(x, x) (x only),
    /// b = K(x, x'), c = K(x', x') (x' only):
    /// `d_x F = F_a d_x a + F_b d_x b`, `d_x' F = F_b d_x' b + F_c d_x' c`,
    /// `d_x d_x' F = F_b d_x d_x' b + (F_ab d_x a + F_bb d_x b) d_x' b + (F_ac d_x a + F_bc d_x b) d_x' c`.
    static func composeBlock(
        _ f: GaussianExpectation, first a: [Double], pair b: [Double], second c: [Double], size: Int, into block: inout [Double]
    ) {
        block[0] = f.value
        for s in 1..<size { block[s] = f.k12 * b[s] + f.k22 * c[s] }
        for r in 1..<size {
            let (da, db) = (a[r], b[r * size])
            block[r * size] = f.k11 * da + f.k12 * db
            let (alongB, alongC) = (f.k11k12 * da + f.k12k12 * db, f.k11k22 * da + f.k12k22 * db)
            for s in 1..<size {
                block[r * size + s] = f.k12 * b[r * size + s] + alongB * b[s] + alongC * c[s]
            }
        }
    }

    /// `M <- M P` for two pair quantities, by the product rule:
    /// `d_x d_x' (M P) = M_xx' P + M_x P_x' + M_x' P_x + M P_xx'`. In place: the mixed entries
    /// first (they read the old first row and column), then the first row and column, then the value.
    static func multiplyBlock(_ m: inout [Double], by p: [Double], size: Int) {
        let (m00, p00) = (m[0], p[0])
        for r in 1..<size {
            for s in 1..<size {
                m[r * size + s] = m[r * size + s] * p00 + m[r * size] * p[s] + m[s] * p[r * size] + m00 * p[r * size + s]
            }
        }
        for r in 1..<size { m[r * size] = m[r * size] * p00 + m00 * p[r * size] }
        for s in 1..<size { m[s] = m[s] * p00 + m00 * p[s] }
        m[0] = m00 * p00
    }
}
