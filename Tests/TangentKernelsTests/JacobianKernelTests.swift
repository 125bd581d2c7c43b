import Foundation
import Testing
import TangentKernels
import TestSupport

/// The analytic Jacobian kernels against central differences of the analytic kernels (which have
/// their own neural-tangents tests) and against neural-tangents' own Jacobian kernels.
@Suite struct JacobianKernelTests {
    static let weightStandardDeviation = 1.5.squareRoot(), biasStandardDeviation = 0.1.squareRoot()

    /// The test networks by name, NTK parameterization, sigma_w^2 = 1.5, sigma_b^2 = 0.1.
    static func network(_ name: String) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 7)
        func dense(_ fanIn: Int, _ fanOut: Int = 16) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: weightStandardDeviation,
                  biasStandardDeviation: biasStandardDeviation, generator: &generator)
        }
        func branch(_ layers: any Layer<Double>...) -> Residual<Double> { Residual(Sequential(layers)) }
        let layers: [any Layer<Double>] = switch name {
        case "gelu2": [dense(3), GELU(), dense(16), GELU(), dense(16, 1)]
        case "erf2": [dense(3), Erf(), dense(16), Erf(), dense(16, 1)]
        case "erf1LayerNorm": [dense(3), LayerNorm(16, epsilon: 1e-12, affine: false), Erf(), dense(16), Erf(), dense(16, 1)]
        case "gelu1LayerNorm": [dense(3), LayerNorm(16, epsilon: 1e-12, affine: false), GELU(), dense(16), GELU(), dense(16, 1)]
        case "geluResidualRMSNorm":
            [dense(3), branch(LayerNorm(16, epsilon: 1e-12, affine: false), dense(16), GELU(), dense(16)),
             RMSNorm(16, epsilon: 1e-6, affine: false), GELU(), dense(16, 1)]
        default: fatalError("no network \(name)")
        }
        return Sequential(layers)
    }

    static let x = Tensor<Double>(shape: [1, 3], scalars: [0.3, -0.5, 0.8])
    static let xPrime = Tensor<Double>(shape: [1, 3], scalars: [-0.2, 0.4, 0.1])

    /// The block of a pair by central differences (h = 1e-4) of the analytic kernel: one kernel
    /// call on the points x ± h e_i against x' ± h e_j.
    static func finiteDifferenceBlock(
        _ network: Sequential<Double>, _ x: [Double], _ y: [Double], kind: InfiniteWidthKernelKind
    ) throws -> Tensor<Double> {
        let (d, h) = (x.count, 1e-4)
        // Row 0 the point, rows 1 + 2i and 2 + 2i the point moved by +h and -h along feature i.
        func stencil(_ point: [Double]) -> Tensor<Double> {
            var rows = [point]
            for i in 0..<d {
                var plus = point, minus = point
                plus[i] += h
                minus[i] -= h
                rows += [plus, minus]
            }
            return Tensor(shape: [1 + 2 * d, d], scalars: rows.flatMap { $0 })
        }
        let kernel = try network.infiniteWidthKernel(stencil(x), stencil(y))
        let k = kind == .ntk ? kernel.ntk : kernel.nngp
        var block = [Double](repeating: 0, count: (1 + d) * (1 + d))
        block[0] = k[0, 0]
        for i in 0..<d {
            block[(1 + i) * (1 + d)] = (k[1 + 2 * i, 0] - k[2 + 2 * i, 0]) / (2 * h)
            block[1 + i] = (k[0, 1 + 2 * i] - k[0, 2 + 2 * i]) / (2 * h)
            for j in 0..<d {
                block[(1 + i) * (1 + d) + 1 + j] = (k[1 + 2 * i, 1 + 2 * j] - k[1 + 2 * i, 2 + 2 * j]
                    - k[2 + 2 * i, 1 + 2 * j] + k[2 + 2 * i, 2 + 2 * j]) / (4 * h * h)
            }
        }
        return Tensor(shape: [1 + d, 1 + d], scalars: block)
    }

    static func maximumDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: ["erf2", "erf1LayerNorm", "gelu2", "gelu1LayerNorm", "geluResidualRMSNorm"])
    func blocksEqualCentralDifferencesOfTheAnalyticKernels(_ name: String) throws {
        let network = Self.network(name)
        // A generic pair, and a point against itself (a Gram matrix's diagonal block).
        let pairs: [([Double], [Double])] = [
            (Self.x.scalars, Self.xPrime.scalars), (Self.x.scalars, Self.x.scalars), ([1.2, 0.7, -0.4], [-1.5, 2.0, 0.6]),
        ]
        for (x, y) in pairs {
            let jacobian = try network.infiniteWidthJacobianKernel(Tensor(shape: [1, 3], scalars: x), Tensor(shape: [1, 3], scalars: y))
            for kind in InfiniteWidthKernelKind.allCases {
                let expected = try Self.finiteDifferenceBlock(network, x, y, kind: kind)
                let difference = Self.maximumDifference(jacobian.block(0, 0, of: kind), expected)
                #expect(difference < 1e-6, "\(name) \(kind) at \(x), \(y): \(difference)")
                print("Jacobian \(kind) of \(name) at \(x), \(y): largest entry \(expected.maxAbs()), difference to central differences \(difference)")
            }
        }
    }

    /// Issue 16's values for erf, 2 hidden layers, sigma_w^2 = 1.5, sigma_b^2 = 0.1 (an independent
    /// transcription, which neural-tangents' kernel_fn differentiated by jax reproduces).
    @Test func erfMatchesTheIssuesValues() throws {
        let block = try Self.network("erf2").infiniteWidthJacobianKernel(Self.x, Self.xPrime).block(0, 0)
        #expect(abs(block[0, 0] - 0.3219464698550582) < 1e-15)
        for (j, expected) in [1.3770807781, 0.3476996891, -0.244945597].enumerated() {
            #expect(abs(block[1, 1 + j] - expected) < 1e-9, "d2 Theta / dx_1 dx'_\(j + 1): \(block[1, 1 + j])")
        }
    }

    @Test func theMatrixIsPointMajorAndExactlySymmetricWithoutX2() throws {
        let network = Self.network("gelu1LayerNorm")
        let points = Tensor<Double>(shape: [3, 3], scalars: [0.3, -0.5, 0.8, -0.2, 0.4, 0.1, 1.2, 0.7, -0.4])
        let symmetric = try network.infiniteWidthJacobianKernel(points)
        #expect(symmetric.ntk.shape == [12, 12] && symmetric.count1 == 3 && symmetric.count2 == 3)
        #expect(symmetric.ntk == symmetric.ntk.transposed())
        #expect(symmetric.nngp == symmetric.nngp.transposed())
        // Block (2, 0) computed as a cross kernel of those two points alone.
        let single = try network.infiniteWidthJacobianKernel(
            Tensor(shape: [1, 3], scalars: [1.2, 0.7, -0.4]), Tensor(shape: [1, 3], scalars: [0.3, -0.5, 0.8]))
        #expect(Self.maximumDifference(symmetric.block(2, 0), single.block(0, 0)) < 1e-14)
        // The value entries are the analytic NTK.
        let plain = try network.infiniteWidthKernel(points)
        for i in 0..<3 {
            for j in 0..<3 {
                #expect(abs(symmetric.ntk[4 * i, 4 * j] - plain.ntk[i, j]) < 1e-13 * abs(plain.ntk[i, j]))
            }
        }
        // Threads change nothing.
        let serial = try network.infiniteWidthJacobianKernel(points, threads: 1)
        let parallel = try network.infiniteWidthJacobianKernel(points, threads: 2)
        #expect(serial.ntk == parallel.ntk)
    }

    @Test func reluIsRefusedWithTheReason() throws {
        let network = multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 2, activation: .relu)
        #expect(throws: JacobianKernelError.self) { try network.infiniteWidthJacobianKernel(Self.x) }
        do {
            _ = try network.infiniteWidthJacobianKernel(Self.x)
        } catch let error as JacobianKernelError {
            #expect(error.layer == "ReLU")
            #expect(error.description.contains("E[phi''(u) phi''(v)] diverges as x' -> x"))
        }
    }

    @Test func unsupportedNetworksAreRefusedNamingTheLayer() throws {
        var generator = Xoshiro256StarStar(seed: 1)
        let cases: [(Sequential<Double>, String)] = [
            (multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 1, activation: .gelu, standard: true), "standard parameterization"),
            (Sequential(Dense(ntk: 3, 8, weightStandardDeviation: 1, biasStandardDeviation: 0, generator: &generator), GELU(),
                        LayerNorm(8, affine: false), Dense(ntk: 8, 1, weightStandardDeviation: 1, biasStandardDeviation: 0, generator: &generator)),
             "LayerNorm after GELU"),
            (Sequential(Dense(ntk: 3, 2, weightStandardDeviation: 1, biasStandardDeviation: 0, generator: &generator)), "2 outputs"),
            (Sequential(Dense(ntk: 3, 8, weightStandardDeviation: 1, biasStandardDeviation: 0, generator: &generator),
                        LayerNorm(8), Dense(ntk: 8, 1, weightStandardDeviation: 1, biasStandardDeviation: 0, generator: &generator)),
             "affine: true"),
        ]
        for (network, expected) in cases {
            do {
                _ = try network.infiniteWidthJacobianKernel(Self.x)
                Issue.record("\(expected): not refused")
            } catch let error as JacobianKernelError {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }
}

/// The whole Jacobian NTK and NNGP matrices against neural-tangents 0.6.5's kernel_fn
/// differentiated by jax (scripts/reference/generate_jacobian_kernels.py), to 1e-12 of the
/// largest entry.
@Suite struct JacobianKernelNeuralTangentsTests {
    /// The fixture's architectures this build can express, as FiniteWidth networks.
    static func network(_ name: String) -> Sequential<Double>? {
        var generator = Xoshiro256StarStar(seed: 3)
        let (w, b) = (JacobianKernelTests.weightStandardDeviation, JacobianKernelTests.biasStandardDeviation)
        func dense(_ fanIn: Int, _ fanOut: Int = 32) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: w, biasStandardDeviation: b, generator: &generator)
        }
        return switch name {
        case "gelu2": Sequential(dense(3), GELU(), dense(32), GELU(), dense(32, 1))
        case "erf2": Sequential(dense(3), Erf(), dense(32), Erf(), dense(32, 1))
        case "erf1LayerNorm": Sequential(dense(3), LayerNorm(32, epsilon: 1e-12, affine: false), Erf(), dense(32), Erf(), dense(32, 1))
        default: nil
        }
    }

    @Test func everyArchitectureIsCovered() throws {
        let reference = try fixture("neural_tangents_jacobian_kernels", in: .module)
        for name in (reference["architectures"] as! [String: Any]).keys { #expect(Self.network(name) != nil, "\(name)") }
    }

    @Test(arguments: ["erf2", "erf1LayerNorm", "gelu2"])
    func matricesEqualNeuralTangents(_ name: String) throws {
        let reference = try fixture("neural_tangents_jacobian_kernels", in: .module)
        let architecture = (reference["architectures"] as! [String: [String: Any]])[name]!
        let network = try #require(Self.network(name))
        let kernel = try network.infiniteWidthJacobianKernel(tensor(reference["x1"]!), tensor(reference["x2"]!))
        // Relative to the largest entry: with LayerNorm some entries are zero but for rounding (the
        // normalised kernel barely changes along x), so entry-wise relative errors mean nothing there.
        func error(_ computed: Tensor<Double>, _ expected: Tensor<Double>) -> Double {
            JacobianKernelTests.maximumDifference(computed, expected) / expected.maxAbs()
        }
        let ntkError = error(kernel.ntk, tensor(architecture["ntk"]!))
        let nngpError = error(kernel.nngp, tensor(architecture["nngp"]!))
        #expect(ntkError < 1e-12, "\(name) Jacobian NTK: \(ntkError)")
        #expect(nngpError < 1e-12, "\(name) Jacobian NNGP: \(nngpError)")
        print("neural-tangents Jacobian kernels of \(name): NTK \(ntkError), NNGP \(nngpError)")
    }
}
