import CKernels
import Foundation
import Testing
@testable import NeuralNet

/// CKernels' vector tanh, sigmoid and SiLU (QuadratureActivations.c, for the numerical kernel
/// maps) against libm's 80-bit functions: every vector level, over the whole line, the tiny arguments, the region
/// where tanh reaches 1 and sigmoid's tails; and the kernel maps built on them against the same
/// maps through libm.
@Suite struct QuadratureActivationTests {
    /// |a - b| in units in the last place of b; for a result of x that is subnormal, in units of
    /// |x| times the subnormal spacing: SiLU's x sigmoid(x) beyond x = -708 multiplies a subnormal
    /// sigmoid, whose absolute spacing is all the precision it has, by x.
    static func ulps(_ a: Double, _ b: Double, at x: Double) -> Double {
        a == b ? 0 : Swift.abs(a - b) / Swift.max(b.magnitude.ulp, x.magnitude * Double.leastNonzeroMagnitude)
    }

    /// |a - b| in units in the last place of b, or of 1 where |b| < 1: for derivatives, which cross
    /// zero (SiLU's at x = -1.28), where only an absolute error means anything.
    static func ulpsOfAtLeastOne(_ a: Double, _ b: Double) -> Double {
        a == b ? 0 : Swift.abs(a - b) / Swift.max(b.magnitude, 1).ulp
    }

    static func arguments() -> [Double] {
        var x = (0..<200_001).map { -25 + 50 * Double($0) / 200_000 }  // the line, steps of 2.5e-4
        x += (0..<4_000).map { Foundation.pow(10, -300 + 300 * Double($0) / 4_000) }  // 1e-300 ... 1
        x += x.map { -$0 }
        x += (0..<2_000).map { 18.5 + Double($0) / 1_000 }  // where tanh reaches 1
        let tails: [Double] = (0..<2_200).map { 30 + 0.35 * Double($0) }  // sigmoid's tails, past 745 where it is 0
        x += tails + tails.map { -$0 }
        x += [0.3, 0.3.nextDown, 0.3.nextUp, 0.6, 1e-320, .leastNonzeroMagnitude]
        return x
    }

    #if arch(x86_64)
    /// The references' precision: 64-bit significands, so that their own error (~1e-19) does not
    /// count against the 4 ulp.
    typealias Wide = Float80
    #else
    typealias Wide = Double
    #endif

    /// f and f' from libm in `Wide`, written so that nothing cancels: sigmoid and 1 - sigmoid each
    /// from exp(-|x|).
    static func reference(_ function: finitewidth_quadrature_function, _ x: Double) -> (value: Double, derivative: Double) {
        let wide = Wide(x)
        if function == FINITEWIDTH_QUADRATURE_TANH {
            let t = Foundation.tanh(wide)
            return (Double(t), Double(1 - t * t))
        }
        let e = Foundation.exp(-Swift.abs(wide))
        let (s, complement) = x >= 0 ? (1 / (1 + e), e / (1 + e)) : (e / (1 + e), 1 / (1 + e))
        if function == FINITEWIDTH_QUADRATURE_SIGMOID { return (Double(s), Double(s * complement)) }
        return (Double(wide * s), Double(s * (1 + wide * complement)))
    }

    @Test(arguments: [FINITEWIDTH_QUADRATURE_TANH, FINITEWIDTH_QUADRATURE_SIGMOID, FINITEWIDTH_QUADRATURE_SILU])
    func withinFourUlpOfLibmAtEveryLevel(_ function: finitewidth_quadrature_function) {
        let x = Self.arguments()
        let byLevel = KernelTests.atEveryLevel([x, x, x], outputs: [1, 2]) { level, buffers in
            finitewidth_quadrature_values_and_derivatives(level, function, buffers[1], buffers[2], buffers[0], x.count)
        }
        for (level, results) in byLevel {
            var worstValue = (ulps: 0.0, at: 0.0), worstDerivative = (ulps: 0.0, at: 0.0)
            for (i, argument) in x.enumerated() {
                let expected = Self.reference(function, argument)
                let valueError = Self.ulps(results[0][i], expected.value, at: argument)
                if valueError > worstValue.ulps { worstValue = (valueError, argument) }
                let derivativeError = Self.ulpsOfAtLeastOne(results[1][i], expected.derivative)
                if derivativeError > worstDerivative.ulps { worstDerivative = (derivativeError, argument) }
            }
            #expect(worstValue.ulps <= 4, "\(function) level \(level): value \(worstValue.ulps) ulp at x = \(worstValue.at)")
            #expect(worstDerivative.ulps <= 4,
                    "\(function) level \(level): derivative \(worstDerivative.ulps) ulp at x = \(worstDerivative.at)")
        }
    }

    @Test func specialValuesAsLibm() {
        let x: [Double] = [0, -0.0, .infinity, -.infinity, .nan, 20, -20, 1e300, -1e300]
        var (values, derivatives) = ([Double](repeating: 7, count: x.count), [Double](repeating: 7, count: x.count))
        finitewidth_quadrature_values_and_derivatives(FINITEWIDTH_VECTORS_WIDEST, FINITEWIDTH_QUADRATURE_TANH,
                                                      &values, &derivatives, x, x.count)
        #expect(values[0] == 0 && values[0].sign == .plus && values[1] == 0 && values[1].sign == .minus)
        #expect(values[2] == 1 && values[3] == -1 && values[4].isNaN && derivatives[4].isNaN)
        #expect(values[5] == 1 && values[6] == -1 && values[7] == 1 && values[8] == -1 && derivatives[7] == 0)
        // A diverged kernel's NaN stays NaN through sigmoid and SiLU too.
        for function in [FINITEWIDTH_QUADRATURE_SIGMOID, FINITEWIDTH_QUADRATURE_SILU] {
            finitewidth_quadrature_values_and_derivatives(FINITEWIDTH_VECTORS_WIDEST, function, &values, &derivatives, x, x.count)
            #expect(values[4].isNaN && derivatives[4].isNaN, "\(function)")
        }
    }

    /// A 3-hidden-layer network's analytic NTK through the vector loop against the same map through
    /// libm (a custom `ElementwiseFunction` with the reference above): the same to 1e-13 relative.
    @Test(arguments: [(Activation.tanh, FINITEWIDTH_QUADRATURE_TANH), (.sigmoid, FINITEWIDTH_QUADRATURE_SIGMOID),
                      (.silu, FINITEWIDTH_QUADRATURE_SILU)])
    func kernelMapAgreesWithLibm(_ activation: Activation, _ function: finitewidth_quadrature_function) throws {
        var generator = Xoshiro256StarStar(seed: 3)
        let x = Tensor<Double>.randomNormal([6, 3], standardDeviation: 2, using: &generator)
        let libm = ElementwiseFunction(name: activation.layerName) { input, values, derivatives, count in
            for i in 0..<count { (values[i], derivatives[i]) = Self.reference(function, input[i]) }
        }
        var (vectorKernel, libmKernel) = (InfiniteWidthKernel(x), InfiniteWidthKernel(x))
        for _ in 0..<3 {
            vectorKernel.applyDense(weightStandardDeviation: 1.4, biasStandardDeviation: 0.3)
            try vectorKernel.applyActivation(activation)
            libmKernel.applyDense(weightStandardDeviation: 1.4, biasStandardDeviation: 0.3)
            try libmKernel.applyNumerical(libm)
        }
        #expect(relativeError(vectorKernel.ntk, libmKernel.ntk) < 1e-13, "\(activation)")
        #expect(relativeError(vectorKernel.nngp, libmKernel.nngp) < 1e-13, "\(activation)")
    }
}
