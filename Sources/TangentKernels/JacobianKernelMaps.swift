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
/// `Kdot = E[phi'(u) phi'(v)]` (the NTK's factor), as functions of (K11, K12, K22) that can be
/// differentiated to second order.
struct JacobianKernelActivationMap: Sendable {
    /// The closed forms, written once on second-order jets in (K11, K12, K22).
    let expectations: @Sendable (SecondOrderJet, SecondOrderJet, SecondOrderJet) -> (nngp: SecondOrderJet, derivative: SecondOrderJet)

    /// K' and Kdot of a pair with their partials.
    func pair(k11: Double, k12: Double, k22: Double) -> (nngp: GaussianExpectation, derivative: GaussianExpectation) {
        let (nngp, derivative) = expectations(
            .variable(k11, index: 0), .variable(k12, index: 1), .variable(k22, index: 2))
        return (GaussianExpectation(nngp), GaussianExpectation(derivative))
    }

    /// A point with itself: `g(K) = K'(K, K, K)` and its slope `g'(K) = F_11 + F_12 + F_22`.
    func diagonal(_ k: Double) -> (value: Double, slope: Double) {
        let (nngp, _) = expectations(.variable(k, index: 0), .variable(k, index: 1), .variable(k, index: 2))
        return (nngp.value, nngp.gradient[0] + nngp.gradient[1] + nngp.gradient[2])
    }

    /// The map of a nonlinearity, nil where none is implemented (the caller says why).
    static func of(_ activation: Activation) -> JacobianKernelActivationMap? {
        switch activation {
        case .erf: JacobianKernelActivationMap(expectations: erfExpectations)
        case .gelu: JacobianKernelActivationMap(expectations: geluExpectations)
        case .relu, .tanh, .sigmoid, .geluTanh, .silu: nil
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
