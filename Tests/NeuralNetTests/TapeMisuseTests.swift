import Foundation
import Testing
import NeuralNet

/// Variables of two tapes, or of a tape's earlier step, stop the process with a message naming
/// the mistake: never a number computed from the wrong buffers. (Exit tests: each body runs in a
/// child process, which must fail, and its standard error is read.)
@Suite struct TapeMisuseTests {
    /// What the child process wrote to standard error.
    func standardError(_ result: ExitTest.Result?) -> String {
        String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    }

    @Test func variablesOfTwoTapesDoNotMix() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tape<Double>().input(.ones([2, 2]))
            let b = Tape<Double>().input(.filled([2, 2], with: 3))
            _ = a + b
        }
        #expect(standardError(result).contains("two different tapes"))
    }

    @Test func matmulOfTwoTapesStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tape<Double>().input(.ones([2, 2]))
            _ = matmul(a, Tape<Double>().input(.ones([2, 2])))
        }
        #expect(standardError(result).contains("matmul: the variables belong to two different tapes"))
    }

    @Test func aVariableKeptAcrossResetStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.input(.ones([2, 2]))
            tape.reset()
            _ = tape.input(.filled([2, 2], with: 5))
            _ = x.value
        }
        #expect(standardError(result).contains("recorded before its tape's reset()"))
    }

    @Test func aLayerGivenAStaleVariableStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = Xoshiro256StarStar(seed: 1)
            let layer = Dense<Double>(2, 3, generator: &generator)
            let tape = Tape<Double>()
            let x = tape.input(.ones([4, 2]))
            tape.reset()
            _ = layer(x)
        }
        #expect(standardError(result).contains("dense: the variable was recorded before its tape's reset()"))
    }

    @Test func backwardAndGradientOfAStaleVariableStop() async {
        let backward = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let loss = tape.input(.ones([2, 2]), requiresGradient: true).sum()
            tape.reset()
            tape.backward(loss)
        }
        #expect(standardError(backward).contains("backward: the variable was recorded before"))
        let gradient = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.input(.ones([2, 2]), requiresGradient: true)
            tape.backward(x.sum())
            tape.reset()
            _ = tape.gradient(of: x)
        }
        #expect(standardError(gradient).contains("gradient(of:): the variable was recorded before"))
        let otherTape = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tape<Double>().input(.ones([2, 2]), requiresGradient: true)
            Tape<Double>().backward(x)
        }
        #expect(standardError(otherTape).contains("backward: the variables belong to two different tapes"))
    }

    /// The same calls on one tape and within one step work (the checks reject only misuse).
    @Test func oneTapeOneStepWorks() {
        let tape = Tape<Double>()
        for step in 0..<3 {
            tape.reset()
            let x = tape.input(.filled([2, 2], with: Double(step)), requiresGradient: true)
            let y = (x + x) * x
            tape.backward(y.sum())
            #expect(tape.gradient(of: x) == .filled([2, 2], with: 4 * Double(step)))
            #expect(y.value == .filled([2, 2], with: 2 * Double(step * step)))
        }
    }
}
