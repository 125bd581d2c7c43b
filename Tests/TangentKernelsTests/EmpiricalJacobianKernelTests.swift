import Foundation
import Testing
import TestSupport
@testable import NeuralNet
@testable import TangentKernels

/// The empirical Jacobian NTK against torch.func's (jacrev over the parameters of jacrev over the
/// inputs; torch_jacobian_kernel.json from scripts/reference/generate_jacobian_penalty.py).
@Suite struct EmpiricalJacobianKernelTests {
    @Test func equalsTorchFunc() throws {
        let reference = try fixture("torch_jacobian_kernel", in: .module)
        let cases = reference["kernel"] as! [[String: Any]]
        #expect(cases.count == 2)
        for entry in cases {
            let activation = Activation(rawValue: entry["activation"] as! String)!
            let (sw, sb) = (entry["weightStandardDeviation"] as! Double, entry["biasStandardDeviation"] as! Double)
            let parameters = (entry["parameters"] as! [String: Any]).mapValues { tensor($0) }
            func dense(_ index: Int) -> Dense<Double> {
                Dense(weight: parameters["\(index).weight"]!, bias: parameters["\(index).bias"]!, parameterization: .ntk,
                      weightStandardDeviation: sw, biasStandardDeviation: sb)
            }
            let model = Sequential<Double>(dense(0), ActivationLayer(activation), dense(1), ActivationLayer(activation), dense(2))
            let (x1, x2) = (tensor(entry["x1"]!), tensor(entry["x2"]!))
            let expected = tensor(entry["kernel"]!)
            for method in [EmpiricalTangentKernelMethod.jacobians, .structured] {
                let kernel = try model.empiricalJacobianTangentKernel(x1, x2, method: method)
                #expect(kernel.shape == [9, 6])
                let scale = expected.maxAbs()
                let worst = zip(kernel.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max()! / scale
                #expect(worst < 1e-9, "\(activation), \(method): worst difference \(worst) of the largest entry")
            }
            // Without x2: symmetric, and its block against x1 equals the kernel's.
            let square = try model.empiricalJacobianTangentKernel(x1)
            #expect(square.shape == [9, 9])
            for row in 0..<9 { for column in 0..<9 { #expect(square[row, column] == square[column, row]) } }
        }
    }

    /// The structured path equals per-sample gradients on networks with residual blocks and
    /// parameter-free norms; a network with LayerNorm's affine parameters falls back to them.
    @Test func structuredEqualsPerSampleGradients() throws {
        var generator = Xoshiro256StarStar(seed: 5)
        let residual = Sequential<Double>(
            Dense(3, 6, generator: &generator), LayerNorm(6, affine: false), Tanh(),
            Residual(Sequential(Dense(6, 6, generator: &generator), GELU(), Dense(6, 6, generator: &generator))),
            RMSNorm(6, affine: false), Dense(6, 1, generator: &generator))
        let x1 = Tensor<Double>.randomNormal([4, 3], using: &generator), x2 = Tensor<Double>.randomNormal([3, 3], using: &generator)
        for x in [x2, nil] {
            let structured = try residual.empiricalJacobianTangentKernel(x1, x, method: .structured)
            let oracle = try residual.empiricalJacobianTangentKernel(x1, x, method: .jacobians)
            let worst = zip(structured.scalars, oracle.scalars).map { Swift.abs($0 - $1) }.max()! / oracle.maxAbs()
            #expect(worst < 1e-12, "worst difference \(worst)")
        }
        let affine = Sequential<Double>(Dense(3, 6, generator: &generator), LayerNorm(6), ReLU(), Dense(6, 1, generator: &generator))
        #expect(throws: EmpiricalTangentKernelError.self) { try affine.empiricalJacobianTangentKernel(x1, method: .structured) }
        let automatic = try affine.empiricalJacobianTangentKernel(x1, x2)
        #expect(automatic == (try affine.empiricalJacobianTangentKernel(x1, x2, method: .jacobians)))
    }

    @Test func valueBlockIsTheNTK() throws {
        var generator = Xoshiro256StarStar(seed: 3)
        let model = Sequential<Double>(Dense(ntk: 2, 7, weightStandardDeviation: 1.3, biasStandardDeviation: 0.2, generator: &generator),
                                       GELU(), Dense(ntk: 7, 1, weightStandardDeviation: 1.3, biasStandardDeviation: 0.2, generator: &generator))
        let x = Tensor<Double>(shape: [3, 2], scalars: [0.3, -0.5, 0.8, 0.1, -1.2, 0.4])
        let joint = try model.empiricalJacobianTangentKernel(x)
        let ntk = try model.empiricalTangentKernel(x)
        for i in 0..<3 { for k in 0..<3 { #expect(Swift.abs(joint[3 * i, 3 * k] - ntk[i, k]) < 1e-12 * max(1, Swift.abs(ntk[i, k]))) } }
    }
}
