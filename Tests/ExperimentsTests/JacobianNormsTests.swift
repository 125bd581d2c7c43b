import Experiments
import Testing

/// `JacobianNorms` (the input-Jacobian sizes a penalised run reports) against central finite
/// differences of the network's forward pass, with batches small enough that the rows are split
/// over several of them, the last one partial.
@Suite struct JacobianNormsTests {
    /// 3 inputs, 2 outputs, LayerNorm and tanh between: every tangent rule the metric relies on.
    func network() -> Sequential<Double> {
        var generator = Xoshiro256StarStar(seed: 7)
        return Sequential(Dense(3, 16, generator: &generator), LayerNorm(16), Tanh(), Dense(16, 2, generator: &generator))
    }

    /// ||J(x)||_F of one input row by central differences of the forward pass.
    func finiteDifferenceNorm(_ model: Sequential<Double>, _ row: [Double]) -> Double {
        let step = 1e-5
        var sum = 0.0
        for column in row.indices {
            var (up, down) = (row, row)
            up[column] += step
            down[column] -= step
            let (f, g) = (model(Tensor(shape: [1, 3], scalars: up)).scalars, model(Tensor(shape: [1, 3], scalars: down)).scalars)
            for output in f.indices { sum += ((f[output] - g[output]) / (2 * step)) * ((f[output] - g[output]) / (2 * step)) }
        }
        return sum.squareRoot()
    }

    @Test func rowNormsMatchFiniteDifferencesAcrossBatches() {
        let model = network()
        var generator = Xoshiro256StarStar(seed: 8)
        let inputs = Tensor<Double>.randomNormal([7, 3], standardDeviation: 2, using: &generator)
        // 6 tangent rows a batch: 2 input rows, so batches of 2, 2, 2 and 1.
        let norms = JacobianNorms.rowNorms(model, inputs: inputs, batchRows: 6)
        let rows = inputs.array2D
        #expect(norms.count == 7)
        for (index, row) in rows.enumerated() {
            let expected = finiteDifferenceNorm(model, row)
            #expect(Swift.abs(norms[index] - expected) <= 1e-7 * expected, "row \(index): \(norms[index]) against \(expected)")
        }
        // One batch of all rows gives the same numbers.
        let whole = JacobianNorms.rowNorms(model, inputs: inputs)
        for index in norms.indices { #expect(Swift.abs(whole[index] - norms[index]) <= 1e-12 * norms[index]) }
        let meanSquared = JacobianNorms.meanSquared(model, inputs: inputs)
        #expect(Swift.abs(meanSquared - norms.map { $0 * $0 }.reduce(0, +) / 7) <= 1e-12 * meanSquared)
    }

    @Test func rayNormsAreTheMeanOverDirections() {
        let model = network()
        let directions = Tensor<Double>(shape: [2, 3], scalars: [1, 0, 0, 0.6, -0.8, 0])
        var table = ExtrapolationMeasurement.measure(directions: directions, lambdas: [1, 10, 100]) { model($0) }
        JacobianNorms.addRayNorms(to: &table, model, directions: directions)
        for point in table.points {
            let expected = directions.array2D.map { finiteDifferenceNorm(model, $0.map { $0 * point.lambda }) }.reduce(0, +) / 2
            let measured = point.jacobianNorm ?? .nan
            #expect(Swift.abs(measured - expected) <= 1e-6 * expected, "lambda \(point.lambda): \(measured) against \(expected)")
        }
    }
}
