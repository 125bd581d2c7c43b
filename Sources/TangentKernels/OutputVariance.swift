import NeuralNet

/// The spread over initialisations of the infinitely wide network trained to convergence by
/// gradient descent on the squared error (Lee et al. 2019; Seleznova & Kutyniok 2021, App. B).
/// At initialisation the outputs are the NNGP K; training moves them by the NTK Theta, so at
/// t = infinity the output at x is Gaussian with mean `Theta(x, X) Theta(X, X)^-1 y` and
///
///     Var[f(x)] = K(x,x) - 2 Theta(x,X) Theta(X,X)^-1 K(X,x) + Theta(x,X) Theta(X,X)^-1 K(X,X) Theta(X,X)^-1 Theta(X,x)
///
/// (neural-tangents' `gradient_descent_mse_ensemble(..., compute_cov=True)` at t = inf). The
/// inverse is the regression's Cholesky factor of `Theta(X, X) + jitter I`, the same the mean uses.
public struct InfiniteWidthOutputVariance<Network: Layer> {
    public let regression: InfiniteWidthRegression<Network>
    /// `K(X, X)`, the NNGP kernel of the training inputs.
    public let trainingNNGP: Tensor<Double>
    /// `Theta(X, X)` without jitter.
    public let trainingNTK: Tensor<Double>

    /// Mean, variance and `Theta(x, x)` at some points.
    public struct Evaluation {
        /// Shaped as the regression's targets (a vector, or one column per target).
        public let mean: Tensor<Double>
        /// One entry per point. Rounding can leave values of about 1e-16 times K(x, x) below zero
        /// at training points, where the exact variance is 0.
        public let variance: Tensor<Double>
        /// `Theta(x, x)`, one entry per point (for bounds such as sup |f| <= sqrt(sup Theta(x,x) / lambda_min) ||y||).
        public let ntkDiagonal: Tensor<Double>
    }

    /// Computes `K(X, X)` for a regression fitted with the NTK.
    public init(_ regression: InfiniteWidthRegression<Network>) throws {
        precondition(regression.kind == .ntk, "InfiniteWidthOutputVariance: the regression must use the NTK (gradient-descent training)")
        self.regression = regression
        let kernel = try regression.network.infiniteWidthKernel(regression.inputs)
        trainingNNGP = kernel.nngp
        trainingNTK = kernel.ntk
    }

    /// sqrt(C / lambda_min) ||y||_2 with lambda_min the least eigenvalue of `Theta(X, X) + jitter I`
    /// (the matrix the fit inverted): a bound on |f(x)| wherever `Theta(x, x) <= C`, since
    /// |f(x)|^2 <= Theta(x,x) alpha^T Theta alpha <= Theta(x,x) y^T (Theta + jitter I)^-1 y (Cauchy-Schwarz in the NTK's RKHS).
    /// - Returns: the bound and the eigenvalue.
    public func outputBound(supremumOfNTKDiagonal: Double, targets: Tensor<Double>) throws -> (bound: Double, smallestEigenvalue: Double) {
        let smallest = (try symmetricEigenvalues(trainingNTK).first ?? .nan) + regression.regression.jitter
        let targetNorm = targets.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return ((supremumOfNTKDiagonal / smallest).squareRoot() * targetNorm, smallest)
    }

    /// The mean prediction, its variance over initialisations and `Theta(x, x)` at the rows of `x`:
    /// one kernel evaluation against the training inputs, one Cholesky solve, one GEMM.
    public func evaluate(_ x: Tensor<Network.Scalar>) throws -> Evaluation {
        let kernel = try regression.network.infiniteWidthKernel(x, regression.inputs)
        let (points, n) = (kernel.count1, kernel.count2)
        // A = Theta(X,X)^-1 Theta(X,x): N x M.
        let solved = try regression.regression.factor.solve(kernel.ntk.transposed())
        // B = K(X,X) A.
        let propagated = matmul(trainingNNGP, solved)
        var variance = Tensor<Double>(shape: [points], repeating: 0)
        // Var_m = K(x_m,x_m) - 2 sum_i K(x_m,X_i) A_im + sum_i A_im B_im.
        kernel.nngp.withUnsafeBufferPointer { cross in
            solved.withUnsafeBufferPointer { a in
                propagated.withUnsafeBufferPointer { b in
                    kernel.nngpDiagonal1.withUnsafeBufferPointer { diagonal in
                        variance.withUnsafeMutableBufferPointer { result in
                            for m in 0..<points { result[m] = diagonal[m] }
                            for i in 0..<n {
                                let row = i &* points
                                for m in 0..<points {
                                    result[m] += a[row &+ m] * (b[row &+ m] - 2 * cross[m &* n &+ i])
                                }
                            }
                        }
                    }
                }
            }
        }
        return Evaluation(mean: regression.regression.predict(crossKernel: kernel.ntk), variance: variance,
                          ntkDiagonal: kernel.ntkDiagonal1)
    }
}
