import NeuralNet

/// The empirical neural tangent kernel of a finite network with a scalar output,
/// `Theta(x1_i, x2_j) = sum over all parameters p of df(x1_i)/dp * df(x2_j)/dp`.
///
/// The structured method (`empiricalTangentKernel`) never forms per-sample Jacobians. Samples do
/// not interact (Dense, LayerNorm and the activations act on each row alone), so one backward pass
/// from `sum_i f(x_i)` leaves every sample's own gradient at every layer's output. Each op writes
/// its part as factors in its own file (`TangentKernelTerm`, in NeuralNet); this file multiplies
/// and sums them in tiles. For a Dense layer
/// `y = s_w x Wᵀ + s_b b` with inputs A (N1 x n_in) and output gradients D (N1 x n_out) for the
/// first set, B and E for the second, sample i's gradients are `s_w D_iᵀ A_i` for W and `s_b D_i`
/// for b, so the layer adds
///
///     Theta += s_w^2 (A Bᵀ) .* (D Eᵀ) + s_b^2 (D Eᵀ) = (s_w^2 A Bᵀ + s_b^2) .* (D Eᵀ)
///
/// (`.*` entrywise; s_w = s_b = 1 in the standard parameterization, sigma_w / sqrt(n_in) and
/// sigma_b in the NTK one). A LayerNorm's affine part `y = gamma .* xhat + beta` has gradients
/// `D_i .* xhat_i` and `D_i`, so it adds `[D .* Xhat, D] [E .* Yhat, E]ᵀ`. The whole kernel costs
/// one forward and one backward pass per set plus GEMMs.
///
/// The kernel is assembled in tiles of 256 x 256; without x2 only the tiles below the diagonal and
/// the lower triangles of those on it (through `syrk`), then mirrored. Points go through the network in blocks of `rowsPerBlock`, so memory
/// holds the layer inputs and gradients of at most two blocks besides the kernel itself.
extension Layer {
    /// The empirical NTK between the rows of `x1` and those of `x2`.
    ///
    /// By default (`.automatic`) by the structured method, per op Gram products of what one
    /// forward and one backward pass leave (for a Dense layer its inputs and the gradients at its
    /// output), which takes apart networks of Dense layers (either parameterization), LayerNorm
    /// and RMSNorm (with or without affine parameters), evaluation-mode BatchNorm, residual blocks,
    /// activations, arithmetic that keeps rows apart, and
    /// `CustomOperation`s that declare `isRowIndependent` and, if they have parameters, their
    /// `tangentKernelTerms`. Any other network (an op with parameters but no declared factors, a
    /// parameter used as a variable or by two layers, an op that mixes a batch's rows) falls back
    /// to per-sample Jacobians (`empiricalTangentKernelFromJacobians`): the same kernel, with one
    /// forward and one backward pass per point and N x P memory. Parameters' gradients are left as
    /// they were.
    /// - Parameters:
    ///   - x1: N1 points, one a row.
    ///   - x2: N2 points; nil means x1 (then one triangle is computed and mirrored, so the kernel
    ///     is exactly symmetric).
    ///   - rowsPerBlock: how many points go through the network at once. Memory for the features
    ///     is about `2 * rowsPerBlock * (sum of every Dense layer's inputs and outputs)` scalars.
    ///   - method: `.structured` throws where `.automatic` falls back; `.jacobians` never tries
    ///     the structured method.
    /// - Returns: Theta, N1 x N2.
    /// - Throws: `EmpiricalTangentKernelError` when the output is not one scalar per point, or
    ///   (`.structured` only) the network records an operation the structured method cannot take apart;
    ///   `.batchStatistics` for a network with a training-mode BatchNorm (whatever the method).
    public func empiricalTangentKernel(
        _ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil, rowsPerBlock: Int = 2048,
        method: EmpiricalTangentKernelMethod = .automatic
    ) throws -> Tensor<Scalar> {
        precondition(x1.rank == 2, "empiricalTangentKernel: x1 must be a matrix [points, features], got \(x1.shape)")
        if let x2 {
            precondition(x2.rank == 2 && x2.shape[1] == x1.shape[1],
                         "empiricalTangentKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape); the features must agree")
        }
        precondition(rowsPerBlock > 0, "empiricalTangentKernel: rowsPerBlock must be positive, got \(rowsPerBlock)")
        switch method {
        case .jacobians:
            return try empiricalTangentKernelFromJacobians(x1, x2)
        case .structured:
            return try structuredEmpiricalTangentKernel(x1, x2, rowsPerBlock: rowsPerBlock)
        case .automatic:
            do {
                return try structuredEmpiricalTangentKernel(x1, x2, rowsPerBlock: rowsPerBlock)
            } catch EmpiricalTangentKernelError.unsupportedOperation, EmpiricalTangentKernelError.sharedParameter {
                return try empiricalTangentKernelFromJacobians(x1, x2)
            }
        }
    }

    /// `empiricalTangentKernel` by the structured method only.
    func structuredEmpiricalTangentKernel(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>?, rowsPerBlock: Int) throws -> Tensor<Scalar> {
        let rows = x1.shape[0], columns = x2?.shape[0] ?? rows
        var kernel = Tensor<Scalar>.zeros([rows, columns])
        let theta = kernel.unsafeMutableBaseAddress()
        let blocks1 = blockRanges(count: rows, size: rowsPerBlock)

        if let x2 {
            let blocks2 = blockRanges(count: columns, size: rowsPerBlock)
            // With one block of x2, its features are computed once; otherwise once per block of x1.
            let onlyFeatures2 = blocks2.count == 1 ? try kernelFeatures(x2) : nil
            for block1 in blocks1 {
                let features1 = try kernelFeatures(rowsOf(x1, block1))
                for block2 in blocks2 {
                    let features2 = try onlyFeatures2 ?? kernelFeatures(rowsOf(x2, block2))
                    accumulateKernel(theta, columns: columns, features1, at: block1.lowerBound, features2,
                                     at: block2.lowerBound, lowerTriangleOnly: false)
                }
            }
        } else {
            for (index, block1) in blocks1.enumerated() {
                let features1 = try kernelFeatures(rowsOf(x1, block1))
                for block2 in blocks1[..<index] {
                    accumulateKernel(theta, columns: columns, features1, at: block1.lowerBound,
                                     try kernelFeatures(rowsOf(x1, block2)), at: block2.lowerBound, lowerTriangleOnly: false)
                }
                accumulateKernel(theta, columns: columns, features1, at: block1.lowerBound, features1,
                                 at: block1.lowerBound, lowerTriangleOnly: true)
            }
            mirrorLowerTriangle(theta, count: rows)
        }
        return kernel
    }

    /// The empirical NTK from per-sample Jacobians: one forward and one backward pass per point,
    /// each parameter's gradient flattened into a row of J, then `Theta = J1 J2ᵀ`.
    ///
    /// Slow (N passes) and memory-hungry (N x P), but it makes no assumption about the network
    /// beyond a scalar output per point: the test oracle for `empiricalTangentKernel`. A parameter
    /// used in several places counts once, with its gradients summed. Parameters' gradients are
    /// left as they were. Without x2 the kernel is made exactly symmetric (its lower triangle mirrored).
    /// - Throws: `EmpiricalTangentKernelError.outputNotScalar`.
    public func empiricalTangentKernelFromJacobians(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil) throws -> Tensor<Scalar> {
        let jacobian1 = try parameterJacobian(x1)
        let jacobian2 = try x2.map { try parameterJacobian($0) } ?? jacobian1
        var kernel = matmul(jacobian1, jacobian2, transposeB: true)
        if x2 == nil { mirrorLowerTriangle(kernel.unsafeMutableBaseAddress(), count: kernel.shape[0]) }
        return kernel
    }

    /// J, N x P: row i holds df(x_i)/dp for every parameter p, parameters in the order of
    /// `parameters` (each once), each flattened in row-major order.
    /// - Throws: `EmpiricalTangentKernelError.outputNotScalar`, or `.batchStatistics` for a network
    ///   that couples the rows of a batch.
    public func parameterJacobian(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
        precondition(x.rank == 2, "parameterJacobian: x must be a matrix [points, features], got \(x.shape)")
        guard !mixesBatchRows else { throw EmpiricalTangentKernelError.batchStatistics }
        var seen = Set<ObjectIdentifier>()
        let unique = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
        let total = unique.reduce(0) { $0 + $1.value.count }
        let points = x.shape[0]
        var jacobian = Tensor<Scalar>.zeros([points, total])
        let saved = unique.map(\.gradient)
        defer { for (parameter, gradient) in zip(unique, saved) { parameter.gradient = gradient } }
        let tape = Tape<Scalar>()
        for point in 0..<points {
            for parameter in unique { parameter.zeroGradient() }
            tape.reset()
            let output = self(tape.input(rowsOf(x, point..<(point + 1))))
            guard output.shape == [1, 1] else {
                throw EmpiricalTangentKernelError.outputNotScalar(shape: output.shape, points: 1)
            }
            tape.backward(output)
            copyGradients(of: unique, into: jacobian.unsafeMutableBaseAddress() + point * total)
        }
        return jacobian
    }
}

/// How `empiricalTangentKernel` computes the kernel.
public enum EmpiricalTangentKernelMethod: Sendable, Equatable {
    /// The structured method where the network can be taken apart, per-sample Jacobians elsewhere.
    case automatic
    /// The structured method only: throws `EmpiricalTangentKernelError.unsupportedOperation` or
    /// `.sharedParameter` for a network it cannot take apart.
    case structured
    /// Per-sample Jacobians (`empiricalTangentKernelFromJacobians`).
    case jacobians
}

/// Why the empirical NTK could not be computed.
public enum EmpiricalTangentKernelError: Error, CustomStringConvertible, Equatable {
    /// The network's output for `points` points has this shape instead of `[points, 1]`.
    case outputNotScalar(shape: [Int], points: Int)
    /// The structured method cannot take this recorded operation apart.
    case unsupportedOperation(String)
    /// A parameter (of this shape) is used by more than one layer: its per-sample gradient is a sum
    /// over the uses, and the per-layer Gram products would miss the cross terms.
    case sharedParameter(shape: [Int])
    /// The network couples the rows of a batch (a BatchNorm in training mode): a point's output
    /// depends on the other points of its batch, so it has no gradient of its own.
    case batchStatistics

    public var description: String {
        switch self {
        case let .outputNotScalar(shape, points):
            return "empirical NTK: the network's output for \(points) points has shape \(shape); "
                + "the kernel is defined here for one scalar output per point, [\(points), 1]"
        case let .unsupportedOperation(what):
            return "empirical NTK, structured method: the network records \(what), which it cannot take apart "
                + "(it handles Dense, LayerNorm, RMSNorm, evaluation-mode BatchNorm, activations, arithmetic that "
                + "keeps rows apart, and custom ops "
                + "that declare isRowIndependent and their factors); method .automatic (the default) and "
                + "empiricalTangentKernelFromJacobians handle any network"
        case let .sharedParameter(shape):
            return "empirical NTK, structured method: a parameter of shape \(shape) is used by more than one layer; "
                + "method .automatic (the default) and empiricalTangentKernelFromJacobians handle shared parameters"
        case .batchStatistics:
            return "empirical NTK: the network has a BatchNorm in training mode, whose batch statistics make each "
                + "point's output depend on the other points of its batch, so a point has no gradient of its own "
                + "and the per-point kernel is not defined; call setTraining(false) to normalise by the running "
                + "statistics (the BatchNorm is then an affine map of each feature)"
        }
    }
}

// MARK: - Features: what one forward and one backward pass leave for the kernel

extension Layer {
    /// Runs a block of points forward and back (from the sum of the outputs, without touching
    /// parameters' gradients) and collects each op's factors of the kernel
    /// (`Tape.tangentKernelDecomposition`; each op's factors are written in its own file).
    @_specialize(where Self == Sequential<Double>)
    @_specialize(where Self == Sequential<Float>)
    func kernelFeatures(_ x: Tensor<Scalar>) throws -> [TangentKernelTerm<Scalar>] {
        guard !mixesBatchRows else { throw EmpiricalTangentKernelError.batchStatistics }
        let points = x.shape[0]
        let tape = Tape<Scalar>()
        let input = tape.input(x)
        let output = self(input)
        guard output.shape == [points, 1] else {
            throw EmpiricalTangentKernelError.outputNotScalar(shape: output.shape, points: points)
        }
        guard points > 0 else { return [] }
        tape.backward(output, parameterGradients: false)
        switch tape.tangentKernelDecomposition(input: input, output: output) {
        case let .terms(terms): return terms
        case let .unsupportedOperation(what): throw EmpiricalTangentKernelError.unsupportedOperation(what)
        case let .sharedParameter(shape): throw EmpiricalTangentKernelError.sharedParameter(shape: shape)
        }
    }
}

// MARK: - Assembling the kernel

/// 256 x 256 tiles: the two scratch products of a tile (1 MiB in Float64) stay in cache while they
/// are combined, and the triangle saves nearly half the work for a few hundred points already.
let kernelTileSize = 256

/// Adds the kernel between two blocks of points into `theta` (row-major with `columns` columns),
/// at rows `offset1...` and columns `offset2...`. With `lowerTriangleOnly` (a block against
/// itself) only the tiles on and below the diagonal.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func accumulateKernel<Scalar: BLASScalar>(
    _ theta: UnsafeMutablePointer<Scalar>, columns: Int,
    _ features1: [TangentKernelTerm<Scalar>], at offset1: Int, _ features2: [TangentKernelTerm<Scalar>], at offset2: Int,
    lowerTriangleOnly: Bool
) {
    precondition(features1.count == features2.count, "empirical NTK: the two sets recorded different layers")
    guard let rows1 = features1.first?.points, let rows2 = features2.first?.points else { return }
    let tile = kernelTileSize
    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: 2 * tile * tile)
    defer { scratch.deallocate() }
    let (inputProducts, gradientProducts) = (scratch, scratch + tile * tile)
    for tileRow in stride(from: 0, to: rows1, by: tile) {
        let height = min(tile, rows1 - tileRow)
        let columnEnd = lowerTriangleOnly ? tileRow + height : rows2
        for tileColumn in stride(from: 0, to: columnEnd, by: tile) {
            let width = min(tile, rows2 - tileColumn)
            let target = theta + ((offset1 + tileRow) * columns + offset2 + tileColumn)
            if lowerTriangleOnly && tileColumn == tileRow {
                // A diagonal tile of a block against itself: its lower triangle is enough (the
                // caller mirrors), and a Gram matrix's costs half a GEMM (`syrk`).
                accumulateDiagonalTile(target, columns: columns, features1, rows: tileRow, height, scratch: scratch)
                continue
            }
            for (term1, term2) in zip(features1, features2) {
                switch (term1, term2) {
                case let (.linear(a, d, weightScaleSquared, biasScaleSquared), .linear(b, e, _, _)):
                    // P = A Bᵀ and Q = D Eᵀ for this tile, then theta += (s_w^2 P + s_b^2) .* Q.
                    gramProduct(a, rows: tileRow, height, b, rows: tileColumn, width, into: inputProducts, ldc: width, beta: 0)
                    gramProduct(d, rows: tileRow, height, e, rows: tileColumn, width, into: gradientProducts, ldc: width, beta: 0)
                    for i in 0..<height {
                        let (out, p, q) = (target + i * columns, inputProducts + i * width, gradientProducts + i * width)
                        for j in 0..<width { out[j] += (weightScaleSquared * p[j] + biasScaleSquared) * q[j] }
                    }
                case let (.perSampleGradients(g), .perSampleGradients(h)):
                    gramProduct(g, rows: tileRow, height, h, rows: tileColumn, width, into: target, ldc: columns, beta: 1)
                default:
                    preconditionFailure("empirical NTK: the two sets recorded different layers")
                }
            }
        }
    }
}

/// The lower triangle of a diagonal tile (rows `start..<start + count` against themselves) of the
/// kernel: the per-layer Gram products through `syrk`, then the same combination as off the diagonal.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func accumulateDiagonalTile<Scalar: BLASScalar>(
    _ target: UnsafeMutablePointer<Scalar>, columns: Int, _ features: [TangentKernelTerm<Scalar>], rows start: Int, _ count: Int,
    scratch: UnsafeMutablePointer<Scalar>
) {
    let (inputProducts, gradientProducts) = (scratch, scratch + kernelTileSize * kernelTileSize)
    for term in features {
        switch term {
        case let .linear(a, d, weightScaleSquared, biasScaleSquared):
            gramLowerTriangle(a, rows: start, count, into: inputProducts, ldc: count, beta: 0)
            gramLowerTriangle(d, rows: start, count, into: gradientProducts, ldc: count, beta: 0)
            for i in 0..<count {
                let (out, p, q) = (target + i * columns, inputProducts + i * count, gradientProducts + i * count)
                for j in 0...i { out[j] += (weightScaleSquared * p[j] + biasScaleSquared) * q[j] }
            }
        case let .perSampleGradients(g):
            gramLowerTriangle(g, rows: start, count, into: target, ldc: columns, beta: 1)
        }
    }
}

/// The lower triangle of `C = F[rows] F[rows]ᵀ + beta C`.
@inline(__always)
func gramLowerTriangle<Scalar: BLASScalar>(
    _ f: Tensor<Scalar>, rows start: Int, _ count: Int, into c: UnsafeMutablePointer<Scalar>, ldc: Int, beta: Scalar
) {
    let k = f.shape[1]
    Scalar.syrkLower(n: count, k: k, alpha: 1, a: f.unsafeBaseAddress + start * k, lda: max(k, 1), beta: beta, c: c, ldc: ldc)
}

/// `C = F[rows1] G[rows2]ᵀ + beta C` for two matrices with the same columns (one GEMM on row slices).
@inline(__always)
func gramProduct<Scalar: BLASScalar>(
    _ f: Tensor<Scalar>, rows start1: Int, _ count1: Int, _ g: Tensor<Scalar>, rows start2: Int, _ count2: Int,
    into c: UnsafeMutablePointer<Scalar>, ldc: Int, beta: Scalar
) {
    let k = f.shape[1]
    Scalar.gemm(transposeA: false, transposeB: true, m: count1, n: count2, k: k, alpha: 1,
                a: f.unsafeBaseAddress + start1 * k, lda: max(k, 1), b: g.unsafeBaseAddress + start2 * k, ldb: max(k, 1),
                beta: beta, c: c, ldc: ldc)
}

/// Writes the parameters' gradients end to end from `row` (a row of a parameter Jacobian).
func copyGradients<Scalar: BLASScalar>(of parameters: [Parameter<Scalar>], into row: UnsafeMutablePointer<Scalar>) {
    var offset = 0
    for parameter in parameters {
        (row + offset).update(from: parameter.gradient.unsafeBaseAddress, count: parameter.value.count)
        offset += parameter.value.count
    }
}

/// Copies the strict lower triangle of an n x n matrix onto the upper one, in 64 x 64 blocks.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func mirrorLowerTriangle<Scalar: BLASScalar>(_ matrix: UnsafeMutablePointer<Scalar>, count n: Int) {
    let block = 64
    for i0 in stride(from: 0, to: n, by: block) {
        for j0 in stride(from: 0, through: i0, by: block) {
            for i in i0..<min(i0 + block, n) {
                for j in j0..<min(j0 + block, i) { matrix[j &* n &+ i] = matrix[i &* n &+ j] }
            }
        }
    }
}

/// Consecutive ranges of at most `size` covering 0..<count.
func blockRanges(count: Int, size: Int) -> [Range<Int>] {
    stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
}

/// Rows `range` of a matrix, copied.
func rowsOf<Scalar: BLASScalar>(_ x: Tensor<Scalar>, _ range: Range<Int>) -> Tensor<Scalar> {
    if range == 0..<x.shape[0] { return x }
    let columns = x.shape[1]
    return x.withUnsafeBufferPointer { source in
        Tensor(shape: [range.count, columns], scalars: Array(source[(range.lowerBound * columns)..<(range.upperBound * columns)]))
    }
}
