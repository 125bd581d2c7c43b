import CKernels
import Testing
@testable import NeuralNet

/// The vectorised kernels against plain scalar loops, the definitions they implement, at sizes
/// that run the vector body (8 Doubles, 16 Floats), the padded tail, or both. CKernels' loops run
/// at every vector level the CPU has (`atEveryLevel`); where they fuse multiply-adds (AVX2,
/// AVX-512) or reassociate a sum (LayerNorm's rows, the loss) they match to rounding, ReLU and the
/// bias rows bit for bit. Adam keeps every operation's order (its C AVX loop runs first on CPUs
/// with AVX) and matches bit for bit.
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

    /// ReLU forward and the backward of ReLU, tanh and sigmoid (adding into dx and writing it), at
    /// every vector level. ReLU's results are exact; tanh's and sigmoid's within rounding (FMA).
    func activations<Scalar: BLASScalar>(_: Scalar.Type, count: Int, tolerance: Double) {
        let x = Self.values(count, seed: 5, Scalar.self), dy = Self.values(count, seed: 6, Scalar.self)
        let dx = Self.values(count, seed: 7, Scalar.self)
        let forward = Self.atEveryLevel([x, [Scalar](repeating: .nan, count: count)], outputs: [1]) { level, b in
            finitewidth_relu_forward(Scalar.kernelPrecision, level, b[1], b[0], count)
        } swift: { b in
            activationForward(.relu, out: b[1], input: b[0], count: count)
        }
        for (level, results) in forward {
            #expect(Self.bits(results) == Self.bits([x.map { $0 > 0 ? $0 : 0 }]), "\(Scalar.self) count \(count) level \(level)")
        }
        // tanh and sigmoid read their output y; any values in (-1, 1) do for the loop.
        let y = Self.values(count, seed: 8, Scalar.self)
        let derivatives: [(Activation, finitewidth_activation, (Int) -> Scalar)] = [
            (.relu, FINITEWIDTH_RELU, { x[$0] > 0 ? dy[$0] : 0 }),
            (.tanh, FINITEWIDTH_TANH, { dy[$0] * (1 - y[$0] * y[$0]) }),
            (.sigmoid, FINITEWIDTH_SIGMOID, { dy[$0] * y[$0] * (1 - y[$0]) }),
        ]
        for (activation, kind, contribution) in derivatives {
            for accumulate in [true, false] {
                let expected = (0..<count).map { accumulate ? dx[$0] + contribution($0) : contribution($0) }
                let backward = Self.atEveryLevel([x, dy, y, dx], outputs: [3]) { level, b in
                    finitewidth_activation_backward(Scalar.kernelPrecision, level, kind, b[3], accumulate ? 1 : 0,
                                                    b[1], b[0], b[2], count)
                } swift: { b in
                    activationBackward(activation, inputGradient: b[3], accumulate: accumulate, outGradient: b[1],
                                       input: b[0], output: b[2], count: count)
                }
                for (level, results) in backward {
                    let message: Comment = "\(activation) \(Scalar.self) count \(count) accumulate \(accumulate) level \(level)"
                    if activation == .relu {
                        // Adding ReLU's zeros changes a -0 to +0 at most: compare values.
                        #expect(results[0] == expected, message)
                    } else {
                        #expect(Self.close(results[0], expected, tolerance: tolerance), message)
                    }
                }
            }
        }
    }

    @Test(arguments: counts) func activationsMatchScalarLoops(count: Int) {
        activations(Double.self, count: count, tolerance: 4e-16)
        activations(Float.self, count: count, tolerance: 2e-7)
    }

    /// LayerNorm over 3 rows of `n` against sequential sums, with and without gamma and beta,
    /// adding into the gradients or writing them, at every vector level.
    func layerNorm<Scalar: BLASScalar>(_: Scalar.Type, n: Int, affine: Bool, accumulate: Bool, tolerance: Double) {
        let m = 3
        let x = Self.values(m * n, seed: 8, Scalar.self).map { 2 * $0 + 0.5 }
        let dy = Self.values(m * n, seed: 9, Scalar.self)
        let gamma = Self.values(n, seed: 10, Scalar.self).map { $0 + 1 }, beta = Self.values(n, seed: 11, Scalar.self)
        let epsilon: Scalar = 1e-5
        let (dx, dgamma, dbeta) = (Self.values(m * n, seed: 12, Scalar.self), Self.values(n, seed: 13, Scalar.self),
                                   Self.values(n, seed: 14, Scalar.self))
        var expectedY = [Scalar](repeating: 0, count: m * n)
        var expectedDx = accumulate ? dx : [Scalar](repeating: 0, count: m * n)
        var expectedDgamma = accumulate ? dgamma : [Scalar](repeating: 0, count: n)
        var expectedDbeta = accumulate ? dbeta : [Scalar](repeating: 0, count: n)
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
        let outputs = Self.atEveryLevel([x, dy, gamma, beta, expectedY, [Scalar](repeating: 0, count: 2 * m), dx, dgamma, dbeta],
                                        outputs: [4, 6, 7, 8]) { level, b in
            let (weight, bias) = affine ? (b[2], b[3]) : (nil, nil)
            finitewidth_layer_norm_forward(Scalar.kernelPrecision, level, b[4], b[5], b[5] + m, b[0], weight, bias,
                                           m, n, Double(epsilon))
            finitewidth_layer_norm_backward(Scalar.kernelPrecision, level, b[6], accumulate ? 1 : 0,
                                            affine ? b[7] : nil, affine ? b[8] : nil, accumulate ? 1 : 0,
                                            b[1], b[0], weight, b[5], b[5] + m, m, n)
        } swift: { b in
            let (weight, bias) = affine ? (b[2], b[3]) : (nil, nil)
            layerNormForward(out: b[4], mean: b[5], rstd: b[5] + m, input: b[0], weight: weight, bias: bias,
                             m: m, n: n, epsilon: epsilon)
            layerNormBackward(inputGradient: b[6], accumulateInputGradient: accumulate,
                              weightGradient: affine ? b[7] : nil, biasGradient: affine ? b[8] : nil,
                              accumulateParameterGradients: accumulate, outGradient: b[1], input: b[0],
                              weight: weight, mean: b[5], rstd: b[5] + m, m: m, n: n)
        }
        let expected = affine ? [expectedY, expectedDx, expectedDgamma, expectedDbeta] : [expectedY, expectedDx, dgamma, dbeta]
        for (level, results) in outputs {
            for (result, reference) in zip(results, expected) {
                #expect(Self.close(result, reference, tolerance: tolerance * Double(n)),
                        "\(Scalar.self) n \(n) affine \(affine) accumulate \(accumulate) level \(level)")
            }
        }
    }

    /// Rows whose squares overflow (beyond 1e154) take the scaled path, at every level, in a pair
    /// of rows with an ordinary one and alone: LayerNorm(c x) = (x - mean) / sqrt(var + eps / c^2).
    @Test(arguments: [9, 16]) func layerNormRowsBeyondTheRangeOfSquares(n: Int) {
        let scales = [1e200, 1, 1e300]
        let base = Self.values(scales.count * n, seed: 40, Double.self)
        let x = base.enumerated().map { $0.element * scales[$0.offset / n] }
        let epsilon = 1e-5
        var expected: [Double] = []
        for (i, scale) in scales.enumerated() {
            let row = base[(i * n)..<(i * n + n)]
            let mean = row.reduce(0, +) / Double(n)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
            expected += row.map { ($0 - mean) / (variance + epsilon / (scale * scale)).squareRoot() }
        }
        let outputs = Self.atEveryLevel([x, expected, [Double](repeating: 0, count: 2 * scales.count)], outputs: [1]) { level, b in
            finitewidth_layer_norm_forward(FINITEWIDTH_FLOAT64, level, b[1], b[2], b[2] + scales.count, b[0], nil, nil,
                                           scales.count, n, epsilon)
        }
        for (level, results) in outputs {
            #expect(Self.close(results[0], expected, tolerance: 1e-12), "n \(n) level \(level): \(results[0])")
        }
    }

    @Test(arguments: counts, [true, false]) func layerNormMatchesSequentialSums(n: Int, affine: Bool) {
        for accumulate in [true, false] {
            layerNorm(Double.self, n: n, affine: affine, accumulate: accumulate, tolerance: 1e-15)
            layerNorm(Float.self, n: n, affine: affine, accumulate: accumulate, tolerance: 1e-6)
        }
    }

    /// Dense's bias rows, bias gradient (adding and writing, scaled or not) and outer products
    /// (a product with one input or one output) over 3 rows of `n` columns, at every vector level.
    func dense<Scalar: BLASScalar>(_: Scalar.Type, n: Int, tolerance: Double) {
        let m = 3
        let bias = Self.values(n, seed: 20, Scalar.self), dout = Self.values(m * n, seed: 21, Scalar.self)
        let column = Self.values(m, seed: 22, Scalar.self), start = Self.values(m * n, seed: 23, Scalar.self)
        for biasScale: Scalar in [1, 0.375] {
            let rows = Self.atEveryLevel([bias, start], outputs: [1]) { level, b in
                finitewidth_dense_bias_rows(Scalar.kernelPrecision, level, b[1], b[0], Double(biasScale), m, n)
            }
            let expectedRows = (0..<(m * n)).map { biasScale * bias[$0 % n] }
            for (level, results) in rows { #expect(results[0] == expectedRows, "\(Scalar.self) n \(n) level \(level)") }

            for accumulate in [true, false] {
                var expected = accumulate ? bias : [Scalar](repeating: 0, count: n)
                for i in 0..<m { for j in 0..<n { expected[j] += biasScale * dout[i * n + j] } }
                let sums = Self.atEveryLevel([dout, bias], outputs: [1]) { level, b in
                    finitewidth_sums_over_rows(Scalar.kernelPrecision, level, b[1], accumulate ? 1 : 0, b[0],
                                                    Double(biasScale), m, n)
                } swift: { b in
                    denseBackward(inputGradient: nil, weightGradient: nil, biasGradient: b[1],
                                  accumulateParameterGradients: accumulate, outGradient: b[0], input: b[0],
                                  weight: b[0], m: m, k: 1, n: n, weightScale: 1, biasScale: biasScale)
                }
                for (level, results) in sums {
                    #expect(Self.close(results[0], expected, tolerance: tolerance * Double(m)),
                            "\(Scalar.self) n \(n) scale \(biasScale) accumulate \(accumulate) level \(level)")
                }
            }
        }
        // out = start + scale column rowᵀ, where start is out, the scaled bias or zero; NeuralNet
        // runs these for a Dense layer with one input (forward) or one output (dx).
        let (scale, biasScale): (Scalar, Scalar) = (0.625, 0.25)
        for startFrom in ["output", "bias", "zero"] {
            let expected = (0..<(m * n)).map { index in
                let base = startFrom == "output" ? start[index] : startFrom == "bias" ? biasScale * bias[index % n] : 0
                return scale * column[index / n] * bias[index % n] + base
            }
            let products = Self.atEveryLevel([column, bias, start], outputs: [2]) { level, b in
                finitewidth_outer_product(Scalar.kernelPrecision, level, b[2], startFrom == "output" ? 1 : 0, b[0], b[1],
                                          Double(scale), startFrom == "bias" ? b[1] : nil, Double(biasScale), m, n)
            } swift: { b in
                if startFrom == "output" {
                    denseBackward(inputGradient: b[2], weightGradient: nil, biasGradient: nil, outGradient: b[0],
                                  input: b[0], weight: b[1], m: m, k: n, n: 1, weightScale: scale, biasScale: 1)
                } else {
                    denseForward(out: b[2], input: b[0], weight: b[1], bias: startFrom == "bias" ? b[1] : nil,
                                 m: m, k: 1, n: n, weightScale: scale, biasScale: biasScale)
                }
            }
            for (level, results) in products {
                #expect(Self.close(results[0], expected, tolerance: tolerance),
                        "\(Scalar.self) n \(n) start from \(startFrom) level \(level)")
            }
        }
    }

    @Test(arguments: counts) func denseLoopsMatchScalarLoops(n: Int) {
        dense(Double.self, n: n, tolerance: 4e-16)
        dense(Float.self, n: n, tolerance: 2e-7)
    }

    /// The mean squared error's sum and backward (adding and writing) at every vector level.
    func meanSquaredError<Scalar: BLASScalar>(_: Scalar.Type, count: Int, tolerance: Double) {
        let prediction = Self.values(count, seed: 30, Scalar.self), target = Self.values(count, seed: 31, Scalar.self)
        let expectedSum = zip(prediction, target).reduce(Scalar(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        var sums: [String] = []
        for level in Self.levels {
            let sum = prediction.withUnsafeBufferPointer { prediction in
                target.withUnsafeBufferPointer { target in
                    Scalar(finitewidth_squared_error_sum(Scalar.kernelPrecision, level, prediction.baseAddress,
                                                         target.baseAddress, count))
                }
            }
            #expect(abs(Double(sum - expectedSum)) <= tolerance * Double(count) * Double(expectedSum),
                    "\(Scalar.self) count \(count) level \(level)")
            sums.append(Self.bits([[sum]])[0][0])
        }
        let mean = meanSquaredErrorForward(prediction: prediction, target: target, count: count)
        #expect(abs(Double(mean - expectedSum / Scalar(count))) <= 2 * tolerance * Double(count) * Double(mean),
                "\(Scalar.self) count \(count): the mean")
        if let avx2 = Self.levels.firstIndex(of: FINITEWIDTH_VECTORS_AVX2_FMA), Self.levels.count > avx2 + 1 {
            #expect(sums[avx2] == sums[avx2 + 1], "\(Scalar.self): AVX2 and AVX-512 sums differ")
        }
        let dloss: Scalar = 0.75
        let factor = 2 * dloss / Scalar(count)
        let gradient = Self.values(count, seed: 32, Scalar.self)
        for accumulate in [true, false] {
            let expected = (0..<count).map { (accumulate ? gradient[$0] : 0) + factor * (prediction[$0] - target[$0]) }
            let results = Self.atEveryLevel([prediction, target, gradient], outputs: [2]) { level, b in
                finitewidth_squared_error_backward(Scalar.kernelPrecision, level, b[2], accumulate ? 1 : 0,
                                                   Double(factor), b[0], b[1], count)
            } swift: { b in
                meanSquaredErrorBackward(predictionGradient: b[2], accumulate: accumulate, lossGradient: dloss,
                                         prediction: b[0], target: b[1], count: count)
            }
            for (level, result) in results {
                #expect(Self.close(result[0], expected, tolerance: tolerance),
                        "\(Scalar.self) count \(count) accumulate \(accumulate) level \(level)")
            }
        }
    }

    @Test(arguments: counts) func meanSquaredErrorMatchesScalarLoops(count: Int) {
        meanSquaredError(Double.self, count: count, tolerance: 4e-16)
        meanSquaredError(Float.self, count: count, tolerance: 2e-7)
    }

    // MARK: - Running a C loop at every vector level

    /// The vector levels this CPU runs (AVX-512 is checked only on a CPU that has it).
    static let levels = [FINITEWIDTH_VECTORS_BASELINE, FINITEWIDTH_VECTORS_AVX2_FMA, FINITEWIDTH_VECTORS_AVX512]
        .filter { $0.rawValue <= finitewidth_widest_vectors().rawValue }

    /// Runs `kernel` on copies of `buffers` at every vector level, and `swift` (NeuralNet's
    /// function around the loop, if it runs the loop alone) once; returns the `outputs` buffers' contents per level.
    /// Checks on the way that the results do not depend on alignment (the same bits with every
    /// buffer one scalar further into its allocation), that the AVX2 and AVX-512 builds agree bit
    /// for bit, and that `swift` gives the widest level's bits.
    static func atEveryLevel<Scalar: BLASScalar>(
        _ buffers: [[Scalar]], outputs: [Int],
        kernel: (finitewidth_vectors, [UnsafeMutablePointer<Scalar>]) -> Void,
        swift: (([UnsafeMutablePointer<Scalar>]) -> Void)? = nil
    ) -> [(level: finitewidth_vectors, results: [[Scalar]])] {
        var byLevel: [(level: finitewidth_vectors, results: [[Scalar]])] = []
        for level in levels {
            let results = withCopies(of: buffers, offset: 0, outputs: outputs) { kernel(level, $0) }
            let shifted = withCopies(of: buffers, offset: 1, outputs: outputs) { kernel(level, $0) }
            #expect(bits(results) == bits(shifted), "\(Scalar.self) level \(level): results depend on alignment")
            byLevel.append((level, results))
        }
        if let avx2 = byLevel.first(where: { $0.level == FINITEWIDTH_VECTORS_AVX2_FMA }),
           let avx512 = byLevel.first(where: { $0.level == FINITEWIDTH_VECTORS_AVX512 }) {
            #expect(bits(avx2.results) == bits(avx512.results), "\(Scalar.self): AVX2 and AVX-512 differ")
        }
        if let swift {
            let wrapped = withCopies(of: buffers, offset: 0, outputs: outputs, swift)
            #expect(bits(wrapped) == bits(byLevel.last!.results), "\(Scalar.self): NeuralNet's function is not the widest loop")
        }
        return byLevel
    }

    /// Copies `buffers` into fresh allocations, each `offset` scalars in, runs `body` on them and
    /// returns the contents of the `outputs` afterwards.
    static func withCopies<Scalar: BLASScalar>(
        of buffers: [[Scalar]], offset: Int, outputs: [Int], _ body: ([UnsafeMutablePointer<Scalar>]) -> Void
    ) -> [[Scalar]] {
        let allocations = buffers.map { buffer in
            let allocation = UnsafeMutablePointer<Scalar>.allocate(capacity: buffer.count + offset)
            allocation.initialize(repeating: .nan, count: offset)
            (allocation + offset).initialize(from: buffer, count: buffer.count)
            return allocation
        }
        defer { for allocation in allocations { allocation.deallocate() } }
        body(allocations.map { $0 + offset })
        return outputs.map { Array(UnsafeBufferPointer(start: allocations[$0] + offset, count: buffers[$0].count)) }
    }

    /// Every scalar's bits (sign, exponent, significand), for comparisons where -0 != +0.
    static func bits<Scalar: BLASScalar>(_ arrays: [[Scalar]]) -> [[String]] {
        arrays.map { $0.map { "\($0.sign)\($0.exponentBitPattern)/\($0.significandBitPattern)" } }
    }

    /// Within `tolerance` relative to max(1, |reference|), element by element.
    static func close<Scalar: BLASScalar>(_ a: [Scalar], _ b: [Scalar], tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - Double($1)) <= tolerance * max(1, abs(Double($1))) }
    }
}
