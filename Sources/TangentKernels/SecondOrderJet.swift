import Glibc

/// A number carried with its gradient and Hessian in three variables: forward-mode automatic
/// differentiation to second order, for the activations' closed-form kernel maps
/// `F(K11, K12, K22)` (the variables, in that order), whose first and second partial derivatives
/// the Jacobian kernels' chain rule needs (`GaussianExpectation`).
///
/// Each operation applies the chain rule to second order: for `y = f(u)`,
/// `grad y = f'(u) grad u` and `H y = f'(u) H u + f''(u) grad u grad uᵀ`; for `y = u v`,
/// `H y = u H v + v H u + grad u grad vᵀ + grad v grad uᵀ`. So a formula written once on this
/// type gives its value and its partials exactly (to rounding), with no derivation by hand.
struct SecondOrderJet {
    var value: Double
    var gradient: SIMD3<Double>
    /// The rows of the (symmetric) Hessian.
    var hessian: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)

    init(value: Double, gradient: SIMD3<Double>, hessian: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)) {
        self.value = value
        self.gradient = gradient
        self.hessian = hessian
    }

    /// A constant: zero gradient and Hessian.
    init(_ constant: Double) {
        self.init(value: constant, gradient: .zero, hessian: (.zero, .zero, .zero))
    }

    /// The variable number `index` (0, 1 or 2) at `value`: gradient the unit vector.
    static func variable(_ value: Double, index: Int) -> SecondOrderJet {
        var gradient = SIMD3<Double>.zero
        gradient[index] = 1
        return SecondOrderJet(value: value, gradient: gradient, hessian: (.zero, .zero, .zero))
    }

    /// `f(self)` from `f`, `f'` and `f''` at `value`.
    func applying(_ f: Double, _ firstDerivative: Double, _ secondDerivative: Double) -> SecondOrderJet {
        let g = gradient
        return SecondOrderJet(
            value: f, gradient: firstDerivative * g,
            hessian: (firstDerivative * hessian.0 + secondDerivative * g[0] * g,
                      firstDerivative * hessian.1 + secondDerivative * g[1] * g,
                      firstDerivative * hessian.2 + secondDerivative * g[2] * g))
    }

    static func + (u: SecondOrderJet, v: SecondOrderJet) -> SecondOrderJet {
        SecondOrderJet(value: u.value + v.value, gradient: u.gradient + v.gradient,
                       hessian: (u.hessian.0 + v.hessian.0, u.hessian.1 + v.hessian.1, u.hessian.2 + v.hessian.2))
    }

    static prefix func - (u: SecondOrderJet) -> SecondOrderJet {
        SecondOrderJet(value: -u.value, gradient: -u.gradient, hessian: (-u.hessian.0, -u.hessian.1, -u.hessian.2))
    }

    static func - (u: SecondOrderJet, v: SecondOrderJet) -> SecondOrderJet { u + -v }

    static func * (u: SecondOrderJet, v: SecondOrderJet) -> SecondOrderJet {
        let (a, b) = (u.gradient, v.gradient)
        return SecondOrderJet(
            value: u.value * v.value, gradient: u.value * b + v.value * a,
            hessian: (u.value * v.hessian.0 + v.value * u.hessian.0 + a[0] * b + b[0] * a,
                      u.value * v.hessian.1 + v.value * u.hessian.1 + a[1] * b + b[1] * a,
                      u.value * v.hessian.2 + v.value * u.hessian.2 + a[2] * b + b[2] * a))
    }

    static func / (u: SecondOrderJet, v: SecondOrderJet) -> SecondOrderJet { u * v.reciprocal() }

    static func + (u: SecondOrderJet, c: Double) -> SecondOrderJet {
        var result = u
        result.value += c
        return result
    }

    static func + (c: Double, u: SecondOrderJet) -> SecondOrderJet { u + c }
    static func - (u: SecondOrderJet, c: Double) -> SecondOrderJet { u + -c }
    static func - (c: Double, u: SecondOrderJet) -> SecondOrderJet { -u + c }

    static func * (c: Double, u: SecondOrderJet) -> SecondOrderJet {
        SecondOrderJet(value: c * u.value, gradient: c * u.gradient, hessian: (c * u.hessian.0, c * u.hessian.1, c * u.hessian.2))
    }

    static func * (u: SecondOrderJet, c: Double) -> SecondOrderJet { c * u }

    /// `1 / u`: `f' = -1/u^2`, `f'' = 2/u^3`.
    func reciprocal() -> SecondOrderJet {
        let inverse = 1 / value
        return applying(inverse, -inverse * inverse, 2 * inverse * inverse * inverse)
    }

    /// `sqrt(u)`: `f' = 1/(2 sqrt u)`, `f'' = -1/(4 u^(3/2))`.
    func squareRoot() -> SecondOrderJet {
        let root = value.squareRoot()
        return applying(root, 0.5 / root, -0.25 / (root * value))
    }

    /// `arcsin(u)` for |u| < 1: `f' = 1/sqrt(1 - u^2)`, `f'' = u/(1 - u^2)^(3/2)`.
    func arcsine() -> SecondOrderJet {
        let inverseRoot = 1 / ((1 - value) * (1 + value)).squareRoot()
        return applying(asin(value), inverseRoot, value * inverseRoot * inverseRoot * inverseRoot)
    }
}
