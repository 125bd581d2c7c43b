import Testing
@testable import Experiments
import TestSupport

/// `evaluation.kernel` and `training.earlyStop`: defaults, round trips, and errors naming the field.
@Suite struct KernelConfigTests {
    @Test func absentMeansNoKernelAndNoEarlyStop() throws {
        let config = try plan("{}").base
        #expect(config.evaluation.kernel == nil && config.training.earlyStop == nil)
        // A config without them writes neither, so earlier run folders' config.json read the same.
        #expect(config.json["evaluation"]?["kernel"] == nil && config.json["training"]?["earlyStop"] == nil)
    }

    @Test func defaultsAreFilledAndWrittenBack() throws {
        let config = try plan(#"{"training": {"epochs": 500, "earlyStop": {}}, "evaluation": {"kernel": {}}}"#).base
        #expect(config.evaluation.kernel == KernelEvaluationConfig(points: 32, every: nil, initializations: nil))
        #expect(config.evaluation.kernel?.interval(epochs: 500) == 50)
        #expect(config.training.earlyStop == EarlyStopConfig(window: 100, minDecrease: 1e-7))
        let text = #"{"training": {"earlyStop": {"window": 50, "minDecrease": 0.001}}, "evaluation": {"kernel": {"points": 8, "every": 5, "initializations": 200}}}"#
        let explicit = try plan(text).base
        #expect(explicit.evaluation.kernel == KernelEvaluationConfig(points: 8, every: 5, initializations: 200))
        #expect(explicit.training.earlyStop == EarlyStopConfig(window: 50, minDecrease: 1e-3))
        let written = explicit.json.rendered(style: .compact)
        #expect(try plan(written).base == explicit)
    }

    @Test func badValuesNameTheField() {
        #expect(problems(#"{"evaluation": {"kernel": {"points": 0}}}"#)
            == [#"configs/x.json: evaluation.kernel.points: expected a positive integer (probe points: the first N training points), found 0"#])
        #expect(problems(#"{"evaluation": {"kernel": {"initializations": 1}}}"#).first?
            .hasPrefix("configs/x.json: evaluation.kernel.initializations: expected an integer from 2 to") == true)
        #expect(problems(#"{"evaluation": {"kernel": {"every": "often"}}}"#).first?.contains("evaluation.kernel.every: expected a positive integer") == true)
        #expect(problems(#"{"evaluation": {"kernel": {"pionts": 3}}}"#).first?.contains(#"evaluation.kernel.pionts: unknown key; did you mean "points"?"#) == true)
        #expect(problems(#"{"evaluation": {"kernel": {"points": 101}}}"#).first?.contains("evaluation.kernel.points: 101 probe points, but data.trainSize is 100") == true)
        #expect(problems(#"{"model": {"width": "infinite", "parameterization": "ntk"}, "evaluation": {"kernel": {}}}"#).first?
            .contains("evaluation.kernel: needs a finite network") == true)
        #expect(problems(#"{"model": {"layerNorm": "first", "normalization": "batchNorm"}, "evaluation": {"kernel": {}}}"#).first?
            .contains("evaluation.kernel: the empirical NTK is not defined for a network with \"batchNorm\"") == true)
        #expect(problems(#"{"training": {"earlyStop": {"window": 0}}}"#).first?.contains("training.earlyStop.window: expected a positive integer") == true)
        #expect(problems(#"{"training": {"earlyStop": {"minDecrease": -1}}}"#) == ["configs/x.json: training.earlyStop.minDecrease: expected a number >= 0, found -1"])
        #expect(problems(#"{"training": {"earlyStop": true}}"#) == ["configs/x.json: training.earlyStop: expected an object { ... }, found true"])
        #expect(problems(#"{"training": {"maxEpochs": 10}}"#).first?.contains("unknown key") == true)
    }
}
