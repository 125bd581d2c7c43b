import Glibc

/// Pointwise nonlinearities. Each has a forward over `count` contiguous scalars and a backward
/// that accumulates `dx += dy * f'(x)`, reading the input x and (where cheaper) the output y.

/// The nonlinearities FiniteWidth knows, with the names configs use.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case relu, tanh, sigmoid
    /// x * Phi(x), with the exact Gaussian CDF (PyTorch's default `approximate='none'`).
    case gelu
    /// The tanh approximation of GELU (PyTorch's `approximate='tanh'`).
    case geluTanh = "gelu_tanh"
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
        for i in 0..<count { out[i] = input[i] > 0 ? input[i] : 0 }
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
    }
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationBackward<Scalar: BLASScalar>(
    _ activation: Activation, inputGradient: UnsafeMutablePointer<Scalar>, outGradient: UnsafePointer<Scalar>,
    input: UnsafePointer<Scalar>, output: UnsafePointer<Scalar>, count: Int
) {
    switch activation {
    case .relu:
        // PyTorch's convention: the derivative at 0 is 0.
        for i in 0..<count where input[i] > 0 { inputGradient[i] += outGradient[i] }
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
    }
}

extension Tape {
    /// Records a pointwise nonlinearity.
    public func activation(_ x: Variable<Scalar>, _ activation: Activation) -> Variable<Scalar> {
        let input = nodes[x.index]
        let node = nextNode(shape: input.value.shape, operation: .activation(input: x.index, activation))
        activationForward(activation, out: node.value.unsafeMutableBaseAddress(),
                          input: input.value.unsafeBaseAddress, count: input.value.count)
        node.requiresGradient = input.requiresGradient
        return Variable(tape: self, index: recorded - 1)
    }

    func activationBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, activation: Activation) {
        guard input.requiresGradient else { return }
        activationBackward(activation, inputGradient: input.gradient.unsafeMutableBaseAddress(),
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
}
