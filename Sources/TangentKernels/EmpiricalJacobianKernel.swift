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
                var offset = (point * outputs + joint) * total
                jacobian.withUnsafeMutableBufferPointer { row in
                    for parameter in unique {
                        parameter.gradient.withUnsafeBufferPointer { gradient in
                            for k in 0..<gradient.count { row[offset + k] = gradient[k] }
                            offset += gradient.count
                        }
                    }
                }
            }
        }
        return jacobian
    }

    /// Theta_J between x1 and x2 (nil: x1), N1 (1 + d) x N2 (1 + d), point-major (see above).
    public func empiricalJacobianTangentKernel(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil) throws -> Tensor<Scalar> {
        if let x2 {
            precondition(x2.rank == 2 && x1.rank == 2 && x2.shape[1] == x1.shape[1],
                         "empiricalJacobianTangentKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape)")
        }
        let jacobian1 = try jointParameterJacobian(x1)
        let jacobian2 = try x2.map { try jointParameterJacobian($0) } ?? jacobian1
        var kernel = matmul(jacobian1, jacobian2, transposeB: true)
        if x2 == nil { mirrorLowerTriangle(kernel.unsafeMutableBaseAddress(), count: kernel.shape[0]) }
        return kernel
    }
}
