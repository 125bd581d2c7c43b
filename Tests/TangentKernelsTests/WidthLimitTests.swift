import Foundation
import Testing
import TangentKernels
import TestSupport

/// The empirical NTK of a finite network in the NTK parameterization tends to the analytic one as
/// the width grows, with fluctuations of order 1/sqrt(width).
@Suite struct WidthLimitTests {
    /// Two hidden layers with ReLU; one with GELU, whose fluctuations are larger (over seeds, the
    /// mean error at width 4096 is 2.2% with one GELU layer and 3.5% with two).
    @Test(arguments: [(false, Activation.relu), (true, .relu), (true, .gelu)])
    func width4096IsWithinFivePercentOfTheAnalyticNTK(layerNorm: Bool, activation: Activation) throws {
        let network = multilayerPerceptron(inputs: 3, width: 4096, hiddenLayers: activation == .gelu ? 1 : 2,
                                           layerNormAfter: layerNorm ? [0] : [], activation: activation,
                                           layerNormEpsilon: 1e-5, seed: 1)
        let x = randomPoints(6, 3, seed: 2)
        let empirical = try network.empiricalTangentKernel(x)
        let analytic = try network.infiniteWidthKernel(x).ntk
        let error = frobeniusRelativeError(empirical, analytic)
        print("width 4096, LayerNorm \(layerNorm), \(activation): relative error of the empirical NTK \(error)")
        #expect(error < 0.05, "\(error)")
    }

    @Test func errorFallsAsOneOverSquareRootOfWidth() throws {
        let x = randomPoints(6, 3, seed: 3)
        let widths = [64, 256, 1024, 4096]
        var meanErrors: [Double] = []
        for width in widths {
            var total = 0.0
            let seeds: [UInt64] = [10, 11, 12, 13, 14, 15]
            for seed in seeds {
                let network = multilayerPerceptron(inputs: 3, width: width, hiddenLayers: 1, layerNormAfter: [0],
                                                   layerNormEpsilon: 1e-5, seed: seed)
                total += frobeniusRelativeError(try network.empiricalTangentKernel(x), try network.infiniteWidthKernel(x).ntk)
            }
            meanErrors.append(total / Double(seeds.count))
        }
        // Least-squares slope of log(error) against log(width): -1/2 for 1/sqrt(width).
        let logWidths = widths.map { log(Double($0)) }, logErrors = meanErrors.map { log($0) }
        let (meanX, meanY) = (logWidths.reduce(0, +) / 4, logErrors.reduce(0, +) / 4)
        var covariance = 0.0, variance = 0.0
        for (logWidth, logError) in zip(logWidths, logErrors) {
            covariance += (logWidth - meanX) * (logError - meanY)
            variance += (logWidth - meanX) * (logWidth - meanX)
        }
        let slope = covariance / variance
        print("mean relative errors at widths \(widths): \(meanErrors); slope \(slope)")
        #expect(slope > -0.8 && slope < -0.3, "slope \(slope), errors \(meanErrors)")
        #expect(meanErrors[3] < meanErrors[0] / 4, "\(meanErrors)")
    }
}

/// With one LayerNorm the NTK is bounded along rays x -> lambda x; without it, it grows as lambda^2.
@Suite struct ExtrapolationKernelTests {
    static let lambdas: [Double] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6]

    /// Theta(lambda x, lambda x) for each lambda and each point, from the analytic and an empirical kernel.
    func diagonalsAlongRays(layerNorm: Bool) throws -> (analytic: [[Double]], empirical: [[Double]]) {
        let analyticNetwork = multilayerPerceptron(inputs: 3, width: 8, hiddenLayers: 3, layerNormAfter: layerNorm ? [0] : [])
        let finiteNetwork = multilayerPerceptron(inputs: 3, width: 64, hiddenLayers: 3, layerNormAfter: layerNorm ? [0] : [],
                                                 layerNormEpsilon: 1e-5, seed: 5)
        let x = randomPoints(4, 3, seed: 4)
        var analytic: [[Double]] = [], empirical: [[Double]] = []
        for lambda in Self.lambdas {
            analytic.append(try analyticNetwork.infiniteWidthKernel(x.scaled(by: lambda)).ntkDiagonal1.scalars)
            empirical.append(diagonal(try finiteNetwork.empiricalTangentKernel(x.scaled(by: lambda))).scalars)
        }
        return (analytic, empirical)
    }

    @Test func withLayerNormTheNTKStaysBounded() throws {
        let (analytic, empirical) = try diagonalsAlongRays(layerNorm: true)
        for diagonals in [analytic, empirical] {
            for point in 0..<4 {
                let values = diagonals.map { $0[point] }
                // From lambda = 1 to 1e6 the kernel changes by a bounded factor, and it has settled:
                // the last two decades differ by less than 1e-4 relative.
                #expect(values.max()! / values.min()! < 3, "\(values)")
                #expect(abs(values[6] - values[4]) < 1e-4 * values[6], "\(values)")
            }
        }
    }

    @Test func withoutLayerNormTheNTKGrowsAsLambdaSquared() throws {
        let (analytic, empirical) = try diagonalsAlongRays(layerNorm: false)
        for diagonals in [analytic, empirical] {
            for point in 0..<4 {
                let values = diagonals.map { $0[point] }
                // Theta(lambda x, lambda x) / lambda^2 settles to a constant: the ratio between
                // lambda = 1e6 and 1e4 is 1e4 to within the biases' share, O(1 / lambda).
                let ratio = values[6] / values[4]
                #expect(abs(ratio / 1e4 - 1) < 1e-3, "ratio \(ratio), \(values)")
                #expect(values[6] > 1e11 * values[0], "\(values)")
            }
        }
    }
}
