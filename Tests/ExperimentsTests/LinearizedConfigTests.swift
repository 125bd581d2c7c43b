import Testing
import Experiments
import TestSupport

/// `evaluation.linearized` is the closed form of full-batch gradient descent on the MSE: any other
/// training is refused at the key to change, and the key round-trips through the resolved config.
@Suite struct LinearizedConfigTests {
    static let need = #"evaluation.linearized needs full-batch gradient descent on the mean squared error ("optimizer": "sgd", "momentum": 0, "weightDecay": 0, "batchSize": "full")"#

    @Test func otherTrainingIsRefusedNamingTheKey() {
        #expect(problems(#"{"evaluation": {"linearized": true}}"#)
            == [#"configs/x.json: training.optimizer: \#(Self.need), found "adam""#])
        #expect(problems(#"{"training": {"optimizer": "sgd", "momentum": 0.9, "weightDecay": 0.1, "batchSize": 10}, "evaluation": {"linearized": true}}"#)
            == ["configs/x.json: training.momentum: \(Self.need), found 0.9",
                "configs/x.json: training.weightDecay: \(Self.need), found 0.1",
                "configs/x.json: training.batchSize: \(Self.need), found 10"])
        #expect(problems(#"{"model": {"layerNorm": "first", "normalization": "batchNorm"}, "training": {"optimizer": "sgd"}, "evaluation": {"linearized": true}}"#)
            == ["configs/x.json: model.normalization: evaluation.linearized needs a network whose points do not interact; a BatchNorm trains on batch statistics"])
        let classification = #""data": {"kind": "csv", "path": "data/digits.csv", "features": ["p1"], "target": "label", "classes": 10}"#
        #expect(problems(#"{\#(classification), "training": {"optimizer": "sgd", "loss": "crossEntropy"}, "evaluation": {"linearized": true}}"#)
            .contains(#"configs/x.json: training.loss: \#(Self.need), found "crossEntropy""#))
        #expect(problems(#"{"evaluation": {"linearized": "yes"}}"#)
            == [#"configs/x.json: evaluation.linearized: expected true or false, found "yes""#])
    }

    @Test func plainGradientDescentIsAcceptedAndRoundTrips() throws {
        // A batch as large as the synthetic set is the whole set.
        let text = #"{"data": {"trainSize": 30}, "training": {"optimizer": "sgd", "batchSize": 30}, "evaluation": {"linearized": true}}"#
        let config = try plan(text).base
        #expect(config.evaluation.linearized)
        #expect(try plan(config.json.rendered(style: .pretty)).base == config)
        #expect(try plan("{}").base.evaluation.linearized == false)
    }
}
