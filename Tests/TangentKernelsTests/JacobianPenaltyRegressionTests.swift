import Testing
import TangentKernels
import TestSupport

/// The robust-training predictor against a direct numerical solution of its ODE, and the
/// consequences its closed form implies at t = infinity.
@Suite struct JacobianPenaltyRegressionTests {
    static var network: Sequential<Double> { JacobianKernelTests.network("gelu2") }
    static let inputs = Tensor<Double>(shape: [3, 3], scalars: [0.3, -0.5, 0.8, -0.2, 0.4, 0.1, 1.2, 0.7, -0.4])
    static let targets = Tensor<Double>(shape: [3], scalars: [0.5, -1.0, 0.25])
    static let testPoints = Tensor<Double>(shape: [2, 3], scalars: [0.1, 0.2, -0.3, 2.0, -1.0, 0.5])

    /// dG/dt = -(2/N) Theta_J(., X) Lambda (G(X) - Yhat) from G = 0, integrated by classical
    /// Runge-Kutta (step 1e-3) for the training and test points together.
    static func integrate(penalty: Double, until time: Double) throws -> Tensor<Double> {
        let size = 4, n = 3 * size, m = 2 * size
        // Theta_J of the training points and of the test points against them, as rows of one n + m by n matrix.
        let kernel = try network.infiniteWidthJacobianKernel(inputs).ntk.scalars
            + network.infiniteWidthJacobianKernel(testPoints, inputs).ntk.scalars
        let y = targets.scalars
        let c = 2.0 / 3
        func derivative(_ state: [Double]) -> [Double] {
            // Lambda (G(X) - Yhat): y_i at each point's first entry, 0 for its gradient.
            let residual = (0..<n).map { r in
                (state[r] - (r % size == 0 ? y[r / size] : 0)) * (r % size == 0 ? 1 : penalty)
            }
            var rate = [Double](repeating: 0, count: n + m)
            for r in 0..<(n + m) {
                for k in 0..<n { rate[r] -= c * kernel[r * n + k] * residual[k] }
            }
            return rate
        }
        var state = [Double](repeating: 0, count: n + m)
        let steps = Int((time / 1e-3).rounded()), h = time / Double(steps)
        for _ in 0..<steps {
            let k1 = derivative(state)
            let k2 = derivative(zip(state, k1).map { $0 + h / 2 * $1 })
            let k3 = derivative(zip(state, k2).map { $0 + h / 2 * $1 })
            let k4 = derivative(zip(state, k3).map { $0 + h * $1 })
            state = (0..<(n + m)).map { state[$0] + h / 6 * (k1[$0] + 2 * k2[$0] + 2 * k3[$0] + k4[$0]) }
        }
        return Tensor(shape: [n + m], scalars: state)
    }

    @Test(arguments: [(0.3, 0.7), (1.0, 2.5), (0.05, 4.0)])
    func finiteTimeEqualsTheODE(_ penalty: Double, _ time: Double) throws {
        let regression = try JacobianPenaltyRegression(network: Self.network, inputs: Self.inputs, targets: Self.targets, penalty: penalty)
        let predicted = Tensor<Double>(shape: [20], scalars: try regression.predict(Self.inputs, time: time).scalars
                                                             + regression.predict(Self.testPoints, time: time).scalars)
        let solved = try Self.integrate(penalty: penalty, until: time)
        let difference = zip(predicted.scalars, solved.scalars).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-9, "lambda \(penalty), t \(time): \(difference)")
        #expect(solved.maxAbs() > 0.1)
        print("Jacobian penalty predictor, lambda \(penalty), t \(time): largest difference to Runge-Kutta \(difference); "
              + "Theta_J(X, X) eigenvalues \(regression.eigenvalueRange), jitter \(regression.jitter)")
    }

    @Test func atInfinityItInterpolatesHasZeroGradientsAndIgnoresLambda() throws {
        let small = try JacobianPenaltyRegression(network: Self.network, inputs: Self.inputs, targets: Self.targets, penalty: 0.01)
        let large = try JacobianPenaltyRegression(network: Self.network, inputs: Self.inputs, targets: Self.targets, penalty: 1)
        #expect(small.jitter == 0 && large.jitter == 0)
        #expect(small.eigenvalueRange.minimum > 0 && small.eigenvalueRange.maximum > small.eigenvalueRange.minimum)
        let atTraining = try small.predict(Self.inputs)
        for i in 0..<3 {
            #expect(abs(atTraining[i, 0] - Self.targets[i]) < 1e-9)
            for j in 1...3 { #expect(abs(atTraining[i, j]) < 1e-9) }
        }
        let difference = zip(try small.predict(Self.testPoints).scalars, try large.predict(Self.testPoints).scalars).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-9)
        // Long finite times approach the limit.
        let late = zip(try small.predict(Self.testPoints, time: 1e7).scalars, try small.predict(Self.testPoints).scalars).map { abs($0 - $1) }.max()!
        #expect(late < 1e-8)
    }
}
