import Testing
@testable import NeuralNet

/// The vectorised kernels against plain scalar loops, the definitions they implement, at sizes
/// that run the `Lanes` body (8 Doubles, 16 Floats), the scalar tail, or both. Kernels that keep
/// every operation's order must match bit for bit.
@Suite struct KernelTests {
    static let counts = [1, 7, 8, 9, 16, 17, 37, 131]

    /// Values in [-1, 1) with exact zeros mixed in (ReLU's kink, the sign of a zero).
    static func values<Scalar: BLASScalar>(_ count: Int, seed: UInt64, _: Scalar.Type = Scalar.self) -> [Scalar] {
        var generator = Xoshiro256StarStar(seed: seed)
        return Tensor<Scalar>.randomUniform([count], low: -1, high: 1, using: &generator).scalars
            .enumerated().map { $0.offset % 5 == 3 ? 0 : $0.element }
    }

    func adam<Scalar: BLASScalar>(_: Scalar.Type, count: Int, weightDecay: Scalar, decayFactor: Scalar) {
        var p = Self.values(count, seed: 1, Scalar.self), m = Self.values(count, seed: 2, Scalar.self)
        var v = Self.values(count, seed: 3, Scalar.self).map { $0 * $0 }
        let g = Self.values(count, seed: 4, Scalar.self)
        var (expectedP, expectedM, expectedV) = (p, m, v)
        let (stepSize, c2, beta1, beta2, epsilon): (Scalar, Scalar, Scalar, Scalar, Scalar) = (0.01, 0.3, 0.9, 0.999, 1e-8)
        for i in 0..<count {
            expectedP[i] *= decayFactor
            let gradient = g[i] + weightDecay * expectedP[i]
            expectedM[i] += (gradient - expectedM[i]) * (1 - beta1)
            expectedV[i] = beta2 * expectedV[i] + (1 - beta2) * gradient * gradient
            expectedP[i] -= stepSize * expectedM[i] / (expectedV[i].squareRoot() / c2 + epsilon)
        }
        adamUpdate(parameter: &p, gradient: g, firstMoment: &m, secondMoment: &v, count: count, stepSize: stepSize,
                   biasCorrection2Sqrt: c2, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   weightDecay: weightDecay, decayFactor: decayFactor)
        #expect(p == expectedP && m == expectedM && v == expectedV, "\(Scalar.self) count \(count)")
    }

    @Test(arguments: counts) func adamUpdateMatchesScalarLoop(count: Int) {
        adam(Double.self, count: count, weightDecay: 0, decayFactor: 1)
        adam(Double.self, count: count, weightDecay: 0.1, decayFactor: 0.99)
        adam(Float.self, count: count, weightDecay: 0, decayFactor: 1)
        adam(Float.self, count: count, weightDecay: 0.1, decayFactor: 0.99)
    }
}
