import Glibc
import Testing
@testable import Experiments

@Suite struct LambdaGridTests {
    @Test func defaultGridHasSeventeenPointsWithExactDecades() {
        let grid = lambdaGrid(from: 1, to: 10_000, perDecade: 4)
        #expect(grid.count == 17)
        #expect(grid[0] == 1 && grid[4] == 10 && grid[8] == 100 && grid[12] == 1000 && grid[16] == 10_000)
        for index in 1..<grid.count {
            #expect(abs(grid[index] / grid[index - 1] - pow(10, 0.25)) < 1e-12)
        }
    }

    @Test func endsAreIncludedWhenTheSpanIsNotWholeSteps() {
        let grid = lambdaGrid(from: 1, to: 5000, perDecade: 4)
        #expect(grid.first == 1 && grid.last == 5000)
        #expect(grid.count == 16)  // 1 ... 10^3.5 in 15 steps, then 5000
        let halfDecades = lambdaGrid(from: 0.5, to: 50, perDecade: 2)
        let expected = [0.5, 0.5 * pow(10, 0.5), 5, 5 * pow(10, 0.5), 50]
        #expect(halfDecades.count == 5 && halfDecades.last == 50)
        #expect(zip(halfDecades, expected).allSatisfy { abs($0 / $1 - 1) < 1e-15 })
        #expect(lambdaGrid(from: 3, to: 3, perDecade: 4) == [3])
    }
}

@Suite struct GrowthExponentTests {
    static let lambdas = lambdaGrid(from: 1, to: 10_000, perDecade: 4)

    /// Measures f on random unit directions in 3-D.
    func exponent(_ function: @escaping (Double) -> Double) -> Double {
        let directions: Tensor<Double> = ExtrapolationMeasurement.randomUnitDirections(count: 16, dimension: 3, seed: 1)
        let table = ExtrapolationMeasurement.measure(directions: directions, lambdas: Self.lambdas) { batch in
            // f(x) = function(|x|) per row.
            let rows = batch.array2D.map { row in function(row.reduce(0) { $0 + $1 * $1 }.squareRoot()) }
            return Tensor(shape: [rows.count, 1], scalars: rows)
        }
        return table.growthExponent
    }

    @Test(arguments: [0.0, 0.5, 1, 2, 3]) func powerLawGivesItsPower(_ power: Double) {
        #expect(abs(exponent { pow($0, power) } - power) < 1e-9)
    }

    @Test func boundedFunctionsGiveAboutZero() {
        #expect(abs(exponent { tanh($0) }) < 1e-6)
        #expect(abs(exponent { 3 + sin($0) / $0 }) < 1e-3)
        // A function that is 0 everywhere is bounded too.
        #expect(exponent { _ in 0 } == 0)
    }

    @Test func affineFunctionApproachesOne() {
        // 1 + x: the offset fades over the last decade (1000 ... 10000).
        let measured = exponent { 1 + $0 }
        #expect(abs(measured - 1) < 1e-3 && measured < 1)
    }

    @Test func windowIsTheLastDecade() {
        // Steep growth before lambda = 1000, flat after: only the flat part counts.
        let maxima = Self.lambdas.map { min($0, 1000) }
        #expect(abs(growthExponent(lambdas: Self.lambdas, maxAbs: maxima)) < 1e-12)
        // Less than a decade in all: every point counts.
        #expect(abs(growthExponent(lambdas: [1, 2, 4], maxAbs: [1, 4, 16]) - 2) < 1e-12)
    }

    @Test func nonFiniteValuesGiveNaN() {
        var maxima = Self.lambdas
        maxima[maxima.count - 1] = .nan
        #expect(growthExponent(lambdas: Self.lambdas, maxAbs: maxima).isNaN)
        maxima[maxima.count - 1] = .infinity
        #expect(growthExponent(lambdas: Self.lambdas, maxAbs: maxima).isNaN)
    }
}

@Suite struct MeasurementTests {
    @Test(arguments: [1, 2, 3, 7, 100_000]) func maxAndMeanOverDirectionsAndOutputs(_ batchRows: Int) {
        let directions = Tensor<Double>([[1], [-2], [0.5]])
        var calls = 0
        let table = ExtrapolationMeasurement.measure(directions: directions, lambdas: [1, 10, 100], batchRows: batchRows) { batch in
            calls += 1
            #expect(batch.rows <= batchRows)
            // Two outputs per row: x and -3x.
            let values = batch.scalars.flatMap { [$0, -3 * $0] }
            return Tensor(shape: [batch.rows, 2], scalars: values)
        }
        #expect(calls == (9 + batchRows - 1) / batchRows)
        #expect(table.lambdas == [1, 10, 100])
        for point in table.points {
            #expect(abs(point.maxAbs - 6 * point.lambda) < 1e-12)
            // Mean over 3 directions x 2 outputs of |x| and 3|x|: (1 + 2 + 0.5) * 4 / 6.
            #expect(abs(point.meanAbs - 3.5 * 4 / 6 * point.lambda) < 1e-12)
        }
    }

    @Test func nanOutputIsReportedNotHidden() {
        let directions = Tensor<Float>([[1], [2]])
        let table = ExtrapolationMeasurement.measure(directions: directions, lambdas: [1, 10_000]) { batch in
            batch.map { $0 > 100 ? .nan : $0 }
        }
        #expect(table.points[0].maxAbs == 2)
        #expect(table.points[1].maxAbs.isNaN && table.points[1].meanAbs.isNaN)
        #expect(table.growthExponent.isNaN)
    }

    @Test func randomDirectionsAreSeededUnitVectors() {
        let directions: Tensor<Double> = ExtrapolationMeasurement.randomUnitDirections(count: 50, dimension: 4, seed: 9)
        let again: Tensor<Double> = ExtrapolationMeasurement.randomUnitDirections(count: 50, dimension: 4, seed: 9)
        #expect(directions == again)
        for row in directions.array2D {
            #expect(abs(row.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12)
        }
        let line: Tensor<Float> = ExtrapolationMeasurement.randomUnitDirections(count: 20, dimension: 1, seed: 0)
        #expect(line.scalars.allSatisfy { $0 == 1 || $0 == -1 })
        #expect(Set(line.scalars).count == 2)
    }

    @Test func directionsFollowTheConfig() {
        let inputs = Tensor<Double>([[0.5, 1], [2, -1]])
        #expect(ExtrapolationMeasurement.directions(.training, trainingInputs: inputs, seed: 0) == inputs)
        #expect(ExtrapolationMeasurement.directions(.random(5), trainingInputs: inputs, seed: 0).shape == [5, 2])
    }

    @Test func configDrivenMeasurementUsesGridAndDirections() {
        let inputs = Tensor<Double>([[0.5], [-1]])
        let evaluation = EvaluationConfig(lambdas: LambdaGridConfig(from: 1, to: 100, perDecade: 1), directions: .training)
        let table = ExtrapolationMeasurement.measure(evaluation, trainingInputs: inputs, seed: 0) { $0 }
        #expect(table.lambdas == [1, 10, 100])
        #expect(table.maxAbs == [1, 10, 100])
        var random = evaluation
        random.directions = .random(7)
        let unit = ExtrapolationMeasurement.measure(random, trainingInputs: inputs, seed: 0) { $0 }
        #expect(unit.maxAbs == [1, 10, 100] && unit.meanAbs == [1, 10, 100])
    }

    @Test func predictionCurveEvaluatesInBatches() {
        let curve = CurveConfig(from: -2, to: 2, points: 5)
        let (inputs, predictions) = ExtrapolationMeasurement.predictionCurve(curve, as: Float.self, batchRows: 2) { batch in
            Tensor(shape: [batch.rows, 2], scalars: batch.scalars.flatMap { [$0 * $0, 0] })
        }
        #expect(inputs == [-2, -1, 0, 1, 2])
        #expect(predictions == [4, 1, 0, 1, 4])
    }

    @Test func memoryEstimateAssumesTheMeasurementsBatchSize() {
        let config = ExperimentConfig(name: "x", data: .synthetic(SyntheticDataConfig(trainSize: 100_000)))
        #expect(MemoryEstimate(config: config).totalBytes
            == MemoryEstimate(config: config, evaluationBatchRows: ExtrapolationMeasurement.defaultBatchRows).totalBytes)
    }
}

@Suite struct SummaryStatisticsTests {
    @Test func studentTQuantilesMatchTables() {
        #expect(abs(studentTQuantile975(degreesOfFreedom: 1) - 12.706205) < 1e-6)
        #expect(abs(studentTQuantile975(degreesOfFreedom: 4) - 2.776445) < 1e-6)
        #expect(abs(studentTQuantile975(degreesOfFreedom: 30) - 2.042272) < 1e-6)
        // Beyond the table: 40 -> 2.021075, 120 -> 1.979930, the normal limit 1.959964.
        #expect(abs(studentTQuantile975(degreesOfFreedom: 40) - 2.021075) < 1e-4)
        #expect(abs(studentTQuantile975(degreesOfFreedom: 120) - 1.979930) < 1e-4)
        #expect(abs(studentTQuantile975(degreesOfFreedom: 1_000_000) - 1.959964) < 1e-5)
    }

    @Test func meanWithIntervalOfKnownSample() {
        let summary = MeanWithInterval([1, 2, 3, 4, 5])
        #expect(summary.mean == 3)
        // s = sqrt(2.5), half-width t(4) * s / sqrt(5).
        let halfWidth = 2.776445 * (2.5 / 5).squareRoot()
        #expect(abs(summary.upper - (3 + halfWidth)) < 1e-5 && abs(summary.lower - (3 - halfWidth)) < 1e-5)
        let single = MeanWithInterval([7])
        #expect(single.lower == 7 && single.upper == 7)
    }

    @Test func zerosAreLeftOutAndNonFiniteValuesShowAsGaps() {
        let lambdas = [1.0, 10, 100]
        let tables = [[0.0, .nan, 0], [4.0, 10, 0]].map { maxima in
            ExtrapolationTable(points: zip(lambdas, maxima).map { ExtrapolationPoint(lambda: $0, maxAbs: $1, meanAbs: $1) })
        }
        let summary = GrowthCurveSummary(tables)
        #expect(summary.center[0] == 4 && summary.lower[0] == 4)
        #expect(summary.center[1].isNaN)
        #expect(summary.center[2] == 0 && summary.lower[2].isNaN)
    }

    @Test func growthSummaryIsAGeometricMean() {
        let lambdas = [1.0, 10]
        let tables = [[1.0, 100], [4.0, 10_000]].map { maxima in
            ExtrapolationTable(points: zip(lambdas, maxima).map { ExtrapolationPoint(lambda: $0, maxAbs: $1, meanAbs: $1) })
        }
        let summary = GrowthCurveSummary(tables)
        #expect(abs(summary.center[0] - 2) < 1e-12 && abs(summary.center[1] - 1000) < 1e-9)
        #expect(summary.lower[1] < 1000 && summary.upper[1] > 1000)
        #expect(summary.runCount == 2)
        // Slopes 2 and log10(2500).
        #expect(abs(summary.growthExponent.mean - (2 + log10(2500)) / 2) < 1e-12)
    }
}
