import Foundation
import Testing
import NeuralNet       // the public API only: no @testable, no @_spi
import TangentKernels

/// A library user's extensions (UserLayers.swift: a residual block from public layers, a
/// softplus op with its own backward), checked as that user would: PyTorch's outputs, gradients,
/// Adam steps and torch.func's empirical NTK for the same network and weights
/// (Resources/torch_user_extension.json, from scripts/reference/generate_user_extension.py), and
/// the public gradient check.
@Suite struct UserExtensionTests {
    let fixture: [String: Any]

    init() throws {
        guard let url = Bundle.module.url(forResource: "torch_user_extension", withExtension: "json", subdirectory: "Resources") else {
            throw FixtureMissing()
        }
        fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }
    struct FixtureMissing: Error {}

    /// The network of the fixture's `nn.Sequential(Linear, Residual, Softplus, Linear)`, with its
    /// weights (names as torch's: `1.inner.0.weight`, ...).
    func model() throws -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 99)
        let (inputs, width) = (fixture["inputs"] as! Int, fixture["width"] as! Int)
        let network = Sequential<Double>(Dense(inputs, width, generator: &generator), ResidualBlock(width: width, generator: &generator),
                                         SoftplusLayer(), Dense(width, 1, generator: &generator))
        try network.load(stateDict: (fixture["parameters"] as! [String: Any]).mapValues(tensor))
        return network
    }

    @Test func forwardAndGradientsMatchPyTorch() throws {
        let network = try model()
        #expect(network.namedParameters.map(\.name).sorted() == (fixture["parameters"] as! [String: Any]).keys.sorted())
        let (x, y) = (tensor(fixture["x"]!), tensor(fixture["y"]!))
        let tape = Tape<Double>()
        let output = network(tape.input(x))
        let loss = meanSquaredError(output, y)
        tape.backward(loss)
        #expect(relativeError(output.value, tensor(fixture["output"]!)) < 1e-10)
        #expect(Swift.abs(loss.value.scalar - (fixture["loss"] as! Double)) <= 1e-13 * (fixture["loss"] as! Double))
        let expected = fixture["gradients"] as! [String: Any]
        for (name, parameter) in network.namedParameters {
            let error = relativeError(parameter.gradient, tensor(expected[name]!))
            #expect(error < 1e-10, "\(name): \(error)")
        }
    }

    @Test func trainsAsPyTorchDoes() throws {
        let network = try model()
        let (x, y) = (tensor(fixture["x"]!), tensor(fixture["y"]!))
        let after = fixture["afterThreeAdamSteps"] as! [String: Any]
        let optimizer = Adam(parameters: network.parameters, learningRate: after["learningRate"] as! Double)
        let tape = Tape<Double>()
        var losses: [Double] = []
        for _ in 0..<3 {
            tape.reset()
            optimizer.zeroGradients()
            let loss = meanSquaredError(network(tape.input(x)), y)
            tape.backward(loss)
            optimizer.step()
            losses.append(loss.value.scalar)
        }
        #expect(losses[2] < losses[1] && losses[1] < losses[0], "the loss falls: \(losses)")
        for (loss, expected) in zip(losses, after["losses"] as! [Double]) {
            #expect(Swift.abs(loss - expected) <= 1e-12 * expected)
        }
        let expected = after["parameters"] as! [String: Any]
        for (name, parameter) in network.namedParameters {
            let error = relativeError(parameter.value, tensor(expected[name]!))
            #expect(error < 1e-10, "\(name): \(error)")
        }
    }

    @Test func gradientsPassTheGradientCheck() throws {
        var generator = Xoshiro256StarStar(seed: 5)
        let block = ResidualBlock<Double>(width: 6, generator: &generator)
        let blockResult = GradientCheck().check(block, input: .randomNormal([5, 6], standardDeviation: 2, using: &generator))
        #expect(blockResult.worstRelativeError < 1e-6, "\(blockResult)")
        // Softplus on both tails and near 0.
        let x = Tensor<Double>(shape: [2, 5], scalars: [-30, -8, -1.5, -0.2, 0.1, 0.9, 2.5, 7, 18, 35])
        let softplusResult = GradientCheck().check(SoftplusLayer(), input: x)
        #expect(softplusResult.worstRelativeError < 1e-6, "\(softplusResult)")
        let networkResult = GradientCheck().check(try model(), input: tensor(fixture["x"]!))
        #expect(networkResult.worstRelativeError < 1e-6 && networkResult.checkedElements == 18 + 32 + 72 + 72 + 9,
                "\(networkResult)")
    }

    @Test func softplusIsStableOnBothTails() {
        expectSoftplusMatchesItsClosedFormOnBothTails { SoftplusLayer()($0) }
    }

    /// The empirical NTK of the network equals torch.func's (a vmap of jacrev, all parameters).
    @Test func empiricalTangentKernelMatchesTorchFunc() throws {
        let network = try model()
        let ntk = fixture["ntk"] as! [String: Any]
        let (x1, x2) = (tensor(ntk["x1"]!), tensor(ntk["x2"]!))
        let (expected, expected11) = (tensor(ntk["kernel"]!), tensor(ntk["kernel11"]!))
        // The structured method takes it apart (Softplus keeps rows apart and has no parameters).
        for method in [EmpiricalTangentKernelMethod.structured, .automatic, .jacobians] {
            let crossError = relativeError(try network.empiricalTangentKernel(x1, x2, method: method), expected)
            let symmetricError = relativeError(try network.empiricalTangentKernel(x1, method: method), expected11)
            #expect(crossError < 1e-9 && symmetricError < 1e-9, "\(method): \(crossError), \(symmetricError)")
            print("torch.func NTK, \(method): cross \(crossError), symmetric \(symmetricError)")
        }
    }

    @Test func splitsBatchesOverThreads() throws {
        let network = try model()
        let (x, y) = (tensor(fixture["x"]!), tensor(fixture["y"]!))
        let training = DataParallelTraining(model: network, team: WorkerTeam(size: 2))
        let loss = training.lossAndGradients(inputs: x, targets: y)
        #expect(training.rowMixingOperation == nil)
        #expect(Swift.abs(loss - (fixture["loss"] as! Double)) <= 1e-13 * (fixture["loss"] as! Double))
        let expected = fixture["gradients"] as! [String: Any]
        for (name, parameter) in network.namedParameters {
            #expect(relativeError(parameter.gradient, tensor(expected[name]!)) < 1e-10, "\(name)")
        }
    }

    /// Layers without a kernel map: the analytic kernel says which one, before any work.
    @Test func infiniteWidthKernelNamesTheLayerWithoutAMap() {
        var generator = Xoshiro256StarStar(seed: 1)
        func dense(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator)
        }
        let cases: [(any Layer<Double>, String)] = [
            (SoftplusLayer(), "SoftplusLayer"), (ResidualBlock<Double>(width: 8, generator: &generator), "ResidualBlock<Double>"),
        ]
        for (layer, name) in cases {
            let network = Sequential<Double>(dense(3, 8), layer, dense(8, 1))
            do {
                _ = try network.infiniteWidthKernel(tensor(fixture["x"]!))
                Issue.record("\(name): expected an InfiniteWidthKernelError")
            } catch let error as InfiniteWidthKernelError {
                #expect(error.layer == name && error.description.contains("declares no infinite-width kernel map"), "\(error)")
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
    }
}

/// A nested JSON array of numbers as a Tensor (vectors keep rank 1).
func tensor(_ json: Any) -> Tensor<Double> {
    if let rows = json as? [[Double]] { return Tensor(rows) }
    if let vector = json as? [Double] { return Tensor(shape: [vector.count], scalars: vector) }
    fatalError("not a numeric array: \(json)")
}

/// The largest entrywise |a - b| / |b|, with |b| floored at 1e-12 of b's largest magnitude.
func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    let floor = Swift.max(b.maxAbs() * 1e-12, 1e-300)
    return zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), floor) }.max() ?? 0
}

/// Checks a softplus op against its closed form far out on both tails (where a naive
/// log(1 + exp(x)) returns 0 or infinity), and its gradient, the sigmoid.
func expectSoftplusMatchesItsClosedFormOnBothTails(_ softplus: (Variable<Double>) -> Variable<Double>) {
    let tape = Tape<Double>()
    let x = tape.input(Tensor(shape: [1, 5], scalars: [-800, -40, 0, 40, 800]), requiresGradient: true)
    let y = softplus(x)
    tape.backward(y)
    // softplus(-40) = log1p(e^-40) = e^-40 (1 - e^-40 / 2 ...), and softplus(x) - x = softplus(-x).
    let expected: [Double] = [0, Foundation.exp(-40), Foundation.log(2), 40 + Foundation.exp(-40), 800]
    for (value, truth) in zip(y.value.scalars, expected) {
        #expect(value == truth || Swift.abs(value - truth) <= 1e-15 * truth, "\(value) vs \(truth)")
    }
    let gradient = tape.gradient(of: x).scalars
    #expect(gradient[0] == 0 && gradient[2] == 0.5 && gradient[4] == 1 && Swift.abs(gradient[1] - Foundation.exp(-40)) < 1e-30)
}
