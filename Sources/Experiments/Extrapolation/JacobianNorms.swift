/// The size of a trained network's input Jacobian J(x) = df/dx: on the training set (the mean of
/// ||J||_F^2, the quantity the Jacobian penalty weighs) and along the extrapolation rays (the mean
/// of ||J(lambda u)||_F over the directions u, per lambda: does the function stay flat far away?).
/// From the model's tangent forward (`ValueAndTangents`), in batches.
public enum JacobianNorms {
    /// ||J(x_i)||_F for each row x_i of `inputs`, evaluated `batchRows` rows at a time.
    public static func rowNorms<Scalar: BLASScalar>(
        _ model: some Layer<Scalar>, inputs: Tensor<Scalar>, batchRows: Int = ExtrapolationMeasurement.defaultBatchRows
    ) -> [Double] {
        precondition(model.providesTangents, "JacobianNorms: the model has a layer without a tangent forward")
        let (rows, dimensions) = (inputs.rows, inputs.columns)
        // Each row's tangents take d rows of every activation: keep the tangent rows at batchRows.
        let rowsPerBatch = max(1, batchRows / dimensions)
        let tape = Tape<Scalar>()
        var norms: [Double] = []
        norms.reserveCapacity(rows)
        var start = 0
        while start < rows {
            let count = min(rowsPerBatch, rows - start)
            // The batch's rows straight from the storage (`scalars` would copy all of `inputs` per batch).
            let batch = inputs.withUnsafeBufferPointer { all in
                Tensor<Scalar>(shape: [count, dimensions], scalars: Array(all[(start * dimensions)..<((start + count) * dimensions)]))
            }
            tape.reset()
            let tangents = model(tape.inputWithTangents(batch)).tangents.value
            let outputs = tangents.columns
            var squares = [Double](repeating: 0, count: count)
            tangents.withUnsafeBufferPointer { values in
                for block in 0..<dimensions {
                    for row in 0..<count {
                        let offset = (block * count + row) * outputs
                        for k in 0..<outputs { squares[row] += Double(values[offset + k]) * Double(values[offset + k]) }
                    }
                }
            }
            norms += squares.map { $0.squareRoot() }
            start += count
        }
        return norms
    }

    /// (1/N) sum_i ||J(x_i)||_F^2 over the rows of `inputs`.
    public static func meanSquared<Scalar: BLASScalar>(_ model: some Layer<Scalar>, inputs: Tensor<Scalar>) -> Double {
        let norms = rowNorms(model, inputs: inputs)
        return norms.reduce(0) { $0 + $1 * $1 } / Double(norms.count)
    }

    /// Fills each point's `jacobianNorm` of `table` (measured along `directions`): the mean over
    /// the directions u of ||J(lambda u)||_F.
    public static func addRayNorms<Scalar: BLASScalar>(
        to table: inout ExtrapolationTable, _ model: some Layer<Scalar>, directions: Tensor<Scalar>
    ) {
        let (count, dimensions) = (directions.rows, directions.columns)
        let scalars = directions.scalars
        var rays = [Scalar]()
        rays.reserveCapacity(table.points.count * count * dimensions)
        for point in table.points { rays += scalars.map { Scalar(point.lambda) * $0 } }
        let norms = rowNorms(model, inputs: Tensor(shape: [table.points.count * count, dimensions], scalars: rays))
        for index in table.points.indices {
            table.points[index].jacobianNorm = norms[(index * count)..<((index + 1) * count)].reduce(0, +) / Double(count)
        }
    }
}
