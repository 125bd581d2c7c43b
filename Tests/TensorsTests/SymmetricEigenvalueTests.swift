import Testing
import Tensors

@Suite struct SymmetricEigenvalueTests {
    /// Q diag(values) Qᵀ with Q = I - 2 v vᵀ / (vᵀ v), a reflection: its eigenvalues are `values`.
    static func matrix(eigenvalues values: [Double], reflecting v: [Double]) -> Tensor<Double> {
        let n = values.count
        let norm = v.reduce(0) { $0 + $1 * $1 }
        let q = (0..<n).map { i in (0..<n).map { j in (i == j ? 1 : 0) - 2 * v[i] * v[j] / norm } }
        return Tensor(shape: [n, n], scalars: (0..<n).flatMap { i in
            (0..<n).map { j in (0..<n).reduce(0) { $0 + q[i][$1] * values[$1] * q[j][$1] } }
        })
    }

    @Test func theLargestEigenvalueOfAKnownSpectrum() throws {
        let values = [3.0, -7.5, 12.25, 0.5, 1e-3, 12.0]
        let a = Self.matrix(eigenvalues: values, reflecting: [1, -2, 0.5, 3, 1, -1])
        #expect(abs(try a.largestSymmetricEigenvalue() - 12.25) < 1e-12 * 12.25)
        #expect(try Tensor<Double>(shape: [1, 1], scalars: [-4]).largestSymmetricEigenvalue() == -4)
    }

    @Test func aMatrixOfNaNIsAnErrorNotANumber() {
        let a = Tensor<Double>(shape: [3, 3], repeating: .nan)
        #expect(throws: LinearAlgebraError.self) { _ = try a.largestSymmetricEigenvalue() }
    }
}
