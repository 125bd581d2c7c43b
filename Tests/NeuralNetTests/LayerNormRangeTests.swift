import NeuralNet
import Testing

/// LayerNorm is scale-invariant: a row multiplied by c normalises to the same values, up to the
/// epsilon's share eps / (c^2 var). That must hold out to the end of the Double range, where the
/// squares of the entries overflow (|x| beyond 1e154 in Double, 1e19 in Float): computed plainly,
/// rstd became 0 there and every output silently the bias (issue 12).
@Suite struct LayerNormRangeTests {
    static let row: [Double] = [1, -2, 3.5, 0.25, -0.75]

    /// (x - mean) / std of the row, the limit of LayerNorm(c x) as c grows.
    static var normalised: [Double] {
        let mean = row.reduce(0, +) / Double(row.count)
        let std = (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(row.count)).squareRoot()
        return row.map { ($0 - mean) / std }
    }

    @Test(arguments: [1e3, 1e100, 1e153, 1e155, 1e200, 1e300, 1e307])
    func doubleRowsNormaliseAtAnyScale(_ scale: Double) {
        let layer = Sequential<Double>(LayerNorm(Self.row.count, affine: false))
        let output = layer(Tensor<Double>(shape: [1, Self.row.count], scalars: Self.row.map { $0 * scale })).scalars
        for (value, expected) in zip(output, Self.normalised) {
            #expect(abs(value - expected) <= 1e-9, "scale \(scale): \(output) for \(Self.normalised)")
        }
    }

    @Test(arguments: [Float(1e3), 1e18, 1e20, 1e30, 1e37])
    func floatRowsNormaliseAtAnyScale(_ scale: Float) {
        let layer = Sequential<Float>(LayerNorm(Self.row.count, affine: false))
        let output = layer(Tensor<Float>(shape: [1, Self.row.count], scalars: Self.row.map { Float($0) * scale })).scalars
        for (value, expected) in zip(output, Self.normalised) {
            #expect(abs(Double(value) - expected) <= 1e-5, "scale \(scale): \(output) for \(Self.normalised)")
        }
    }

    /// A row holding infinity or NaN still gives NaN, never a finite value made up.
    @Test func aRowWithInfinityGivesNaN() {
        let layer = Sequential<Double>(LayerNorm(3, affine: false))
        let output = layer(Tensor<Double>(shape: [1, 3], scalars: [1, .infinity, 2])).scalars
        #expect(output.allSatisfy { $0.isNaN }, "\(output)")
    }
}
