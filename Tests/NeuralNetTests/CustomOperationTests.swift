import CustomOperationExamples
import Testing
import NeuralNet  // the public API only, as a user's package sees it

/// Each row minus the batch's mean row from built-in ops: a row vector that depends on the batch.
struct CentreOverBatch: Layer {
    typealias Scalar = Double
    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x + -1 * x.mean(over: .rows) }
    var namedParameters: [(name: String, parameter: Parameter<Double>)] { [] }
}

@Suite struct CustomOperationTests {
    static func random(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
        var generator = Xoshiro256StarStar(seed: seed)
        return .randomNormal(shape, using: &generator)
    }

    @Test func gradientsPassTheCheck() {
        let scale = ColumnScale(Self.random([5], seed: 1))
        let x = Self.random([4, 5], seed: 2), y = Self.random([4, 5], seed: 3)
        let result = GradientCheck().check(inputs: [x], parameters: [("scale", scale.scale)]) { scale($0[0]) }
        #expect(result.passes(), "\(result)")
        let centring = GradientCheck().check(inputs: [x]) { SubtractBatchMean()($0[0]).square() }
        #expect(centring.passes(), "\(centring)")
        let dot = RowDot()
        let twoInputs = GradientCheck().check(inputs: [x, y]) { dot($0[0], $0[1]).tanh() }
        #expect(twoInputs.passes() && twoInputs.checkedElements == 40, "\(twoInputs)")
        // The same variable as both inputs: both contributions reach it.
        let sameInput = GradientCheck().check(inputs: [x]) { dot($0[0], $0[0]) }
        #expect(sameInput.passes(), "\(sameInput)")
    }

    @Test func reusesItsBuffersAcrossSteps() {
        let dot = RowDot()
        let tape = Tape<Double>()
        let (a, b) = (Self.random([3, 4], seed: 4), Self.random([3, 4], seed: 5))
        var outputs: [Tensor<Double>] = []
        for _ in 0..<3 {
            tape.reset()
            let x = tape.input(a, requiresGradient: true)
            let out = dot(x, tape.input(b))
            tape.backward(out)
            #expect(tape.gradient(of: x) == b)
            outputs.append(out.value)
        }
        #expect(outputs[0] == outputs[2] && outputs[0].shape == [3, 1])
    }

    /// Split over threads, each replica's tape adds the custom op's parameter gradient into that
    /// replica's buffers: the sums equal one tape's gradients.
    @Test(arguments: [1, 2, 3]) func dataParallelTrainingSplitsRowIndependentOps(threads: Int) {
        var generator = Xoshiro256StarStar(seed: 6)
        let model = Sequential<Double>(Dense(3, 5, generator: &generator), CustomLayer(operation: ColumnScale(Self.random([5], seed: 7))),
                                       Tanh(), Dense(5, 2, generator: &generator))
        let (x, y) = (Self.random([11, 3], seed: 8), Self.random([11, 2], seed: 9))
        let (serialLoss, serialGradients) = serialLossAndGradients(model, x, y)
        let training = DataParallelTraining(model: model, team: WorkerTeam(size: threads))
        for _ in 0..<2 {
            let loss = training.lossAndGradients(inputs: x, targets: y)
            #expect(training.rowMixingOperation == nil)
            #expect(Swift.abs(loss - serialLoss) <= 1e-13 * serialLoss)
            for (parameter, expected) in zip(model.parameters, serialGradients) {
                #expect(maxDifference(parameter.gradient, expected) < 1e-13, "\(parameter.shape)")
            }
        }
    }

    /// An op that mixes rows (custom and not declared row-independent, or built-in) keeps the
    /// batch on one tape, so the loss and gradients are the whole batch's, not the slices'.
    @Test(arguments: [0, 1]) func dataParallelTrainingKeepsRowMixingOpsOnOneTape(variant: Int) {
        var generator = Xoshiro256StarStar(seed: 10)
        let mixing: any Layer<Double> = variant == 0 ? CustomLayer(operation: SubtractBatchMean()) : CentreOverBatch()
        let model = Sequential<Double>(Dense(3, 5, generator: &generator), mixing, Tanh(), Dense(5, 2, generator: &generator))
        let (x, y) = (Self.random([12, 3], seed: 11), Self.random([12, 2], seed: 12))
        let (serialLoss, serialGradients) = serialLossAndGradients(model, x, y)
        let training = DataParallelTraining(model: model, team: WorkerTeam(size: 2))
        let loss = training.lossAndGradients(inputs: x, targets: y)
        let expected = variant == 0 ? "SubtractBatchMean (not declared row-independent)" : "a sum or mean over rows"
        #expect(training.rowMixingOperation == expected)
        #expect(Swift.abs(loss - serialLoss) <= 1e-14 * serialLoss)
        for (parameter, expected) in zip(model.parameters, serialGradients) {
            #expect(maxDifference(parameter.gradient, expected) < 1e-14)
        }
    }

    func serialLossAndGradients(_ model: Sequential<Double>, _ x: Tensor<Double>, _ y: Tensor<Double>) -> (Double, [Tensor<Double>]) {
        let tape = Tape<Double>()
        model.zeroGradients()
        let loss = meanSquaredError(model(tape.input(x)), y)
        tape.backward(loss)
        return (loss.value.scalar, model.parameters.map(\.gradient))
    }

    func maxDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        let scale = Swift.max(b.maxAbs(), 1e-300)
        return zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max()! / scale
    }
}
