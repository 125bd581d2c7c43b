/// Elementwise functions of one variable for building expressions: exp, log, square root, square,
/// absolute value. (The nonlinearities of a network's layers, with their kernel maps, are
/// `Activation`s.) Each forward writes `out = f(x)`; each backward adds `dx += dout * f'(x)`,
/// reading x and, where cheaper, out.

/// The elementwise functions of `Variable.exp()`, `log()`, `sqrt()`, `square()`, `abs()`.
@usableFromInline
enum UnaryFunction: Sendable {
    case exp, log, squareRoot, square, absoluteValue
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func unaryForward<Scalar: BLASScalar>(_ function: UnaryFunction, out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, count: Int) {
    switch function {
    case .exp: for i in 0..<count { out[i] = Scalar.exp(input[i]) }
    case .log: for i in 0..<count { out[i] = Scalar.log(input[i]) }
    case .squareRoot: for i in 0..<count { out[i] = Scalar.sqrt(input[i]) }
    case .square: for i in 0..<count { out[i] = input[i] * input[i] }
    case .absoluteValue: for i in 0..<count { out[i] = input[i] < 0 ? -input[i] : input[i] }
    }
}

/// exp: dx += dout * out; log: dx += dout / x; sqrt: dx += dout / (2 out) (infinite at 0, as
/// PyTorch); square: dx += 2 x dout; abs: dx += sign(x) dout with sign(0) = 0 (PyTorch's convention).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func unaryBackward<Scalar: BLASScalar>(
    _ function: UnaryFunction, inputGradient: UnsafeMutablePointer<Scalar>, outGradient: UnsafePointer<Scalar>,
    input: UnsafePointer<Scalar>, output: UnsafePointer<Scalar>, count: Int
) {
    switch function {
    case .exp: for i in 0..<count { inputGradient[i] += outGradient[i] * output[i] }
    case .log: for i in 0..<count { inputGradient[i] += outGradient[i] / input[i] }
    case .squareRoot: for i in 0..<count { inputGradient[i] += outGradient[i] / (2 * output[i]) }
    case .square: for i in 0..<count { inputGradient[i] += 2 * input[i] * outGradient[i] }
    case .absoluteValue:
        for i in 0..<count {
            let x = input[i]
            inputGradient[i] += x > 0 ? outGradient[i] : x < 0 ? -outGradient[i] : 0
        }
    }
}

extension Tape {
    func unary(_ x: Variable<Scalar>, _ function: UnaryFunction) -> Variable<Scalar> {
        let input = node(of: x, in: "unary function")
        let node = nextNode(shape: input.value.shape, operation: .unary(input: x.index, function))
        unaryForward(function, out: node.value.unsafeMutableBaseAddress(), input: input.value.unsafeBaseAddress, count: input.value.count)
        node.requiresGradient = input.requiresGradient
        return recordedVariable()
    }

    func unaryBackwardStep(_ node: Node<Scalar>, input: Node<Scalar>, function: UnaryFunction) {
        guard input.requiresGradient else { return }
        unaryBackward(function, inputGradient: input.gradientToAddInto(), outGradient: node.gradient.unsafeBaseAddress,
                      input: input.value.unsafeBaseAddress, output: node.value.unsafeBaseAddress, count: node.value.count)
    }
}

extension Variable {
    /// e^x, elementwise.
    public func exp() -> Variable { tape.unary(self, .exp) }
    /// The natural logarithm, elementwise (NaN below 0, -infinity at 0).
    public func log() -> Variable { tape.unary(self, .log) }
    /// The square root, elementwise (its gradient is infinite at 0).
    public func sqrt() -> Variable { tape.unary(self, .squareRoot) }
    /// x^2, elementwise.
    public func square() -> Variable { tape.unary(self, .square) }
    /// |x|, elementwise (gradient 0 at 0).
    public func abs() -> Variable { tape.unary(self, .absoluteValue) }
}
