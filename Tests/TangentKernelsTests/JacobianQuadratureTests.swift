import Testing
@testable import TangentKernels
import TestSupport

/// The quadrature route of the Jacobian kernels (tanh, sigmoid, SiLU): erf through it against its
/// closed form, the activations' derivatives against central differences, and a tanh network's
/// derivative blocks against central differences of its own kernel values.
@Suite struct JacobianQuadratureTests {
    /// Variances up to 2.5 (a unit variance is typical: sigma_w^2 times a bounded activation's square).
    static let covariances: [(Double, Double, Double)] = [(0.8, 0.3, 1.1), (0.5, -0.45, 0.6), (1.3, 1.3, 1.3), (2.5, 0.1, 0.2), (0.7, 0.7, 0.7)]

    /// E[z^(2k)] = (2k - 1)!! for a standard normal z, exactly for degrees below 2 count.
    @Test func rulesIntegrateMomentsOfTheStandardNormal() throws {
        for rule in [GaussHermiteRule.small, .large] {
            var doubleFactorial = 1.0
            for k in 0...10 {
                if k > 0 { doubleFactorial *= Double(2 * k - 1) }
                let moment = zip(rule.nodes, rule.weights).reduce(0.0) { $0 + $1.1 * Double.pow($1.0, Double(2 * k)) }
                #expect(abs(moment - doubleFactorial) < 1e-12 * doubleFactorial, "\(rule.nodes.count) nodes, E[z^\(2 * k)] = \(moment)")
            }
        }
    }

    @Test(arguments: covariances.indices)
    func erfByQuadratureEqualsItsClosedForm(_ index: Int) throws {
        let (k11, k12, k22) = Self.covariances[index]
        let closed = JacobianKernelActivationMap.of(.erf)!.pair(k11: k11, k12: k12, k22: k22)
        let quadrature = GaussHermiteExpectations(derivatives: ActivationDerivatives.erf)
            .pair(k11: k11, k12: k12, k22: k22)
        for (a, b) in [(closed.nngp, quadrature.nngp), (closed.derivative, quadrature.derivative)] {
            let pairs = [(a.value, b.value), (a.k11, b.k11), (a.k12, b.k12), (a.k22, b.k22),
                         (a.k11k12, b.k11k12), (a.k12k12, b.k12k12), (a.k11k22, b.k11k22), (a.k12k22, b.k12k22)]
            for (exact, approximate) in pairs { #expect(abs(exact - approximate) < 1e-10 * max(1, abs(exact)), "\(exact) vs \(approximate)") }
        }
        let (value, slope) = GaussHermiteExpectations(derivatives: ActivationDerivatives.erf).diagonal(k11)
        let exactDiagonal = JacobianKernelActivationMap.of(.erf)!.diagonal(k11)
        #expect(abs(value - exactDiagonal.value) < 1e-12 && abs(slope - exactDiagonal.slope) < 1e-12, "\(value) vs \(exactDiagonal.value), \(slope) vs \(exactDiagonal.slope)")
    }

    @Test(arguments: ["tanh", "sigmoid", "silu", "erf"])
    func derivativesEqualCentralDifferences(_ name: String) throws {
        let function: (Double) -> (Double, Double, Double, Double, Double) = switch name {
        case "tanh": ActivationDerivatives.tanh
        case "sigmoid": ActivationDerivatives.sigmoid
        case "silu": ActivationDerivatives.silu
        default: ActivationDerivatives.erf
        }
        let h = 1e-5
        for x in [-2.3, -0.7, 0.0, 0.4, 1.9] {
            let (plus, minus, at) = (function(x + h), function(x - h), function(x))
            let differences = [(plus.0 - minus.0, at.1), (plus.1 - minus.1, at.2), (plus.2 - minus.2, at.3), (plus.3 - minus.3, at.4)]
            for (difference, derivative) in differences {
                #expect(abs(difference / (2 * h) - derivative) < 1e-8, "\(name) at \(x)")
            }
        }
    }

    @Test(arguments: [Activation.tanh, .silu])
    func blocksEqualCentralDifferencesOfTheKernelValues(_ activation: Activation) throws {
        var generator = Xoshiro256StarStar(seed: 5)
        func dense(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.5.squareRoot(), biasStandardDeviation: 0.1.squareRoot(), generator: &generator)
        }
        let network = Sequential<Double>(dense(2, 8), ActivationLayer(activation), dense(8, 8), ActivationLayer(activation), dense(8, 1))
        let (x, y, h) = ([0.3, -0.5], [-0.2, 0.9], 1e-4)
        // Rows: the point, then +h and -h along each feature.
        func stencil(_ p: [Double]) -> Tensor<Double> {
            Tensor(shape: [5, 2], scalars: p + [p[0] + h, p[1], p[0] - h, p[1], p[0], p[1] + h, p[0], p[1] - h])
        }
        let values = try network.infiniteWidthJacobianKernel(stencil(x), stencil(y))
        // The value entries are the analytic kernels, which NeuralNet computes by its own quadrature.
        let analytic = try network.infiniteWidthKernel(stencil(x), stencil(y))
        for i in 0..<5 {
            for j in 0..<5 {
                #expect(abs(values.ntk[3 * i, 3 * j] - analytic.ntk[i, j]) < 1e-9 * abs(analytic.ntk[i, j]), "\(activation) NTK (\(i), \(j))")
                #expect(abs(values.nngp[3 * i, 3 * j] - analytic.nngp[i, j]) < 1e-9 * abs(analytic.nngp[i, j]), "\(activation) NNGP (\(i), \(j))")
            }
        }
        let block = try network.infiniteWidthJacobianKernel(Tensor(shape: [1, 2], scalars: x), Tensor(shape: [1, 2], scalars: y))
        for kind in InfiniteWidthKernelKind.allCases {
            let matrix = kind == .ntk ? values.ntk : values.nngp
            let k = { (i: Int, j: Int) in matrix[3 * i, 3 * j] }  // the value entries
            let exact = block.block(0, 0, of: kind)
            for i in 0..<2 {
                #expect(abs((k(1 + 2 * i, 0) - k(2 + 2 * i, 0)) / (2 * h) - exact[1 + i, 0]) < 1e-6, "\(activation) \(kind) d_x")
                #expect(abs((k(0, 1 + 2 * i) - k(0, 2 + 2 * i)) / (2 * h) - exact[0, 1 + i]) < 1e-6, "\(activation) \(kind) d_x'")
                for j in 0..<2 {
                    let mixed = (k(1 + 2 * i, 1 + 2 * j) - k(1 + 2 * i, 2 + 2 * j) - k(2 + 2 * i, 1 + 2 * j) + k(2 + 2 * i, 2 + 2 * j)) / (4 * h * h)
                    #expect(abs(mixed - exact[1 + i, 1 + j]) < 1e-6, "\(activation) \(kind) mixed \(i) \(j): \(mixed) vs \(exact[1 + i, 1 + j])")
                }
            }
        }
    }
}
