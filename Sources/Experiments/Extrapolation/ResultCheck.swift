/// A run that trained to its end but whose results are not numbers anyone can use: a loss grown
/// astronomically while staying finite, or an extrapolation table, metric or prediction that is
/// NaN or infinite. It fails like a diverged run (exit code 1), after its files are written:
/// `metrics.json` then records the failure as `"status": "failed"` and `"error"`, so a look at
/// the folder (and `--resume`, and `train merge`) tells it from a sound run.
public struct UnusableResultsError: Error, CustomStringConvertible {
    /// What is wrong, naming the quantity and its value, then what to change.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    /// The failure a run's `metrics.json` records (``RunMetrics/failure``), or nil for a sound run.
    public init?(recordedIn metrics: RunMetrics) {
        guard let failure = metrics.failure else { return nil }
        self.init(failure)
    }
}

/// The checks a finished run's results pass before they are reported as results.
public enum ResultCheck {
    /// A final training loss more than this many times the loss at initialisation is a
    /// divergence even while it is a finite number: no use can be made of such a network. Measured
    /// on configs/ln.json (width 64, 200 epochs, Adam), the final loss is 2e4 times the initial
    /// one at learning rate 10, 7e9 times at 100, 1e19 times at 10^4; at 10^12 it is 7e75 times
    /// after 5 epochs. Below the limit a run reports its (bad) results as they are.
    public static let lossGrowthLimit = 1e10

    /// The problem with a run whose training loss is NaN or infinite before its first step: the
    /// data (or the initial weights) are too large for the arithmetic; no learning rate is to blame.
    public static func problem<Scalar>(atInitialisation loss: Double, data: ExperimentData<Scalar>,
                                       config: ExperimentConfig) -> UnusableResultsError? {
        guard !loss.isFinite else { return nil }
        let inputs = data.train.inputs.scalars.map { Swift.abs(Double($0)) }.max() ?? 0
        let targets = data.train.targets.scalars.map { Swift.abs(Double($0)) }.max() ?? 0
        let sizes = "inputs up to \(compact(inputs)) in size, targets up to \(compact(targets))"
        let hint: String
        if inputs < 1e6 && targets < 1e6 {
            hint = "the network's initial outputs overflow. Lower model.weightStd and model.biasStd"
        } else if case .synthetic = config.data {
            hint = "the training data are too large for the network's arithmetic. Narrow data.domain"
        } else {
            hint = "the training data are too large for the network's arithmetic. Rescale the columns, or set data.standardize to true"
        }
        return UnusableResultsError("the training loss at initialisation is \(compact(loss)), before any step "
            + "(\(config.precision.rawValue); \(sizes)): \(hint)")
    }

    /// The first problem with a finished run's results, or nil when every number is usable.
    /// - Parameters:
    ///   - record: the run's metrics (loss, extrapolation table, R² members) and prediction curve.
    ///   - initialLoss: the training loss at initialisation; nil at infinite width (no training).
    ///   - learningRate: for the hint; nil at infinite width.
    ///   - data: the run's data, to tell an R² that is NaN because the targets are all equal
    ///     (undefined, not a failure) from one whose predictions are not finite.
    public static func problem<Scalar>(in record: RunRecord, initialLoss: Double?, learningRate: Double?,
                                       data: ExperimentData<Scalar>) -> UnusableResultsError? {
        let metrics = record.metrics
        let learningRateHint = learningRate.map {
            "The likely cause is a learning rate too large for this network (\(compact($0))); try \(compact($0 / 10)) or lower"
        } ?? "Check the scale of the data"
        if let initialLoss, initialLoss.isFinite, initialLoss > 0, metrics.finalTrainLoss > lossGrowthLimit * initialLoss {
            return UnusableResultsError(
                "training diverged: the training loss rose from \(compact(initialLoss)) at initialisation to "
                    + "\(compact(metrics.finalTrainLoss)) after \(metrics.epochsRun) epochs, more than \(compact(lossGrowthLimit)) "
                    + "times: the trained network is far worse than its initialisation. \(learningRateHint)")
        }
        let points = metrics.extrapolation.points
        for (name, values) in [("max |f|", points.map(\.maxAbs)), ("mean |f|", points.map(\.meanAbs))] {
            guard let bad = values.firstIndex(where: { !$0.isFinite }) else { continue }
            let lambda = points[bad].lambda
            let what = "\(name) is \(compact(values[bad])) at lambda = \(compact(lambda))"
            if bad > 0 {
                let lastFinite = compact(points[bad - 1].lambda)
                return UnusableResultsError(
                    "the extrapolation table is not finite: \(what) (finite up to lambda = \(lastFinite)): the inputs lambda * x "
                        + "are too large for the network's arithmetic in \(metrics.precision.rawValue). "
                        + "Lower evaluation.lambdas.to to \(lastFinite) or less")
            }
            return UnusableResultsError(
                "the extrapolation table is not finite: \(what), the smallest scale: the network's outputs overflow. "
                    + (lambda > 1 ? "Lower evaluation.lambdas.from and .to" : learningRateHint))
        }
        let sets: [DataSplit: Dataset<Scalar>?] = [.train: data.train, .validation: data.validation, .test: data.test]
        for split in DataSplit.allCases {
            guard let value = metrics.rSquared[split], !value.isFinite, let set = sets[split] else { continue }
            let targets = set?.targets.scalars ?? []
            if let first = targets.first, targets.allSatisfy({ $0 == first }) { continue }  // R² is undefined: not a failure
            return UnusableResultsError("\(split.rSquaredKey) is not finite: the network's predictions on those rows overflow. \(learningRateHint)")
        }
        if let curve = record.curve, let bad = curve.predictions.firstIndex(where: { !$0.isFinite }) {
            return UnusableResultsError(
                "the prediction curve is \(compact(curve.predictions[bad])) at x = \(compact(curve.inputs[bad])): the network's "
                    + "arithmetic overflows there. " + (curve.predictions.allSatisfy { !$0.isFinite } ? learningRateHint
                        : "Narrow evaluation.curve (from, to) to where it is finite"))
        }
        return nil
    }

    /// A problem with a kernel matrix `train ntk` computed (after writing it, NaN entries and all):
    /// entries that are NaN or infinite, or nil when every entry is a number.
    public static func problem(inKernel kernel: Tensor<Double>) -> UnusableResultsError? {
        let values = kernel.scalars
        guard let first = values.firstIndex(where: { !$0.isFinite }) else { return nil }
        let columns = max(kernel.shape.last ?? 1, 1)
        return UnusableResultsError(
            "the kernel is not finite at \(values.filter { !$0.isFinite }.count) of \(values.count) entries (the first at row "
                + "\(first / columns + 1), column \(first % columns + 1): \(compact(values[first]))): the points are too large for "
                + "float64 arithmetic in the network. Use points of smaller magnitude")
    }
}
