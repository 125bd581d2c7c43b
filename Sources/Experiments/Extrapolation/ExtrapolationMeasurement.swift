import Glibc

/// The size of a function's output at one scale lambda, over all directions u: the largest and
/// the mean of `|f(lambda * u)|` (over every output component, when there are several).
public struct ExtrapolationPoint: Sendable, Equatable {
    public var lambda: Double
    public var maxAbs: Double
    public var meanAbs: Double
    /// For a `width: "infinite"` run: the largest variance over initialisations of the trained
    /// network's output, max over the directions of Var[f(lambda u)] (``InfiniteWidthOutputVariance``);
    /// nil otherwise.
    public var variance: Double? = nil

    /// The mean over the directions u of ||df/dx(lambda u)||_F (`JacobianNorms`), where measured.
    public var jacobianNorm: Double?

    public init(lambda: Double, maxAbs: Double, meanAbs: Double, variance: Double? = nil, jacobianNorm: Double? = nil) {
        self.variance = variance
        self.lambda = lambda
        self.maxAbs = maxAbs
        self.meanAbs = meanAbs
        self.jacobianNorm = jacobianNorm
    }
}

/// How a function grows along rays: one ``ExtrapolationPoint`` per lambda, ascending.
public struct ExtrapolationTable: Sendable, Equatable {
    public var points: [ExtrapolationPoint]

    public init(points: [ExtrapolationPoint]) {
        self.points = points
    }

    public var lambdas: [Double] { points.map(\.lambda) }
    public var maxAbs: [Double] { points.map(\.maxAbs) }
    public var meanAbs: [Double] { points.map(\.meanAbs) }

    /// The slope of log max|f| against log lambda over the last decade of the grid (see
    /// ``growthExponent(lambdas:maxAbs:)``): ~1 for linear growth, ~0 for a bounded function.
    public var growthExponent: Double { Experiments.growthExponent(lambdas: lambdas, maxAbs: maxAbs) }
}

/// The least-squares slope of `log max|f|` against `log lambda` over the points with lambda in
/// the last decade, `[lambda_max / 10, lambda_max]` (all points when the grid spans less than a
/// decade). `|x|^p` gives p; a bounded function gives about 0.
///
/// Points where max|f| is exactly 0 are left out (their logarithm is not finite); if every point
/// is 0 the exponent is 0. Any NaN or infinite max|f| in the window gives NaN.
public func growthExponent(lambdas: [Double], maxAbs: [Double]) -> Double {
    precondition(lambdas.count == maxAbs.count, "growthExponent: \(lambdas.count) lambdas for \(maxAbs.count) values")
    guard let largest = lambdas.max() else { return .nan }
    let window = zip(lambdas, maxAbs).filter { $0.0 >= largest / 10 * (1 - 1e-12) }
    if window.contains(where: { !$0.1.isFinite }) { return .nan }
    let positive = window.filter { $0.1 > 0 }
    if positive.isEmpty { return 0 }
    return leastSquaresSlope(x: positive.map { log10($0.0) }, y: positive.map { log10($0.1) })
}

/// Walks a function out along rays `x -> lambda * u` and measures its size.
public enum ExtrapolationMeasurement {
    /// Rows per call of the measured function: bounds the activations held at once.
    public static let defaultBatchRows = 8192

    /// Evaluates `function` at `lambda * u` for every lambda and every row u of `directions`
    /// (`[count, inputDim]`), in batches of at most `batchRows` rows (several lambdas share a
    /// batch when the directions are few), and reports max |f| and mean |f| per lambda.
    /// - Parameter function: a batched function: `[rows, inputDim]` in, `[rows, outputs]` out.
    public static func measure<Scalar: BLASScalar>(
        directions: Tensor<Scalar>, lambdas: [Double], batchRows: Int = defaultBatchRows,
        _ function: (Tensor<Scalar>) throws -> Tensor<Scalar>
    ) rethrows -> ExtrapolationTable {
        precondition(directions.rank == 2 && directions.rows > 0,
                     "measure: directions must be a non-empty [count, inputDim] matrix, got \(directions.shape)")
        precondition(batchRows > 0, "measure: batchRows must be positive")
        let directionCount = directions.rows
        let inputDim = directions.columns
        let totalRows = directionCount * lambdas.count
        var maxima = [Double](repeating: 0, count: lambdas.count)
        var sums = [Double](repeating: 0, count: lambdas.count)
        var outputsPerRow = 0
        let directionScalars = directions.scalars

        var start = 0
        while start < totalRows {
            let rows = min(batchRows, totalRows - start)
            var batch = Tensor<Scalar>(uninitializedShape: [rows, inputDim])
            batch.withUnsafeMutableBufferPointer { buffer in
                for row in 0..<rows {
                    let global = start + row
                    let lambda = Scalar(lambdas[global / directionCount])
                    let source = (global % directionCount) * inputDim
                    for column in 0..<inputDim { buffer[row * inputDim + column] = lambda * directionScalars[source + column] }
                }
            }
            let output = try function(batch)
            precondition(output.rank >= 1 && output.shape[0] == rows,
                         "measure: the function returned shape \(output.shape) for \(rows) input rows")
            outputsPerRow = output.count / rows
            output.withUnsafeBufferPointer { values in
                for row in 0..<rows {
                    let lambdaIndex = (start + row) / directionCount
                    for index in (row * outputsPerRow)..<((row + 1) * outputsPerRow) {
                        let magnitude = Double(Swift.abs(values[index]))
                        // NaN must win over any number, so a diverged network is reported as NaN.
                        if magnitude.isNaN || maxima[lambdaIndex].isNaN {
                            maxima[lambdaIndex] = .nan
                        } else {
                            maxima[lambdaIndex] = Swift.max(maxima[lambdaIndex], magnitude)
                        }
                        sums[lambdaIndex] += magnitude
                    }
                }
            }
            start += rows
        }
        let valuesPerLambda = Double(directionCount * Swift.max(outputsPerRow, 1))
        return ExtrapolationTable(points: lambdas.indices.map {
            ExtrapolationPoint(lambda: lambdas[$0], maxAbs: maxima[$0], meanAbs: sums[$0] / valuesPerLambda)
        })
    }

    /// Measures `function` as the `evaluation` section asks: its lambda grid, along the training
    /// inputs or its random directions (drawn from `seed`).
    public static func measure<Scalar: BLASScalar>(
        _ evaluation: EvaluationConfig, trainingInputs: Tensor<Scalar>, seed: UInt64, batchRows: Int = defaultBatchRows,
        _ function: (Tensor<Scalar>) throws -> Tensor<Scalar>
    ) rethrows -> ExtrapolationTable {
        try measure(directions: directions(evaluation.directions, trainingInputs: trainingInputs, seed: seed),
                    lambdas: evaluation.lambdas.values, batchRows: batchRows, function)
    }

    /// A 1-D function's values at the curve's inputs (the first output of each row), evaluated in
    /// batches of at most `batchRows`.
    public static func predictionCurve<Scalar: BLASScalar>(
        _ curve: CurveConfig, as type: Scalar.Type = Scalar.self, batchRows: Int = defaultBatchRows,
        _ function: (Tensor<Scalar>) throws -> Tensor<Scalar>
    ) rethrows -> (inputs: [Double], predictions: [Double]) {
        let inputs = curve.inputs
        var predictions: [Double] = []
        predictions.reserveCapacity(inputs.count)
        var start = 0
        while start < inputs.count {
            let end = Swift.min(start + batchRows, inputs.count)
            let batch = Tensor<Scalar>(shape: [end - start, 1], scalars: inputs[start..<end].map { Scalar($0) })
            let output = try function(batch)
            precondition(output.rank >= 1 && output.shape[0] == end - start,
                         "predictionCurve: the function returned shape \(output.shape) for \(end - start) input rows")
            let outputsPerRow = output.count / (end - start)
            let values = output.scalars
            for row in 0..<(end - start) { predictions.append(Double(values[row * outputsPerRow])) }
            start = end
        }
        return (inputs, predictions)
    }

    /// `count` directions drawn uniformly from the unit sphere in `dimension` dimensions
    /// (normalised Gaussian vectors), from the seed's ``RandomStream/directions`` stream.
    public static func randomUnitDirections<Scalar: BLASScalar>(
        count: Int, dimension: Int, seed: UInt64, as type: Scalar.Type = Scalar.self
    ) -> Tensor<Scalar> {
        precondition(count > 0 && dimension > 0, "randomUnitDirections: needs count > 0 and dimension > 0")
        var generator = Xoshiro256StarStar(seed: seed, stream: .directions)
        var scalars: [Scalar] = []
        scalars.reserveCapacity(count * dimension)
        for _ in 0..<count {
            var vector = [Double](repeating: 0, count: dimension)
            var norm = 0.0
            // A zero vector has no direction; redraw (probability 0 in theory, not in floating point).
            while norm == 0 {
                for index in 0..<dimension { vector[index] = generator.nextNormal() }
                norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            }
            scalars.append(contentsOf: vector.map { Scalar($0 / norm) })
        }
        return Tensor(shape: [count, dimension], scalars: scalars)
    }

    /// The directions a config asks for: the training inputs as they are, or random unit vectors.
    public static func directions<Scalar: BLASScalar>(
        _ choice: DirectionChoice, trainingInputs: Tensor<Scalar>, seed: UInt64
    ) -> Tensor<Scalar> {
        switch choice {
        case .training: trainingInputs
        case .random(let count): randomUnitDirections(count: count, dimension: trainingInputs.columns, seed: seed)
        }
    }
}

/// Many runs' growth curves on one grid, summarised per lambda in log space: the centre line is
/// the geometric mean of max|f| over the runs (seeds), the band the 95% t-interval of
/// log10 max|f| mapped back. Log space because the curves span decades and a band in linear
/// space would dip below zero. A run whose max|f| is exactly 0 at some lambda is left out there
/// (a logarithm cannot hold it); a NaN or infinite value in any run makes that point NaN, so a
/// diverged seed shows as a gap rather than being averaged away.
public struct GrowthCurveSummary: Sendable, Equatable {
    public let lambdas: [Double]
    /// The geometric mean of max|f| per lambda (0 if every run was 0, NaN if any run was not finite).
    public let center: [Double]
    /// The band's edges per lambda (equal to `center` for a single run).
    public let lower: [Double]
    public let upper: [Double]
    /// How many runs each point summarises.
    public let runCount: Int
    /// The mean growth exponent over the runs, with its 95% interval.
    public let growthExponent: MeanWithInterval

    /// Summarises runs measured on the same lambda grid (at least one run).
    public init(_ tables: [ExtrapolationTable]) {
        precondition(!tables.isEmpty, "GrowthCurveSummary: no runs")
        let grid = tables[0].lambdas
        // Bit for bit, so that a grid holding NaN (read back from a damaged file) equals itself.
        precondition(tables.allSatisfy { $0.lambdas.map(\.bitPattern) == grid.map(\.bitPattern) },
                     "GrowthCurveSummary: runs were measured on different lambda grids")
        lambdas = grid
        runCount = tables.count
        var center: [Double] = [], lower: [Double] = [], upper: [Double] = []
        for index in grid.indices {
            let values = tables.map { $0.points[index].maxAbs }
            let positive = values.filter { $0 > 0 }
            guard values.allSatisfy(\.isFinite), !positive.isEmpty else {
                center.append(values.allSatisfy { $0 == 0 } ? 0 : .nan)
                lower.append(.nan)
                upper.append(.nan)
                continue
            }
            let summary = MeanWithInterval(positive.map(log10))
            center.append(pow(10, summary.mean))
            lower.append(pow(10, summary.lower))
            upper.append(pow(10, summary.upper))
        }
        self.center = center
        self.lower = lower
        self.upper = upper
        growthExponent = MeanWithInterval(tables.map(\.growthExponent))
    }
}
