// Custom ops written against the public API, shared by the test targets that check them
// (NeuralNetTests: gradients, buffers, data-parallel training; TangentKernelsTests: the empirical NTK).
import NeuralNet

/// y[i, j] = x[i, j] * scale[j]: a custom op with a parameter, row-independent. It declares its
/// empirical-NTK factors (sample i's gradient with respect to scale is D_i .* x_i) unless told
/// not to, and can be told to get one column's gradient wrong (doubled), for the gradient check.
public final class ColumnScale: CustomOperation {
    public typealias Scalar = Double
    public let scale: Parameter<Double>
    public let parameters: [Parameter<Double>]
    let declaresFactors: Bool
    let doubledGradientColumn: Int?

    public init(_ scale: Tensor<Double>, declaresFactors: Bool = true, doubledGradientColumn: Int? = nil) {
        self.scale = Parameter(scale)
        parameters = [self.scale]
        self.declaresFactors = declaresFactors
        self.doubledGradientColumn = doubledGradientColumn
    }

    public var isRowIndependent: Bool { true }

    public func forward(_ context: CustomOperationContext<Double>) {
        let (x, y, a) = (context.input(0), context.output, scale.value.unsafeBaseAddress)
        let columns = scale.value.count
        for i in 0..<x.count { y[i] = x[i] * a[i % columns] }
    }

    public func backward(_ context: CustomOperationContext<Double>) {
        let (x, dy, a) = (context.input(0), context.outputGradient, scale.value.unsafeBaseAddress)
        let columns = scale.value.count
        if let dx = context.inputGradient(0) { for i in 0..<x.count { dx[i] += dy[i] * a[i % columns] } }
        if let da = context.gradient(of: scale) {
            for i in 0..<x.count { da[i % columns] += dy[i] * x[i] * (i % columns == doubledGradientColumn ? 2 : 1) }
        }
    }

    /// Linear in x: its tangent is the op itself applied to the tangents (their rows are rows too).
    public var providesTangents: Bool { true }
    public func tangents(of input: ValueAndTangents<Double>, output: Variable<Double>) -> Variable<Double> {
        input.tape.record(self, input.tangents)
    }

    public func tangentKernelTerms(_ context: CustomOperationContext<Double>) -> [TangentKernelTerm<Double>]? {
        guard declaresFactors else { return nil }
        let (x, d) = (context.input(0), context.outputGradient)
        return [.perSampleGradients(Tensor(shape: context.inputShape(0), scalars: (0..<x.count).map { d[$0] * x[$0] }))]
    }
}

/// Each row minus the batch's mean row: mixes rows, and says so by not declaring `isRowIndependent`.
public final class SubtractBatchMean: CustomOperation {
    public typealias Scalar = Double
    public init() {}
    public func forward(_ context: CustomOperationContext<Double>) {
        let (x, y) = (context.input(0), context.output)
        let (rows, columns) = (context.inputShape(0)[0], context.inputShape(0)[1])
        for j in 0..<columns {
            var mean = 0.0
            for i in 0..<rows { mean += x[i * columns + j] }
            mean /= Double(rows)
            for i in 0..<rows { y[i * columns + j] = x[i * columns + j] - mean }
        }
    }
    public func backward(_ context: CustomOperationContext<Double>) {
        guard let dx = context.inputGradient(0) else { return }
        let dy = context.outputGradient
        let (rows, columns) = (context.inputShape(0)[0], context.inputShape(0)[1])
        for j in 0..<columns {
            var mean = 0.0
            for i in 0..<rows { mean += dy[i * columns + j] }
            mean /= Double(rows)
            for i in 0..<rows { dx[i * columns + j] += dy[i * columns + j] - mean }
        }
    }
}

/// The rowwise dot product of two inputs, [rows, n] x [rows, n] -> [rows, 1], keeping the first
/// input's row norms in the cache to check that the cache reaches the backward intact.
public final class RowDot: CustomOperation {
    public typealias Scalar = Double
    public init() {}
    public var isRowIndependent: Bool { true }
    public func outputShape(_ context: CustomOperationContext<Double>) -> CustomOperationShape {
        precondition(context.inputShape(0) == context.inputShape(1), "RowDot: inputs of different shapes")
        return .matrix(rows: context.inputShape(0)[0], columns: 1)
    }
    public func cacheCount(_ context: CustomOperationContext<Double>) -> Int { context.inputShape(0)[0] }
    public func forward(_ context: CustomOperationContext<Double>) {
        let (a, b, y, cache) = (context.input(0), context.input(1), context.output, context.cache)
        let columns = context.inputShape(0)[1]
        for i in 0..<y.count {
            var dot = 0.0, norm = 0.0
            for j in 0..<columns {
                dot += a[i * columns + j] * b[i * columns + j]
                norm += a[i * columns + j] * a[i * columns + j]
            }
            y[i] = dot
            cache[i] = norm
        }
    }
    public func backward(_ context: CustomOperationContext<Double>) {
        let (a, b, dy, cache) = (context.input(0), context.input(1), context.outputGradient, context.cache)
        let columns = context.inputShape(0)[1]
        for i in 0..<dy.count {
            var norm = 0.0
            for j in 0..<columns { norm += a[i * columns + j] * a[i * columns + j] }
            precondition(norm == cache[i], "RowDot: the cache changed between forward and backward")
        }
        if let da = context.inputGradient(0) { for k in 0..<a.count { da[k] += dy[k / columns] * b[k] } }
        if let db = context.inputGradient(1) { for k in 0..<b.count { db[k] += dy[k / columns] * a[k] } }
    }
}

/// A layer around one custom op, naming its parameter as a torch module would.
public struct CustomLayer<Operation: CustomOperation>: Layer where Operation.Scalar == Double {
    public let operation: Operation
    public init(operation: Operation) { self.operation = operation }
    public func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { operation(x) }
    public var namedParameters: [(name: String, parameter: Parameter<Double>)] {
        operation.parameters.enumerated().map { ("\($0.offset)", $0.element) }
    }
}
