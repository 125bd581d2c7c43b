import Glibc
import NeuralNet

/// The activations' maps for the Jacobian kernels: each Gaussian expectation a nonlinearity's
/// kernel map takes, with the partial derivatives in (K11, K12, K22) that the chain rule of a pair
/// of points needs (docs/jacobian-kernels.md derives which ones).

/// `F(K11, K12, K22)`, an expectation over centred Gaussian (u, v) with variances K11, K22 and
/// covariance K12, with its first partials and the second partials that a pair of points reaches:
/// K11 depends on x alone and K22 on x' alone, so `d2 F / dx dx'` never needs F_11 or F_22.
struct GaussianExpectation {
    var value: Double
    var k11: Double, k12: Double, k22: Double
    var k11k12: Double, k12k12: Double, k11k22: Double, k12k22: Double

    init(_ jet: SecondOrderJet) {
        value = jet.value
        (k11, k12, k22) = (jet.gradient[0], jet.gradient[1], jet.gradient[2])
        (k11k12, k12k12, k11k22, k12k22) = (jet.hessian.0[1], jet.hessian.1[1], jet.hessian.0[2], jet.hessian.1[2])
    }
}

/// A nonlinearity's two expectations, `K' = E[phi(u) phi(v)]` (the NNGP map) and
/// `Kdot = E[phi'(u) phi'(v)]` (the NTK's factor), as functions of (K11, K12, K22) with the
/// partials the Jacobian kernels need: from closed forms differentiated by `SecondOrderJet`, or by
/// Gauss-Hermite quadrature of the activation's derivatives (`GaussHermiteExpectations`).
struct JacobianKernelActivationMap: Sendable {
    enum Method: Sendable {
        /// The closed forms, written once on second-order jets in (K11, K12, K22).
        case closedForm(@Sendable (SecondOrderJet, SecondOrderJet, SecondOrderJet) -> (nngp: SecondOrderJet, derivative: SecondOrderJet))
        case quadrature(GaussHermiteExpectations)
    }
    let method: Method

    /// K' and Kdot of a pair with their partials.
    func pair(k11: Double, k12: Double, k22: Double) -> (nngp: GaussianExpectation, derivative: GaussianExpectation) {
        switch method {
        case .closedForm(let expectations):
            let (nngp, derivative) = expectations(.variable(k11, index: 0), .variable(k12, index: 1), .variable(k22, index: 2))
            return (GaussianExpectation(nngp), GaussianExpectation(derivative))
        case .quadrature(let quadrature):
            return quadrature.pair(k11: k11, k12: k12, k22: k22)
        }
    }

    /// A point with itself: `g(K) = K'(K, K, K)` and its slope `g'(K) = F_11 + F_12 + F_22`.
    func diagonal(_ k: Double) -> (value: Double, slope: Double) {
        switch method {
        case .closedForm(let expectations):
            let (nngp, _) = expectations(.variable(k, index: 0), .variable(k, index: 1), .variable(k, index: 2))
            return (nngp.value, nngp.gradient[0] + nngp.gradient[1] + nngp.gradient[2])
        case .quadrature(let quadrature):
            return quadrature.diagonal(k)
        }
    }

    /// The map of a nonlinearity, nil where none is implemented (the caller says why).
    static func of(_ activation: Activation) -> JacobianKernelActivationMap? {
        func quadrature(_ derivatives: @escaping @Sendable (Double) -> (Double, Double, Double, Double, Double)) -> Self {
            Self(method: .quadrature(GaussHermiteExpectations(derivatives: derivatives)))
        }
        return switch activation {
        case .erf: Self(method: .closedForm(erfExpectations))
        case .gelu: Self(method: .closedForm(geluExpectations))
        case .tanh: quadrature(ActivationDerivatives.tanh)
        case .sigmoid: quadrature(ActivationDerivatives.sigmoid)
        case .silu: quadrature(ActivationDerivatives.silu)
        // ReLU's kernel does not exist (JacobianKernelError.relu); the tanh-approximated GELU's
        // fourth derivative is not written out.
        case .relu, .geluTanh: nil
        }
    }
}

/// erf (neural-tangents' `stax.Erf()`, phi(x) = erf(x)), Williams 1997 (the formulas of
/// `erfKernelLanes` in NeuralNet's ActivationKernelMaps.swift, on jets):
/// `K' = (2/pi) arcsin(2 K12 / sqrt((1 + 2 K11)(1 + 2 K22)))`,
/// `Kdot = (4/pi) / sqrt((1 + 2 K11)(1 + 2 K22) - 4 K12^2)` (its derivative in K12).
func erfExpectations(
    _ k11: SecondOrderJet, _ k12: SecondOrderJet, _ k22: SecondOrderJet
) -> (nngp: SecondOrderJet, derivative: SecondOrderJet) {
    let product = (1 + 2 * k11) * (1 + 2 * k22)
    let nngp = (2 / Double.pi) * (2 * k12 / product.squareRoot()).arcsine()
    let derivative = (4 / Double.pi) * (product - 4 * k12 * k12).squareRoot().reciprocal()
    return (nngp, derivative)
}

/// Exact GELU, phi(x) = x Phi(x) (the formulas of `geluKernelLanes` in NeuralNet's
/// ActivationKernelMaps.swift, on jets): with A = K11 + 1, B = K22 + 1, P = K11 K22,
/// `delta = sqrt(A B - K12^2)` and `theta = arcsin(K12 / sqrt(A B))`,
/// `K' = K12/4 + ((K12^2 + P delta^2) / (A B delta) + K12 theta) / (2 pi)` and
/// `Kdot = 1/4 + theta/(2 pi) + K12/(2 pi delta) (1/delta^2 + (1 - P)/(A B) + 1)`.
func geluExpectations(
    _ k11: SecondOrderJet, _ k12: SecondOrderJet, _ k22: SecondOrderJet
) -> (nngp: SecondOrderJet, derivative: SecondOrderJet) {
    let ab = (k11 + 1) * (k22 + 1)
    let product = k11 * k22
    let delta = (ab - k12 * k12).squareRoot()
    let theta = (k12 / ab.squareRoot()).arcsine()
    let inverseTwoPi = 1 / (2 * Double.pi)
    let nngp = 0.25 * k12 + ((k12 * k12 + product * delta * delta) / (ab * delta) + k12 * theta) * inverseTwoPi
    let bracket = (delta * delta).reciprocal() + (1 - product) / ab + 1
    let derivative = 0.25 + theta * inverseTwoPi + k12 / delta * inverseTwoPi * bracket
    return (nngp, derivative)
}

// MARK: - Activations without closed forms: Gauss-Hermite quadrature

/// The Gaussian expectations of an activation without closed-form kernels, by Price's theorem:
/// with `T(m, n) = E[phi^(m)(u) phi^(n)(v)]`, `dT(m, n)/dK12 = T(m + 1, n + 1)` and
/// `dT(m, n)/dK11 = T(m + 2, n) / 2`, so
/// `F = T00`, `F_11 = T20/2`, `F_12 = T11`, `F_22 = T02/2`, `F_11,12 = T31/2`, `F_12,12 = T22`,
/// `F_11,22 = T22/4`, `F_12,22 = T13/2`, and `G = T11` likewise one order up. Each T is a plain
/// expectation, by a product Gauss-Hermite rule over (z1, z2) with `u = sqrt(K11) z1`,
/// `v = sqrt(K22) (rho z1 + sqrt(1 - rho^2) z2)`: no derivative goes through the nodes, so the
/// rule is as accurate at rho = 1 (a point with itself) as anywhere.
struct GaussHermiteExpectations: Sendable {
    /// phi and its first four derivatives at x.
    let derivatives: @Sendable (Double) -> (Double, Double, Double, Double, Double)
    /// A fixed rule, or nil for the rule `GaussHermiteRule.forVariance` picks.
    var fixedRule: GaussHermiteRule? = nil

    func pair(k11: Double, k12: Double, k22: Double) -> (nngp: GaussianExpectation, derivative: GaussianExpectation) {
        let rule = fixedRule ?? GaussHermiteRule.forVariance(max(k11, k22))
        let (root1, root2) = (k11.squareRoot(), k22.squareRoot())
        let rho = root1 * root2 > 0 ? max(-1, min(1, k12 / (root1 * root2))) : 0
        let complement = ((1 - rho) * (1 + rho)).squareRoot()
        // t[m][n] for the ten (m, n) the partials use.
        var (t00, t11, t20, t02, t22, t31, t13, t33, t42, t24) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for (z1, w1) in zip(rule.nodes, rule.weights) {
            let u = derivatives(root1 * z1)
            for (z2, w2) in zip(rule.nodes, rule.weights) {
                let v = derivatives(root2 * (rho * z1 + complement * z2))
                let w = w1 * w2
                t00 += w * u.0 * v.0
                t11 += w * u.1 * v.1
                t20 += w * u.2 * v.0
                t02 += w * u.0 * v.2
                t22 += w * u.2 * v.2
                t31 += w * u.3 * v.1
                t13 += w * u.1 * v.3
                t33 += w * u.3 * v.3
                t42 += w * u.4 * v.2
                t24 += w * u.2 * v.4
            }
        }
        return (nngp: GaussianExpectation(value: t00, k11: t20 / 2, k12: t11, k22: t02 / 2,
                                          k11k12: t31 / 2, k12k12: t22, k11k22: t22 / 4, k12k22: t13 / 2),
                derivative: GaussianExpectation(value: t11, k11: t31 / 2, k12: t22, k22: t13 / 2,
                                                k11k12: t42 / 2, k12k12: t33, k11k22: t33 / 4, k12k22: t24 / 2))
    }

    /// `g(K) = E[phi(u)^2]` and `g' = F_11 + F_12 + F_22 = T20 + T11` at (K, K, K), by the 1-D rule.
    func diagonal(_ k: Double) -> (value: Double, slope: Double) {
        let rule = fixedRule ?? GaussHermiteRule.forVariance(k)
        var (value, slope) = (0.0, 0.0)
        for (z, w) in zip(rule.nodes, rule.weights) {
            let u = derivatives(k.squareRoot() * z)
            value += w * u.0 * u.0
            slope += w * (u.2 * u.0 + u.1 * u.1)
        }
        return (value, slope)
    }
}

/// Nodes and weights of the Gauss-Hermite rule for a standard normal variable:
/// `E[h(Z)] ~ sum_k weights[k] h(nodes[k])`, exact for polynomials of degree < 2 count. The
/// physicists' nodes come from Newton's method on the orthonormal Hermite recurrence (Numerical
/// Recipes' `gauher`), then z = sqrt(2) x and w / sqrt(pi).
struct GaussHermiteRule: Sendable {
    let nodes: [Double], weights: [Double]

    init(count n: Int) {
        var x = [Double](repeating: 0, count: n), w = x
        let piToMinusQuarter = 0.7511255444649425
        var z = 0.0
        for i in 1...((n + 1) / 2) {
            switch i {
            case 1: z = (Double(2 * n + 1)).squareRoot() - 1.85575 * Double.pow(Double(2 * n + 1), -0.16667)
            case 2: z -= 1.14 * Double.pow(Double(n), 0.426) / z
            case 3: z = 1.86 * z - 0.86 * x[0]
            case 4: z = 1.91 * z - 0.91 * x[1]
            default: z = 2 * z - x[i - 3]
            }
            var derivative = 0.0
            for _ in 0..<100 {
                var (p1, p2) = (piToMinusQuarter, 0.0)
                for j in 1...n {
                    let p3 = p2
                    p2 = p1
                    p1 = z * (2 / Double(j)).squareRoot() * p2 - (Double(j - 1) / Double(j)).squareRoot() * p3
                }
                derivative = (2 * Double(n)).squareRoot() * p2
                let previous = z
                z = previous - p1 / derivative
                if abs(z - previous) <= 1e-15 * max(1, abs(z)) { break }
            }
            x[i - 1] = z
            x[n - i] = -z
            w[i - 1] = 2 / (derivative * derivative)
            w[n - i] = w[i - 1]
        }
        nodes = x.map { $0 * 2.0.squareRoot() }
        weights = w.map { $0 / Double.pi.squareRoot() }
    }

    /// The rules the Jacobian kernels use: 96 nodes a dimension (9216 a pair) for variances up to
    /// 1, 160 beyond (past about 180 nodes the recurrence underflows). Gauss-Hermite converges
    /// slowly for saturating functions of a wide Gaussian (their steep part narrows as 1/sqrt(K)):
    /// E[erf(u)^2] errs by 1e-16 at K = 1 with 96 nodes, by 2e-15 at K = 2.5, 1e-10 at K = 4 and
    /// 1e-5 at K = 10 with 160 (measured against the closed form).
    static let small = GaussHermiteRule(count: 96), large = GaussHermiteRule(count: 160)

    static func forVariance(_ variance: Double) -> GaussHermiteRule { variance <= 1 ? small : large }
}

extension GaussianExpectation {
    init(value: Double, k11: Double, k12: Double, k22: Double, k11k12: Double, k12k12: Double, k11k22: Double, k12k22: Double) {
        self.value = value
        (self.k11, self.k12, self.k22) = (k11, k12, k22)
        (self.k11k12, self.k12k12, self.k11k22, self.k12k22) = (k11k12, k12k12, k11k22, k12k22)
    }
}

/// phi and its first four derivatives, for the activations mapped by quadrature (and erf, to check
/// the quadrature against its closed form).
enum ActivationDerivatives {
    /// tanh: with t = tanh x and s = 1 - t^2: s, -2 t s, s (6 t^2 - 2), s (16 t - 24 t^3).
    static func tanh(_ x: Double) -> (Double, Double, Double, Double, Double) {
        let t = Glibc.tanh(x), s = 1 - t * t
        return (t, s, -2 * t * s, s * (6 * t * t - 2), s * (16 * t - 24 * t * t * t))
    }

    /// sigmoid: with p = sigmoid x and q = p (1 - p): q, q (1 - 2p), q (1 - 6p + 6p^2), q (1 - 2p)(1 - 12p + 12p^2).
    static func sigmoid(_ x: Double) -> (Double, Double, Double, Double, Double) {
        let p = 1 / (1 + exp(-x)), q = p * (1 - p)
        return (p, q, q * (1 - 2 * p), q * (1 - 6 * p + 6 * p * p), q * (1 - 2 * p) * (1 - 12 * p + 12 * p * p))
    }

    /// SiLU, x sigmoid(x): the n-th derivative is x sigmoid^(n) + n sigmoid^(n-1).
    static func silu(_ x: Double) -> (Double, Double, Double, Double, Double) {
        let s = sigmoid(x)
        return (x * s.0, x * s.1 + s.0, x * s.2 + 2 * s.1, x * s.3 + 3 * s.2, x * s.4 + 4 * s.3)
    }

    /// erf: with e = (2 / sqrt pi) exp(-x^2): e, -2x e, (4x^2 - 2) e, (12x - 8x^3) e.
    static func erf(_ x: Double) -> (Double, Double, Double, Double, Double) {
        let e = 2 / Double.pi.squareRoot() * exp(-x * x)
        return (Glibc.erf(x), e, -2 * x * e, (4 * x * x - 2) * e, (12 * x - 8 * x * x * x) * e)
    }
}
