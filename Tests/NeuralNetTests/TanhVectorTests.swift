import CKernels
import Foundation
import Testing
@testable import NeuralNet

/// CKernels' vector tanh (Tanh.c, for the numerical kernel maps) against libm's tanh: every vector
/// level, over the whole line, the tiny arguments where tanh x ~ x, the region near 19.1 where it
/// reaches 1, and the special values; and the kernel map built on it against libm's.
@Suite struct TanhVectorTests {
    /// |a - b| in units in the last place of b.
    static func ulps(_ a: Double, _ b: Double) -> Double {
        if a == b { return 0 }
        return Swift.abs(a - b) / b.magnitude.ulp
    }

    static func arguments() -> [Double] {
        var x = (0..<200_001).map { -25 + 50 * Double($0) / 200_000 }  // the line, steps of 2.5e-4
        x += (0..<4_000).map { Foundation.pow(10, -300 + 300 * Double($0) / 4_000) }  // 1e-300 ... 1
        x += x.map { -$0 }
        x += (0..<2_000).map { 18.5 + Double($0) / 1_000 }  // where tanh reaches 1
        x += [0.3, 0.3.nextDown, 0.3.nextUp, 0.6, 1e-320, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        return x
    }

    @Test func withinFourUlpOfLibmAtEveryLevel() {
        let x = Self.arguments()
        let byLevel = KernelTests.atEveryLevel([x, x, x], outputs: [1, 2]) { level, buffers in
            finitewidth_tanh_values_and_derivatives(level, buffers[1], buffers[2], buffers[0], x.count)
        }
        for (level, results) in byLevel {
            var worst = (ulps: 0.0, at: 0.0)
            var derivativeMismatches = 0
            for (i, argument) in x.enumerated() {
                let error = Self.ulps(results[0][i], Foundation.tanh(argument))
                if error > worst.ulps { worst = (error, argument) }
                // 1 - t^2, as one fused multiply-add where the level has FMA (see Vectors.h).
                let t = results[0][i]
                let derivative = level == FINITEWIDTH_VECTORS_BASELINE ? 1 - t * t : (1 as Double).addingProduct(-t, t)
                if !(results[1][i] == derivative || (results[1][i].isNaN && derivative.isNaN)) { derivativeMismatches += 1 }
            }
            #expect(worst.ulps <= 4, "level \(level): \(worst.ulps) ulp at x = \(worst.at)")
            #expect(derivativeMismatches == 0, "level \(level): \(derivativeMismatches) derivatives differ from 1 - t^2")
        }
    }

    @Test func specialValuesAsLibm() {
        let x: [Double] = [0, -0.0, .infinity, -.infinity, .nan, 20, -20, 1e300, -1e300]
        var (values, derivatives) = ([Double](repeating: 7, count: x.count), [Double](repeating: 7, count: x.count))
        finitewidth_tanh_values_and_derivatives(FINITEWIDTH_VECTORS_WIDEST, &values, &derivatives, x, x.count)
        #expect(values[0] == 0 && values[0].sign == .plus && values[1] == 0 && values[1].sign == .minus)
        #expect(values[2] == 1 && values[3] == -1 && values[4].isNaN && derivatives[4].isNaN)
        #expect(values[5] == 1 && values[6] == -1 && values[7] == 1 && values[8] == -1 && derivatives[7] == 0)
    }

    /// A tanh network's analytic NTK through the vector loop against the same map through libm's
    /// tanh (a custom `ElementwiseFunction`): the same to 1e-13 relative.
    @Test func kernelMapAgreesWithLibm() throws {
        var generator = Xoshiro256StarStar(seed: 3)
        let x = Tensor<Double>.randomNormal([6, 3], standardDeviation: 2, using: &generator)
        let libmTanh = ElementwiseFunction(name: "Tanh") { input, values, derivatives, count in
            for i in 0..<count {
                values[i] = Foundation.tanh(input[i])
                derivatives[i] = 1 - values[i] * values[i]
            }
        }
        var (vector, libm) = (InfiniteWidthKernel(x), InfiniteWidthKernel(x))
        for _ in 0..<3 {
            vector.applyDense(weightStandardDeviation: 1.4, biasStandardDeviation: 0.3)
            try vector.applyActivation(.tanh)
            libm.applyDense(weightStandardDeviation: 1.4, biasStandardDeviation: 0.3)
            try libm.applyNumerical(libmTanh)
        }
        #expect(relativeError(vector.ntk, libm.ntk) < 1e-13 && relativeError(vector.nngp, libm.nngp) < 1e-13)
    }
}
