import Foundation
import Testing
import TangentKernels
import TestSupport

/// Networks with residual blocks, RMSNorm, BatchNorm and SiLU: their kernel maps against
/// neural-tangents and against wide finite networks, their structured empirical NTK against
/// per-sample Jacobians, and the errors where there is no kernel.
enum LayerKernelNetworks {
    static let weightStandardDeviation = 2.0.squareRoot(), biasStandardDeviation = 0.1

    /// The architectures of neural_tangents_layers.json (and a few more), in the NTK
    /// parameterization with sigma_w = sqrt(2), sigma_b = 0.1, LayerNorm epsilon 1e-12 (as
    /// neural-tangents'), 3 inputs, one output.
    static func network(_ name: String, width: Int, seed: UInt64 = 0) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        func dense(_ fanIn: Int = width, _ fanOut: Int = width) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: weightStandardDeviation,
                  biasStandardDeviation: biasStandardDeviation, generator: &generator)
        }
        func layerNorm() -> LayerNorm<Double> { LayerNorm(width, epsilon: 1e-12, affine: false) }
        func branch(_ layers: any Layer<Double>...) -> Residual<Double> { Residual(Sequential(layers)) }
        let layers: [any Layer<Double>] = switch name {
        case "residualAfterDense": [dense(3), branch(dense(), ReLU(), dense()), ReLU(), dense(width, 1)]
        case "residualAfterReLU": [dense(3), ReLU(), branch(dense(), ReLU(), dense()), dense(width, 1)]
        case "preLayerNorm": [dense(3), branch(layerNorm(), dense(), ReLU(), dense()),
                              branch(layerNorm(), dense(), ReLU(), dense()), dense(width, 1)]
        case "preLayerNormFinalNorm": [dense(3), branch(layerNorm(), dense(), ReLU(), dense()),
                                       branch(layerNorm(), dense(), ReLU(), dense()), layerNorm(), dense(width, 1)]
        case "postLayerNorm": [dense(3), branch(dense(), ReLU(), dense()), layerNorm(),
                               branch(dense(), ReLU(), dense()), layerNorm(), dense(width, 1)]
        case "rmsNormAfterReLU": [dense(3), ReLU(), RMSNorm(width, epsilon: 1e-12, affine: false), dense(), ReLU(), dense(width, 1)]
        case "rmsNormOnInputs": [RMSNorm(3, epsilon: 1e-12, affine: false), dense(3), ReLU(), dense(width, 1)]
        default: fatalError("unknown network \(name)")
        }
        return Sequential(layers)
    }
}

@Suite struct ResidualNeuralTangentsTests {
    static let architectures = ["residualAfterDense", "preLayerNorm", "preLayerNormFinalNorm", "postLayerNorm"]

    @Test func everyArchitectureIsCovered() throws {
        let reference = try fixture("neural_tangents_layers", in: .module)
        #expect(Set((reference["architectures"] as! [String: Any]).keys) == Set(Self.architectures))
    }

    /// `Residual`'s map is neural-tangents' FanOut / parallel(Identity, inner) / FanInSum.
    @Test(arguments: architectures) func kernels(_ name: String) throws {
        let reference = try fixture("neural_tangents_layers", in: .module)
        let architecture = (reference["architectures"] as! [String: [String: Any]])[name]!
        let network = LayerKernelNetworks.network(name, width: 4)
        let x1 = tensor(reference["x1"]!)
        for (scale, expected) in architecture["kernelsOfX1AndScaledX2"] as! [String: [String: Any]] {
            let x2 = tensor(reference["x2"]!).scaled(by: Double(scale)!)
            let kernel = try network.infiniteWidthKernel(x1, x2)
            // LayerNorm's epsilon enters neural-tangents' map as sqrt((eps + K11)(eps + K22)) and
            // ours as sqrt(K11 + eps) sqrt(K22 + eps): agreement to ~1e-11, as in AnalyticKernelTests.
            let tolerance = name.contains("LayerNorm") ? 1e-9 : 1e-10
            let nngpError = relativeError(kernel.nngp, tensor(expected["nngp"]!))
            let ntkError = relativeError(kernel.ntk, tensor(expected["ntk"]!))
            #expect(nngpError < tolerance, "\(name) x2*\(scale) NNGP: \(nngpError)")
            #expect(ntkError < tolerance, "\(name) x2*\(scale) NTK: \(ntkError)")
            // Tiles and whole matrices agree.
            var whole = InfiniteWidthKernel(x1, x2)
            try network.kernelMap(&whole)
            #expect(relativeError(whole.ntk, kernel.ntk) < 1e-14)
        }
    }
}

/// The maps against wide finite networks, for the architectures neural-tangents cannot check (its
/// FanInSum refuses a non-Gaussian skip path; it has no RMSNorm) and one it can. At width n the
/// empirical NNGP (from the last hidden layer's features of one initialisation) and NTK differ
/// from their limits by fluctuations of order 1 / sqrt(n): the mean error over seeds must fall
/// with a slope near -1/2 in log-log (measured -0.44 to -0.59 over widths 128 to 2048, 6 seeds),
/// and at width 2048 be below 0.1 (measured 0.04 to 0.065; 1/sqrt(n) from the errors at 128,
/// up to 0.31, predicts at most 0.078). A wrong map would leave an error that does not fall.
@Suite struct LayerWidthLimitTests {
    /// K_out = sigma_w^2 H1 H2ᵀ / n + sigma_b^2 from the features H of the last Dense's input: the
    /// NNGP of the output as one initialisation sees it.
    static func empiricalNNGP(_ network: Sequential<Double>, _ x: Tensor<Double>) -> Tensor<Double> {
        let features = Sequential(Array(network.layers.dropLast()))(x)
        let width = Double(features.shape[1])
        let variance = LayerKernelNetworks.weightStandardDeviation * LayerKernelNetworks.weightStandardDeviation
        let bias = LayerKernelNetworks.biasStandardDeviation * LayerKernelNetworks.biasStandardDeviation
        return matmul(features, features, transposeB: true).map { variance * $0 / width + bias }
    }

    /// The least-squares slope of log(error) against log(width).
    static func slope(_ widths: [Int], _ errors: [Double]) -> Double {
        let (logWidths, logErrors) = (widths.map { log(Double($0)) }, errors.map { log($0) })
        let (meanX, meanY) = (logWidths.reduce(0, +) / Double(widths.count), logErrors.reduce(0, +) / Double(widths.count))
        let covariance = zip(logWidths, logErrors).map { ($0 - meanX) * ($1 - meanY) }.reduce(0, +)
        return covariance / logWidths.map { ($0 - meanX) * ($0 - meanX) }.reduce(0, +)
    }

    @Test(arguments: ["residualAfterReLU", "rmsNormAfterReLU", "rmsNormOnInputs", "postLayerNorm"])
    func errorFallsAsOneOverSquareRootOfWidth(_ name: String) throws {
        let x = randomPoints(6, 3, seed: 2)
        let widths = [128, 512, 2048], seeds: [UInt64] = [1, 2, 3, 4]
        var nngpErrors: [Double] = [], ntkErrors: [Double] = []
        for width in widths {
            var nngp = 0.0, ntk = 0.0
            for seed in seeds {
                let network = LayerKernelNetworks.network(name, width: width, seed: seed)
                let analytic = try network.infiniteWidthKernel(x)
                nngp += frobeniusRelativeError(Self.empiricalNNGP(network, x), analytic.nngp)
                ntk += frobeniusRelativeError(try network.empiricalTangentKernel(x), analytic.ntk)
            }
            nngpErrors.append(nngp / Double(seeds.count))
            ntkErrors.append(ntk / Double(seeds.count))
        }
        let (nngpSlope, ntkSlope) = (Self.slope(widths, nngpErrors), Self.slope(widths, ntkErrors))
        print("\(name): mean relative errors at widths \(widths): NNGP \(nngpErrors) (slope \(nngpSlope)), "
            + "NTK \(ntkErrors) (slope \(ntkSlope))")
        for (kind, errors, slope) in [("NNGP", nngpErrors, nngpSlope), ("NTK", ntkErrors, ntkSlope)] {
            #expect(slope > -0.8 && slope < -0.3, "\(kind) slope \(slope), errors \(errors)")
            #expect(errors[2] < 0.1, "\(kind) errors \(errors)")
        }
    }
}

@Suite struct LayerEmpiricalKernelTests {
    static let architectures = ["rmsNorm", "rmsNorm affine", "batchNorm evaluation", "batchNorm evaluation noAffine",
                                "preLayerNorm affine", "postLayerNorm silu"]

    static func network(_ name: String) -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 5)
        func dense(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> { Dense(fanIn, fanOut, generator: &generator) }
        func nonTrivial<Layer>(_ layer: Layer) -> Layer {
            // Gamma and beta away from 1 and 0, and running statistics away from 0 and 1.
            for (name, parameter) in (layer as! any NeuralNet.Layer<Double>).namedParameters {
                parameter.value = .randomUniform(parameter.shape, low: name == "weight" ? 0.5 : -0.3,
                                                 high: name == "weight" ? 1.5 : 0.3, using: &generator)
            }
            for (name, buffer) in (layer as! any NeuralNet.Layer<Double>).namedBuffers where buffer.shape != [] {
                buffer.value = .randomUniform(buffer.shape, low: name == "running_var" ? 0.5 : -1, high: 2, using: &generator)
            }
            return layer
        }
        let layers: [any Layer<Double>] = switch name {
        case "rmsNorm": [dense(3, 6), RMSNorm(6, affine: false), ReLU(), dense(6, 1)]
        case "rmsNorm affine": [dense(3, 6), nonTrivial(RMSNorm(6)), SiLU(), dense(6, 5), nonTrivial(RMSNorm(5)), dense(5, 1)]
        case "batchNorm evaluation": [dense(3, 6), nonTrivial(BatchNorm(6)), ReLU(), dense(6, 1)]
        case "batchNorm evaluation noAffine": [dense(3, 6), nonTrivial(BatchNorm(6, affine: false)), Tanh(), dense(6, 1)]
        case "preLayerNorm affine": [dense(3, 6), Residual(Sequential(nonTrivial(LayerNorm(6)), dense(6, 6), ReLU(), dense(6, 6))),
                                     nonTrivial(LayerNorm(6)), dense(6, 1)]
        case "postLayerNorm silu": [dense(3, 6), Residual(Sequential(dense(6, 6), SiLU(), dense(6, 6))), LayerNorm(6, affine: false),
                                    dense(6, 1)]
        default: fatalError("unknown network \(name)")
        }
        let network = Sequential(layers)
        network.setTraining(false)
        return network
    }

    @Test(arguments: architectures) func agreesWithPerSampleJacobians(_ name: String) throws {
        try expectStructuredKernelMatchesJacobians(Self.network(name), name)
    }

    @Test func aTrainingModeBatchNormIsRefused() throws {
        let network = Self.network("batchNorm evaluation")
        network.setTraining(true)
        let x = randomPoints(5, 3, seed: 1)
        let before = network.namedBuffers.map { $0.buffer.value }
        #expect(throws: EmpiricalTangentKernelError.batchStatistics) { try network.empiricalTangentKernel(x) }
        #expect(throws: EmpiricalTangentKernelError.batchStatistics) { try network.empiricalTangentKernelFromJacobians(x) }
        // Refused before anything ran: the running statistics are as they were.
        #expect(network.namedBuffers.map { $0.buffer.value } == before)
        #expect("\(EmpiricalTangentKernelError.batchStatistics)".contains("setTraining(false)"))
    }
}

@Suite struct LayerKernelMapErrorTests {
    func mapError(_ network: Sequential<Double>) -> String {
        var kernel = InfiniteWidthKernel(randomPoints(3, 2, seed: 1))
        do {
            try network.kernelMap(&kernel)
            return "no error"
        } catch { return "\(error)" }
    }

    func dense(_ fanIn: Int, _ fanOut: Int, _ generator: inout Xoshiro256StarStar) -> Dense<Double> {
        Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
    }

    @Test func batchNormHasNoMapInEitherMode() {
        var generator = Xoshiro256StarStar(seed: 1)
        let network = Sequential<Double>(dense(2, 4, &generator), BatchNorm(4), ReLU(), dense(4, 1, &generator))
        #expect(mapError(network).contains("BatchNorm(4) in training mode has no infinite-width kernel map"))
        network.setTraining(false)
        let message = mapError(network)
        #expect(message.contains("BatchNorm(4) in evaluation mode has no infinite-width kernel map"))
        #expect(message.contains("running statistics"))
    }

    @Test func affineRMSNormHasNoMap() {
        var generator = Xoshiro256StarStar(seed: 2)
        let network = Sequential<Double>(dense(2, 4, &generator), RMSNorm(4), ReLU(), dense(4, 1, &generator))
        #expect(mapError(network).contains("RMSNorm(4, affine: true) has no infinite-width kernel map"))
    }

    /// SiLU has no closed form; its map is by quadrature (ActivationKernelMapTests checks the values).
    @Test func siluIsMappedByQuadrature() {
        var generator = Xoshiro256StarStar(seed: 3)
        let network = Sequential<Double>(dense(2, 4, &generator), SiLU(), dense(4, 1, &generator))
        #expect(mapError(network) == "no error")
    }

    /// A block whose output is not a fresh Dense layer's is correlated with the skip path.
    @Test func residualBlocksMustEndWithADense() {
        var generator = Xoshiro256StarStar(seed: 4)
        let endsWithReLU = Sequential<Double>(dense(2, 4, &generator), Residual(Sequential(dense(4, 4, &generator), ReLU())),
                                              dense(4, 1, &generator))
        #expect(mapError(endsWithReLU).contains("end the inner block with a Dense layer"))
        let onlyNorm = Sequential<Double>(dense(2, 4, &generator), Residual(LayerNorm(4, affine: false)), dense(4, 1, &generator))
        #expect(mapError(onlyNorm).contains("Residual(LayerNorm) has no infinite-width kernel map"))
        // x + (x + W x): the inner block's output holds x itself.
        let nested = Sequential<Double>(dense(2, 4, &generator), Residual(Residual(dense(4, 4, &generator))), dense(4, 1, &generator))
        #expect(mapError(nested).contains("Residual(Residual(Dense)) has no infinite-width kernel map"))
        let normalised = Sequential<Double>(dense(2, 4, &generator), Residual(Sequential(dense(4, 4, &generator), LayerNorm(4, affine: false))),
                                            dense(4, 1, &generator))
        #expect(mapError(normalised) == "no error")
        let valid = Sequential<Double>(dense(2, 4, &generator), Residual(Sequential(dense(4, 4, &generator), ReLU(), dense(4, 4, &generator))),
                                       dense(4, 1, &generator))
        #expect(mapError(valid) == "no error")
    }
}
