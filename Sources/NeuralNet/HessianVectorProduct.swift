import Glibc

/// Exact Hessian-vector products of a plain MLP's training loss, by Pearlmutter's R-operator
/// (forward-over-reverse): one forward pass, its directional derivative along v, and the
/// backward pass together with its own directional derivative. No finite differences: for ReLU
/// networks those are useless (a perturbation flips activation patterns, and the kinks dominate
/// the quotient), while the R-operator gives the Hessian of the piecewise-smooth loss where it
/// exists (phi'' = 0 off the kinks).
///
/// Supported: `Sequential`s of standard-parameterization `Dense` layers (with or without bias)
/// alternating with ReLU or tanh activations, ending in a Dense; mean squared error or
/// cross-entropy. Anything else is refused by `init` with a message naming the layer.
/// Everything is in Double whatever the model's Scalar.
///
/// Shapes: n rows; layer l maps a_{l-1} [n, in] to z_l = a_{l-1} W_lᵀ + b_l [n, out], and
/// a_l = phi(z_l) between layers. With R(.) the derivative along (V_l, vb_l):
/// `Rz_l = Ra_{l-1} W_lᵀ + a_{l-1} V_lᵀ + vb_l`, `Ra_l = phi'(z_l) Rz_l`; at the loss g = dL/dz_L
/// (cross-entropy: (p - onehot) / n, Rg = (p Rz - p sum_j p_j Rz_j) / n; MSE: 2 (z - y) / (n K),
/// Rg = 2 Rz / (n K)); back, with e = delta_l W_l:
/// `R dW_l = R delta_lᵀ a_{l-1} + delta_lᵀ Ra_{l-1}`, `R db_l = colsum R delta_l`,
/// `Re = R delta_l W_l + delta_l V_l`, `R delta_{l-1} = phi'(z) Re + phi''(z) Rz_{l-1} e`.
public struct MLPHessian {
    struct Layer {
        var weight: Tensor<Double>
        var bias: Tensor<Double>?
        /// The activation after this layer (nil for the last).
        var activation: Activation?
    }
    var layers: [Layer]
    let inputs: Tensor<Double>
    let targets: Tensor<Double>
    public let loss: LossFunction
    /// The number of parameters, in the order of `model.parameters` (each Dense's weight, then its bias).
    public let parameterCount: Int

    /// - Throws: ``UnsupportedNetwork`` for a layer or activation the R-operator here does not cover.
    public init<Scalar: BLASScalar>(_ model: Sequential<Scalar>, inputs: Tensor<Scalar>, targets: Tensor<Scalar>,
                                    loss: LossFunction) throws {
        var layers: [Layer] = []
        for (index, layer) in model.layers.enumerated() {
            if let dense = layer as? Dense<Scalar> {
                guard dense.parameterization == .standard else {
                    throw UnsupportedNetwork(description: "layer \(index) is a Dense in the NTK parameterization; the Hessian here covers standard Dense layers")
                }
                guard layers.last.map({ $0.activation != nil }) ?? true else {
                    throw UnsupportedNetwork(description: "layer \(index): two Dense layers without an activation between them")
                }
                layers.append(Layer(weight: dense.weight.value.converted(), bias: dense.bias?.value.converted(), activation: nil))
            } else if let activation = layer as? ActivationLayer<Scalar>, [.relu, .tanh].contains(activation.activation),
                      !layers.isEmpty, layers[layers.count - 1].activation == nil {
                layers[layers.count - 1].activation = activation.activation
            } else {
                throw UnsupportedNetwork(description: "layer \(index) (\(type(of: layer))) is not supported: exact Hessian-vector "
                    + "products are implemented for Dense layers alternating with ReLU or tanh, ending in a Dense")
            }
        }
        guard let last = layers.last, last.activation == nil else {
            throw UnsupportedNetwork(description: "the network must end in a Dense layer")
        }
        self.layers = layers
        self.inputs = inputs.converted()
        self.targets = targets.converted()
        self.loss = loss
        parameterCount = layers.reduce(0) { $0 + $1.weight.count + ($1.bias?.count ?? 0) }
    }

    /// The network does not fit the R-operator implemented here.
    public struct UnsupportedNetwork: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sets the parameters from a flat vector (in `model.parameters`' order).
    public mutating func setParameters(_ theta: [Double]) {
        precondition(theta.count == parameterCount, "MLPHessian: \(theta.count) values for \(parameterCount) parameters")
        var offset = 0
        for index in layers.indices {
            layers[index].weight = Tensor(shape: layers[index].weight.shape, scalars: Array(theta[offset..<(offset + layers[index].weight.count)]))
            offset += layers[index].weight.count
            if let bias = layers[index].bias {
                layers[index].bias = Tensor(shape: bias.shape, scalars: Array(theta[offset..<(offset + bias.count)]))
                offset += bias.count
            }
        }
    }

    /// H v, v flat in `model.parameters`' order.
    public func hessianVectorProduct(_ v: [Double]) -> [Double] {
        precondition(v.count == parameterCount, "hessianVectorProduct: a vector of \(v.count) for \(parameterCount) parameters")
        // The direction, split like the parameters.
        var directionWeights: [Tensor<Double>] = [], directionBiases: [Tensor<Double>?] = []
        var offset = 0
        for layer in layers {
            directionWeights.append(Tensor(shape: layer.weight.shape, scalars: Array(v[offset..<(offset + layer.weight.count)])))
            offset += layer.weight.count
            if let bias = layer.bias {
                directionBiases.append(Tensor(shape: bias.shape, scalars: Array(v[offset..<(offset + bias.count)])))
                offset += bias.count
            } else {
                directionBiases.append(nil)
            }
        }
        let rows = inputs.rows
        // Forward and R-forward: activations a_l (a_0 = x), pre-activations z_l and their R's.
        var activations = [inputs], rActivations = [Tensor<Double>.zeros(inputs.shape)]
        var preActivations: [Tensor<Double>] = [], rPreActivations: [Tensor<Double>] = []
        for (l, layer) in layers.enumerated() {
            var z = matmul(activations[l], layer.weight, transposeB: true)
            var rz = matmul(rActivations[l], layer.weight, transposeB: true) + matmul(activations[l], directionWeights[l], transposeB: true)
            if let bias = layer.bias { z = z.addingRowVector(bias) }
            if let directionBias = directionBiases[l] { rz = rz.addingRowVector(directionBias) }
            preActivations.append(z)
            rPreActivations.append(rz)
            if let activation = layer.activation {
                activations.append(z.map { Self.phi(activation, $0) })
                rActivations.append(Tensor(shape: z.shape, scalars: zip(z.scalars, rz.scalars).map { Self.phiPrime(activation, $0) * $1 }))
            }
        }
        // The loss's gradient at the output and its R.
        let output = preActivations[layers.count - 1], rOutput = rPreActivations[layers.count - 1]
        var delta: Tensor<Double>, rDelta: Tensor<Double>
        switch loss {
        case .meanSquaredError:
            let factor = 2 / Double(output.count)
            delta = (output - targets).map { $0 * factor }
            rDelta = rOutput.map { $0 * factor }
        case .crossEntropy:
            let classes = output.columns
            var g = [Double](repeating: 0, count: output.count), rg = g
            let labels = targets.scalars
            for row in 0..<rows {
                let z = (0..<classes).map { output[row, $0] }
                let largest = z.max()!
                let e = z.map { Glibc.exp($0 - largest) }
                let sum = e.reduce(0, +)
                let p = e.map { $0 / sum }
                let pRz = (0..<classes).reduce(0.0) { $0 + p[$1] * rOutput[row, $1] }
                for j in 0..<classes {
                    g[row * classes + j] = (p[j] - (Int(labels[row]) == j ? 1 : 0)) / Double(rows)
                    rg[row * classes + j] = p[j] * (rOutput[row, j] - pRz) / Double(rows)
                }
            }
            delta = Tensor(shape: output.shape, scalars: g)
            rDelta = Tensor(shape: output.shape, scalars: rg)
        }
        // Backward and R-backward; results collected from the last layer to the first.
        var pieces: [[Double]] = []
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let rWeightGradient = matmul(rDelta, activations[l], transposeA: true) + matmul(delta, rActivations[l], transposeA: true)
            var piece = rWeightGradient.scalars
            if layers[l].bias != nil { piece += rDelta.sum(alongAxis: 0).scalars }
            pieces.append(piece)
            guard l > 0, let activation = layers[l - 1].activation else { continue }
            let e = matmul(delta, layers[l].weight)
            let re = matmul(rDelta, layers[l].weight) + matmul(delta, directionWeights[l])
            // `Tensor.scalars` copies: take each array once, not once an element.
            let shape = preActivations[l - 1].shape
            let (z, rz) = (preActivations[l - 1].scalars, rPreActivations[l - 1].scalars)
            let (eValues, reValues) = (e.scalars, re.scalars)
            var newDelta = [Double](repeating: 0, count: z.count), newRDelta = newDelta
            for i in 0..<z.count {
                let (first, second) = (Self.phiPrime(activation, z[i]), Self.phiSecond(activation, z[i]))
                newDelta[i] = first * eValues[i]
                newRDelta[i] = first * reValues[i] + second * rz[i] * eValues[i]
            }
            delta = Tensor(shape: shape, scalars: newDelta)
            rDelta = Tensor(shape: shape, scalars: newRDelta)
        }
        return pieces.reversed().flatMap { $0 }
    }

    static func phi(_ activation: Activation, _ z: Double) -> Double { activation == .relu ? max(z, 0) : Glibc.tanh(z) }
    static func phiPrime(_ activation: Activation, _ z: Double) -> Double {
        if activation == .relu { return z > 0 ? 1 : 0 }
        let t = Glibc.tanh(z)
        return 1 - t * t
    }
    /// 0 for ReLU off its kink (the kink has measure zero).
    static func phiSecond(_ activation: Activation, _ z: Double) -> Double {
        if activation == .relu { return 0 }
        let t = Glibc.tanh(z)
        return -2 * t * (1 - t * t)
    }

    /// The extreme eigenvalues of the Hessian by `iterations` Lanczos steps with full
    /// reorthogonalisation from a seeded random start (the Ritz values of the Krylov space:
    /// the outermost converge first). Returns (smallest, largest).
    public func extremeEigenvalues(iterations: Int = 30, seed: UInt64 = 0) -> (smallest: Double, largest: Double) {
        let n = parameterCount, steps = min(iterations, n)
        var generator = Xoshiro256StarStar(seed: seed)
        var q = (0..<n).map { _ in generator.nextNormal() }
        var basis: [[Double]] = []
        var alphas: [Double] = [], betas: [Double] = []
        func normalize(_ x: inout [Double]) -> Double {
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { for i in x.indices { x[i] /= norm } }
            return norm
        }
        _ = normalize(&q)
        for step in 0..<steps {
            basis.append(q)
            var w = hessianVectorProduct(q)
            let alpha = zip(w, q).reduce(0) { $0 + $1.0 * $1.1 }
            alphas.append(alpha)
            // Full reorthogonalisation (twice is enough): the basis stays orthonormal in floating point.
            for _ in 0..<2 {
                for b in basis {
                    let projection = zip(w, b).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<n { w[i] -= projection * b[i] }
                }
            }
            if step == steps - 1 { break }
            let beta = normalize(&w)
            if beta < 1e-12 * max(abs(alpha), 1) { break }
            betas.append(beta)
            q = w
        }
        let eigenvalues = symmetricTridiagonalEigenvalues(diagonal: alphas, offDiagonal: Array(betas.prefix(alphas.count - 1)))
        return (eigenvalues.min() ?? .nan, eigenvalues.max() ?? .nan)
    }
}

/// The eigenvalues of a small symmetric tridiagonal matrix (diagonal and off-diagonal), ascending,
/// by LAPACK (`symmetricEigenvalues`); NaN for each when the entries are not finite (a run whose
/// Hessian products blew up), so the trajectory's columns show it.
func symmetricTridiagonalEigenvalues(diagonal: [Double], offDiagonal: [Double]) -> [Double] {
    let k = diagonal.count
    var matrix = Tensor<Double>(shape: [k, k], repeating: 0)
    for i in 0..<k {
        matrix[i, i] = diagonal[i]
        if i + 1 < k { (matrix[i, i + 1], matrix[i + 1, i]) = (offDiagonal[i], offDiagonal[i]) }
    }
    return (try? symmetricEigenvalues(matrix)) ?? Array(repeating: .nan, count: k)
}
