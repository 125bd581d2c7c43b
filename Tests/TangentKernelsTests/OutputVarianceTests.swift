import Foundation
import Testing
import TangentKernels
import TestSupport

/// The variance over initialisations of the infinitely wide network trained to convergence
/// against neural-tangents' `gradient_descent_mse_ensemble(..., compute_cov=True)` at t = inf
/// (scripts/reference/generate_output_variance.py), and its growth along rays.
@Suite struct OutputVarianceTests {
    static func setUp(_ architectureName: String) throws
        -> (variance: InfiniteWidthOutputVariance<Sequential<Double>>, reference: [String: Any], architecture: [String: Any]) {
        let reference = try fixture("neural_tangents_output_variance", in: .module)
        let architecture = (reference["architectures"] as! [String: [String: Any]])[architectureName]!
        let network = multilayerPerceptron(
            inputs: 3, width: 16, hiddenLayers: architecture["hiddenLayers"] as! Int,
            layerNormAfter: Set(architecture["layerNormAfterHiddenLayers"] as! [Int]),
            weightStandardDeviation: reference["W_std"] as! Double, biasStandardDeviation: reference["b_std"] as! Double)
        let targets = Tensor<Double>(shape: [6], scalars: reference["yTrain"] as! [Double])
        let regression = try InfiniteWidthRegression(network: network, inputs: tensor(reference["xTrain"]!), targets: targets)
        return (try InfiniteWidthOutputVariance(regression), reference, architecture)
    }

    @Test(arguments: ["noLayerNorm", "layerNormFirst"]) func matchesNeuralTangents(_ name: String) throws {
        let (variance, reference, architecture) = try Self.setUp(name)
        #expect(variance.regression.regression.jitter == 0)
        let directions = tensor(reference["directions"]!)
        let byScale = architecture["byScale"] as! [String: [String: [Double]]]
        #expect(byScale.count == 4)
        for (scale, expected) in byScale {
            let result = try variance.evaluate(directions.scaled(by: Double(scale)!))
            let expectedMean = Tensor(shape: [4], scalars: expected["mean"]!)
            let expectedVariance = Tensor(shape: [4], scalars: expected["variance"]!)
            #expect(relativeError(result.mean, expectedMean) < 1e-8, "\(name) x\(scale) mean")
            #expect(relativeError(result.variance, expectedVariance) < 1e-8, "\(name) x\(scale) variance: \(result.variance.scalars) vs \(expectedVariance.scalars)")
        }
        // At the training points: the targets exactly, and no spread (up to rounding of K(x, x) ~ 1).
        let atTraining = try variance.evaluate(tensor(reference["xTrain"]!))
        #expect(maxRelativeError(atTraining.mean.scalars, reference["yTrain"] as! [Double]) < 1e-9)
        #expect(atTraining.variance.scalars.allSatisfy { abs($0) < 1e-9 }, "\(atTraining.variance.scalars)")
    }

    /// Along rays lambda * u: without LayerNorm the variance grows as lambda^2 (a ReLU network
    /// without LN is positively homogeneous in x for large lambda, and so are K and Theta, of degree 2);
    /// with one LayerNorm it settles to a constant.
    @Test func growsAsLambdaSquaredWithoutLayerNormAndStaysBoundedWithIt() throws {
        let directions = tensor(try fixture("neural_tangents_output_variance", in: .module)["directions"]!)
        func largest(_ name: String, _ lambda: Double) throws -> Double {
            try Self.setUp(name).variance.evaluate(directions.scaled(by: lambda)).variance.scalars.max()!
        }
        for (low, high) in [(1e3, 1e4), (1e4, 1e5), (1e5, 1e6)] {
            let exponent = log10(try largest("noLayerNorm", high) / largest("noLayerNorm", low))
            #expect(abs(exponent - 2) < 1e-3, "no LN: slope \(exponent) over [\(low), \(high)]")
            let ratio = try largest("layerNormFirst", high) / largest("layerNormFirst", low)
            #expect(abs(ratio - 1) < 1e-3, "LN: ratio \(ratio) over [\(low), \(high)]")
        }
        #expect(try largest("layerNormFirst", 1e6) < 1)
    }

    /// An explicit dense computation of the formula (independent of the solve-and-GEMM path):
    /// inverse of Theta(X, X) by Gauss-Jordan, then the four products written out.
    @Test func equalsTheFormulaWrittenOut() throws {
        let (variance, reference, _) = try Self.setUp("layerNormFirst")
        let xTrain = tensor(reference["xTrain"]!)
        let points = tensor(reference["directions"]!).scaled(by: 7)
        let network = variance.regression.network
        let train = try network.infiniteWidthKernel(xTrain), cross = try network.infiniteWidthKernel(points, xTrain)
        let n = 6
        let theta = (0..<n).map { i in (0..<n).map { train.ntk[i, $0] } }
        let inverse = gaussJordanInverse(theta)
        for m in 0..<4 {
            let thetaRow = (0..<n).map { cross.ntk[m, $0] }, kRow = (0..<n).map { cross.nngp[m, $0] }
            let weights = (0..<n).map { j in (0..<n).reduce(0.0) { $0 + thetaRow[$1] * inverse[$1][j] } }  // Theta(x,X) Theta^-1
            var expected = cross.nngpDiagonal1[m]
            for i in 0..<n { expected -= 2 * weights[i] * kRow[i] }
            for i in 0..<n { for j in 0..<n { expected += weights[i] * train.nngp[i, j] * weights[j] } }
            let computed = try variance.evaluate(points).variance[m]
            #expect(abs(computed - expected) <= 1e-10 * max(1, abs(expected)), "point \(m): \(computed) vs \(expected)")
        }
    }

    func gaussJordanInverse(_ matrix: [[Double]]) -> [[Double]] {
        let n = matrix.count
        var a = matrix.enumerated().map { i, row in row + (0..<n).map { $0 == i ? 1.0 : 0.0 } }
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            a.swapAt(column, pivot)
            let scale = a[column][column]
            a[column] = a[column].map { $0 / scale }
            for row in 0..<n where row != column {
                let factor = a[row][column]
                a[row] = zip(a[row], a[column]).map { $0 - factor * $1 }
            }
        }
        return a.map { Array($0[n...]) }
    }
}
