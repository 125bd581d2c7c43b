/// The structured empirical NTK's view of a recorded network: each op's parameters' part of the
/// kernel as factors (`TangentKernelTerm`), and whether the ops keep a batch's rows apart.
///
/// For a network f with one scalar output per point, the empirical NTK is
/// `Theta(x1_i, x2_j) = sum over parameters p of df(x1_i)/dp * df(x2_j)/dp`, a sum over the
/// network's ops of the same sum over each op's own parameters. When the ops keep rows apart
/// (output row r reads only input row r), one backward pass from `sum_i f(x_i)` leaves at every
/// op's output the gradient of each point's own f, so each op can write its part as Gram
/// products of what one forward and one backward pass leave: its factors. `TangentKernels`
/// multiplies and sums them in tiles. Each op's factors are written in the op's own file, beside
/// its backward (`Dense.swift`, `LayerNorm.swift`); a `CustomOperation` may declare its own.

/// One op's part of the empirical NTK over a block of points, as factors; the kernel between two
/// blocks adds up the products of the two blocks' factors, term by term.
public enum TangentKernelTerm<Scalar: BLASScalar> {
    /// A weight W used as `y = s_w x Wᵀ + s_b b`: with inputs A and output gradients D (one row
    /// per point) for the first block, B and E for the second, the term adds
    /// `(s_w^2 A Bᵀ + s_b^2) .* (D Eᵀ)` (`.*` entrywise; `s_b = 0` without a bias). Sample i's
    /// gradients are `s_w D_iᵀ A_i` for W and `s_b D_i` for b, hence the products.
    case linear(inputs: Tensor<Scalar>, outputGradients: Tensor<Scalar>, weightScaleSquared: Scalar, biasScaleSquared: Scalar)
    /// Each point's gradient with respect to some parameters, flattened into one row per point
    /// (G); the term adds `G Hᵀ`, H being the other block's. LayerNorm's gamma and beta:
    /// `G = [D .* xhat, D]`.
    case perSampleGradients(Tensor<Scalar>)

    /// The number of points (rows) the term describes.
    public var points: Int {
        switch self {
        case let .linear(inputs, _, _, _): inputs.shape[0]
        case let .perSampleGradients(gradients): gradients.shape[0]
        }
    }
}

/// What the structured empirical NTK gets from a recorded network (`Tape.tangentKernelDecomposition`).
public enum TangentKernelDecomposition<Scalar: BLASScalar> {
    /// Every op's terms, in the order recorded.
    case terms([TangentKernelTerm<Scalar>])
    /// An op that cannot be taken apart, described: it mixes the batch's rows, or it has
    /// parameters but declares no factors.
    case unsupportedOperation(String)
    /// A parameter (of this shape) read by more than one op: its per-sample gradient is a sum over
    /// the uses, and the per-op products would miss the cross terms.
    case sharedParameter(shape: [Int])
}

/// One recorded op's part of the structured empirical NTK (each op's `<op>KernelContribution`).
enum KernelContribution<Scalar: BLASScalar> {
    /// The op has no parameters: nothing to add.
    case noParameters
    /// The op's terms, and the parameters they cover.
    case terms([TangentKernelTerm<Scalar>], parameters: [Parameter<Scalar>])
    /// The op cannot be taken apart (described).
    case unsupported(String)
}

extension Tape {
    /// Takes a recorded network apart into its ops' empirical-NTK terms. Call it after
    /// `backward(output, parameterGradients: false)` with the default seed (the gradient of the
    /// sum of the outputs), `input` being the batch of points (one a row) and `output` one scalar
    /// per point.
    public func tangentKernelDecomposition(input: Variable<Scalar>, output: Variable<Scalar>) -> TangentKernelDecomposition<Scalar> {
        let outputNode = node(of: output, in: "tangentKernelDecomposition")
        _ = node(of: input, in: "tangentKernelDecomposition")
        precondition(!outputNode.requiresGradient || outputNode.hasGradient,
                     "tangentKernelDecomposition: run backward(output, parameterGradients: false) first")
        if let mixing = firstRowMixingOperation(input: input, output: output) { return .unsupportedOperation(mixing) }
        var terms: [TangentKernelTerm<Scalar>] = []
        var seen = Set<ObjectIdentifier>()
        for index in 0...output.index {
            switch kernelContribution(nodes[index]) {
            case .noParameters: continue
            case let .unsupported(what): return .unsupportedOperation(what)
            case let .terms(opTerms, parameters):
                for parameter in parameters where !seen.insert(ObjectIdentifier(parameter)).inserted {
                    return .sharedParameter(shape: parameter.shape)
                }
                terms += opTerms
            }
        }
        return .terms(terms)
    }

    /// The first recorded op between `input` (a batch, one sample a row) and `output` whose
    /// output rows read other rows of values that depend on the batch, described; nil when every
    /// op keeps the rows apart, so that any slice of the batch's rows gives the same rows of the
    /// output on its own. Values that do not depend on the batch (parameters, constants) may be
    /// read whole.
    public func firstRowMixingOperation(input: Variable<Scalar>, output: Variable<Scalar>) -> String? {
        _ = node(of: output, in: "firstRowMixingOperation")
        _ = node(of: input, in: "firstRowMixingOperation")
        for index in 0...output.index {
            let node = nodes[index]
            if index == input.index {
                node.dependsOnBatch = true
                continue
            }
            let dependence = rowDependence(node.operation)
            for position in 0..<dependence.whole.count where nodes[dependence.whole[position]].dependsOnBatch {
                return dependence.what
            }
            var depends = false
            for position in 0..<dependence.rowwise.count where nodes[dependence.rowwise[position]].dependsOnBatch {
                depends = true
            }
            node.dependsOnBatch = depends
        }
        return nil
    }
}
