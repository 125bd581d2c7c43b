/// What every fitted run measures besides its extrapolation table, finite or infinite width:
/// R² on each split of the data and, for 1-D inputs, the prediction curve (the paper's Figure 1)
/// with the training points drawn beside it.
extension RunRecord {
    /// The record of a fitted run: `metrics` with R² filled in, the curve and the points.
    /// - Parameter evaluate: the fitted function, rows of inputs to rows of outputs.
    static func measuring<Scalar>(_ metrics: RunMetrics, config: ExperimentConfig, data: ExperimentData<Scalar>,
                                  _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows -> RunRecord {
        var metrics = metrics
        if let classes = config.data.classes {
            // Classification: accuracy from the logits; R² of class labels would mean nothing.
            metrics.accuracy = try AccuracyBySplit(accuracyOf: data, classes: classes, evaluate)
        } else {
            metrics.rSquared = try RSquaredBySplit(data, evaluate)
        }
        return RunRecord(metrics: metrics, curve: try predictionCurve(config, data: data, evaluate),
                         trainingPoints: oneDimensionalPoints(data))
    }

    static func predictionCurve<Scalar>(_ config: ExperimentConfig, data: ExperimentData<Scalar>,
                                        _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows -> PredictionCurve? {
        guard data.train.inputDim == 1 else { return nil }
        let curve = config.evaluation.curve ?? defaultCurve(data)
        let (inputs, predictions) = try ExtrapolationMeasurement.predictionCurve(curve, as: Scalar.self, evaluate)
        return PredictionCurve(inputs: inputs, predictions: predictions)
    }

    /// Ten times the training inputs' range, for data whose range the config could not know (CSV).
    static func defaultCurve<Scalar>(_ data: ExperimentData<Scalar>) -> CurveConfig {
        let xs = data.train.inputs.scalars.map(Double.init)
        return .around(Interval(lower: xs.min() ?? -1, upper: xs.max() ?? 1))
    }

    static func oneDimensionalPoints<Scalar>(_ data: ExperimentData<Scalar>) -> [(x: Double, y: Double)] {
        guard data.train.inputDim == 1 else { return [] }
        return zip(data.train.inputs.scalars, data.train.targets.scalars).map { (Double($0), Double($1)) }
    }
}

extension RSquaredBySplit {
    /// Accuracy on the training, validation and test sets the data has: the fraction of rows
    /// whose largest of the `classes` outputs is at the row's label.
    init<Scalar>(accuracyOf data: ExperimentData<Scalar>, classes: Int,
                 _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows {
        func accuracy(_ set: Dataset<Scalar>) throws -> Double {
            let logits = try evaluate(set.inputs)
            precondition(logits.columns == classes, "accuracy: \(logits.columns) outputs for \(classes) classes")
            let (values, labels) = (logits.scalars, set.targets.scalars)
            var correct = 0
            for row in 0..<set.count {
                var best = 0
                for j in 1..<classes where values[row * classes + j] > values[row * classes + best] { best = j }
                if Scalar(best) == labels[row] { correct += 1 }
            }
            return set.count == 0 ? .nan : Double(correct) / Double(set.count)
        }
        self.init(train: try accuracy(data.train))
        if let validation = data.validation { self.validation = try accuracy(validation) }
        if let test = data.test { self.test = try accuracy(test) }
    }

    /// R² on the training, validation (in distribution) and test (out of distribution) sets the data has.
    init<Scalar>(_ data: ExperimentData<Scalar>, _ evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>) rethrows {
        self.init(train: rSquared(predictions: try evaluate(data.train.inputs), targets: data.train.targets))
        if let validation = data.validation {
            self.validation = rSquared(predictions: try evaluate(validation.inputs), targets: validation.targets)
        }
        if let test = data.test { self.test = rSquared(predictions: try evaluate(test.inputs), targets: test.targets) }
    }
}
