import Foundation
import Testing
@testable import NeuralNet

/// Gradient flow on a quadratic loss against its closed form: for an affine model y = x Wᵀ + b
/// with MSE, each output's parameters theta_k = (w_k, b_k) follow d theta/dt = -H theta + c_k with
/// H = (2 / (n K)) Xa^T Xa, c_k = (2 / (n K)) Xa^T y_k (Xa = [X, 1], K outputs), so
/// exp(t [[-H, c], [0, 0]]) = [[exp(-tH), (integral_0^t exp(-sH) ds) c], [0, 1]] gives theta_k(t).
@Suite struct GradientFlowTests {
    /// exp(A) by scaling and squaring a 30-term Taylor series (A small after scaling).
    static func matrixExponential(_ a: [[Double]]) -> [[Double]] {
        let n = a.count
        let norm = a.map { $0.map(abs).reduce(0, +) }.max() ?? 0
        let squarings = max(0, Int(ceil(log2(max(norm, 1e-300) / 0.25))))
        let scaled = a.map { $0.map { $0 / pow(2, Double(squarings)) } }
        func multiply(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
            (0..<n).map { i in (0..<n).map { j in (0..<n).reduce(0) { $0 + x[i][$1] * y[$1][j] } } }
        }
        var result = (0..<n).map { i in (0..<n).map { i == $0 ? 1.0 : 0 } }
        var term = result
        for k in 1...30 {
            term = multiply(term, scaled).map { $0.map { $0 / Double(k) } }
            result = zip(result, term).map { zip($0, $1).map(+) }
        }
        for _ in 0..<squarings { result = multiply(result, result) }
        return result
    }

    struct Problem {
        let x: Tensor<Double>, y: Tensor<Double>
        let initialWeight: Tensor<Double>, initialBias: Tensor<Double>
    }

    static func problem() -> Problem {
        var generator = Xoshiro256StarStar(seed: 21)
        let x = Tensor<Double>.randomNormal([12, 3], using: &generator)
        let y = Tensor<Double>.randomNormal([12, 2], using: &generator)
        let layer = Dense<Double>(3, 2, generator: &generator)
        return Problem(x: x, y: y, initialWeight: layer.weight.value, initialBias: layer.bias!.value)
    }

    /// The exact parameters at time t, [W | b] row by row (output k: w_k then b_k).
    static func exact(_ problem: Problem, time: Double) -> [[Double]] {
        let (n, d, outputs) = (problem.x.rows, problem.x.columns, problem.y.columns)
        let xa = (0..<n).map { i in (0..<d).map { problem.x[i, $0] } + [1] }
        let factor = 2 / Double(n * outputs)
        let h = (0...d).map { i in (0...d).map { j in factor * (0..<n).reduce(0) { $0 + xa[$1][i] * xa[$1][j] } } }
        return (0..<outputs).map { k in
            let c = (0...d).map { i in factor * (0..<n).reduce(0) { $0 + xa[$1][i] * problem.y[$1, k] } }
            var generator = (0...d).map { i in (0...d).map { -time * h[i][$0] } + [time * c[i]] }
            generator.append([Double](repeating: 0, count: d + 2))
            let e = matrixExponential(generator)
            let theta0 = (0..<d).map { problem.initialWeight[k, $0] } + [problem.initialBias[k]]
            return (0...d).map { i in (0...d).reduce(e[i][d + 1]) { $0 + e[i][$1] * theta0[$1] } }
        }
    }

    /// Flows the affine model to `time`; returns [W | b] row by row and the flow.
    static func flow<Scalar: BLASScalar>(_ problem: Problem, time: Double, tolerance: Double, as: Scalar.Type) throws
        -> (parameters: [[Double]], flow: GradientFlow<Scalar>) {
        let layer = Dense<Scalar>(weight: problem.initialWeight.converted(), bias: problem.initialBias.converted())
        let (x, y): (Tensor<Scalar>, Tensor<Scalar>) = (problem.x.converted(), problem.y.converted())
        let tape = Tape<Scalar>()
        let flow = GradientFlow(parameters: layer.parameters, relativeTolerance: tolerance) {
            tape.reset()
            for parameter in layer.parameters { parameter.zeroGradient() }
            let loss = meanSquaredError(layer(tape.input(x)), y)
            tape.backward(loss)
            return Double(loss.value.scalar)
        }
        try flow.run(until: time)
        let rows = (0..<2).map { k in (0..<3).map { Double(layer.weight.value[k, $0]) } + [Double(layer.bias!.value[k])] }
        return (rows, flow)
    }

    static func error(_ a: [[Double]], _ b: [[Double]]) -> Double {
        zip(a.joined(), b.joined()).map { abs($0 - $1) }.max()!
    }

    @Test func equalsTheMatrixExponentialAndConvergesAsTheToleranceTightens() throws {
        let problem = Self.problem()
        let time = 3.0
        let exact = Self.exact(problem, time: time)
        let moved = Self.error(exact, Self.exact(problem, time: 0))
        #expect(moved > 0.1, "the flow must move the parameters for the comparison to mean anything: \(moved)")
        var errors: [Double] = []
        for tolerance in [1e-4, 1e-6, 1e-8, 1e-10] {
            let (parameters, flow) = try Self.flow(problem, time: time, tolerance: tolerance, as: Double.self)
            #expect(flow.time == time)
            let error = Self.error(parameters, exact)
            // Local errors are held to tol (1 + |theta|), |theta| < 2 here; the global error of this
            // contracting flow stays within a small multiple of that.
            #expect(error < 10 * tolerance, "tolerance \(tolerance): error \(error)")
            errors.append(error)
        }
        for (looser, tighter) in zip(errors, errors.dropFirst()) { #expect(tighter < looser / 10, "\(errors)") }
    }

    @Test func float32Flows() throws {
        let problem = Self.problem()
        let (parameters, flow) = try Self.flow(problem, time: 3, tolerance: 1e-5, as: Float.self)
        #expect(Self.error(parameters, Self.exact(problem, time: 3)) < 1e-4)
        #expect(flow.acceptedSteps > 0 && flow.gradientEvaluations >= 6 * flow.acceptedSteps)
    }

    /// Stopped at t = 1 and continued from its state on fresh parameters, the flow ends where an
    /// unstopped one does, with the same counts.
    @Test func resumesFromItsState() throws {
        let problem = Self.problem()
        let (whole, wholeFlow) = try Self.flow(problem, time: 3, tolerance: 1e-7, as: Double.self)
        let (_, firstPart) = try Self.flow(problem, time: 1, tolerance: 1e-7, as: Double.self)
        let layer = Dense<Double>(weight: firstPart.parameters[0].value, bias: firstPart.parameters[1].value)
        let tape = Tape<Double>()
        let resumed = GradientFlow(parameters: layer.parameters, relativeTolerance: 1e-7) {
            tape.reset()
            for parameter in layer.parameters { parameter.zeroGradient() }
            let loss = meanSquaredError(layer(tape.input(problem.x)), problem.y)
            tape.backward(loss)
            return loss.value.scalar
        }
        resumed.state = firstPart.state
        try resumed.run(until: 3)
        let rows = (0..<2).map { k in (0..<3).map { layer.weight.value[k, $0] } + [layer.bias!.value[k]] }
        // Not bit-identical: the first part's last step was cut to end at t = 1.
        #expect(Self.error(rows, whole) < 1e-6)
        #expect(resumed.gradientEvaluations > firstPart.gradientEvaluations)
        _ = wholeFlow
    }
}
