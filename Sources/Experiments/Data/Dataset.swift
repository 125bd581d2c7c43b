/// Inputs and targets of one set of examples: `inputs` is `[count, inputDim]`, `targets` is
/// `[count, 1]`.
public struct Dataset<Scalar: BLASScalar>: Sendable {
    public var inputs: Tensor<Scalar>
    public var targets: Tensor<Scalar>

    public init(inputs: Tensor<Scalar>, targets: Tensor<Scalar>) {
        precondition(inputs.rank == 2 && targets.rank == 2 && targets.columns == 1 && inputs.rows == targets.rows,
                     "Dataset: inputs \(inputs.shape) and targets \(targets.shape) must be [n, d] and [n, 1]")
        self.inputs = inputs
        self.targets = targets
    }

    /// Builds a data set from rows of inputs and one target per row.
    public init(inputRows: [[Double]], targets: [Double]) {
        precondition(inputRows.count == targets.count, "Dataset: \(inputRows.count) input rows but \(targets.count) targets")
        let inputDim = inputRows.first?.count ?? 0
        self.init(inputs: Tensor(shape: [inputRows.count, inputDim], scalars: inputRows.flatMap { $0.map { Scalar($0) } }),
                  targets: Tensor(shape: [targets.count, 1], scalars: targets.map { Scalar($0) }))
    }

    public var count: Int { inputs.rows }
    public var inputDim: Int { inputs.columns }
}

/// Everything a run trains and evaluates on.
public struct ExperimentData<Scalar: BLASScalar>: Sendable {
    public var train: Dataset<Scalar>
    /// In-distribution examples held out from training (CSV data with a split); nil otherwise.
    public var validation: Dataset<Scalar>?
    /// Out-of-distribution examples (CSV rows at or above the split threshold); nil without a split.
    public var test: Dataset<Scalar>?
    /// How features and target were scaled (CSV data with `standardize`); nil otherwise.
    public var standardization: Standardization?
    /// The names of the input columns (`x1`, `x2`, ... for synthetic data).
    public var featureNames: [String]

    public init(train: Dataset<Scalar>, validation: Dataset<Scalar>? = nil, test: Dataset<Scalar>? = nil,
                standardization: Standardization? = nil, featureNames: [String]) {
        self.train = train
        self.validation = validation
        self.test = test
        self.standardization = standardization
        self.featureNames = featureNames
    }
}

extension ExperimentData {
    /// Loads or generates the data a config describes.
    /// - Parameters:
    ///   - config: the `data` section.
    ///   - seed: the run's seed (synthetic inputs and the validation split derive from it).
    /// - Throws: ``CSVError`` for an unreadable or malformed CSV file, or a split that leaves a set empty.
    public static func load(_ config: DataConfig, seed: UInt64) throws(CSVError) -> ExperimentData {
        switch config {
        case .synthetic(let synthetic):
            return ExperimentData(train: synthetic.makeDataset(seed: seed),
                                  featureNames: (1...synthetic.inputDim).map { "x\($0)" })
        case .csv(let csv):
            return try csv.load(seed: seed)
        }
    }
}

/// The affine maps that gave features and target mean 0 and standard deviation 1 on the training
/// rows; they are applied unchanged to validation and test rows.
public struct Standardization: Sendable, Equatable {
    public var featureMeans: [Double]
    /// Population standard deviations (divided by n, as scikit-learn's StandardScaler); a constant
    /// column gets 1 so it is only centred. Infinite or NaN when the values are too large for a
    /// Double mean and variance (a column of 1e308s), so the caller can refuse them.
    public var featureScales: [Double]
    public var targetMean: Double
    public var targetScale: Double

    /// Fits the statistics of `rows` (one array of features per row) and `targets`.
    public init(fittingRows rows: [[Double]], targets: [Double]) {
        let columns = rows.first?.count ?? 0
        featureMeans = []
        featureScales = []
        for column in 0..<columns {
            let (mean, scale) = Standardization.meanAndScale(rows.map { $0[column] })
            featureMeans.append(mean)
            featureScales.append(scale)
        }
        (targetMean, targetScale) = Standardization.meanAndScale(targets)
    }

    static func meanAndScale(_ values: [Double]) -> (mean: Double, scale: Double) {
        guard !values.isEmpty else { return (0, 1) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        let scale = variance.squareRoot()
        return (mean, scale == 0 ? 1 : scale)
    }

    /// One row of features, scaled.
    public func standardized(features row: [Double]) -> [Double] {
        zip(row.indices, row).map { ($1 - featureMeans[$0]) / featureScales[$0] }
    }

    /// One target value, scaled.
    public func standardized(target value: Double) -> Double { (value - targetMean) / targetScale }

    /// A standardised prediction back in the target's original units.
    public func originalTarget(_ standardizedValue: Double) -> Double { standardizedValue * targetScale + targetMean }
}

/// The coefficient of determination, `1 - sum (y - p)^2 / sum (y - mean y)^2`: 1 for a perfect
/// fit, 0 for predicting the mean, negative for worse. NaN when the targets are all equal or empty.
public func rSquared(predictions: [Double], targets: [Double]) -> Double {
    precondition(predictions.count == targets.count,
                 "rSquared: \(predictions.count) predictions for \(targets.count) targets")
    guard !targets.isEmpty else { return .nan }
    let mean = targets.reduce(0, +) / Double(targets.count)
    var residual = 0.0
    var total = 0.0
    for (prediction, target) in zip(predictions, targets) {
        residual += (target - prediction) * (target - prediction)
        total += (target - mean) * (target - mean)
    }
    return total > 0 ? 1 - residual / total : .nan
}

/// ``rSquared(predictions:targets:)`` over tensors of equal count (e.g. `[n, 1]` each).
public func rSquared<Scalar: BLASScalar>(predictions: Tensor<Scalar>, targets: Tensor<Scalar>) -> Double {
    rSquared(predictions: predictions.scalars.map(Double.init), targets: targets.scalars.map(Double.init))
}
