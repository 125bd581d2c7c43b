import Testing
@testable import Experiments
import TestSupport

@Suite struct GridSweepTests {
    static let base = #""model": {"weightInit": "normal", "weightStd": 1.0, "width": 8}, "training": {"epochs": 2}"#

    /// Cells are the product in nested-loop order (first axis slowest), each config decoded with
    /// its values, and seeds innermost.
    @Test func expandsInNestedLoopOrderWithNamesFromTheValues() throws {
        let sweep = try plan(#"""
        {\#(Self.base), "seeds": [0, 7],
         "grid": {"model.hiddenLayers": [3, 10], "model.weightStd": [1.0, 1.41], "model.activation": ["tanh", "relu"]}}
        """#)
        let cells = try #require(sweep.grid).cells
        #expect(cells.map(\.name) == [
            "hiddenLayers3_weightStd1.0_activationtanh", "hiddenLayers3_weightStd1.0_activationrelu",
            "hiddenLayers3_weightStd1.41_activationtanh", "hiddenLayers3_weightStd1.41_activationrelu",
            "hiddenLayers10_weightStd1.0_activationtanh", "hiddenLayers10_weightStd1.0_activationrelu",
            "hiddenLayers10_weightStd1.41_activationtanh", "hiddenLayers10_weightStd1.41_activationrelu",
        ])
        let runs = sweep.runs
        #expect(runs.count == 16)
        #expect(runs.map(\.seed) == Array(repeating: [0, 7], count: 8).flatMap { $0 })
        #expect(runs.map(\.config.model.hiddenLayers) == [3, 3, 3, 3, 3, 3, 3, 3, 10, 10, 10, 10, 10, 10, 10, 10])
        #expect(runs.map(\.config.model.weightStd) == [1.0, 1.0, 1.0, 1.0, 1.41, 1.41, 1.41, 1.41,
                                                       1.0, 1.0, 1.0, 1.0, 1.41, 1.41, 1.41, 1.41])
        #expect(runs.map(\.config.model.activation) == Array(repeating: [.tanh, .tanh, .relu, .relu], count: 4).flatMap { $0 })
        #expect(runs.allSatisfy { $0.config.model.width == .finite(8) && $0.config.training.epochs == 2 })
        #expect(ExperimentRunner.identifier(runs[3]) == "hiddenLayers3_weightStd1.0_activationrelu-seed7")
        #expect(runs[3].cell?.valueIndices == [0, 0, 1])
    }

    /// With variants every variant runs every cell; names are `<variant>.<cell>`.
    @Test func combinesWithVariants() throws {
        let sweep = try plan(#"""
        {\#(Self.base), "variants": [{"name": "tanh", "model": {"activation": "tanh"}}, {"name": "relu"}],
         "grid": {"model.weightStd": [1.0, 2.0]}}
        """#)
        #expect(sweep.runs.map { $0.variant ?? "" } == ["tanh.weightStd1.0", "tanh.weightStd2.0", "relu.weightStd1.0", "relu.weightStd2.0"])
        #expect(sweep.runs.map(\.config.model.activation) == [.tanh, .tanh, .relu, .relu])
        #expect(sweep.runs.map(\.config.model.weightStd) == [1.0, 2.0, 1.0, 2.0])
        #expect(sweep.runs.map(\.variantName) == ["tanh", "tanh", "relu", "relu"])
        let reloaded = try plan(sweep.resolvedJSON.rendered(style: .pretty))
        #expect(reloaded.runs.map(\.config) == sweep.runs.map(\.config) && reloaded.runs.map(\.variant) == sweep.runs.map(\.variant))
    }

    /// Loading the resolved config.json gives the same runs.
    @Test func resolvedConfigRoundTrips() throws {
        let sweep = try plan(#"{\#(Self.base), "seeds": [1], "grid": {"model.weightStd": [1.0, 2.0], "training.learningRate": [0.1, null]}}"#)
        let reloaded = try plan(sweep.resolvedJSON.rendered(style: .pretty))
        #expect(reloaded.runs.map(\.config) == sweep.runs.map(\.config))
        #expect(reloaded.runs.map(\.variant) == sweep.runs.map(\.variant))
        // `null` is the default, named so.
        #expect(sweep.runs[1].variant == "weightStd1.0_learningRatedefault")
        #expect(sweep.runs[1].config.training.learningRate == TrainingConfig.defaultLearningRate)
    }

    /// Bad grids are refused with the grid's path: unknown keys, wrong types (as the normal decoder
    /// words them), empty lists, repeated values, variants setting a swept key.
    @Test func errorsNameTheGridPath() {
        #expect(problems(#"{\#(Self.base), "grid": {"model.widht": [4, 8]}}"#) == [
            #"configs/x.json: grid["model.widht"]: unknown key; did you mean "width"? Keys allowed here: "#
                + "hiddenLayers, width, activation, residual, normalization, layerNorm, layerNormAffine, finalNorm, "
                + "parameterization, weightInit, biasInit, weightStd, biasStd, bias",
        ])
        #expect(problems(#"{\#(Self.base), "grid": {"model.width": [4, -3]}}"#)
            == [#"configs/x.json: grid["model.width"][1]: expected a positive integer or "infinite", found -3"#])
        #expect(problems(#"{\#(Self.base), "grid": {"model.width": []}}"#)
            == [#"configs/x.json: grid["model.width"]: expected at least one value, found an empty list"#])
        #expect(problems(#"{\#(Self.base), "grid": {"model.width": 4}}"#)
            == [#"configs/x.json: grid["model.width"]: expected a list [ ... ], found 4"#])
        #expect(problems(#"{\#(Self.base), "grid": {"model.width": [4, 4.0]}}"#)
            == [#"configs/x.json: grid["model.width"][1]: the value 4.0 is listed twice (also at [0])"#])
        #expect(problems(#"{\#(Self.base), "grid": {"model..width": [4]}}"#)
            == [#"configs/x.json: grid["model..width"]: expected a dotted path of config keys such as "model.weightStd", found an empty part"#])
        #expect(problems(#"{\#(Self.base), "grid": {"seed": [1, 2]}}"#)
            == [#"configs/x.json: grid.seed: the grid cannot set "seed": list the seeds in the top-level "seeds" instead"#])
        #expect(problems(#"{\#(Self.base), "grid": {}}"#).first?.hasPrefix("configs/x.json: grid: expected at least one dotted path") == true)
        // A key inside a number replaces the number: the decoder says what it found there.
        #expect(problems(#"{\#(Self.base), "grid": {"model.width.size": [4]}}"#)
            == [#"configs/x.json: grid["model.width.size"][0]: expected a positive integer or "infinite", found an object {"size":4}"#])
        #expect(problems(#"{\#(Self.base), "variants": [{"name": "a", "model": {"weightStd": 2}}], "grid": {"model.weightStd": [1, 2]}}"#)
            == [#"configs/x.json: variants[0].model.weightStd: the grid sweeps "model.weightStd", so a variant cannot set it; remove it from the variant or from the grid"#])
        #expect(problems(#"{\#(Self.base), "gird": {"model.width": [4]}}"#).first?.contains(#"gird: unknown key; did you mean "grid"?"#) == true)
    }

    /// A grid value that conflicts with a base key is reported at the base key, naming the cell.
    @Test func conflictsWithTheBaseNameTheCell() {
        let lines = problems(#"{"model": {"hiddenLayers": 4, "layerNorm": [3]}, "grid": {"model.hiddenLayers": [2, 4]}}"#)
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("configs/x.json: model.layerNorm[0]: ") == true)
        #expect(lines.first?.hasSuffix(#"(with grid cell "hiddenLayers2")"#) == true, "\(lines)")
    }
}
