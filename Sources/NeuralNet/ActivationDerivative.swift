import Glibc

/// phi'(x) of a pointwise nonlinearity as a differentiable op: the factor of an activation's
/// tangent, `d phi(x) = phi'(x) dx` (`PointwiseActivation`'s tangent forward), whose backward
/// needs phi''. Forward out = phi'(x); backward dx += dout * phi''(x). With s = sigmoid(x),
/// t = tanh(x), Phi and phi the standard normal CDF and density:
/// - ReLU: phi' = 1 where x > 0 (else 0, as its backward), phi'' = 0;
/// - tanh: phi' = 1 - t^2, phi'' = -2 t (1 - t^2);
/// - sigmoid: phi' = s (1 - s), phi'' = s (1 - s) (1 - 2 s);
/// - GELU: phi' = Phi(x) + x phi(x), phi'' = phi(x) (2 - x^2);
/// - GELU (tanh), with u = a (x + c x^3), t = tanh u, u' = a (1 + 3 c x^2), u'' = 6 a c x:
///   phi' = (1 + t) / 2 + x (1 - t^2) u' / 2, phi'' = (1 - t^2) (u' + x (u'' - 2 t u'^2) / 2);
/// - SiLU: phi' = s (1 + x (1 - s)), phi'' = s (1 - s) (2 + x (1 - 2 s));
/// - erf: phi' = (2 / sqrt(pi)) exp(-x^2), phi'' = -2 x phi'.

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationDerivativeForward<Scalar: BLASScalar>(
    _ activation: Activation, out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, count: Int
) {
    switch activation {
    case .relu:
        for i in 0..<count { out[i] = input[i] > 0 ? 1 : 0 }
    case .tanh:
        for i in 0..<count {
            let t = Scalar.tanh(input[i])
            out[i] = 1 - t * t
        }
    case .sigmoid:
        for i in 0..<count {
            let s = 1 / (1 + Scalar.exp(-input[i]))
            out[i] = s * (1 - s)
        }
    case .gelu:
        let (inverseSqrt2, inverseSqrt2Pi) = (Scalar(1 / 2.0.squareRoot()), Scalar(1 / (2 * Double.pi).squareRoot()))
        for i in 0..<count {
            let x = input[i]
            out[i] = (1 + Scalar.erf(x * inverseSqrt2)) / 2 + x * inverseSqrt2Pi * Scalar.exp(-x * x / 2)
        }
    case .geluTanh:
        let (a, c) = (Scalar(geluTanhScale), Scalar(geluTanhCubic))
        for i in 0..<count {
            let x = input[i]
            let t = Scalar.tanh(a * (x + c * x * x * x))
            out[i] = ((1 + t) + x * (1 - t * t) * a * (1 + 3 * c * x * x)) / 2
        }
    case .silu:
        for i in 0..<count {
            let x = input[i]
            let s = 1 / (1 + Scalar.exp(-x))
            out[i] = s * (1 + x * (1 - s))
        }
    case .erf:
        let twoOverSqrtPi = Scalar(2 / Double.pi.squareRoot())
        for i in 0..<count { out[i] = twoOverSqrtPi * Scalar.exp(-input[i] * input[i]) }
    }
}

/// dx += dout * phi''(x) (ReLU: nothing to add).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationDerivativeBackward<Scalar: BLASScalar>(
    _ activation: Activation, inputGradient: UnsafeMutablePointer<Scalar>, outGradient: UnsafePointer<Scalar>,
    input: UnsafePointer<Scalar>, count: Int
) {
    switch activation {
    case .relu:
        break
    case .tanh:
        for i in 0..<count {
            let t = Scalar.tanh(input[i])
            inputGradient[i] += outGradient[i] * (-2 * t * (1 - t * t))
        }
    case .sigmoid:
        for i in 0..<count {
            let s = 1 / (1 + Scalar.exp(-input[i]))
            inputGradient[i] += outGradient[i] * (s * (1 - s) * (1 - 2 * s))
        }
    case .gelu:
        let inverseSqrt2Pi = Scalar(1 / (2 * Double.pi).squareRoot())
        for i in 0..<count {
            let x = input[i]
            inputGradient[i] += outGradient[i] * (inverseSqrt2Pi * Scalar.exp(-x * x / 2) * (2 - x * x))
        }
    case .geluTanh:
        let (a, c) = (Scalar(geluTanhScale), Scalar(geluTanhCubic))
        for i in 0..<count {
            let x = input[i]
            let t = Scalar.tanh(a * (x + c * x * x * x))
            let (slope, curvature) = (a * (1 + 3 * c * x * x), 6 * a * c * x)
            inputGradient[i] += outGradient[i] * ((1 - t * t) * (slope + x * (curvature - 2 * t * slope * slope) / 2))
        }
    case .silu:
        for i in 0..<count {
            let x = input[i]
            let s = 1 / (1 + Scalar.exp(-x))
            inputGradient[i] += outGradient[i] * (s * (1 - s) * (2 + x * (1 - 2 * s)))
        }
    case .erf:
        let twoOverSqrtPi = Scalar(2 / Double.pi.squareRoot())
        for i in 0..<count {
            let x = input[i]
            inputGradient[i] += outGradient[i] * (-2 * x * twoOverSqrtPi * Scalar.exp(-x * x))
        }
    }
}

extension Tape {
    /// Records phi'(x) for a pointwise nonlinearity, elementwise.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func activationDerivative(_ x: Variable<Scalar>, _ activation: Activation) -> Variable<Scalar> {
        let input = node(of: x, in: "activationDerivative")
        let node = nextNode(shape: input.value.shape, operation: .activationDerivative(input: x.index, activation))
        activationDerivativeForward(activation, out: node.value.unsafeMutableBaseAddress(),
                                    input: input.value.unsafeBaseAddress, count: input.value.count)
        // ReLU's derivative is piecewise constant: nothing flows back through it.
        node.requiresGradient = input.requiresGradient && activation != .relu
        return recordedVariable()
    }

    func activationDerivativeBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, activation: Activation) {
        guard input.requiresGradient else { return }
        activationDerivativeBackward(activation, inputGradient: input.gradientToAddInto(),
                                     outGradient: node.gradient.unsafeBaseAddress, input: input.value.unsafeBaseAddress,
                                     count: node.value.count)
    }
}
