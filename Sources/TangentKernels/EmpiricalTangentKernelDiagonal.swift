import NeuralNet

extension Layer {
    /// The diagonal of the empirical NTK, `Theta(x_i, x_i) = ||df(x_i)/dp||^2` for every row of
    /// `x`, without the N x N kernel: per-sample squared gradient norms from the same factors as
    /// `empiricalTangentKernel` (one forward and one backward pass). A Dense layer's factors give
    ///
    ///     Theta(x_i, x_i) += (s_w^2 ||A_i||^2 + s_b^2) ||D_i||^2
    ///
    /// (A_i its input row, D_i the gradient at its output), per-sample gradient rows G_i give
    /// `||G_i||^2`. Networks the structured method cannot take apart fall back to per-sample
    /// Jacobians (the squared norms of J's rows), as `.automatic` does for the whole kernel.
    /// - Returns: N values, Float64 whatever `Scalar` is (they are summed in Float64).
    /// - Throws: `EmpiricalTangentKernelError` as `empiricalTangentKernel`.
    public func empiricalTangentKernelDiagonal(_ x: Tensor<Scalar>) throws -> [Double] {
        precondition(x.rank == 2, "empiricalTangentKernelDiagonal: x must be a matrix [points, features], got \(x.shape)")
        let points = x.shape[0]
        var diagonal = [Double](repeating: 0, count: points)
        let terms: [TangentKernelTerm<Scalar>]
        do {
            terms = try kernelFeatures(x)
        } catch EmpiricalTangentKernelError.unsupportedOperation, EmpiricalTangentKernelError.sharedParameter {
            let jacobian = try parameterJacobian(x)
            for i in 0..<points { diagonal[i] = squaredRowNorm(jacobian, row: i) }
            return diagonal
        }
        for term in terms {
            switch term {
            case let .linear(inputs, outputGradients, weightScaleSquared, biasScaleSquared):
                for i in 0..<points {
                    let inputNorm = squaredRowNorm(inputs, row: i)
                    diagonal[i] += (Double(weightScaleSquared) * inputNorm + Double(biasScaleSquared)) * squaredRowNorm(outputGradients, row: i)
                }
            case let .perSampleGradients(gradients):
                for i in 0..<points { diagonal[i] += squaredRowNorm(gradients, row: i) }
            }
        }
        return diagonal
    }
}

/// `sum_j m[row, j]^2` in Float64.
func squaredRowNorm<Scalar: BLASScalar>(_ matrix: Tensor<Scalar>, row: Int) -> Double {
    let columns = matrix.shape[1]
    let start = matrix.unsafeBaseAddress + row &* columns
    var sum = 0.0
    for j in 0..<columns { let value = Double(start[j]); sum += value * value }
    return sum
}
