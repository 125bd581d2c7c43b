import Foundation
import Testing
import TangentKernels
import TestSupport

/// Infinite-width NNGP and NTK kernels against google/neural-tangents 0.6.5 (float64), for every
/// architecture and input scale in neural_tangents_kernels.json.
@Suite struct NeuralTangentsReferenceTests {
    struct Case: CustomStringConvertible, Sendable {
        let architecture: String, scale: String
        var description: String { "\(architecture) x2*\(scale)" }
    }

    static let cases: [Case] = {
        guard let reference = try? fixture("neural_tangents_kernels", in: .module),
              let architectures = reference["architectures"] as? [String: [String: Any]] else { return [] }
        return architectures.keys.sorted().flatMap { name in
            ((architectures[name]!["kernelsOfX1AndScaledX2"] as! [String: Any]).keys.sorted()).map { Case(architecture: name, scale: $0) }
        }
    }()

    @Test func everyArchitectureAndScaleIsCovered() throws {
        #expect(Self.cases.count == 15)
    }

    @Test(arguments: cases) func kernels(_ testCase: Case) throws {
        let reference = try fixture("neural_tangents_kernels", in: .module)
        let architecture = (reference["architectures"] as! [String: [String: Any]])[testCase.architecture]!
        let expected = (architecture["kernelsOfX1AndScaledX2"] as! [String: [String: Any]])[testCase.scale]!
        let layerNormAfter = Set(architecture["layerNormAfterHiddenLayers"] as! [Int])
        let network = multilayerPerceptron(
            inputs: 3, width: 16, hiddenLayers: architecture["hiddenLayers"] as! Int, layerNormAfter: layerNormAfter,
            weightStandardDeviation: reference["W_std"] as! Double, biasStandardDeviation: reference["b_std"] as! Double)
        let x1 = tensor(reference["x1"]!)
        let x2 = tensor(reference["x2"]!).scaled(by: Double(testCase.scale)!)
        let tolerance = layerNormAfter.isEmpty ? 1e-10 : 1e-9

        let kernel = try network.infiniteWidthKernel(x1, x2)
        let nngpError = relativeError(kernel.nngp, tensor(expected["nngp"]!))
        let ntkError = relativeError(kernel.ntk, tensor(expected["ntk"]!))
        #expect(nngpError < tolerance, "\(testCase) NNGP: \(nngpError)")
        #expect(ntkError < tolerance, "\(testCase) NTK: \(ntkError)")

        // The diagonal of Theta(s x2, s x2): from the symmetric kernel, its diagonal vector, and
        // the second set's diagonal of the cross kernel.
        let expectedDiagonal = tensor(expected["ntkDiagonalOfScaledX2"]!)
        let symmetric = try network.infiniteWidthKernel(x2)
        let diagonalError = relativeError(diagonal(symmetric.ntk), expectedDiagonal)
        #expect(diagonalError < tolerance, "\(testCase) diagonal: \(diagonalError)")
        #expect(relativeError(symmetric.ntkDiagonal1, expectedDiagonal) < tolerance, "\(testCase) diagonal vector")
        #expect(relativeError(kernel.ntkDiagonal2, expectedDiagonal) < tolerance, "\(testCase) cross kernel's diagonal")

        // The same through Sequential.kernelMap on whole matrices, without tiles.
        var whole = InfiniteWidthKernel(x1, x2)
        try network.kernelMap(&whole)
        #expect(relativeError(whole.ntk, tensor(expected["ntk"]!)) < tolerance, "\(testCase) untiled NTK")
        #expect(relativeError(whole.nngp, tensor(expected["nngp"]!)) < tolerance, "\(testCase) untiled NNGP")
        print("neural-tangents \(testCase): NNGP \(nngpError), NTK \(ntkError), diagonal \(diagonalError)")
    }
}

/// The tiled computation against whole-matrix maps, symmetry, threads, Float networks.
@Suite struct InfiniteWidthTilingTests {
    static func network(_ index: Int) -> Sequential<Double> { networks()[index].1 }
    static func networks() -> [(String, Sequential<Double>)] { [
        ("ReLU, LayerNorm first", multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 3, layerNormAfter: [0])),
        ("GELU, LayerNorm every", multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 2, layerNormAfter: [0, 1], activation: .gelu)),
        ("ReLU, no bias", Sequential<Double>(
            Dense(weight: .ones([4, 3]), bias: nil, parameterization: .ntk, weightStandardDeviation: 1.3),
            ReLU(), Dense(weight: .ones([1, 4]), bias: nil, parameterization: .ntk, weightStandardDeviation: 1.1))),
    ] }

    @Test(arguments: 0..<3) func tilesAgreeWithWholeMatrices(_ index: Int) throws {
        let network = Self.network(index)
        // 70 x 600 crosses tile edges in both directions (tiles are 32 x 512).
        let x1 = randomPoints(70, 3, seed: 1), x2 = randomPoints(600, 3, seed: 2, scale: 3)
        let tiled = try network.infiniteWidthKernel(x1, x2, threads: 1)
        var whole = InfiniteWidthKernel(x1, x2)
        try network.kernelMap(&whole)
        #expect(relativeError(tiled.nngp, whole.nngp) < 1e-14)
        #expect(relativeError(tiled.ntk, whole.ntk) < 1e-14)
        #expect(relativeError(tiled.ntkDiagonal1, whole.ntkDiagonal1) < 1e-14)
        #expect(relativeError(tiled.ntkDiagonal2, whole.ntkDiagonal2) < 1e-14)
        #expect(tiled.layers == whole.layers)
    }

    @Test(arguments: 0..<3) func symmetricKernelIsOneTriangleMirrored(_ index: Int) throws {
        let network = Self.network(index)
        let x = randomPoints(600, 3, seed: 3)
        let kernel = try network.infiniteWidthKernel(x, threads: 1)
        var whole = InfiniteWidthKernel(x)
        try network.kernelMap(&whole)
        // The lower triangle goes through the same operations as the whole-matrix maps; the upper
        // one is its mirror, where the whole matrix has K(x_j, x_i) computed in another order.
        var lowerTriangleAgrees = true
        for i in 0..<600 {
            for j in 0...i where kernel.ntk[i, j] != whole.ntk[i, j] || kernel.nngp[i, j] != whole.nngp[i, j] {
                lowerTriangleAgrees = false
            }
        }
        #expect(lowerTriangleAgrees)
        #expect(kernel.ntk == kernel.ntk.transposed() && kernel.nngp == kernel.nngp.transposed())
        // A point with itself: the matrix diagonal equals the diagonal vectors bit for bit.
        #expect(diagonal(kernel.ntk) == kernel.ntkDiagonal1 && diagonal(kernel.nngp) == kernel.nngpDiagonal1)
        #expect(kernel.ntkDiagonal2 == kernel.ntkDiagonal1)
    }

    @Test func threadsGiveTheSameKernel() throws {
        let network = Self.network(0)
        let x1 = randomPoints(300, 3, seed: 4)
        let serial = try network.infiniteWidthKernel(x1, threads: 1)
        let parallel = try network.infiniteWidthKernel(x1, threads: 2)
        #expect(serial.ntk == parallel.ntk && serial.nngp == parallel.nngp && serial.ntkDiagonal1 == parallel.ntkDiagonal1)
        let x2 = randomPoints(40, 3, seed: 5)
        #expect(try network.infiniteWidthKernel(x1, x2, threads: 1).ntk == network.infiniteWidthKernel(x1, x2, threads: 2).ntk)
    }

    @Test func floatNetworkGivesTheFloat64Kernel() throws {
        let double = multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 2, layerNormAfter: [0])
        let float = multilayerPerceptron(Float.self, inputs: 3, width: 8, hiddenLayers: 2, layerNormAfter: [0])
        let x = randomPoints(10, 3, seed: 6).converted(to: Float.self)
        let expected = try double.infiniteWidthKernel(x.converted(to: Double.self))
        // Only the LayerNorm epsilon differs: Float(1e-12) is not 1e-12.
        #expect(relativeError(try float.infiniteWidthKernel(x).ntk, expected.ntk) < 1e-12)
    }

    @Test func emptySetsGiveEmptyKernels() throws {
        let network = Self.network(0)
        let kernel = try network.infiniteWidthKernel(randomPoints(5, 3, seed: 7), Tensor<Double>.zeros([0, 3]))
        #expect(kernel.ntk.shape == [5, 0] && kernel.ntkDiagonal1.count == 5 && kernel.layers.count == 8)
    }
}

/// Networks without a closed-form map fail before any work, saying why and what is supported.
@Suite struct InfiniteWidthErrorTests {
    struct Unsupported: Layer {
        typealias Scalar = Double
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x }
        var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }
    }

    func error(_ layers: [any Layer<Double>]) -> InfiniteWidthKernelError? {
        do {
            _ = try Sequential(layers).infiniteWidthKernel(randomPoints(3, 2, seed: 1))
            return nil
        } catch let error as InfiniteWidthKernelError {
            return error
        } catch {
            return nil
        }
    }

    @Test func unsupportedArchitecturesThrowWithAReason() {
        var generator = Xoshiro256StarStar(seed: 1)
        let dense = { (fanIn: Int, fanOut: Int) -> Dense<Double> in
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
        }
        let cases: [(layers: [any Layer<Double>], mentions: String)] = [
            ([Dense<Double>(2, 4, generator: &generator), ReLU(), dense(4, 1)], "standard parameterization"),
            ([dense(2, 4), LayerNorm<Double>(4), ReLU(), dense(4, 1)], "affine: true"),
            ([dense(2, 4), ReLU(), LayerNorm<Double>(4, affine: false), dense(4, 1)], "LayerNorm after ReLU"),
            ([LayerNorm<Double>(2, affine: false), dense(2, 1)], "LayerNorm after the inputs"),
            // Tanh, Sigmoid and GELU(approximate: tanh) have maps by quadrature, after a Dense only.
            ([dense(2, 4), ReLU(), Tanh(), dense(4, 1)], "Tanh after ReLU"),
            ([Sigmoid(), dense(2, 1)], "Sigmoid after the inputs"),
            ([dense(2, 4), Tanh(), GELU(approximate: true), dense(4, 1)], "GELU(approximate: tanh) after Tanh"),
            ([dense(2, 4), ReLU(), ReLU(), dense(4, 1)], "ReLU after ReLU"),
            ([ReLU(), dense(2, 1)], "ReLU after the inputs"),
            ([dense(2, 4), Unsupported(), dense(4, 1)], "Unsupported"),
        ]
        for (layers, mention) in cases {
            let thrown = error(layers)
            #expect(thrown != nil, "expected an error mentioning \(mention)")
            guard let thrown else { continue }
            let message = thrown.description
            #expect(message.contains(mention), "\(message)")
            #expect(message.contains("Supported: Dense in the NTK parameterization"), "\(message)")
        }
    }

    @Test func supportedArchitecturesDoNotThrow() {
        var generator = Xoshiro256StarStar(seed: 2)
        let dense = { (fanIn: Int, fanOut: Int) -> Dense<Double> in
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
        }
        #expect(error([dense(2, 4), LayerNorm<Double>(4, affine: false), LayerNorm<Double>(4, affine: false), ReLU(),
                       dense(4, 4), dense(4, 4), GELU(), Sequential<Double>(dense(4, 4), ReLU()), dense(4, 1)]) == nil)
    }
}

/// The GELU map against Gauss-Hermite quadrature of E[phi(u) phi(v)] and E[phi'(u) phi'(v)] over
/// Gaussian (u, v): an independent computation of the same expectations.
@Suite struct GELUQuadratureTests {
    /// Nodes and weights for the integral of e^(-x^2) f(x) (Newton's method on the orthonormal
    /// Hermite recurrence, as Numerical Recipes' gauher).
    static func gaussHermite(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: n), weights = nodes
        var z = 0.0
        for i in 0..<((n + 1) / 2) {
            switch i {
            case 0: z = (Double(2 * n + 1)).squareRoot() - 1.85575 * pow(Double(2 * n + 1), -0.16667)
            case 1: z -= 1.14 * pow(Double(n), 0.426) / z
            case 2: z = 1.86 * z - 0.86 * nodes[0]
            case 3: z = 1.91 * z - 0.91 * nodes[1]
            default: z = 2 * z - nodes[i - 2]
            }
            var derivative = 0.0
            for _ in 0..<100 {
                var p1 = pow(Double.pi, -0.25), p2 = 0.0
                for j in 0..<n {
                    let p3 = p2
                    p2 = p1
                    p1 = z * (2 / Double(j + 1)).squareRoot() * p2 - (Double(j) / Double(j + 1)).squareRoot() * p3
                }
                derivative = (Double(2 * n)).squareRoot() * p2
                let step = p1 / derivative
                z -= step
                if abs(step) <= 1e-15 * max(1, abs(z)) { break }
            }
            nodes[i] = z
            nodes[n - 1 - i] = -z
            weights[i] = 2 / (derivative * derivative)
            weights[n - 1 - i] = weights[i]
        }
        return (nodes, weights)
    }

    /// E[f(u) g(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]).
    static func expectation(_ f: (Double) -> Double, _ g: (Double) -> Double, k11: Double, k22: Double, k12: Double) -> Double {
        let (nodes, weights) = gaussHermite(100)
        let a = k11.squareRoot(), b = k12 / a, c = max(k22 - b * b, 0).squareRoot()
        var total = 0.0
        for (x1, w1) in zip(nodes, weights) {
            let z1 = 2.0.squareRoot() * x1
            let fu = f(a * z1)
            for (x2, w2) in zip(nodes, weights) {
                total += w1 * w2 * fu * g(b * z1 + c * 2.0.squareRoot() * x2)
            }
        }
        return total / Double.pi
    }

    static let gelu: @Sendable (Double) -> Double = { (x: Double) in x * (1 + erf(x / 2.0.squareRoot())) / 2 }
    static let geluDerivative: @Sendable (Double) -> Double = { (x: Double) in (1 + erf(x / 2.0.squareRoot())) / 2 + x * exp(-x * x / 2) / (2 * Double.pi).squareRoot() }

    @Test(arguments: [(1.0, 1.0, 0.3), (0.5, 2.0, -0.7), (2.0, 3.0, 2.4), (1.5, 1.5, 1.5), (0.2, 4.0, 0.0), (3.0, 0.7, -1.4)])
    func mapMatchesQuadrature(k11: Double, k22: Double, k12: Double) throws {
        // A Dense with sigma_w = 1, sigma_b = 0 leaves K as it is and sets Theta = K, so that the
        // GELU map's Theta' = K12 * Kdot.
        var kernel = InfiniteWidthKernel(inputKernel: Tensor([[k12]]), diagonal1: Tensor(shape: [1], scalars: [k11]),
                                         diagonal2: Tensor(shape: [1], scalars: [k22]))
        kernel.applyDense(weightStandardDeviation: 1, biasStandardDeviation: 0)
        try kernel.applyActivation(.gelu)
        let nngp = Self.expectation(Self.gelu, Self.gelu, k11: k11, k22: k22, k12: k12)
        let derivative = Self.expectation(Self.geluDerivative, Self.geluDerivative, k11: k11, k22: k22, k12: k12)
        #expect(abs(kernel.nngp[0, 0] - nngp) <= 1e-11 * max(abs(nngp), 1e-3), "NNGP \(kernel.nngp[0, 0]) vs \(nngp)")
        #expect(abs(kernel.ntk[0, 0] - k12 * derivative) <= 1e-11 * max(abs(k12 * derivative), 1e-3),
                "NTK \(kernel.ntk[0, 0]) vs \(k12 * derivative)")
        // The diagonals: E[phi(u)^2] and Theta = K11 * E[phi'(u)^2].
        let diagonalNNGP = Self.expectation(Self.gelu, Self.gelu, k11: k11, k22: k11, k12: k11)
        let diagonalDerivative = Self.expectation(Self.geluDerivative, Self.geluDerivative, k11: k11, k22: k11, k12: k11)
        #expect(abs(kernel.nngpDiagonal1[0] - diagonalNNGP) <= 1e-11 * diagonalNNGP)
        #expect(abs(kernel.ntkDiagonal1[0] - k11 * diagonalDerivative) <= 1e-11 * k11 * diagonalDerivative)
    }

    @Test func quadratureReproducesTheReLUMapRoughly() throws {
        // ReLU's kink limits Gauss-Hermite to a few digits: a sanity check of the quadrature itself.
        let relu = { (x: Double) in max(x, 0) }
        var kernel = InfiniteWidthKernel(inputKernel: Tensor([[0.6]]), diagonal1: Tensor(shape: [1], scalars: [1.0]),
                                         diagonal2: Tensor(shape: [1], scalars: [2.0]))
        kernel.applyDense(weightStandardDeviation: 1, biasStandardDeviation: 0)
        try kernel.applyActivation(.relu)
        let nngp = Self.expectation(relu, relu, k11: 1, k22: 2, k12: 0.6)
        #expect(abs(kernel.nngp[0, 0] - nngp) < 1e-2 * nngp)
    }
}
