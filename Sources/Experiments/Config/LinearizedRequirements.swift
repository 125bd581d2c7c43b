/// What `evaluation.linearized` needs of the rest of the config: the closed form it computes is
/// plain full-batch gradient descent on the mean squared error, so any other training would be
/// compared with a linearised model that was not trained the same way.
extension EvaluationConfig {
    /// Reports, at the key that must change, every setting the linearised model cannot follow.
    static func reportLinearizedRequirements(_ evaluation: EvaluationConfig, training: TrainingConfig, model: ModelConfig,
                                             data: DataConfig, context: DecodingContext) {
        guard evaluation.linearized else { return }
        let trainingPath = JSONPath.root.appending("training")
        let need = "evaluation.linearized needs full-batch gradient descent on the mean squared error "
            + "(\"optimizer\": \"sgd\", \"momentum\": 0, \"weightDecay\": 0, \"batchSize\": \"full\")"
        switch training.optimizer {
        case let .sgd(momentum, weightDecay):
            if momentum != 0 { context.report(trainingPath.appending("momentum"), "\(need), found \(plainNumber(momentum))") }
            if weightDecay != 0 { context.report(trainingPath.appending("weightDecay"), "\(need), found \(plainNumber(weightDecay))") }
        default:
            context.report(trainingPath.appending("optimizer"), "\(need), found \"\(training.optimizer.name)\"")
        }
        if case .samples(let size) = training.batchSize {
            // A batch at least as large as a synthetic set is the whole set; a CSV set's size is not known yet.
            let wholeSet = if case .synthetic(let synthetic) = data { size >= synthetic.trainSize } else { false }
            if !wholeSet { context.report(trainingPath.appending("batchSize"), "\(need), found \(size)") }
        }
        if training.loss != .meanSquaredError {
            context.report(trainingPath.appending("loss"), "\(need), found \"\(training.loss.rawValue)\"")
        }
        if model.hasBatchNorm {
            context.report(JSONPath.root.appending("model").appending("normalization"),
                           "evaluation.linearized needs a network whose points do not interact; a BatchNorm trains on batch statistics")
        }
    }
}
