/// The empirical Jacobian NTK (JNTK) of a finite network with a scalar output f: the tangent
/// kernel of the joint outputs g = (f, df/dx_1, ..., df/dx_d),
///
///     Theta_J(x, x')_ab = <d g_a(x) / d theta, d g_b(x') / d theta>,
///
/// one (1 + d) x (1 + d) block per pair of points (Kim & Yang, ICML 2024). The kernel of N1 and N2
/// points is N1 (1 + d) x N2 (1 + d), point-major: row i (1 + d) + a is g_a(x1_i), a = 0 the value.
///
/// This is the per-sample path: for each point, one forward pass with input tangents
/// (`ValueAndTangents`) and 1 + d backward passes, one per joint output, each giving a row of the
/// joint parameter Jacobian G (N (1 + d) x P); then Theta_J = G1 G2ᵀ. Memory N (1 + d) P, so it
/// suits small networks (and is the oracle for anything faster).
extension Layer {
    /// G: row i (1 + d) + a holds d g_a(x_i) / d theta for every parameter (each once, in the order
    /// of `parameters`, flattened row-major). Parameters' gradients are left as they were.
    /// - Throws: `EmpiricalTangentKernelError.outputNotScalar`, `.batchStatistics`, or
    ///   `.unsupportedOperation` for a network with a layer without a tangent forward.
    public func jointParameterJacobian(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
        precondition(x.rank == 2, "jointParameterJacobian: x must be a matrix [points, features], got \(x.shape)")
        guard !mixesBatchRows else { throw EmpiricalTangentKernelError.batchStatistics }
        guard providesTangents else {
            throw EmpiricalTangentKernelError.unsupportedOperation(
                "a layer without a tangent forward (Layer.providesTangents), which the Jacobian NTK needs")
        }
        var seen = Set<ObjectIdentifier>()
        let unique = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
        let total = unique.reduce(0) { $0 + $1.value.count }
        let (points, dimensions) = (x.shape[0], x.shape[1])
        let outputs = 1 + dimensions
        var jacobian = Tensor<Scalar>.zeros([points * outputs, total])
        let saved = unique.map(\.gradient)
        defer { for (parameter, gradient) in zip(unique, saved) { parameter.gradient = gradient } }
        let tape = Tape<Scalar>()
        var tangentSeed = Tensor<Scalar>.zeros([dimensions, 1])
        for point in 0..<points {
            tape.reset()
            let output = self(tape.inputWithTangents(rowsOf(x, point..<(point + 1))))
            guard output.value.shape == [1, 1] else {
                throw EmpiricalTangentKernelError.outputNotScalar(shape: output.value.shape, points: 1)
            }
            for joint in 0..<outputs {
                for parameter in unique { parameter.zeroGradient() }
                if joint == 0 {
                    tape.backward(output.value)
                } else {
                    // The tangents are [d, 1]: row j - 1 is df/dx_j.
                    tangentSeed.withUnsafeMutableBufferPointer { seed in
                        for j in 0..<dimensions { seed[j] = j == joint - 1 ? 1 : 0 }
                    }
                    tape.backward(output.tangents, seed: tangentSeed)
                }
                copyGradients(of: unique, into: jacobian.unsafeMutableBaseAddress() + (point * outputs + joint) * total)
            }
        }
        return jacobian
    }

    /// Theta_J between x1 and x2 (nil: x1), N1 (1 + d) x N2 (1 + d), point-major (see above).
    /// - Parameter method: `.automatic` takes the structured path (below) where every parameter is
    ///   a Dense layer's and per-sample gradients otherwise; `.structured` throws where it cannot;
    ///   `.jacobians` always takes per-sample gradients.
    public func empiricalJacobianTangentKernel(
        _ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil, method: EmpiricalTangentKernelMethod = .automatic
    ) throws -> Tensor<Scalar> {
        if let x2 {
            precondition(x2.rank == 2 && x1.rank == 2 && x2.shape[1] == x1.shape[1],
                         "empiricalJacobianTangentKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape)")
        }
        switch method {
        case .jacobians: return try empiricalJacobianTangentKernelFromJacobians(x1, x2)
        case .structured: return try structuredEmpiricalJacobianTangentKernel(x1, x2)
        case .automatic:
            do {
                return try structuredEmpiricalJacobianTangentKernel(x1, x2)
            } catch EmpiricalTangentKernelError.unsupportedOperation {
                return try empiricalJacobianTangentKernelFromJacobians(x1, x2)
            }
        }
    }

    /// Theta_J = G1 G2ᵀ from the joint parameter Jacobians (`jointParameterJacobian`).
    public func empiricalJacobianTangentKernelFromJacobians(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil) throws -> Tensor<Scalar> {
        let jacobian1 = try jointParameterJacobian(x1)
        let jacobian2 = try x2.map { try jointParameterJacobian($0) } ?? jacobian1
        var kernel = matmul(jacobian1, jacobian2, transposeB: true)
        if x2 == nil { mirrorLowerTriangle(kernel.unsafeMutableBaseAddress(), count: kernel.shape[0]) }
        return kernel
    }
}

// MARK: - The structured path

/// The structured empirical Jacobian NTK of a network whose parameters all sit in Dense layers
/// (with any activations, parameter-free norms and residual connections between them): no
/// per-point parameter Jacobians. A Dense layer meets each point i in 1 + d rows r (its value row
/// and its d tangent rows), with inputs A_ir and, for joint output a, output gradients D^a_ir
/// (one backward pass from sum_i g_a(x_i) leaves every point's own, the points being independent),
/// so d g_a(x_i) / dW = s_w sum_r D^a_irᵀ A_ir, d g_a(x_i) / db = s_b D^a_i0, and the layer adds
///
///     Theta_J[(i, a), (k, b)] += s_w^2 sum_{r, s} (A_ir . A'_ks) (D^a_ir . D'^b_ks) + s_b^2 D^a_i0 . D'^b_k0,
///
/// from the Gram products A A'ᵀ and D^a D'^bᵀ of the (1 + d) N rows: 1 + d backward passes and
/// (1 + d)^2 + 1 GEMMs per layer.
struct JacobianKernelFactors<Scalar: BLASScalar> {
    /// Per Dense layer (by weight), in recording order.
    struct Layer {
        let weight: ObjectIdentifier
        let weightScaleSquared: Scalar, biasScaleSquared: Scalar
        /// [(1 + d) N, in], point-major: row i (1 + d) + r.
        let inputs: Tensor<Scalar>
        /// Per joint output a: [(1 + d) N, out], point-major.
        var outputGradients: [Tensor<Scalar>] = []
    }
    var layers: [Layer] = []
    let points: Int, joint: Int
}

extension Layer {
    /// `empiricalJacobianTangentKernel` by the structured method.
    /// - Throws: `EmpiricalTangentKernelError.unsupportedOperation` when a parameter is not a Dense
    ///   layer's (or a Dense layer is used twice), and the errors of `jointParameterJacobian`.
    public func structuredEmpiricalJacobianTangentKernel(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil) throws -> Tensor<Scalar> {
        let factors1 = try jacobianKernelFactors(x1)
        let factors2 = try x2.map { try jacobianKernelFactors($0) } ?? factors1
        let joint = factors1.joint
        let (rows, columns) = (factors1.points * joint, factors2.points * joint)
        var kernel = Tensor<Scalar>.zeros([rows, columns])
        let theta = kernel.unsafeMutableBaseAddress()
        for (layer1, layer2) in zip(factors1.layers, factors2.layers) {
            let inputGram = matmul(layer1.inputs, layer2.inputs, transposeB: true)
            let a = inputGram.unsafeBaseAddress
            for outputA in 0..<joint {
                for outputB in 0..<joint {
                    let gradientGram = matmul(layer1.outputGradients[outputA], layer2.outputGradients[outputB], transposeB: true)
                    let d = gradientGram.unsafeBaseAddress
                    for i in 0..<factors1.points {
                        for k in 0..<factors2.points {
                            var total: Scalar = 0
                            for r in 0..<joint {
                                let row = (i * joint + r) * columns + k * joint
                                for s in 0..<joint { total += a[row + s] * d[row + s] }
                            }
                            let valueRows = d[(i * joint) * columns + k * joint]
                            theta[(i * joint + outputA) * columns + k * joint + outputB] +=
                                layer1.weightScaleSquared * total + layer1.biasScaleSquared * valueRows
                        }
                    }
                }
            }
        }
        // Without x2 the kernel is symmetric: made exactly so, as the other paths make theirs.
        if x2 == nil { mirrorLowerTriangle(theta, count: rows) }
        return kernel
    }

    /// Each Dense layer's inputs and, per joint output, output gradients at the points of x.
    func jacobianKernelFactors(_ x: Tensor<Scalar>) throws -> JacobianKernelFactors<Scalar> {
        precondition(x.rank == 2, "empiricalJacobianTangentKernel: x must be a matrix [points, features], got \(x.shape)")
        guard !mixesBatchRows else { throw EmpiricalTangentKernelError.batchStatistics }
        guard providesTangents else {
            throw EmpiricalTangentKernelError.unsupportedOperation(
                "a layer without a tangent forward (Layer.providesTangents), which the Jacobian NTK needs")
        }
        let (points, dimensions) = (x.shape[0], x.shape[1])
        let joint = 1 + dimensions
        let tape = Tape<Scalar>()
        let output = self(tape.inputWithTangents(x))
        guard output.value.shape == [points, 1] else {
            throw EmpiricalTangentKernelError.outputNotScalar(shape: output.value.shape, points: points)
        }
        var factors = JacobianKernelFactors<Scalar>(points: points, joint: joint)
        for outputIndex in 0..<joint {
            // sum_i g_a(x_i) recorded after every op of the forward, so the pass reaches them all.
            var valueSeed = Tensor<Scalar>.zeros([points, 1]), tangentSeed = Tensor<Scalar>.zeros([dimensions * points, 1])
            if outputIndex == 0 {
                valueSeed = .ones([points, 1])
            } else {
                tangentSeed.withUnsafeMutableBufferPointer { seed in
                    for i in 0..<points { seed[(outputIndex - 1) * points + i] = 1 }
                }
            }
            let total = (output.value * tape.input(valueSeed)).sum() + (output.tangents * tape.input(tangentSeed)).sum()
            tape.backward(total, parameterGradients: false)
            let products = tape.recordedDenseProducts
            if outputIndex == 0 { factors.layers = try denseLayers(products, points: points, dimensions: dimensions) }
            for (index, layer) in factors.layers.enumerated() {
                let pair = products.filter { ObjectIdentifier($0.weight) == layer.weight }
                factors.layers[index].outputGradients.append(
                    pointMajor(pair[0].outputGradients, pair[1].outputGradients, points: points, dimensions: dimensions))
            }
        }
        return factors
    }

    /// The Dense layers of a tangent forward: each weight's value op and tangent op, checked to
    /// cover every parameter of the network.
    func denseLayers(_ products: [RecordedDenseProduct<Scalar>], points: Int, dimensions: Int) throws -> [JacobianKernelFactors<Scalar>.Layer] {
        var layers: [JacobianKernelFactors<Scalar>.Layer] = []
        var covered = Set<ObjectIdentifier>()
        for product in products where !covered.contains(ObjectIdentifier(product.weight)) {
            let key = ObjectIdentifier(product.weight)
            let pair = products.filter { ObjectIdentifier($0.weight) == key }
            guard pair.count == 2, pair[0].inputs.rows == points, pair[1].inputs.rows == dimensions * points else {
                throw EmpiricalTangentKernelError.unsupportedOperation("a Dense layer used more than once")
            }
            covered.insert(key)
            if let bias = product.bias { covered.insert(ObjectIdentifier(bias)) }
            layers.append(.init(weight: key, weightScaleSquared: product.weightScale * product.weightScale,
                                biasScaleSquared: product.bias == nil ? 0 : product.biasScale * product.biasScale,
                                inputs: pointMajor(pair[0].inputs, pair[1].inputs, points: points, dimensions: dimensions)))
        }
        for parameter in parameters where !covered.contains(ObjectIdentifier(parameter)) {
            throw EmpiricalTangentKernelError.unsupportedOperation(
                "a parameter of shape \(parameter.shape) outside a Dense layer (the structured Jacobian NTK takes Dense layers apart only)")
        }
        return layers
    }
}

/// Value rows [N, n] and tangent rows [d N, n] (block j row i) interleaved point-major:
/// row i (1 + d) is value row i, row i (1 + d) + 1 + j is tangent row j N + i.
func pointMajor<Scalar: BLASScalar>(_ values: Tensor<Scalar>, _ tangents: Tensor<Scalar>, points: Int, dimensions: Int) -> Tensor<Scalar> {
    let columns = values.columns
    var result = Tensor<Scalar>(uninitializedShape: [(1 + dimensions) * points, columns])
    let target = result.unsafeMutableBaseAddress()
    let (value, tangent) = (values.unsafeBaseAddress, tangents.unsafeBaseAddress)
    for i in 0..<points {
        (target + i * (1 + dimensions) * columns).update(from: value + i * columns, count: columns)
        for j in 0..<dimensions {
            (target + (i * (1 + dimensions) + 1 + j) * columns).update(from: tangent + (j * points + i) * columns, count: columns)
        }
    }
    return result
}
