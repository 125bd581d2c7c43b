import Foundation
import Testing
import TangentKernels
import TestSupport

/// Kernel regression against a direct dense solve, and the jitter for singular kernel matrices.
@Suite struct KernelRegressionTests {
    /// Solves A X = B by Gaussian elimination with partial pivoting: an independent path.
    static func gaussianElimination(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        var (a, b) = (a, b)
        let n = a.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                for k in 0..<b[row].count { b[row][k] -= factor * b[column][k] }
            }
        }
        var x = b
        for row in stride(from: n - 1, through: 0, by: -1) {
            for k in 0..<b[row].count {
                var value = b[row][k]
                for j in (row + 1)..<n { value -= a[row][j] * x[j][k] }
                x[row][k] = value / a[row][row]
            }
        }
        return x
    }

    static var network: Sequential<Double> { multilayerPerceptron(inputs: 2, width: 8, hiddenLayers: 2, layerNormAfter: [0]) }

    func targets(_ x: Tensor<Double>) -> Tensor<Double> {
        Tensor(shape: [x.shape[0], 2], scalars: (0..<x.shape[0]).flatMap { [sin(3 * x[$0, 0]) + x[$0, 1], x[$0, 0] * x[$0, 1]] })
    }

    @Test func agreesWithADirectSolve() throws {
        let x = randomPoints(10, 2, seed: 1), y = targets(x)
        let kernel = try Self.network.infiniteWidthKernel(x).ntk
        let regression = try KernelRegression(kernel: kernel, targets: y)
        #expect(regression.jitter == 0 && regression.attempts == 1)
        let expected = Tensor(Self.gaussianElimination(kernel.array2D, y.array2D))
        #expect(relativeError(regression.coefficients, expected) < 1e-9)
        // Predictions: at the training points they interpolate y; elsewhere they are K(x*, X) alpha.
        #expect(relativeError(regression.predict(crossKernel: kernel), y) < 1e-9)
        let xStar = randomPoints(5, 2, seed: 2, scale: 3)
        let cross = try Self.network.infiniteWidthKernel(xStar, x).ntk
        #expect(relativeError(regression.predict(crossKernel: cross), matmul(cross, expected)) < 1e-9)
        // A vector of targets gives a vector of predictions.
        let first = Tensor(shape: [10], scalars: (0..<10).map { y[$0, 0] })
        let vectorRegression = try KernelRegression(kernel: kernel, targets: first)
        #expect(vectorRegression.predict(crossKernel: cross).shape == [5])
        #expect(relativeError(vectorRegression.predict(crossKernel: cross),
                              Tensor(shape: [5], scalars: (0..<5).map { matmul(cross, expected)[$0, 0] })) < 1e-9)
    }

    @Test func infiniteWidthRegressionUsesTheNetworksKernel() throws {
        let x = randomPoints(10, 2, seed: 3), y = targets(x)
        let xStar = randomPoints(4, 2, seed: 4)
        for kind in InfiniteWidthKernelKind.allCases {
            let fitted = try InfiniteWidthRegression(network: Self.network, inputs: x, targets: y, kind: kind)
            let kernel = try Self.network.infiniteWidthKernel(x), cross = try Self.network.infiniteWidthKernel(xStar, x)
            let direct = try KernelRegression(kernel: kind == .ntk ? kernel.ntk : kernel.nngp, targets: y)
            #expect(try fitted.predict(xStar) == direct.predict(crossKernel: kind == .ntk ? cross.ntk : cross.nngp))
        }
    }

    @Test func duplicatePointsGetAJitter() throws {
        // Points 0 and 3 coincide, as do 1 and 5: the kernel matrix is singular.
        var x = randomPoints(8, 2, seed: 5)
        for (copy, original) in [(3, 0), (5, 1)] { for j in 0..<2 { x[copy, j] = x[original, j] } }
        let kernel = try Self.network.infiniteWidthKernel(x).ntk
        let y = targets(x)
        let regression = try KernelRegression(kernel: kernel, targets: y)
        let meanDiagonal = (0..<8).map { kernel[$0, $0] }.reduce(0, +) / 8
        #expect(regression.jitter > 0 && regression.attempts > 1)
        // The jitter is one of the schedule's: 1e-12 times the mean diagonal, times a power of ten.
        let exponent = log10(regression.jitter / (1e-12 * meanDiagonal))
        #expect(abs(exponent - exponent.rounded()) < 1e-9 && Int(exponent.rounded()) == regression.attempts - 2)
        let predictions = regression.predict(crossKernel: kernel)
        #expect(predictions.scalars.allSatisfy { $0.isFinite })
        // Consistent targets at the duplicates are still interpolated closely.
        #expect(relativeError(predictions, y) < 1e-3, "\(relativeError(predictions, y))")
        print("duplicate points: jitter \(regression.jitter) after \(regression.attempts) attempts")
    }

    @Test func retriesFactorInPlaceAndReadOnlyTheLowerTriangle() throws {
        // A singular kernel (duplicated points) whose strict upper triangle holds garbage: the fit
        // must read only the lower triangle, and each retry must restore it after a failed
        // in-place factorisation. The truth: the solve of the jittered symmetric matrix, done apart.
        var x = randomPoints(12, 2, seed: 6)
        for j in 0..<2 { x[7, j] = x[2, j] }
        let kernel = try Self.network.infiniteWidthKernel(x).ntk
        var lowerOnly = kernel
        for i in 0..<12 { for j in (i + 1)..<12 { lowerOnly[i, j] = 1e300 } }
        let y = targets(x)
        let regression = try KernelRegression(kernel: lowerOnly, targets: y)
        #expect(regression.attempts > 1)
        var jittered = kernel
        for i in 0..<12 { jittered[i, i] += regression.jitter }
        let truth = try jittered.choleskySolve(y)
        #expect(relativeError(regression.coefficients, truth) < 1e-6, "\(relativeError(regression.coefficients, truth))")
        #expect(lowerOnly[0, 11] == 1e300, "the caller's matrix was changed")
    }

    @Test func failedInPlaceFactorisationKeepsTheUpperTriangle() {
        var matrix = Tensor<Double>([[1, 2, 3], [2, 1, 5], [3, 5, 1]])
        #expect(throws: LinearAlgebraError.notPositiveDefinite(leadingMinor: 2, size: 3)) {
            try CholeskyFactor(factoringInPlace: &matrix)
        }
        #expect(matrix.shape == [3, 3] && matrix[0, 1] == 2 && matrix[0, 2] == 3 && matrix[1, 2] == 5)
        var spd = Tensor<Double>([[4, 2], [2, 3]])
        let factor = try? CholeskyFactor(factoringInPlace: &spd)
        #expect(spd.shape == [0] && factor?.lower == Tensor([[2, 0], [1, 2.0.squareRoot()]]))
    }

    @Test func exactlySingularMatrixTakesTheFirstJitter() throws {
        // All ones: rank one, Cholesky meets an exact zero pivot.
        let regression = try KernelRegression(kernel: .ones([3, 3]), targets: Tensor(shape: [3], scalars: [1, 1, 1]))
        #expect(regression.jitter == 1e-12 && regression.attempts == 2)
        let float = try KernelRegression(kernel: Tensor<Float>.ones([3, 3]), targets: Tensor<Float>(shape: [3], scalars: [1, 1, 1]))
        // Float needs a larger jitter to clear its rounding noise (n ulp relative): 1e-6.
        #expect(float.jitter > 0 && float.predict(crossKernel: .ones([1, 3])).scalars.allSatisfy { abs($0 - 1) < 1e-3 })
    }

    @Test func hopelessKernelsThrow() {
        #expect(throws: KernelRegressionError.nonFiniteKernel) {
            try KernelRegression(kernel: Tensor([[1, .nan], [.nan, 1]]), targets: Tensor(shape: [2], scalars: [1, 2]))
        }
        #expect(throws: KernelRegressionError.diagonalNotPositive(mean: 0)) {
            try KernelRegression(kernel: Tensor<Double>.zeros([2, 2]), targets: Tensor(shape: [2], scalars: [1, 2]))
        }
        // Indefinite: eigenvalues 3 and -1; no small jitter helps.
        do {
            _ = try KernelRegression(kernel: Tensor([[1, 2], [2, 1]]), targets: Tensor(shape: [2], scalars: [1, 2]))
            Issue.record("an indefinite kernel matrix was accepted")
        } catch let KernelRegressionError.notPositiveDefinite(size, largestJitter, attempts) {
            #expect(size == 2 && attempts == 11 && abs(largestJitter - 1e-3) < 1e-15)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
