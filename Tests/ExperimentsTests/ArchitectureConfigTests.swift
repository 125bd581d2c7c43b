import Glibc
import Testing
@testable import Experiments
import TestSupport

/// `model.normalization`, `model.residual` and `model.finalNorm`: decoding, the errors, encoding,
/// and the networks and estimates they give.
@Suite struct ArchitectureConfigTests {
    @Test func decodesEveryValue() throws {
        for normalization in Normalization.allCases {
            let model = try plan(#"{"model": {"normalization": "\#(normalization.rawValue)", "layerNorm": "first"}}"#).base.model
            #expect(model.normalization == normalization)
            #expect(model.mlpDescription(inputSize: 1, width: 4).normalization == normalization)
        }
        for residual in ResidualBlocks.allCases {
            let model = try plan(#"{"model": {"residual": "\#(residual.rawValue)"}}"#).base.model
            #expect(model.residual == residual)
            #expect(model.mlpDescription(inputSize: 1, width: 4).residual == residual)
        }
        for finalNorm in [false, true] {
            let model = try plan(#"{"model": {"finalNorm": \#(finalNorm)}}"#).base.model
            #expect(model.finalNorm == finalNorm && model.hasNorms == finalNorm)
            #expect(model.mlpDescription(inputSize: 1, width: 4).finalNorm == finalNorm)
            // A final norm alone has affine parameters by default, as any norm of a finite network.
            #expect(model.layerNormAffine == finalNorm)
        }
        let defaults = try plan("{}").base.model
        #expect(defaults.normalization == .layerNorm && defaults.residual == ResidualBlocks.none && !defaults.finalNorm)
        // Null means the default.
        #expect(try plan(#"{"model": {"residual": null, "normalization": null, "finalNorm": null}}"#).base.model == defaults)
    }

    @Test func wrongValuesAreRefusedNamingWhatIsAllowed() throws {
        #expect(problems(#"{"model": {"normalization": "LayerNorm", "layerNorm": "first"}}"#)
            == [#"configs/x.json: model.normalization: expected one of "layerNorm", "rmsNorm", "batchNorm", found "LayerNorm""#])
        #expect(problems(#"{"model": {"normalization": 1}}"#)
            == [#"configs/x.json: model.normalization: expected one of "layerNorm", "rmsNorm", "batchNorm", found 1"#])
        #expect(problems(#"{"model": {"residual": "pre"}}"#)
            == [#"configs/x.json: model.residual: expected one of "none", "preNorm", "postNorm", found "pre""#])
        #expect(problems(#"{"model": {"residual": true}}"#)
            == [#"configs/x.json: model.residual: expected one of "none", "preNorm", "postNorm", found true"#])
        #expect(problems(#"{"model": {"finalNorm": "yes"}}"#)
            == [#"configs/x.json: model.finalNorm: expected true or false, found "yes""#])
        #expect(problems(#"{"model": {"residual": "postNorm", "layerNorm": [0, 2]}}"#)
            == ["configs/x.json: model.layerNorm[1]: expected a block index from 0 to 1, found 2"])
        #expect(problems(#"{"model": {"residual": "preNorm", "layerNorm": "sometimes"}}"#)
            == [#"configs/x.json: model.layerNorm: expected one of "none", "first", "last", "every", or a list of block indices from 0 to 1, found "sometimes""#])
        let typo = problems(#"{"model": {"finalnorm": true}}"#)
        #expect(typo.count == 1 && typo[0].hasPrefix(#"configs/x.json: model.finalnorm: unknown key; did you mean "finalNorm"?"#), "\(typo)")
        // Without any norm the kind is checked but ignored (a sweep's base may set it for its variants).
        #expect(try plan(#"{"model": {"normalization": "batchNorm"}}"#).base.model.normalization == .layerNorm)
        #expect(problems(#"{"model": {"normalization": "groupNorm"}}"#).count == 1)
    }

    @Test func batchNormNeedsTwoRowsInEveryBatch() throws {
        let batchNorm = #""model": {"normalization": "batchNorm", "layerNorm": "first"}"#
        let prefix = #"configs/x.json: "#
        let needs = #""batchNorm" (model.normalization) normalises each feature over a batch's rows and needs at least 2 rows in every training batch, but "#
        #expect(problems(#"{\#(batchNorm), "training": {"batchSize": 33}}"#)
            == [prefix + "training.batchSize: " + needs + "batches of 33 from 100 training rows leave a last batch of 1 row; choose another batch size"])
        #expect(problems(#"{\#(batchNorm), "training": {"batchSize": 1}}"#)
            == [prefix + "training.batchSize: " + needs + "every batch has 1 row; choose another batch size"])
        #expect(problems(#"{\#(batchNorm), "data": {"trainSize": 1}}"#)
            == [prefix + "data.trainSize: " + needs + "the full batch has 1 row; choose another batch size"])
        // Fine with batches of 2 rows or more, and with any batch for the norms that see one row at a time.
        _ = try plan(#"{\#(batchNorm), "training": {"batchSize": 49}}"#)
        _ = try plan(#"{"model": {"normalization": "rmsNorm", "layerNorm": "first"}, "training": {"batchSize": 33}}"#)
    }

    @Test func infiniteWidthTakesOnlyNormsWithAKernelMap() throws {
        let infinite = #""width": "infinite", "parameterization": "ntk""#
        #expect(problems(#"{"model": {\#(infinite), "normalization": "batchNorm", "layerNorm": "first"}}"#)
            == [#"configs/x.json: model.normalization: "batchNorm" has no infinite-width kernel, so width "infinite" cannot use it: in training its batch statistics couple the points (the limit is a kernel over whole batches, not over pairs), and in evaluation it divides by running statistics of one finite network; use "layerNorm" or "rmsNorm""#])
        #expect(problems(#"{"model": {\#(infinite), "normalization": "rmsNorm", "layerNorm": "first", "layerNormAffine": true}}"#)
            == [#"configs/x.json: model.layerNormAffine: must be false for width "infinite": the analytic kernels use RMSNorm without scale"#])
        #expect(problems(#"{"model": {\#(infinite), "finalNorm": true}}"#)
            == [#"configs/x.json: model.finalNorm: width "infinite" has no kernel for a final LayerNorm after the last activation (LayerNorm's limit needs centred Gaussian units, as a Dense layer's outputs are); use "normalization": "rmsNorm", a "residual" network (its final norm sees Dense outputs), or false"#])
    }

    /// Every combination a width-"infinite" config accepts has an analytic kernel (no failure at
    /// run time), and every one it refuses would have failed to map.
    @Test func acceptedInfiniteWidthCombinationsHaveKernels() throws {
        let x = Tensor<Double>([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.9]])
        var accepted = 0
        for normalization in Normalization.allCases {
            for residual in ResidualBlocks.allCases {
                for placement in ["none", "first", "every"] {
                    for finalNorm in [false, true] {
                        let text = #"{"data": {"inputDim": 2}, "model": {"width": "infinite", "parameterization": "ntk", "normalization": "\#(normalization.rawValue)", "residual": "\#(residual.rawValue)", "layerNorm": "\#(placement)", "finalNorm": \#(finalNorm)}}"#
                        let label = "\(normalization) \(residual) \(placement) final \(finalNorm)"
                        let refused = !problems(text).isEmpty
                        let model = ModelConfig(hiddenLayers: 2, width: .infinite, residual: residual, normalization: normalization,
                                                layerNorm: placement == "none" ? .none : placement == "first" ? .first : .every,
                                                layerNormAffine: false, finalNorm: finalNorm, parameterization: .ntk)
                        let maps = (try? model.analyticNetwork(inputSize: 2).infiniteWidthKernel(x)) != nil
                        #expect(refused == !maps, "\(label): refused \(refused), has a kernel \(maps)")
                        if !refused { accepted += 1 }
                    }
                }
            }
        }
        #expect(accepted == 36, "54 combinations less 15 with a BatchNorm and 3 plain ones with a final LayerNorm")
    }

    /// The resolved config writes the new keys only away from their defaults, so runs that do not
    /// use them keep their `config.json`; with them, it loads back to the same runs.
    @Test func encodingRoundTrips() throws {
        let paperModel = try plan(#"{"model": {"layerNorm": "first"}}"#).base.model.json
        guard case .object(let members) = paperModel else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["hiddenLayers", "width", "activation", "layerNorm", "layerNormAffine", "parameterization",
                                       "weightInit", "biasInit", "biasStd"])

        let sweep = try plan("""
            { "model": { "residual": "preNorm", "normalization": "rmsNorm", "layerNorm": "every", "finalNorm": true },
              "variants": [ { "name": "base" },
                            { "name": "plain", "model": { "residual": "none", "finalNorm": false } },
                            { "name": "batch", "model": { "normalization": "batchNorm", "residual": "postNorm", "layerNorm": [1] } },
                            { "name": "no-norm", "model": { "layerNorm": "none", "finalNorm": false } } ] }
            """)
        let model = sweep.base.model
        #expect(model.residual == .preNorm && model.normalization == .rmsNorm && model.finalNorm && model.layerNormAffine)
        let resolved = sweep.resolvedJSON
        #expect(resolved["model"]?["residual"] == .string("preNorm"))
        #expect(resolved["model"]?["normalization"] == .string("rmsNorm"))
        #expect(resolved["model"]?["finalNorm"] == .bool(true))
        guard case .array(let variants)? = resolved["variants"] else { Issue.record("no variants"); return }
        #expect(variants[1] == .object(["name": .string("plain"), "model": .object(["residual": .null, "finalNorm": .null])]))
        #expect(variants[3]["model"]?["normalization"] == .null)
        let reloaded = try plan(resolved.rendered())
        #expect(reloaded.base == sweep.base)
        #expect(reloaded.runs.map(\.config) == sweep.runs.map(\.config))
        #expect(reloaded.resolvedJSON == resolved)
        let configs = Dictionary(uniqueKeysWithValues: reloaded.variants.map { ($0.name, $0.config.model) })
        #expect(configs["plain"]?.residual == ResidualBlocks.none && configs["plain"]?.finalNorm == false)
        #expect(configs["batch"]?.normalization == .batchNorm && configs["batch"]?.layerNormIndices == [1])
        #expect(configs["no-norm"]?.hasNorms == false && configs["no-norm"]?.normalization == .layerNorm)
    }

    /// The memory estimate counts the parameters the built network has, for every architecture.
    @Test(arguments: Normalization.allCases) func parameterCountsMatchTheBuiltNetwork(_ normalization: Normalization) throws {
        for residual in ResidualBlocks.allCases {
            for (placement, finalNorm, affine) in [("none", false, true), ("first", false, true), ("every", true, true),
                                                    ("[0, 2]", true, false), ("last", false, false)] {
                let text = #"{"data": {"inputDim": 3}, "model": {"hiddenLayers": 3, "width": 7, "normalization": "\#(normalization.rawValue)", "residual": "\#(residual.rawValue)", "layerNorm": \#(placement.hasPrefix("[") ? placement : "\"\(placement)\""), "finalNorm": \#(finalNorm), "layerNormAffine": \#(affine)}}"#
                let config = try plan(text).base
                var generator = Xoshiro256StarStar(seed: 0)
                let network: Sequential<Double> = config.model.mlpDescription(inputSize: 3, width: 7).build(generator: &generator)
                let built = network.parameters.reduce(0) { $0 + $1.value.count }
                let label = "\(normalization) \(residual) \(placement) final \(finalNorm) affine \(affine)"
                #expect(MemoryEstimate(config: config).parameterCount == Double(built), "\(label)")
                #expect(config.model.mlpDescription(inputSize: 3, width: 7).parameterCount == built, "\(label)")
            }
        }
    }

    @Test func shippedAtlasComparesTheNormsAndResidualBlocks() throws {
        let atlas = try ExperimentPlan.load(path: projectRoot + "/configs/normalization-atlas.json", memoryLimitBytes: sixteenGiB)
        #expect(atlas.runs.count == 45)
        let models = Dictionary(uniqueKeysWithValues: atlas.variants.map { ($0.name, $0.config.model) })
        #expect(models["mlp.batchnorm"]?.normalization == .batchNorm && models["mlp.batchnorm"]?.layerNormIndices == [0])
        #expect(models["mlp.rmsnorm"]?.normalization == .rmsNorm && models["mlp.rmsnorm"]?.residual == ResidualBlocks.none)
        #expect(models["residual.pre-ln-final"]?.residual == .preNorm && models["residual.pre-ln-final"]?.finalNorm == true)
        #expect(models["residual.post-ln"]?.residual == .postNorm && models["residual.post-ln"]?.layerNormIndices == [0, 1])
        // The paper's toy setting: sin in 1-D, width 128, 3000 full-batch epochs, Kaiming-normal weights and N(0, 0.01) biases.
        #expect(atlas.variants.allSatisfy { variant in
            let config = variant.config
            return config.model.width == .finite(128) && config.training.epochs == 3000 && config.data.inputDim == 1
                && config.model.weightInit == .kaimingNormal && config.model.biasStd == 0.1 && config.training.batchSize == .full
        })
        #expect(atlas.seeds == [0, 1, 2, 3, 4])
    }
}
