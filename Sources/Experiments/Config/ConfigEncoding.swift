/// Writing a resolved config back as JSON, in the schema's key order, with every default
/// spelled out; decoding the result gives the same config.
extension ExperimentConfig {
    /// The config as a JSON object (for `config.json` in the run folder).
    public var json: JSONValue {
        .object([
            JSONMember("name", .string(name)),
            JSONMember("seed", .number(seed)),
            JSONMember("precision", .string(precision.rawValue)),
            JSONMember("data", data.json),
            JSONMember("model", model.json),
            JSONMember("training", training.json),
            JSONMember("evaluation", evaluation.json),
        ])
    }
}

extension DataConfig {
    /// The `data` section as JSON.
    public var json: JSONValue {
        switch self {
        case .synthetic(let synthetic):
            return .object([
                JSONMember("kind", .string("synthetic")),
                JSONMember("target", .string(synthetic.target.rawValue)),
                JSONMember("inputDim", .number(synthetic.inputDim)),
                JSONMember("trainSize", .number(synthetic.trainSize)),
                JSONMember("domain", .array([.number(synthetic.domain.lower), .number(synthetic.domain.upper)])),
            ])
        case .csv(let csv):
            var members = [
                JSONMember("kind", .string("csv")),
                JSONMember("path", .string(csv.path)),
                JSONMember("features", .array(csv.features.map { .string($0) })),
                JSONMember("target", .string(csv.target)),
                JSONMember("standardize", .bool(csv.standardize)),
            ]
            if let split = csv.split {
                members.append(JSONMember("split", .object([
                    JSONMember("column", .string(split.column)),
                    JSONMember("below", .number(split.below)),
                    JSONMember("validationFraction", .number(split.validationFraction)),
                ])))
            }
            if let source = csv.source { members.append(JSONMember("source", .string(source))) }
            return .object(members)
        }
    }
}

extension ModelConfig {
    /// The `model` section as JSON; keys that do not apply are left out.
    public var json: JSONValue {
        var members = [JSONMember("hiddenLayers", .number(hiddenLayers))]
        switch width {
        case .finite(let units): members.append(JSONMember("width", .number(units)))
        case .infinite: members.append(JSONMember("width", .string("infinite")))
        }
        members.append(JSONMember("activation", .string(activation.rawValue)))
        switch layerNorm {
        case .none: members.append(JSONMember("layerNorm", .string("none")))
        case .first: members.append(JSONMember("layerNorm", .string("first")))
        case .last: members.append(JSONMember("layerNorm", .string("last")))
        case .every: members.append(JSONMember("layerNorm", .string("every")))
        case .layers(let indices): members.append(JSONMember("layerNorm", .array(indices.map { .number($0) })))
        }
        if layerNorm != .none { members.append(JSONMember("layerNormAffine", .bool(layerNormAffine))) }
        members.append(JSONMember("parameterization", .string(parameterization.rawValue)))
        if let weightInit { members.append(JSONMember("weightInit", .string(weightInit.rawValue))) }
        if let biasInit { members.append(JSONMember("biasInit", .string(biasInit.rawValue))) }
        if let weightStd { members.append(JSONMember("weightStd", .number(weightStd))) }
        if let biasStd { members.append(JSONMember("biasStd", .number(biasStd))) }
        return .object(members)
    }
}

extension TrainingConfig {
    /// The `training` section as JSON, with the optimizer's own settings.
    public var json: JSONValue {
        var members = [
            JSONMember("optimizer", .string(optimizer.name)),
            JSONMember("learningRate", .number(learningRate)),
            JSONMember("epochs", .number(epochs)),
        ]
        switch batchSize {
        case .full: members.append(JSONMember("batchSize", .string("full")))
        case .samples(let count): members.append(JSONMember("batchSize", .number(count)))
        }
        switch optimizer {
        case .sgd(let momentum, let weightDecay):
            members.append(JSONMember("momentum", .number(momentum)))
            members.append(JSONMember("weightDecay", .number(weightDecay)))
        case .adam(let beta1, let beta2, let eps, let weightDecay), .adamw(let beta1, let beta2, let eps, let weightDecay):
            members.append(JSONMember("betas", .array([.number(beta1), .number(beta2)])))
            members.append(JSONMember("eps", .number(eps)))
            members.append(JSONMember("weightDecay", .number(weightDecay)))
        }
        if let targetLoss { members.append(JSONMember("targetLoss", .number(targetLoss))) }
        if let checkpointEvery { members.append(JSONMember("checkpointEvery", .number(checkpointEvery))) }
        members.append(JSONMember("logEvery", .number(logEvery)))
        return .object(members)
    }
}

extension EvaluationConfig {
    /// The `evaluation` section as JSON.
    public var json: JSONValue {
        let directionsValue: JSONValue = switch directions {
        case .training: .string("train")
        case .random(let count): .object([JSONMember("random", .number(count))])
        }
        let curveValue: JSONValue = curve.map {
            .object([JSONMember("from", .number($0.from)), JSONMember("to", .number($0.to)),
                     JSONMember("points", .number($0.points))])
        } ?? .string("none")
        return .object([
            JSONMember("lambdas", .object([
                JSONMember("from", .number(lambdas.from)),
                JSONMember("to", .number(lambdas.to)),
                JSONMember("perDecade", .number(lambdas.perDecade)),
            ])),
            JSONMember("directions", directionsValue),
            JSONMember("curve", curveValue),
        ])
    }
}
