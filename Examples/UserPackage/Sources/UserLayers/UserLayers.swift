// Written as a user of FiniteWidth writes code in a package of their own: the public API only.
// (Tests/UserExtensionTests compiles this same file, through a symbolic link, and checks it
// against PyTorch.)
import Glibc
import NeuralNet

/// softplus(x) = log(1 + e^x), an op with a hand-written forward and backward.
///
/// Computed as `max(x, 0) + log1p(e^-|x|)`: e^-|x| <= 1 never overflows (e^x does, beyond
/// x = 709), and log1p keeps the far negative tail, where softplus(x) ~ e^x, to full precision
/// (log(1 + e^x) would round 1 + e^x to 1 there and return 0).
/// Created once and reused in every step: the tape keeps its buffers.
public final class Softplus: CustomOperation {
    public typealias Scalar = Double

    public init() {}

    /// Each output element reads only its own input element, so rows stay apart: batches may be
    /// split over threads, and the structured empirical NTK can take a network with it apart.
    public var isRowIndependent: Bool { true }

    public func forward(_ context: CustomOperationContext<Double>) {
        let (x, y) = (context.input(0), context.output)
        for i in 0..<x.count { y[i] = max(x[i], 0) + log1p(exp(-abs(x[i]))) }
    }

    /// d softplus / dx = sigmoid(x) = 1 / (1 + e^-x), written with e^-|x| on both sides of 0 so
    /// that it never overflows: e^-|x| / (1 + e^-|x|) for x < 0.
    public func backward(_ context: CustomOperationContext<Double>) {
        guard let dx = context.inputGradient(0) else { return }
        let (x, dy) = (context.input(0), context.outputGradient)
        for i in 0..<x.count {
            let e = exp(-abs(x[i]))
            dx[i] += dy[i] * (x[i] >= 0 ? 1 / (1 + e) : e / (1 + e))
        }
    }
}

/// The softplus op as a layer. It has no parameters, and no infinite-width kernel map (E[phi(u)
/// phi(v)] has no closed form for softplus): `infiniteWidthKernel` on a network with it throws
/// an error naming this layer.
public struct SoftplusLayer: Layer {
    public typealias Scalar = Double
    public let operation: Softplus

    public init(_ operation: Softplus = Softplus()) { self.operation = operation }

    public func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { operation(x) }

    public var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }
}

/// `x + inner(x)` with inner = Dense, Tanh, Dense of one width, built from public layers and `+`.
/// Its parameters are named as those of this PyTorch module, so checkpoints and state dicts move
/// between the two:
/// ```python
/// class Residual(nn.Module):
///     def __init__(self, width):
///         super().__init__()
///         self.inner = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
///     def forward(self, x):
///         return x + self.inner(x)
/// ```
public struct ResidualBlock<Scalar: BLASScalar>: Layer {
    public let inner: Sequential<Scalar>

    public init(width: Int, generator: inout Xoshiro256StarStar) {
        inner = Sequential(Dense(width, width, generator: &generator), Tanh(), Dense(width, width, generator: &generator))
    }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x + inner(x) }

    /// `inner.0.weight`, `inner.0.bias`, `inner.2.weight`, `inner.2.bias`: the sublayer's name,
    /// a dot, then the sublayer's own names, as torch's `named_parameters()` does.
    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        inner.namedParameters.map { ("inner." + $0.name, $0.parameter) }
    }
}
