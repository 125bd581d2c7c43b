/// Mean-field quantities of a deep fully-connected network at initialisation (Poole et al. 2016,
/// Schoenholz et al. 2017; the phases of Seleznova and Kutyniok 2021): layers
/// `h = W phi(h_prev) + b` with `W ~ N(0, sigma_w^2 / fan_in)`, `b ~ N(0, sigma_b^2)` (the standard
/// parameterisation; the NTK parameterisation with the same sigma_w, sigma_b gives the same q* and
/// chi_1, since its forward pass has the same distribution).
///
/// - The variance map `q_{l+1} = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2` (z ~ N(0, 1)) and its
///   stable fixed point q*, the pre-activation variance of a deep layer.
/// - `chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]`, the slope of the correlation map at correlation 1:
///   gradients shrink by chi_1 a layer (ordered phase, chi_1 < 1) or grow (chaotic, chi_1 > 1);
///   chi_1 = 1 is the edge of chaos.
///
/// The Gaussian expectations are the activation's own kernel map on the diagonal
/// (`InfiniteWidthKernel.applyActivation` at K11 = K22 = K12 = q): closed forms for ReLU, GELU
/// and erf, quadrature (`GaussianQuadrature`) for the others.
///
/// ```swift
/// let tanh = MeanField(activation: .tanh, weightVariance: 2.0, biasVariance: 0.1)
/// tanh.chi1              // 1.007..., tanh.phase == .chaotic
/// MeanField.criticalWeightVariance(activation: .tanh, biasVariance: 0.1)   // 1.986...
/// ```
public struct MeanField: Sendable {
    /// The nonlinearity phi.
    public let activation: Activation
    /// sigma_w^2 (the square of a config's `weightStd`).
    public let weightVariance: Double
    /// sigma_b^2 (the square of a config's `biasStd`).
    public let biasVariance: Double
    /// q*, the stable fixed point of the variance map reached from q = 1; nil when the variance
    /// grows without bound (ReLU with sigma_w^2 >= 2, where q_{l+1} = sigma_w^2 q_l / 2 + sigma_b^2;
    /// other unbounded activations likewise) or does not settle in 100,000 layers.
    public let fixedPointVariance: Double?
    /// chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]; nil without q*, except for ReLU, whose
    /// E[phi'^2] = 1/2 at every q, so chi_1 = sigma_w^2 / 2 whatever sigma_b.
    public let chi1: Double?

    /// Where chi_1 is within this of 1, the network is at the edge of chaos.
    public static let edgeTolerance = 1e-9

    /// - Parameters:
    ///   - activation: phi.
    ///   - weightVariance: sigma_w^2, positive and finite.
    ///   - biasVariance: sigma_b^2, at least 0 and finite.
    ///   - quadrature: the rule for activations without closed-form Gaussian expectations.
    public init(activation: Activation, weightVariance: Double, biasVariance: Double,
                quadrature: GaussianQuadrature = .standard) {
        precondition(weightVariance > 0 && weightVariance.isFinite,
                     "MeanField: weightVariance (sigma_w^2) must be positive and finite, got \(weightVariance)")
        precondition(biasVariance >= 0 && biasVariance.isFinite,
                     "MeanField: biasVariance (sigma_b^2) must be at least 0 and finite, got \(biasVariance)")
        (self.activation, self.weightVariance, self.biasVariance) = (activation, weightVariance, biasVariance)
        let moments = { (q: Double) in Self.gaussianMoments(activation, variance: q, quadrature: quadrature) }
        if activation == .relu {
            // q_{l+1} = sigma_w^2 q_l / 2 + sigma_b^2: a fixed point only below sigma_w^2 = 2 (at
            // sigma_w^2 = 2 and sigma_b = 0 every q is one, and none is reached from elsewhere).
            fixedPointVariance = weightVariance < 2 ? biasVariance / (1 - weightVariance / 2) : nil
            chi1 = weightVariance * moments(1).derivative
            return
        }
        var q = 1.0
        var fixedPoint: Double?
        for _ in 0..<100_000 {
            let next = weightVariance * moments(q).value + biasVariance
            guard next.isFinite, next < 1e200 else { break }
            if abs(next - q) <= 1e-14 * max(1, q) {
                fixedPoint = next
                break
            }
            q = next
        }
        fixedPointVariance = fixedPoint
        chi1 = fixedPoint.map { weightVariance * moments($0).derivative }
    }

    /// The phase chi_1 puts the network in; nil when chi_1 is.
    public var phase: MeanFieldPhase? {
        guard let chi1 else { return nil }
        if abs(chi1 - 1) <= Self.edgeTolerance { return .edgeOfChaos }
        return chi1 < 1 ? .ordered : .chaotic
    }

    /// `(E[phi(u)^2], E[phi'(u)^2])` for u ~ N(0, q): the activation's kernel map at K11 = K22 = K12 = q
    /// (the NNGP entry, and the NTK entry starting from Theta = 1).
    public static func gaussianMoments(
        _ activation: Activation, variance q: Double, quadrature: GaussianQuadrature = .standard
    ) -> (value: Double, derivative: Double) {
        var kernel = InfiniteWidthKernel(inputKernel: Tensor(shape: [1, 1], repeating: q),
                                         diagonal1: Tensor(shape: [1], repeating: q), diagonal2: Tensor(shape: [1], repeating: q))
        kernel.ntk = Tensor(shape: [1, 1], repeating: 1)
        kernel.hasCentredGaussianUnits = true
        // Cannot throw: the units were just declared centred Gaussian.
        try! kernel.applyActivation(activation, quadrature: quadrature)
        return (kernel.nngp.unsafeBaseAddress[0], kernel.ntk.unsafeBaseAddress[0])
    }

    /// The critical sigma_w^2 at this sigma_b^2: where chi_1 = 1 along the fixed point (the
    /// edge of chaos), found by bisection to 1e-12 relative. ReLU: exactly 2. Nil when chi_1 stays
    /// below 1 up to sigma_w^2 = 1e4. Where there is no fixed point, chi_1 counts as above 1.
    public static func criticalWeightVariance(
        activation: Activation, biasVariance: Double, quadrature: GaussianQuadrature = .standard
    ) -> Double? {
        if activation == .relu { return 2 }
        let isChaotic = { (weightVariance: Double) in
            (MeanField(activation: activation, weightVariance: weightVariance, biasVariance: biasVariance,
                       quadrature: quadrature).chi1 ?? .infinity) > 1
        }
        var (low, high) = (1e-3, 1.0)
        while !isChaotic(high) {
            low = high
            high *= 2
            if high > 1e4 { return nil }
        }
        while high - low > 1e-12 * high {
            let middle = (low + high) / 2
            if isChaotic(middle) { high = middle } else { low = middle }
        }
        return (low + high) / 2
    }
}

/// The shape of a deep network's infinite-width NTK on a set of points at one depth: the
/// least-squares fit of Theta(X, X) by `kappa_1 I + kappa_2 11ᵀ`, so `kappa_2` is the mean
/// off-diagonal entry and `kappa_1 + kappa_2` the mean diagonal one.
///
/// `kappa_1 / kappa_2` says what gradient descent can do with the kernel: towards 0 every point
/// looks alike (Theta tends to a constant matrix; the ordered phase, where deep networks become
/// untrainable), large values mean a diagonal kernel (each point on its own; deep chaotic networks
/// memorise and do not generalise). Seleznova and Kutyniok 2021 follow this structure with depth
/// (their Figs. 5-6); docs/kernels.md derives the limits.
public struct KernelStructure: Sendable, Equatable {
    /// Hidden layers of the network (each Dense then the activation), before the readout Dense.
    public var depth: Int
    /// The mean of Theta(x_i, x_i): kappa_1 + kappa_2.
    public var diagonalMean: Double
    /// The mean of Theta(x_i, x_j) over i != j: kappa_2.
    public var offDiagonalMean: Double

    /// kappa_1: the diagonal's excess over the off-diagonal entries.
    public var kappa1: Double { diagonalMean - offDiagonalMean }
    /// kappa_2: the kernel's constant part.
    public var kappa2: Double { offDiagonalMean }
    /// kappa_1 / kappa_2 (infinite when the off-diagonal mean is 0 or negative).
    public var ratio: Double { offDiagonalMean > 0 ? kappa1 / offDiagonalMean : .infinity }
}

extension MeanField {
    /// The structure of the NTK of this network (Dense layers in the NTK parameterisation with
    /// these sigma_w, sigma_b, this activation, a Dense readout) at every depth from 1 to `depth`
    /// hidden layers, on the rows of `points` (at least 2): one pass through the layers, the
    /// readout applied to a copy after each.
    /// - Throws: `InfiniteWidthKernelError` when the activation has no kernel map.
    public func kernelStructure(points: Tensor<Double>, depth: Int, quadrature: GaussianQuadrature = .standard) throws -> [KernelStructure] {
        precondition(points.rank == 2 && points.shape[0] >= 2,
                     "MeanField.kernelStructure: needs a matrix of at least 2 points, got shape \(points.shape)")
        precondition(depth >= 1, "MeanField.kernelStructure: depth must be at least 1, got \(depth)")
        let (weightStandardDeviation, biasStandardDeviation) = (weightVariance.squareRoot(), biasVariance.squareRoot())
        var kernel = InfiniteWidthKernel(points)
        var structure: [KernelStructure] = []
        for layer in 1...depth {
            kernel.applyDense(weightStandardDeviation: weightStandardDeviation, biasStandardDeviation: biasStandardDeviation)
            try kernel.applyActivation(activation, quadrature: quadrature)
            var readout = kernel
            readout.applyDense(weightStandardDeviation: weightStandardDeviation, biasStandardDeviation: biasStandardDeviation)
            let count = readout.count1
            var (diagonal, offDiagonal) = (0.0, 0.0)
            readout.ntk.withUnsafeBufferPointer { theta in
                for i in 0..<count {
                    for j in 0..<count {
                        if i == j { diagonal += theta[i * count + j] } else { offDiagonal += theta[i * count + j] }
                    }
                }
            }
            structure.append(KernelStructure(depth: layer, diagonalMean: diagonal / Double(count),
                                             offDiagonalMean: offDiagonal / Double(count * (count - 1))))
        }
        return structure
    }
}

/// The mean-field phase of a deep network at initialisation.
public enum MeanFieldPhase: String, Sendable {
    /// chi_1 < 1: gradients vanish with depth, inputs' correlations go to 1; the NTK is nearly
    /// deterministic at initialisation but degenerates with depth.
    case ordered
    /// chi_1 = 1 (within `MeanField.edgeTolerance`).
    case edgeOfChaos = "edge of chaos"
    /// chi_1 > 1: gradients explode with depth; the NTK of a deep finite network is random at
    /// initialisation and moves in training.
    case chaotic
}
