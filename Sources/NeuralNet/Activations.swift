import CKernels
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
    /// The error function, erf(x) = (2 / sqrt(pi)) * integral from 0 to x of exp(-t^2) dt: a
    /// tanh-like squashing whose infinite-width kernel has a closed form (Williams 1997).
    case erf
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
        // C, at the widest vectors the CPU has (CKernels' Activations.c).
        finitewidth_relu_forward(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, out, input, count)
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
    case .erf:
        for i in 0..<count { out[i] = Scalar.erf(input[i]) }
    }
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func activationBackward<Scalar: BLASScalar>(
    _ activation: Activation, inputGradient: UnsafeMutablePointer<Scalar>, accumulate: Bool = true,
    outGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, output: UnsafePointer<Scalar>, count: Int
) {
    // ReLU, tanh and sigmoid in C, at the widest vectors the CPU has (CKernels' Activations.c),
    // writing or adding; the others add into a buffer zeroed first.
    let kernel: finitewidth_activation? = switch activation {
    case .relu: FINITEWIDTH_RELU
    case .tanh: FINITEWIDTH_TANH
    case .sigmoid: FINITEWIDTH_SIGMOID
    case .gelu, .geluTanh, .silu, .erf: nil
    }
    if let kernel {
        finitewidth_activation_backward(Scalar.kernelPrecision, FINITEWIDTH_VECTORS_WIDEST, kernel, inputGradient,
                                        accumulate ? 1 : 0, outGradient, input, output, count)
        return
    }
    if !accumulate { inputGradient.update(repeating: 0, count: count) }
    switch activation {
    case .relu, .tanh, .sigmoid:
        break
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
    case .erf:
        // d/dx erf(x) = (2 / sqrt(pi)) exp(-x^2).
        let twoOverSqrtPi = Scalar(2 / Double.pi.squareRoot())
        for i in 0..<count {
            let x = input[i]
            inputGradient[i] += outGradient[i] * twoOverSqrtPi * Scalar.exp(-x * x)
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
    /// The tangent d phi(x) = phi'(x) dx, in every block (`ActivationDerivative.swift`).
    public func callAsFunction(_ x: ValueAndTangents<Scalar>) -> ValueAndTangents<Scalar> {
        let tape = x.tape
        return ValueAndTangents(value: tape.activation(x.value, activation),
                                tangents: tape.blockwiseProduct(tape.activationDerivative(x.value, activation), x.tangents))
    }
    public var providesTangents: Bool { true }
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

/// erf(x), the error function (neural-tangents' `stax.Erf()`).
public struct Erf<Scalar: BLASScalar>: PointwiseActivation {
    public init() {}
    public var activation: Activation { .erf }
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
    public func erf() -> Variable { tape.activation(self, .erf) }
}

// MARK: - Infinite-width kernel maps (the per-pair formulas: ActivationKernelMaps.swift)

extension Activation {
    /// The closed-form kernel map of this nonlinearity, as the per-point value its row function
    /// precomputes from K(x, x) and the row function itself; nil where none is known. The one
    /// place that says which activations have an analytic kernel map.
    var kernelMapFunctions: (root: (Double) -> Double, row: (KernelMapRow) -> Void)? {
        switch self {
        case .relu: ({ $0.squareRoot() }, reluKernelRow)
        case .gelu: ({ ($0 + 1).squareRoot() }, geluKernelRow)
        case .erf: ({ (1 + 2 * $0).squareRoot() }, erfKernelRow)
        // E[phi(u) phi(v)] over Gaussian (u, v) has no closed form: quadrature (NumericalKernelMap.swift).
        case .tanh, .sigmoid, .geluTanh, .silu: nil
        }
    }

    /// Whether `InfiniteWidthKernel.applyActivation` has a closed-form map for this nonlinearity
    /// (ReLU, exact GELU and erf); the others are mapped by quadrature (`GaussianQuadrature`).
    public var hasAnalyticKernelMap: Bool { kernelMapFunctions != nil }
}

extension InfiniteWidthKernel {
    /// Applies a pointwise nonlinearity's map: the closed form for ReLU (arc-cosine kernel), exact
    /// GELU and erf (`Activation.hasAnalyticKernelMap`), quadrature for the others
    /// (`applyNumerical`, with `quadrature`).
    /// - Throws: `InfiniteWidthKernelError` when the pre-activations are not centred Gaussian (the
    ///   nonlinearity does not follow a Dense layer or a LayerNorm after one).
    public mutating func applyActivation(_ activation: Activation, quadrature: GaussianQuadrature = .standard) throws {
        guard let (root, row) = activation.kernelMapFunctions else {
            try applyNumerical(ElementwiseFunction(activation), quadrature: quadrature)
            return
        }
        let name = activation.layerName
        try requireCentredGaussianUnits(before: name)
        mapNonlinearity(&self, root: root, row: row)
        hasCentredGaussianUnits = false
        layers.append(name)
    }
}

extension Activation {
    /// The layer's name in messages: "ReLU", "Tanh", "Sigmoid", "GELU", "GELU(approximate: tanh)", "SiLU", "Erf".
    public var layerName: String {
        switch self {
        case .relu: "ReLU"
        case .tanh: "Tanh"
        case .sigmoid: "Sigmoid"
        case .gelu: "GELU"
        case .geluTanh: "GELU(approximate: tanh)"
        case .silu: "SiLU"
        case .erf: "Erf"
        }
    }
}

extension PointwiseActivation {
    /// `InfiniteWidthKernel.applyActivation` for this layer's nonlinearity.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        try kernel.applyActivation(activation)
    }
}
