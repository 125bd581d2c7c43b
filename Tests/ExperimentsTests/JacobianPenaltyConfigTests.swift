import Testing
@testable import Experiments

/// `training.jacobianPenalty` and `evaluation.jacobianNorms`: defaults, round trips, refusals.
@Suite struct JacobianPenaltyConfigTests {
    @Test func defaultsAndRoundTrip() throws {
        let plain = try plan("{}").base
        #expect(plain.training.jacobianPenalty == 0 && !plain.evaluation.jacobianNorms)
        let penalised = try plan(#"{"training": {"jacobianPenalty": 0.01}, "evaluation": {"jacobianNorms": true}}"#).base
        #expect(penalised.training.jacobianPenalty == 0.01 && penalised.evaluation.jacobianNorms)
        // The resolved config reads back as itself.
        #expect(try plan(penalised.json.rendered()).base == penalised)
    }

    @Test func badValuesAreRefusedNamingTheField() {
        #expect(problems(#"{"training": {"jacobianPenalty": -1}}"#)
            == [#"configs/x.json: training.jacobianPenalty: expected a number >= 0 (lambda of the Jacobian penalty; 0 for none), found -1"#])
        let batchNorm = problems(#"{"model": {"normalization": "batchNorm", "layerNorm": "first"}, "training": {"jacobianPenalty": 0.1}}"#)
        #expect(batchNorm.count == 1 && batchNorm[0].hasPrefix("configs/x.json: training.jacobianPenalty: a Jacobian penalty needs"))
        // Width "infinite" runs the robust-training predictor instead of refusing.
        #expect(problems(#"{"model": {"width": "infinite", "parameterization": "ntk", "layerNormAffine": false}, "training": {"jacobianPenalty": 0.1}}"#)
            .isEmpty)
        #expect(problems(#"{"evaluation": {"jacobianNorms": 1}}"#)
            == [#"configs/x.json: evaluation.jacobianNorms: expected true or false, found 1"#])
    }
}
