import Experiments
import Testing

@Suite struct TrainerDivergenceTests {
    /// Adam's first full-batch step with a learning rate of 1e308 is lr / (1 - beta1) = infinity: the loss
    /// measured before that step is finite, so only a look at the parameters sees it, in the same
    /// epoch, before a checkpoint could save them.
    @Test func anUpdateThatOverflowsStopsItsOwnEpoch() throws {
        for precision in ["float32", "float64"] {
            let error: DivergenceError?
            if precision == "float32" {
                let trainer = tinyTrainer(Float.self, learningRate: 1e308, batchSize: nil)
                error = #expect(throws: DivergenceError.self) { try trainer.runEpoch() }
                #expect(!trainer.parametersAreFinite)
            } else {
                let trainer = tinyTrainer(Double.self, learningRate: 1e308, batchSize: nil)
                error = #expect(throws: DivergenceError.self) { try trainer.runEpoch() }
                #expect(!trainer.parametersAreFinite)
            }
            #expect(error?.epoch == 1 && error?.parametersNonFinite == true, "\(precision)")
            #expect(error?.loss.isFinite == true, "\(precision)")
            let text = error?.description ?? ""
            #expect(text.hasPrefix("training diverged at epoch 1: a parameter became infinite or NaN"), "\(text)")
            #expect(text.contains("learning rate") && text.contains("try 1e+307 or lower"), "\(text)")
        }
    }

    @Test func aSoundEpochKeepsFiniteParameters() throws {
        let trainer = tinyTrainer(Double.self)
        for _ in 0..<5 { try trainer.runEpoch() }
        #expect(trainer.parametersAreFinite)
    }
}
