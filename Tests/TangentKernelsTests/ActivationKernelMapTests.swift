import Foundation
import Testing
import TangentKernels
import TestSupport

/// The erf kernel map against neural-tangents, the quadrature map against an independent rule
/// (composite Gauss-Legendre on fine panels, activation_kernels.json, scripts/reference/generate_activation_kernels.py), and the
/// mean-field quantities against closed forms and scipy.
@Suite struct ActivationKernelMapTests {
    static func reference() throws -> [String: Any] { try fixture("activation_kernels", in: .module) }

    /// Dense, Erf, Dense, Erf, Dense(1) in the NTK parameterization: NNGP and NTK of x1 against
    /// s x2 equal neural-tangents' stax.Erf() to 1e-9, tiled and untiled.
    @Test(arguments: ["1.0", "10.0"]) func erfNetworkMatchesNeuralTangents(_ scale: String) throws {
        let reference = try Self.reference()
        let expected = try #require((reference["erf"] as? [String: [String: Any]])?[scale])
        let network = multilayerPerceptron(
            inputs: 3, width: 8, hiddenLayers: 2, activation: .erf,
            weightStandardDeviation: reference["W_std"] as! Double, biasStandardDeviation: reference["b_std"] as! Double)
        let x1 = tensor(reference["x1"]!)
        let x2 = tensor(reference["x2"]!).scaled(by: Double(scale)!)
        let kernel = try network.infiniteWidthKernel(x1, x2)
        #expect(relativeError(kernel.nngp, tensor(expected["nngp"]!)) < 1e-9)
        #expect(relativeError(kernel.ntk, tensor(expected["ntk"]!)) < 1e-9)
        var whole = InfiniteWidthKernel(x1, x2)
        try network.kernelMap(&whole)
        #expect(relativeError(whole.ntk, tensor(expected["ntk"]!)) < 1e-9)
    }

    /// One entry through a nonlinearity's map: (K', Kdot) for pre-activation variances k11, k22
    /// and covariance k12.
    static func mapEntry(_ k11: Double, _ k22: Double, _ k12: Double,
                         _ apply: (inout InfiniteWidthKernel) throws -> Void) rethrows -> (nngp: Double, derivative: Double) {
        var kernel = InfiniteWidthKernel(
            nngp: Tensor(shape: [1, 1], scalars: [k12]), ntk: Tensor(shape: [1, 1], scalars: [1]),
            nngpDiagonal1: Tensor(shape: [1], scalars: [k11]), nngpDiagonal2: Tensor(shape: [1], scalars: [k22]),
            ntkDiagonal1: Tensor(shape: [1], scalars: [1]), ntkDiagonal2: Tensor(shape: [1], scalars: [1]),
            hasCentredGaussianUnits: true, layers: ["Dense"])
        try apply(&kernel)
        return (kernel.nngp[0, 0], kernel.ntk[0, 0])
    }

    /// E[phi(u) phi(v)] and E[phi'(u) phi'(v)] by the default quadrature equal composite
    /// Gauss-Legendre quadrature (self-checked to 1e-12) to 1e-7 (relative above 1), for variances 0.05 to 10 and correlations -0.6 to 1.
    @Test(arguments: [("tanh", Activation.tanh), ("sigmoid", .sigmoid), ("silu", .silu), ("gelu_tanh", .geluTanh)])
    func quadratureMatchesIndependentIntegration(_ name: String, _ activation: Activation) throws {
        let pairs = try #require((try Self.reference()["pairs"] as? [String: [[String: Double]]])?[name])
        #expect(pairs.count == 30)
        var worst = 0.0
        for pair in pairs {
            let (k11, k22, k12) = (pair["k11"]!, pair["k22"]!, pair["k12"]!)
            let (nngp, derivative) = try Self.mapEntry(k11, k22, k12) { try $0.applyActivation(activation) }
            let error = maxRelativeError([nngp, derivative], [pair["nngp"]!, pair["derivative"]!])
            worst = max(worst, error)
            #expect(error < 1e-7, "\(name) K11 \(k11) K22 \(k22) K12 \(k12): \(nngp), \(derivative) vs \(pair)")
        }
        print("quadrature \(name): largest error \(worst) against composite Gauss-Legendre")
    }

    /// erf given as a function of one's own (the path of user nonlinearities) through the
    /// quadrature equals erf's closed-form map to 1e-9 at variances up to 10, and to 1e-6 at 40
    /// (where the default rule's resolution starts to show; a finer rule recovers 1e-9).
    @Test func userFunctionByQuadratureMatchesTheClosedForm() throws {
        let erfByHand = ElementwiseFunction(name: "ErfByHand") { x, values, derivatives, count in
            for i in 0..<count {
                values[i] = erf(x[i])
                derivatives[i] = 2 / Double.pi.squareRoot() * exp(-x[i] * x[i])
            }
        }
        for (variance, tolerance, quadrature) in [(0.3, 1e-9, GaussianQuadrature.standard), (3.0, 1e-9, .standard),
                                                  (10.0, 1e-9, .standard), (40.0, 1e-6, .standard),
                                                  (40.0, 1e-9, GaussianQuadrature(pointsPerAxis: 256))] {
            for correlation in [-0.9, 0.0, 0.7, 0.999, 1.0] {
                let (k11, k22) = (variance, variance / 2)
                let k12 = correlation * (k11 * k22).squareRoot()
                let numerical = try Self.mapEntry(k11, k22, k12) { try $0.applyNumerical(erfByHand, quadrature: quadrature) }
                let closed = try Self.mapEntry(k11, k22, k12) { try $0.applyActivation(.erf) }
                // The closed form itself, written out: (2/pi) asin(2 K12 / sqrt((1 + 2 K11)(1 + 2 K22))).
                let product = (1 + 2 * k11) * (1 + 2 * k22)
                #expect(abs(closed.nngp - 2 / Double.pi * asin(2 * k12 / product.squareRoot())) < 1e-12)
                #expect(abs(closed.derivative - 4 / Double.pi / (product - 4 * k12 * k12).squareRoot()) < 1e-12)
                let error = maxRelativeError([numerical.nngp, numerical.derivative], [closed.nngp, closed.derivative])
                #expect(error < tolerance, "q \(variance) c \(correlation) n \(quadrature.pointsPerAxis): \(error)")
            }
        }
    }

    /// Without x2, a point's entry with itself equals its diagonal entry bit for bit, tiled across
    /// threads, and the kernel is symmetric.
    @Test func quadratureKernelIsExactlySymmetric() throws {
        let network = multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 3, activation: .tanh)
        let x = randomPoints(40, 3, seed: 5)
        let kernel = try network.infiniteWidthKernel(x, threads: 2)
        for i in 0..<40 {
            #expect(kernel.ntk[i, i] == kernel.ntkDiagonal1[i])
            #expect(kernel.nngp[i, i] == kernel.nngpDiagonal1[i])
            for j in 0..<i { #expect(kernel.ntk[i, j] == kernel.ntk[j, i]) }
        }
    }

    /// A nonlinearity after another nonlinearity has no Gaussian pre-activations: refused, named.
    @Test func quadratureNeedsGaussianPreActivations() {
        var kernel = InfiniteWidthKernel(randomPoints(3, 2, seed: 1))
        #expect(throws: InfiniteWidthKernelError.self) { try kernel.applyActivation(.tanh) }
        var message = "no error"
        do { try kernel.applyActivation(.silu) } catch { message = "\(error)" }
        #expect(message.contains("SiLU after the inputs has no infinite-width kernel map"), "\(message)")
    }
}

@Suite struct MeanFieldTests {
    /// ReLU: chi_1 = sigma_w^2 / 2 whatever sigma_b, q* = sigma_b^2 / (1 - sigma_w^2 / 2) below 2
    /// and none from 2 on; the critical sigma_w^2 is 2.
    @Test func reluChiIsHalfTheWeightVariance() {
        for weightVariance in [0.5, 1.0, 1.9, 2.0, 2.5, 4.0] {
            for biasVariance in [0.0, 0.1, 1.0] {
                let field = MeanField(activation: .relu, weightVariance: weightVariance, biasVariance: biasVariance)
                #expect(abs(field.chi1! - weightVariance / 2) <= 1e-12)
                if weightVariance < 2 {
                    #expect(abs(field.fixedPointVariance! - biasVariance / (1 - weightVariance / 2)) <= 1e-12)
                } else {
                    #expect(field.fixedPointVariance == nil)
                }
            }
        }
        #expect(MeanField(activation: .relu, weightVariance: 2, biasVariance: 0.5).phase == .edgeOfChaos)
        #expect(MeanField(activation: .relu, weightVariance: 1, biasVariance: 0.5).phase == .ordered)
        #expect(MeanField(activation: .relu, weightVariance: 3, biasVariance: 0.5).phase == .chaotic)
        #expect(MeanField.criticalWeightVariance(activation: .relu, biasVariance: 0.3) == 2)
    }

    /// The critical sigma_w^2 of tanh and erf at sigma_b^2 = 0.1, 0.5, 1: the values
    /// (+-1e-3) and scipy's (quad + brentq) to 1e-7.
    @Test(arguments: [(Activation.tanh, [1.986, 2.843, 3.443]), (.erf, [1.552, 2.234, 2.718])])
    func criticalWeightVariances(_ activation: Activation, _ expected: [Double]) throws {
        let scipy = try #require((try ActivationKernelMapTests.reference()["critical"] as? [String: [String: Double]])?[activation.rawValue])
        for (biasVariance, value) in zip([0.1, 0.5, 1.0], expected) {
            let critical = try #require(MeanField.criticalWeightVariance(activation: activation, biasVariance: biasVariance))
            #expect(abs(critical - value) <= 1e-3, "\(activation) sigma_b^2 \(biasVariance): \(critical)")
            #expect(abs(critical - scipy["\(biasVariance)"]!) <= 1e-7, "\(activation) sigma_b^2 \(biasVariance): \(critical)")
            let field = MeanField(activation: activation, weightVariance: critical, biasVariance: biasVariance)
            #expect(abs(field.chi1! - 1) < 1e-9)
            #expect(MeanField(activation: activation, weightVariance: critical * 0.9, biasVariance: biasVariance).phase == .ordered)
            #expect(MeanField(activation: activation, weightVariance: critical * 1.1, biasVariance: biasVariance).phase == .chaotic)
        }
    }

    /// q* solves q = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2, with erf's closed form
    /// E[erf(sqrt(q) z)^2] = (2/pi) asin(2q / (1 + 2q)) and E[erf'^2] = (4/pi) / sqrt(1 + 4q).
    @Test func erfFixedPointSolvesTheVarianceMap() throws {
        let field = MeanField(activation: .erf, weightVariance: 2.5, biasVariance: 0.4)
        let q = try #require(field.fixedPointVariance)
        #expect(abs(2.5 * 2 / Double.pi * asin(2 * q / (1 + 2 * q)) + 0.4 - q) < 1e-12)
        #expect(abs(field.chi1! - 2.5 * 4 / Double.pi / (1 + 4 * q).squareRoot()) < 1e-12)
    }
}

/// `MeanField.kernelStructure`: the fit of Theta(X, X) by kappa_1 I + kappa_2 11ᵀ at every depth.
@Suite struct KernelStructureTests {
    /// ReLU's NTK by the arc-cosine recursion written out here (NTK parameterisation, input kernel
    /// x·x'/d): Sigma^1 = sigma_w^2 x·x'/d + sigma_b^2, Theta^1 = Sigma^1; after ReLU
    /// K = sqrt(S S') (sin t + (pi - t) cos t) / (2 pi), Kdot = (pi - t) / (2 pi), t = acos(Sigma / sqrt(S S'));
    /// Sigma^{l+1} = sigma_w^2 K + sigma_b^2, Theta^{l+1} = Sigma^{l+1} + sigma_w^2 Kdot Theta^l.
    @Test func reluMatchesTheArcCosineRecursion() throws {
        let points: [[Double]] = [[1.0, 0.5], [-0.3, 2.0], [0.7, -1.2], [2.5, 0.1]]
        let (weightVariance, biasVariance) = (1.7, 0.2)
        let n = points.count
        func inputKernel(_ i: Int, _ j: Int) -> Double {
            let dot: Double = zip(points[i], points[j]).map { $0 * $1 }.reduce(0, +)
            return weightVariance * dot / 2 + biasVariance
        }
        var sigma: [[Double]] = (0..<n).map { i in (0..<n).map { j in inputKernel(i, j) } }
        var theta = sigma
        let measured = try MeanField(activation: .relu, weightVariance: weightVariance, biasVariance: biasVariance)
            .kernelStructure(points: Tensor(shape: [n, 2], scalars: points.flatMap { $0 }), depth: 6)
        #expect(measured.map(\.depth) == Array(1...6))
        for layer in measured {
            var (nextSigma, nextTheta) = (sigma, theta)
            for i in 0..<n {
                for j in 0..<n {
                    let norm = (sigma[i][i] * sigma[j][j]).squareRoot()
                    let angle = acos(min(max(sigma[i][j] / norm, -1), 1))
                    let k = norm * (sin(angle) + (Double.pi - angle) * cos(angle)) / (2 * Double.pi)
                    nextSigma[i][j] = weightVariance * k + biasVariance
                    nextTheta[i][j] = nextSigma[i][j] + weightVariance * (Double.pi - angle) / (2 * Double.pi) * theta[i][j]
                }
            }
            (sigma, theta) = (nextSigma, nextTheta)
            let diagonal = (0..<n).map { theta[$0][$0] }.reduce(0, +) / Double(n)
            var offDiagonal = 0.0
            for i in 0..<n { for j in 0..<n where j != i { offDiagonal += theta[i][j] } }
            offDiagonal /= Double(n * (n - 1))
            #expect(abs(layer.diagonalMean - diagonal) <= 1e-12 * diagonal, "depth \(layer.depth)")
            #expect(abs(layer.offDiagonalMean - offDiagonal) <= 1e-12 * diagonal, "depth \(layer.depth)")
            #expect(abs(layer.ratio - (diagonal - offDiagonal) / offDiagonal) <= 1e-10 * layer.ratio, "depth \(layer.depth)")
        }
    }

    /// Deep in the ordered phase every point looks alike (kappa_1 / kappa_2 -> 0); deep in the
    /// chaotic phase of an odd activation without biases the correlations go to 0, so the kernel
    /// becomes diagonal and the ratio grows without bound.
    @Test func orderedKernelsBecomeConstantAndChaoticOnesDiagonal() throws {
        let points = Tensor<Double>(shape: [5, 3], scalars: (0..<15).map { abs(sin(Double($0) * 1.3)) + 0.2 })
        let ordered = try MeanField(activation: .erf, weightVariance: 1, biasVariance: 1).kernelStructure(points: points, depth: 40)
        #expect(ordered[39].ratio < 1e-3 * ordered[0].ratio, "\(ordered[0].ratio) -> \(ordered[39].ratio)")
        #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $1.ratio < $0.ratio })
        let chaotic = try MeanField(activation: .erf, weightVariance: 4, biasVariance: 0).kernelStructure(points: points, depth: 40)
        #expect(chaotic[39].ratio > 1e3 * chaotic[0].ratio, "\(chaotic[0].ratio) -> \(chaotic[39].ratio)")
    }
}
