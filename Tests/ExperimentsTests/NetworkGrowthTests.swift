import Glibc
import Testing
@testable import Experiments

/// The growth exponent measured on real networks (built by hand or by ``MLPDescription``) whose
/// growth along rays is known in closed form, through ``ExtrapolationMeasurement``.
@Suite struct NetworkGrowthTests {
    static let lambdas = lambdaGrid(from: 1, to: 10_000, perDecade: 4)

    /// Random unit directions in `dimension` dimensions (rows).
    static func directions(_ count: Int, _ dimension: Int, seed: UInt64 = 3) -> Tensor<Double> {
        ExtrapolationMeasurement.randomUnitDirections(count: count, dimension: dimension, seed: seed)
    }

    static func normal(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, standardDeviation: scale, using: &generator)
    }

    static func measure<Scalar>(_ network: Sequential<Scalar>, directions: Tensor<Scalar>,
                                lambdas: [Double] = lambdas) -> ExtrapolationTable {
        ExtrapolationMeasurement.measure(directions: directions, lambdas: lambdas) { network($0) }
    }

    /// Without biases a ReLU network is positively homogeneous of degree 1: f(lambda u) = lambda f(u)
    /// for lambda > 0, so max|f| is exactly proportional to lambda and the exponent is 1.
    @Test func biasFreeReLUNetworkIsHomogeneousOfDegreeOne() {
        let network = Sequential<Double>(
            Dense(weight: Self.normal([16, 3], seed: 1, scale: 0.6), bias: .zeros([16])), ReLU(),
            Dense(weight: Self.normal([16, 16], seed: 2, scale: 0.35), bias: .zeros([16])), ReLU(),
            Dense(weight: Self.normal([1, 16], seed: 3, scale: 0.35), bias: .zeros([1])))
        let table = Self.measure(network, directions: Self.directions(12, 3))
        let atOne = table.points[0]
        #expect(atOne.maxAbs > 0)
        for point in table.points {
            #expect(abs(point.maxAbs / (point.lambda * atOne.maxAbs) - 1) < 1e-12)
            #expect(abs(point.meanAbs / (point.lambda * atOne.meanAbs) - 1) < 1e-12)
        }
        #expect(abs(table.growthExponent - 1) < 1e-12)
    }

    /// The same through the builder the runner uses, with zero biases, in both precisions.
    @Test func builtReLUNetworkWithZeroBiasesGrowsLinearly() {
        var description = MLPDescription(inputSize: 2, width: 12, hiddenLayers: 3)
        description.weightInitialization = .kaimingNormal
        description.biasInitialization = .zeros
        var generator = Xoshiro256StarStar(seed: 7)
        let double: Sequential<Double> = description.build(generator: &generator)
        #expect(abs(Self.measure(double, directions: Self.directions(10, 2)).growthExponent - 1) < 1e-12)
        generator = Xoshiro256StarStar(seed: 7)
        let float: Sequential<Float> = description.build(generator: &generator)
        let floatDirections: Tensor<Float> = ExtrapolationMeasurement.randomUnitDirections(count: 10, dimension: 2, seed: 3)
        #expect(abs(Self.measure(float, directions: floatDirections).growthExponent - 1) < 1e-4)
    }

    /// A network with no nonlinearity is affine: f(lambda u) = lambda a.u + c with a = W2 W1 and
    /// c = W2 b1 + b2, so max|f| is known exactly at every lambda, and the offset fades over
    /// the last decade, leaving an exponent just below 1.
    @Test func linearNetworkMatchesItsClosedForm() {
        let (w1, b1) = (Self.normal([8, 2], seed: 4), Self.normal([8], seed: 5))
        let (w2, b2) = (Self.normal([1, 8], seed: 6), Self.normal([1], seed: 7))
        let network = Sequential<Double>(Dense(weight: w1, bias: b1), Dense(weight: w2, bias: b2))
        let a = (0..<2).map { i in (0..<8).reduce(0.0) { $0 + w2.scalars[$1] * w1.scalars[$1 * 2 + i] } }
        let c = (0..<8).reduce(b2.scalars[0]) { $0 + w2.scalars[$1] * b1.scalars[$1] }
        let directions = Self.directions(9, 2)
        let table = Self.measure(network, directions: directions)
        for point in table.points {
            let values = directions.array2D.map { u in abs(point.lambda * (a[0] * u[0] + a[1] * u[1]) + c) }
            #expect(abs(point.maxAbs / values.max()! - 1) < 1e-12)
            #expect(abs(point.meanAbs / (values.reduce(0, +) / Double(values.count)) - 1) < 1e-12)
        }
        #expect(abs(table.growthExponent - 1) < 1e-3)
        // Without biases the network is linear and the exponent exactly 1.
        let linear = Sequential<Double>(Dense(weight: w1, bias: .zeros([8])), Dense(weight: w2, bias: .zeros([1])))
        #expect(abs(Self.measure(linear, directions: directions).growthExponent - 1) < 1e-12)
    }

    /// LayerNorm (no affine) right after the first Dense: each normalised unit lies in
    /// [-sqrt(n-1), sqrt(n-1)] whatever the input, so the output is bounded by a constant that
    /// follows from the later weights alone; along a ray it converges to the network with the
    /// first bias removed (LN(lambda W u + b) -> LN(W u)), and the exponent is about 0.
    @Test func layerNormAfterTheFirstDenseIsBoundedByItsClosedFormBound() {
        let n = 16
        let (w1, b1) = (Self.normal([n, 3], seed: 8), Self.normal([n], seed: 9))
        let (w2, b2) = (Self.normal([n, n], seed: 10, scale: 0.3), Self.normal([n], seed: 11, scale: 0.1))
        let (w3, b3) = (Self.normal([1, n], seed: 12, scale: 0.3), Self.normal([1], seed: 13, scale: 0.1))
        func network(firstBias: Tensor<Double>) -> Sequential<Double> {
            Sequential(Dense(weight: w1, bias: firstBias), LayerNorm(n, affine: false), ReLU(),
                       Dense(weight: w2, bias: b2), ReLU(), Dense(weight: w3, bias: b3))
        }
        let directions = Self.directions(12, 3)
        let lambdas = lambdaGrid(from: 1, to: 1e8, perDecade: 2)
        let table = Self.measure(network(firstBias: b1), directions: directions, lambdas: lambdas)

        // |ReLU(xhat_k)| <= sqrt(n-1); then interval arithmetic through the rest.
        let unitBound = Double(n - 1).squareRoot()
        let hidden2 = (0..<n).map { j in (0..<n).reduce(abs(b2.scalars[j])) { $0 + abs(w2.scalars[j * n + $1]) * unitBound } }
        let bound = (0..<n).reduce(abs(b3.scalars[0])) { $0 + abs(w3.scalars[$1]) * hidden2[$1] }
        #expect(table.maxAbs.allSatisfy { $0 > 0 && $0 <= bound })
        #expect(abs(table.growthExponent) < 1e-3)

        // The limit along each ray: the same network without the first bias, far out.
        let limit = Self.measure(network(firstBias: .zeros([n])), directions: directions, lambdas: [1e8]).points[0]
        #expect(abs(table.points.last!.maxAbs / limit.maxAbs - 1) < 1e-6)
        #expect(abs(table.points.last!.meanAbs / limit.meanAbs - 1) < 1e-6)
    }

    /// The builder's `layerNormAfter: [0]` network (as `"layerNorm": "first"`) against the same
    /// weights without LN: bounded versus linear.
    @Test func builtNetworksWithAndWithoutLayerNorm() {
        var description = MLPDescription(inputSize: 2, width: 12, hiddenLayers: 2)
        description.weightInitialization = .kaimingNormal
        description.biasInitialization = .normal(standardDeviation: 0.1)
        description.layerNormAffine = false
        var generator = Xoshiro256StarStar(seed: 11)
        let plain: Sequential<Double> = description.build(generator: &generator)
        description.layerNormAfter = [0]
        generator = Xoshiro256StarStar(seed: 11)
        let normalised: Sequential<Double> = description.build(generator: &generator)
        let directions = Self.directions(10, 2)
        let plainExponent = Self.measure(plain, directions: directions).growthExponent
        let normalisedExponent = Self.measure(normalised, directions: directions).growthExponent
        // With biases the ReLU network is only asymptotically homogeneous; at lambda >= 1000
        // every unit's sign is fixed by W u, so the exponent is 1 up to the biases' share.
        #expect(abs(plainExponent - 1) < 1e-3)
        #expect(abs(normalisedExponent) < 1e-3)
    }
}
