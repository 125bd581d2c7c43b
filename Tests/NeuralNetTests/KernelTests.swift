import Testing
@testable import NeuralNet

/// The vectorised kernels against plain scalar loops, the definitions they implement, at sizes
/// that run the `Lanes` body (8 Doubles, 16 Floats), the scalar tail, or both (Adam also runs
/// its C AVX loop first, on CPUs with AVX). Kernels that keep every operation's order must
/// match bit for bit; LayerNorm's row sums are reassociated, so it matches to rounding.
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

    func relu<Scalar: BLASScalar>(_: Scalar.Type, count: Int) {
        let x = Self.values(count, seed: 5, Scalar.self), dy = Self.values(count, seed: 6, Scalar.self)
        var y = [Scalar](repeating: .nan, count: count)
        activationForward(.relu, out: &y, input: x, count: count)
        #expect(y == x.map { $0 > 0 ? $0 : 0 }, "\(Scalar.self) count \(count)")
        var dx = Self.values(count, seed: 7, Scalar.self)
        var expected = dx
        for i in 0..<count where x[i] > 0 { expected[i] += dy[i] }
        activationBackward(.relu, inputGradient: &dx, outGradient: dy, input: x, output: y, count: count)
        #expect(dx == expected, "\(Scalar.self) count \(count)")
    }

    @Test(arguments: counts) func reluMatchesScalarLoop(count: Int) {
        relu(Double.self, count: count)
        relu(Float.self, count: count)
    }

    /// LayerNorm over 3 rows of `n` against sequential sums, with and without gamma and beta.
    func layerNorm<Scalar: BLASScalar>(_: Scalar.Type, n: Int, affine: Bool, tolerance: Double) {
        let m = 3
        let x = Self.values(m * n, seed: 8, Scalar.self).map { 2 * $0 + 0.5 }
        let dy = Self.values(m * n, seed: 9, Scalar.self)
        let gamma = Self.values(n, seed: 10, Scalar.self).map { $0 + 1 }, beta = Self.values(n, seed: 11, Scalar.self)
        let epsilon: Scalar = 1e-5
        var (expectedY, expectedDx) = ([Scalar](repeating: 0, count: m * n), Self.values(m * n, seed: 12, Scalar.self))
        var (expectedDgamma, expectedDbeta) = (Self.values(n, seed: 13, Scalar.self), Self.values(n, seed: 14, Scalar.self))
        var (y, dx, dgamma, dbeta) = (expectedY, expectedDx, expectedDgamma, expectedDbeta)
        for i in 0..<m {
            let row = (i * n)..<(i * n + n)
            let mu = x[row].reduce(0, +) / Scalar(n)
            let s = 1 / (x[row].reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Scalar(n) + epsilon).squareRoot()
            var (meanG, meanGXhat): (Scalar, Scalar) = (0, 0)
            for j in 0..<n {
                let xhat = (x[i * n + j] - mu) * s
                expectedY[i * n + j] = affine ? xhat * gamma[j] + beta[j] : xhat
                let g = affine ? dy[i * n + j] * gamma[j] : dy[i * n + j]
                meanG += g
                meanGXhat += g * xhat
                expectedDgamma[j] += dy[i * n + j] * xhat
                expectedDbeta[j] += dy[i * n + j]
            }
            meanG /= Scalar(n)
            meanGXhat /= Scalar(n)
            for j in 0..<n {
                let xhat = (x[i * n + j] - mu) * s
                let g = affine ? dy[i * n + j] * gamma[j] : dy[i * n + j]
                expectedDx[i * n + j] += s * (g - meanG - xhat * meanGXhat)
            }
        }
        var cache = [Scalar](repeating: 0, count: 2 * m)
        cache.withUnsafeMutableBufferPointer { cache in
        gamma.withUnsafeBufferPointer { gamma in
        beta.withUnsafeBufferPointer { beta in
        dgamma.withUnsafeMutableBufferPointer { dgamma in
        dbeta.withUnsafeMutableBufferPointer { dbeta in
            let (mean, rstd) = (cache.baseAddress!, cache.baseAddress! + m)
            layerNormForward(out: &y, mean: mean, rstd: rstd, input: x, weight: affine ? gamma.baseAddress : nil,
                             bias: affine ? beta.baseAddress : nil, m: m, n: n, epsilon: epsilon)
            layerNormBackward(inputGradient: &dx, weightGradient: affine ? dgamma.baseAddress : nil,
                              biasGradient: affine ? dbeta.baseAddress : nil, outGradient: dy, input: x,
                              weight: affine ? gamma.baseAddress : nil, mean: mean, rstd: rstd, m: m, n: n)
        }
        }
        }
        }
        }
        let scale = Double(n)
        func close(_ a: [Scalar], _ b: [Scalar]) -> Bool {
            zip(a, b).allSatisfy { abs(Double($0) - Double($1)) <= tolerance * scale * max(1, abs(Double($1))) }
        }
        #expect(close(y, expectedY) && close(dx, expectedDx), "\(Scalar.self) n \(n) affine \(affine)")
        if affine { #expect(close(dgamma, expectedDgamma) && close(dbeta, expectedDbeta), "\(Scalar.self) n \(n)") }
    }

    @Test(arguments: counts, [true, false]) func layerNormMatchesSequentialSums(n: Int, affine: Bool) {
        layerNorm(Double.self, n: n, affine: affine, tolerance: 1e-15)
        layerNorm(Float.self, n: n, affine: affine, tolerance: 1e-6)
    }
}
