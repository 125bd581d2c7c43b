// The code of the article "Writing a layer" (Sources/NeuralNet/Documentation.docc/WritingALayer.md),
// verbatim between the "Article ... begins/ends" markers, compiled against the public API only as a
// user's package compiles it, and run: the gradient check passes, training lowers the loss, the
// kernel map and the empirical NTK give the kernels they should.
import Testing
import TestSupport   // projectRoot, relativeError
// Article imports begins
import Foundation
import NeuralNet
import TangentKernels
// Article imports ends

// Article step 1 begins
/// softplus(x) = log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never
/// overflows (e^x does beyond x = 709), and log1p keeps the far negative tail, where
/// softplus(x) ~ e^x, to full precision.
func softplusForward(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>) {
    for i in 0..<x.count { y[i] = max(x[i], 0) + log1p(exp(-abs(x[i]))) }
}
// Article step 1 ends

// Article step 2 begins
/// dx += dy * sigmoid(x), with sigmoid(x) = 1 / (1 + e^-|x|) for x >= 0 and e^-|x| / (1 + e^-|x|)
/// below: no overflow on either side. Adds into dx, as every backward does.
func softplusBackward(_ x: UnsafeBufferPointer<Double>, _ dy: UnsafeBufferPointer<Double>,
                      _ dx: UnsafeMutableBufferPointer<Double>) {
    for i in 0..<x.count {
        let e = exp(-abs(x[i]))
        dx[i] += dy[i] * (x[i] >= 0 ? 1 / (1 + e) : e / (1 + e))
    }
}
// Article step 2 ends

// Article step 3 begins
/// Softplus on the tape. Create it once and reuse it: the tape owns its output and gradient
/// buffers, so a training step that records it allocates nothing after the first.
final class SoftplusOperation: CustomOperation {
    typealias Scalar = Double

    /// Output row r reads only input row r: a batch may be split over threads, and the
    /// empirical NTK can take a network with this op apart.
    var isRowIndependent: Bool { true }

    func forward(_ context: CustomOperationContext<Double>) {
        softplusForward(context.input(0), context.output)
    }

    func backward(_ context: CustomOperationContext<Double>) {
        guard let dx = context.inputGradient(0) else { return }   // nil: the input needs no gradient
        softplusBackward(context.input(0), context.outputGradient, dx)
    }
}
// Article step 3 ends

// Article step 4 begins
/// softplus(x Wᵀ + b), its parameters named as this PyTorch module names them, so that
/// checkpoints and state dicts move between the two:
/// ```python
/// class SoftplusDense(nn.Module):
///     def __init__(self, inputs, outputs):
///         super().__init__()
///         self.linear = nn.Linear(inputs, outputs)
///     def forward(self, x):
///         return F.softplus(self.linear(x))
/// ```
struct SoftplusDense: Layer {
    typealias Scalar = Double
    let linear: Dense<Double>
    let softplus = SoftplusOperation()

    init(_ inputs: Int, _ outputs: Int, generator: inout Xoshiro256StarStar) {
        linear = Dense(inputs, outputs, generator: &generator)
    }

    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { softplus(linear(x)) }

    /// `linear.weight`, `linear.bias`: the sublayer's attribute name, a dot, its own names.
    var namedParameters: [(name: String, parameter: Parameter<Double>)] {
        linear.namedParameters.map { ("linear." + $0.name, $0.parameter) }
    }
}
// Article step 4 ends

// Article step 5 begins
/// y = c x. Each unit is scaled by c, so the kernels of the output are those of the input times
/// c²: K' = c² K and Θ' = c² Θ, entry by entry and on the diagonals.
struct Scale: Layer {
    typealias Scalar = Double
    let factor: Double

    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x * factor }

    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }

    func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        let squared = factor * factor
        let (count1, count2) = (kernel.count1, kernel.count2)
        kernel.withMutableBuffers { nngp, ntk, nngpDiagonal1, nngpDiagonal2, ntkDiagonal1, ntkDiagonal2 in
            for k in 0..<count1 * count2 { nngp[k] *= squared; ntk[k] *= squared }
            for i in 0..<count1 { nngpDiagonal1[i] *= squared; ntkDiagonal1[i] *= squared }
            for j in 0..<count2 { nngpDiagonal2[j] *= squared; ntkDiagonal2[j] *= squared }
        }
        // Centred Gaussian units stay centred Gaussian: hasCentredGaussianUnits is left as it was.
        kernel.layers.append("Scale")
    }
}
// Article step 5 ends

@Suite struct WritingALayerArticleTests {
    @Test func gradientCheckPassesAndTrainingLowersTheLoss() throws {
        // Article step 7 begins
        var generator = Xoshiro256StarStar(seed: 0)
        let layer = SoftplusDense(3, 4, generator: &generator)
        let input = Tensor<Double>.randomNormal([5, 3], standardDeviation: 3, using: &generator)
        let result = GradientCheck().check(layer, input: input)
        print(result)       // gradient check: worst relative error ... at ..., over 31 elements
        precondition(result.passes(tolerance: 1e-6), "\(result)")

        let network = Sequential<Double>(SoftplusDense(2, 32, generator: &generator), Dense(32, 1, generator: &generator))
        let x = Tensor<Double>.randomUniform([64, 2], low: -2, high: 2, using: &generator)
        let y = Tensor<Double>(shape: [64, 1], scalars: (0..<64).map { i in x[i, 0] * x[i, 1] })
        let optimizer = Adam(parameters: network.parameters, learningRate: 1e-2)
        let tape = Tape<Double>()
        var losses: [Double] = []
        for _ in 0..<100 {
            tape.reset()
            optimizer.zeroGradients()
            let loss = meanSquaredError(network(tape.input(x)), y)
            tape.backward(loss)
            optimizer.step()
            losses.append(loss.value.scalar)
        }
        // Article step 7 ends
        // 3 x 4 weights, 4 biases, 5 x 3 inputs.
        #expect(result.checkedElements == 31 && result.worstRelativeError < 1e-6, "\(result)")
        #expect(network.namedParameters.map(\.name) == ["0.linear.weight", "0.linear.bias", "1.weight", "1.bias"])
        #expect(losses.last! < losses.first! / 4, "the loss falls: \(losses.first!) -> \(losses.last!)")
    }

    @Test func softplusMatchesItsClosedFormOnBothTails() {
        expectSoftplusMatchesItsClosedFormOnBothTails { SoftplusOperation()($0) }
    }

    /// Without a kernel map the analytic kernel names the layer; `Scale`'s map multiplies a
    /// network's NNGP and NTK by c² (an output scaled by c has c² times the covariance, and each
    /// parameter's output gradient is scaled by c), here through the tiled path with two threads.
    @Test func kernelMapsScaleTheKernelsAndAMissingOneIsNamed() throws {
        var generator = Xoshiro256StarStar(seed: 3)
        let x1 = Tensor<Double>.randomNormal([7, 2], using: &generator)
        let x2 = Tensor<Double>.randomNormal([5, 2], using: &generator)
        // Article step 5 error begins
        let network = Sequential<Double>(SoftplusDense(2, 32, generator: &generator), Dense(32, 1, generator: &generator))
        do {
            _ = try network.infiniteWidthKernel(x1)
        } catch let error as InfiniteWidthKernelError {
            print(error)    // SoftplusDense has no infinite-width kernel map: this layer declares no ...
        }
        // Article step 5 error ends
        #expect(throws: InfiniteWidthKernelError.self) { try network.infiniteWidthKernel(x1) }
        do {
            _ = try network.infiniteWidthKernel(x1)
        } catch let error as InfiniteWidthKernelError {
            #expect(error.layer == "SoftplusDense", "\(error)")
        }

        func dense(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
        }
        let plain = Sequential<Double>(dense(2, 16), ReLU(), dense(16, 1))
        let scaled = Sequential<Double>(dense(2, 16), ReLU(), dense(16, 1), Scale(factor: 3))
        let (before, after) = (try plain.infiniteWidthKernel(x1, x2, threads: 2), try scaled.infiniteWidthKernel(x1, x2, threads: 2))
        #expect(relativeError(after.ntk, before.ntk.map { 9 * $0 }) < 1e-14)
        #expect(relativeError(after.nngp, before.nngp.map { 9 * $0 }) < 1e-14)
        #expect(relativeError(after.ntkDiagonal1, before.ntkDiagonal1.map { 9 * $0 }) < 1e-14)
        #expect(after.layers.last == "Scale")
    }

    /// The structured empirical NTK (one forward and backward, each op's factors) equals the one
    /// from per-sample Jacobians, which needs no factors.
    @Test func empiricalTangentKernelNeedsNoFactorsFromTheOp() throws {
        var generator = Xoshiro256StarStar(seed: 4)
        let x1 = Tensor<Double>.randomNormal([6, 2], using: &generator)
        let x2 = Tensor<Double>.randomNormal([4, 2], using: &generator)
        // Article step 6 begins
        let network = Sequential<Double>(SoftplusDense(2, 32, generator: &generator), Dense(32, 1, generator: &generator))
        let kernel = try network.empiricalTangentKernel(x1, x2)                      // structured: factors
        let fromJacobians = try network.empiricalTangentKernel(x1, x2, method: .jacobians)   // slower, same kernel
        // Article step 6 ends
        let structured = try network.empiricalTangentKernel(x1, x2, method: .structured)
        #expect(relativeError(structured, fromJacobians) < 1e-12)
        #expect(relativeError(kernel, fromJacobians) < 1e-12)
        #expect(fromJacobians.shape == [6, 4] && fromJacobians.maxAbs() > 0)
    }

    /// Every marked block of this file appears in the article as it is, less the indentation of
    /// its markers, so the article shows what this test runs.
    @Test func articleShowsTheTestedCodeVerbatim() throws {
        let article = try String(contentsOfFile: projectRoot + "/Sources/NeuralNet/Documentation.docc/WritingALayer.md", encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        var blocks = 0
        var block: [String]?
        var indentation = 0
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// Article") && trimmed.hasSuffix("begins") {
                block = []
                indentation = line.prefix { $0 == " " }.count
            } else if trimmed.hasPrefix("// Article") && trimmed.hasSuffix("ends"), let lines = block {
                let text = lines.joined(separator: "\n")
                #expect(article.contains("```swift\n" + text + "\n```"), "this block is not in WritingALayer.md as it is:\n\(text)")
                blocks += 1
                block = nil
            } else if block != nil {
                block!.append(String(line.dropFirst(min(indentation, line.prefix { $0 == " " }.count))))
            }
        }
        #expect(blocks == 9)
    }
}
