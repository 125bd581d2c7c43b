import Testing
@testable import NeuralNet

/// The networks `MLPDescription` builds: against the torch modules they stand for (names,
/// shapes and outputs, torch_mlp_descriptions.json from scripts/reference/generate_torch_mlps.py),
/// and against the same networks built by hand from public layers with the same generator.
@Suite struct MLPDescriptionTests {
    /// The description of each fixture network, written from its torch module.
    static let descriptions: [(name: String, description: MLPDescription)] = {
        func mlp(_ normalization: Normalization = .layerNorm, residual: ResidualBlocks = .none, normsAfter: Set<Int> = [],
                 affine: Bool = true, finalNorm: Bool = false, activation: Activation = .relu) -> MLPDescription {
            var description = MLPDescription(inputSize: 2, width: 6, hiddenLayers: 2)
            description.normalization = normalization
            description.residual = residual
            description.layerNormAfter = normsAfter
            description.layerNormAffine = affine
            description.finalNorm = finalNorm
            description.activation = activation
            return description
        }
        return [
            ("layerNormFirst", mlp(normsAfter: [0])),
            ("rmsNormFirstNoAffine", mlp(.rmsNorm, normsAfter: [0], affine: false)),
            ("batchNormFirstEval", mlp(.batchNorm, normsAfter: [0])),
            ("batchNormEveryFinalTrain", mlp(.batchNorm, normsAfter: [0, 1], finalNorm: true, activation: .silu)),
            ("preNormEveryFinal", mlp(residual: .preNorm, normsAfter: [0, 1], finalNorm: true)),
            ("postNormEveryFinalRMSNorm", mlp(.rmsNorm, residual: .postNorm, normsAfter: [0, 1], finalNorm: true)),
            ("preNormLastBatchNormTrain", mlp(.batchNorm, residual: .preNorm, normsAfter: [1], activation: .gelu)),
            ("residualWithoutNorms", mlp(residual: .postNorm)),
        ]
    }()

    static let names = descriptions.map(\.name)

    /// Built from its description, the network takes the torch module's state dict as it is (every
    /// name and shape, parameters and buffers, nothing missing or left over) and gives its output.
    @Test(arguments: names) func matchesTheTorchModule(name: String) throws {
        let case_ = try #require((try fixture("torch_mlp_descriptions")["networks"] as? [String: Any])?[name] as? [String: Any])
        let description = try #require(Self.descriptions.first { $0.name == name }?.description)
        var generator = Xoshiro256StarStar(seed: 1)
        let network: Sequential<Double> = description.build(generator: &generator)
        let torchNames = case_["stateNames"] as! [String]
        #expect(Set(network.namedParameters.map(\.name) + network.namedBuffers.map(\.name)) == Set(torchNames))
        // Parameters come in torch's order (buffers are listed apart, as `named_buffers()` does).
        #expect(network.namedParameters.map(\.name) == torchNames.filter { !isBuffer($0) })
        try network.load(stateDict: (case_["parameters"] as! [String: Any]).mapValues { tensor($0) })
        network.setTraining(case_["mode"] as! String == "train")
        let error = relativeError(network(tensor(case_["x"]!)), tensor(case_["output"]!))
        #expect(error < 1e-12, "\(name): \(error)")
        #expect(description.parameterCount == network.parameters.reduce(0) { $0 + $1.value.count })
    }

    func isBuffer(_ name: String) -> Bool {
        ["running_mean", "running_var", "num_batches_tracked"].contains { name.hasSuffix("." + $0) }
    }

    /// Hand-built twins of three descriptions, their Dense layers drawn from the same generator
    /// in the same order: the same names, shapes, initial values and outputs, bit for bit.
    @Test func equalsTheNetworkBuiltByHand() {
        let x = Tensor<Double>([[0.3, -1.2, 2.0], [1.5, 0.1, -0.4], [-2.2, 0.7, 0.9], [0.0, 1.1, -1.3]])

        var preNorm = MLPDescription(inputSize: 3, width: 5, hiddenLayers: 2)
        preNorm.residual = .preNorm
        preNorm.layerNormAfter = [0, 1]
        preNorm.finalNorm = true
        preNorm.weightInitialization = .kaimingNormal
        preNorm.biasInitialization = .normal(standardDeviation: 0.1)
        var generator = Xoshiro256StarStar(seed: 11)
        func standard(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> {
            Dense(fanIn, fanOut, weightInitialization: .kaimingNormal, biasInitialization: .normal(standardDeviation: 0.1),
                  generator: &generator)
        }
        let preNormByHand = Sequential<Double>(
            standard(3, 5),
            Residual(Sequential(LayerNorm(5), standard(5, 5), ReLU(), standard(5, 5))),
            Residual(Sequential(LayerNorm(5), standard(5, 5), ReLU(), standard(5, 5))),
            LayerNorm(5), standard(5, 1))
        expectSame(preNorm, seed: 11, preNormByHand, x)

        var postNorm = MLPDescription(inputSize: 3, width: 5, hiddenLayers: 2)
        postNorm.residual = .postNorm
        postNorm.normalization = .batchNorm
        postNorm.layerNormAfter = [1]
        postNorm.activation = .gelu
        postNorm.parameterization = .ntk
        postNorm.weightStandardDeviation = 1.3
        postNorm.biasStandardDeviation = 0.2
        generator = Xoshiro256StarStar(seed: 12)
        func ntk(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> {
            Dense(ntk: fanIn, fanOut, weightStandardDeviation: 1.3, biasStandardDeviation: 0.2, generator: &generator)
        }
        let postNormByHand = Sequential<Double>(
            ntk(3, 5),
            Residual(Sequential(ntk(5, 5), GELU(), ntk(5, 5))),
            Residual(Sequential(ntk(5, 5), GELU(), ntk(5, 5))), BatchNorm(5),
            ntk(5, 1))
        expectSame(postNorm, seed: 12, postNormByHand, x)

        var plain = MLPDescription(inputSize: 3, width: 5, hiddenLayers: 2)
        plain.normalization = .rmsNorm
        plain.layerNormAfter = [0, 1]
        plain.layerNormAffine = false
        plain.finalNorm = true
        plain.activation = .tanh
        generator = Xoshiro256StarStar(seed: 13)
        func pytorch(_ fanIn: Int, _ fanOut: Int) -> Dense<Double> { Dense(fanIn, fanOut, generator: &generator) }
        let plainByHand = Sequential<Double>(
            pytorch(3, 5), RMSNorm(5, affine: false), ActivationLayer(.tanh),
            pytorch(5, 5), RMSNorm(5, affine: false), ActivationLayer(.tanh),
            RMSNorm(5, affine: false), pytorch(5, 1))
        expectSame(plain, seed: 13, plainByHand, x)
    }

    func expectSame(_ description: MLPDescription, seed: UInt64, _ byHand: Sequential<Double>, _ x: Tensor<Double>,
                    sourceLocation: SourceLocation = #_sourceLocation) {
        var generator = Xoshiro256StarStar(seed: seed)
        let built: Sequential<Double> = description.build(generator: &generator)
        #expect(built.namedParameters.map(\.name) == byHand.namedParameters.map(\.name), sourceLocation: sourceLocation)
        #expect(built.namedBuffers.map(\.name) == byHand.namedBuffers.map(\.name), sourceLocation: sourceLocation)
        for (mine, theirs) in zip(built.namedParameters, byHand.namedParameters) {
            #expect(mine.parameter.value.shape == theirs.parameter.value.shape, "\(mine.name)", sourceLocation: sourceLocation)
            #expect(mine.parameter.value.scalars == theirs.parameter.value.scalars, "\(mine.name)", sourceLocation: sourceLocation)
        }
        #expect(built(x).scalars == byHand(x).scalars, sourceLocation: sourceLocation)
        #expect(description.parameterCount == built.parameters.reduce(0) { $0 + $1.value.count }, sourceLocation: sourceLocation)
    }

    /// The description's layer list, by kind, for the README's and docs' statements about where
    /// each norm goes.
    @Test func layerOrderOfEachArchitecture() {
        func kinds(_ description: MLPDescription) -> [String] {
            var generator = Xoshiro256StarStar(seed: 0)
            let network: Sequential<Double> = description.build(generator: &generator)
            func kind(_ layer: any Layer<Double>) -> String {
                switch layer {
                case let residual as Residual<Double>: "Residual(" + (residual.inner as! Sequential<Double>).layers.map(kind).joined(separator: ", ") + ")"
                case is Dense<Double>: "Dense"
                case is LayerNorm<Double>: "LayerNorm"
                case is BatchNorm<Double>: "BatchNorm"
                case is RMSNorm<Double>: "RMSNorm"
                default: "Activation"
                }
            }
            return network.layers.map(kind)
        }
        var description = MLPDescription(inputSize: 1, width: 4, hiddenLayers: 3)
        description.layerNormAfter = [2]
        description.finalNorm = true
        #expect(kinds(description) == ["Dense", "Activation", "Dense", "Activation", "Dense", "LayerNorm", "Activation", "LayerNorm", "Dense"])
        description.residual = .preNorm
        description.normalization = .batchNorm
        let branch = "Dense, Activation, Dense"
        #expect(kinds(description) == ["Dense", "Residual(\(branch))", "Residual(\(branch))", "Residual(BatchNorm, \(branch))",
                                       "BatchNorm", "Dense"])
        description.residual = .postNorm
        description.finalNorm = false
        #expect(kinds(description) == ["Dense", "Residual(\(branch))", "Residual(\(branch))", "Residual(\(branch))", "BatchNorm", "Dense"])
    }
}
