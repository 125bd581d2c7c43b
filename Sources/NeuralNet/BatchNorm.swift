/// Batch normalization of each feature over the rows of a batch, as one fused op (PyTorch's
/// `nn.BatchNorm1d` on a [batch, features] input).
///
/// Shapes: x and out are [m, n] (m rows, n features; each feature is normalised over the rows);
/// gamma, beta and the running mean and variance are [n].
/// Training, per feature j, with the batch's statistics:
/// mu_j = mean_i x_ij, var_j = mean_i (x_ij - mu_j)^2 (biased), rstd_j = 1 / sqrt(var_j + eps),
/// xhat = (x - mu) * rstd, out = gamma * xhat + beta; and the running statistics move towards the
/// batch's, `running_mean = momentum * mu + (1 - momentum) * running_mean`,
/// `running_var = momentum * var_unbiased + (1 - momentum) * running_var` with the unbiased
/// `var_unbiased = sum_i (x_ij - mu_j)^2 / (m - 1)`, exactly as PyTorch does.
/// Evaluation: the same with mu = running_mean and var = running_var, and nothing updated: an
/// affine map of each feature, which does not couple the rows.
/// The forward caches mu and rstd per feature (2n scalars), and 2n more for the backward's
/// column sums. Column sums go a `Lanes` of features at a time, down the rows.

/// Per feature (column) of an [m, n] matrix: the mean over the rows, and the sum of squared
/// deviations from it (two passes, as PyTorch: stable for large offsets).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func batchStatistics<Scalar: BLASScalar>(
    mean: UnsafeMutablePointer<Scalar>, sumOfSquaredDeviations: UnsafeMutablePointer<Scalar>,
    input: UnsafePointer<Scalar>, m: Int, n: Int
) {
    let lanes = Scalar.Lanes.scalarCount
    mean.update(repeating: 0, count: n)
    sumOfSquaredDeviations.update(repeating: 0, count: n)
    for i in 0..<m {
        let x = input + i &* n
        var j = 0
        while j &+ lanes <= n {
            storeLanes(loadLanes(mean + j) + loadLanes(x + j), mean + j)
            j &+= lanes
        }
        while j < n {
            mean[j] += x[j]
            j &+= 1
        }
    }
    let count = Scalar(m)
    for j in 0..<n { mean[j] /= count }
    for i in 0..<m {
        let x = input + i &* n
        var j = 0
        while j &+ lanes <= n {
            let d = loadLanes(x + j) - loadLanes(mean + j)
            storeLanes(loadLanes(sumOfSquaredDeviations + j) + d * d, sumOfSquaredDeviations + j)
            j &+= lanes
        }
        while j < n {
            let d = x[j] - mean[j]
            sumOfSquaredDeviations[j] += d * d
            j &+= 1
        }
    }
}

/// out = (x - mean) * rstd * gamma + beta per feature (or without gamma and beta).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func batchNormForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>, mean: UnsafePointer<Scalar>,
    rstd: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?, bias: UnsafePointer<Scalar>?, m: Int, n: Int
) {
    let lanes = Scalar.Lanes.scalarCount
    for i in 0..<m {
        let (x, y) = (input + i &* n, out + i &* n)
        var j = 0
        if let weight, let bias {
            while j &+ lanes <= n {
                let xhat = (loadLanes(x + j) - loadLanes(mean + j)) * loadLanes(rstd + j)
                storeLanes(xhat * loadLanes(weight + j) + loadLanes(bias + j), y + j)
                j &+= lanes
            }
            while j < n {
                y[j] = (x[j] - mean[j]) * rstd[j] * weight[j] + bias[j]
                j &+= 1
            }
        } else {
            while j &+ lanes <= n {
                storeLanes((loadLanes(x + j) - loadLanes(mean + j)) * loadLanes(rstd + j), y + j)
                j &+= lanes
            }
            while j < n {
                y[j] = (x[j] - mean[j]) * rstd[j]
                j &+= 1
            }
        }
    }
}

/// Backward. Per feature, the column sums `sumDy = sum_i dout` and `sumDyXhat = sum_i dout * xhat`
/// (into the two scratch vectors) give dgamma += sumDyXhat and dbeta += sumDy. Then, with
/// c = rstd * gamma (rstd without gamma):
/// - batch statistics (mu and rstd depend on every row): dx += c * (dout - sumDy / m - xhat * sumDyXhat / m),
///   LayerNorm's formula down the columns;
/// - running statistics (constants): dx += c * dout.
/// dx = ... when `accumulateInputGradient` is false.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func batchNormBackward<Scalar: BLASScalar>(
    inputGradient: UnsafeMutablePointer<Scalar>?, accumulateInputGradient: Bool = true,
    weightGradient: UnsafeMutablePointer<Scalar>?, biasGradient: UnsafeMutablePointer<Scalar>?,
    outGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?,
    mean: UnsafePointer<Scalar>, rstd: UnsafePointer<Scalar>, usesBatchStatistics: Bool,
    sumDy: UnsafeMutablePointer<Scalar>, sumDyXhat: UnsafeMutablePointer<Scalar>, m: Int, n: Int
) {
    let lanes = Scalar.Lanes.scalarCount
    let needsSums = weightGradient != nil || biasGradient != nil || (usesBatchStatistics && inputGradient != nil)
    if needsSums {
        sumDy.update(repeating: 0, count: n)
        sumDyXhat.update(repeating: 0, count: n)
        for i in 0..<m {
            let (x, dy) = (input + i &* n, outGradient + i &* n)
            var j = 0
            while j &+ lanes <= n {
                let xhat = (loadLanes(x + j) - loadLanes(mean + j)) * loadLanes(rstd + j)
                let g = loadLanes(dy + j)
                storeLanes(loadLanes(sumDy + j) + g, sumDy + j)
                storeLanes(loadLanes(sumDyXhat + j) + g * xhat, sumDyXhat + j)
                j &+= lanes
            }
            while j < n {
                let xhat = (x[j] - mean[j]) * rstd[j]
                sumDy[j] += dy[j]
                sumDyXhat[j] += dy[j] * xhat
                j &+= 1
            }
        }
        if let weightGradient { for j in 0..<n { weightGradient[j] += sumDyXhat[j] } }
        if let biasGradient { for j in 0..<n { biasGradient[j] += sumDy[j] } }
    }
    guard let inputGradient else { return }
    if usesBatchStatistics {
        let count = Scalar(m)
        for j in 0..<n {
            sumDy[j] /= count
            sumDyXhat[j] /= count
        }
    }
    for i in 0..<m {
        let (x, dy, dx) = (input + i &* n, outGradient + i &* n, inputGradient + i &* n)
        var j = 0
        while j &+ lanes <= n {
            let c = scaledLanes(rstd, by: weight, at: j)
            var g = loadLanes(dy + j)
            if usesBatchStatistics {
                let xhat = (loadLanes(x + j) - loadLanes(mean + j)) * loadLanes(rstd + j)
                g = g - loadLanes(sumDy + j) - xhat * loadLanes(sumDyXhat + j)
            }
            let contribution = c * g
            storeLanes(accumulateInputGradient ? loadLanes(dx + j) + contribution : contribution, dx + j)
            j &+= lanes
        }
        while j < n {
            let c = scaledScalar(rstd, by: weight, at: j)
            var g = dy[j]
            if usesBatchStatistics { g = g - sumDy[j] - (x[j] - mean[j]) * rstd[j] * sumDyXhat[j] }
            dx[j] = accumulateInputGradient ? dx[j] + c * g : c * g
            j &+= 1
        }
    }
}

extension Tape {
    /// Records `layer`'s batch normalization of the columns of `x`: by the batch's statistics in
    /// training mode, updating the layer's running statistics, or by the running statistics in
    /// evaluation mode.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func batchNorm(_ x: Variable<Scalar>, _ layer: BatchNorm<Scalar>) -> Variable<Scalar> {
        let input = node(of: x, in: "batchNorm")
        precondition(input.value.rank == 2 && input.value.shape[1] == layer.width,
                     "BatchNorm(\(layer.width)): expected a matrix [rows, \(layer.width)], got \(input.value.shape)")
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let usesBatchStatistics = layer.isTraining
        precondition(!usesBatchStatistics || m > 1,
                     "BatchNorm(\(n)) in training mode on a batch of \(m) row: a feature's variance over one row is "
                        + "undefined (PyTorch refuses it too); use batches of 2 rows or more, or setTraining(false)")
        let (weight, bias) = (layer.weight, layer.bias)
        let node = nextNode(shape: input.value.shape, operation: .batchNorm(
            input: x.index, weight: weight, bias: bias, usesBatchStatistics: usesBatchStatistics))
        node.prepareCache(count: 4 * n)
        let cache = node.cache.unsafeMutableBaseAddress()
        let (mean, rstd) = (cache, cache + n)
        if usesBatchStatistics {
            let sumOfSquaredDeviations = cache + 2 * n
            batchStatistics(mean: mean, sumOfSquaredDeviations: sumOfSquaredDeviations,
                            input: input.value.unsafeBaseAddress, m: m, n: n)
            let count = Scalar(m)
            for j in 0..<n { rstd[j] = 1 / Scalar.sqrt(sumOfSquaredDeviations[j] / count + layer.epsilon) }
            layer.updateRunningStatistics(mean: mean, sumOfSquaredDeviations: sumOfSquaredDeviations, rows: m)
        } else {
            let (runningMean, runningVariance) = (layer.runningMean.value.unsafeBaseAddress,
                                                  layer.runningVariance.value.unsafeBaseAddress)
            for j in 0..<n {
                mean[j] = runningMean[j]
                rstd[j] = 1 / Scalar.sqrt(runningVariance[j] + layer.epsilon)
            }
        }
        batchNormForward(out: node.value.unsafeMutableBaseAddress(), input: input.value.unsafeBaseAddress,
                         mean: mean, rstd: rstd, weight: weight?.value.unsafeBaseAddress,
                         bias: bias?.value.unsafeBaseAddress, m: m, n: n)
        node.requiresGradient = input.requiresGradient || weight != nil || bias != nil
        return recordedVariable()
    }

    func batchNormBackwardStep(
        _ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?,
        usesBatchStatistics: Bool
    ) {
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let cache = node.cache.unsafeMutableBaseAddress()
        let inputGradient = input.requiresGradient ? input.gradientForContribution() : nil
        batchNormBackward(
            inputGradient: inputGradient?.pointer, accumulateInputGradient: inputGradient?.accumulate ?? true,
            weightGradient: parameterGradient(weight), biasGradient: parameterGradient(bias),
            outGradient: node.gradient.unsafeBaseAddress, input: input.value.unsafeBaseAddress,
            weight: weight?.value.unsafeBaseAddress, mean: cache, rstd: cache + n,
            usesBatchStatistics: usesBatchStatistics, sumDy: cache + 2 * n, sumDyXhat: cache + 3 * n, m: m, n: n)
    }
}

/// Whether a layer is in training mode; a class, so that a layer (a struct) can switch it in place.
final class TrainingMode {
    var isTraining = true
}

/// Batch normalization of each feature over the batch, as PyTorch's
/// `nn.BatchNorm1d(width, eps=epsilon, momentum=momentum, affine=affine)` (with
/// `track_running_stats=True`, its default).
///
/// In training mode (the default, as in PyTorch) it normalises each feature by the batch's mean
/// and biased variance and moves its running statistics towards them; in evaluation mode
/// (`setTraining(false)`, PyTorch's `eval()`) it uses the running statistics and changes nothing.
/// Calling a layer on a tensor (`layer(x)`) does not switch the mode: a training-mode BatchNorm
/// updates its running statistics there too, as a PyTorch module in `train()` mode does.
///
/// In evaluation mode the layer is an affine map of each feature: it does not bound a network's
/// growth along rays `x -> lambda x` the way LayerNorm does (LayerNorm divides each sample by its
/// own scale, which grows with lambda; BatchNorm divides by constants).
///
/// Training mode couples the rows of a batch (`mixesBatchRows`): `DataParallelTraining` does not
/// split such a batch across threads, and the empirical NTK refuses it (a point has no gradient
/// of its own).
public struct BatchNorm<Scalar: BLASScalar>: Layer {
    public let width: Int
    public let epsilon: Scalar
    /// The weight of the current batch in the running statistics' update; nil for PyTorch's
    /// `momentum=None`, a cumulative average (weight 1 / batches tracked).
    public let momentum: Scalar?
    /// gamma and beta, initialised to ones and zeros; nil without the affine part.
    public let weight: Parameter<Scalar>?, bias: Parameter<Scalar>?
    /// The running mean and variance (unbiased), initialised to zeros and ones, as PyTorch's.
    public let runningMean: Buffer<Scalar>, runningVariance: Buffer<Scalar>
    /// The number of training-mode batches seen (PyTorch's `num_batches_tracked`, shape []),
    /// counted in `Scalar`: exact up to 2^24 batches in Float, 2^53 in Double.
    public let batchesTracked: Buffer<Scalar>
    let mode = TrainingMode()

    /// - Parameters:
    ///   - width: the number of features, each normalised on its own.
    ///   - epsilon: added to the variance (PyTorch's default 1e-5).
    ///   - momentum: the running statistics' update weight (PyTorch's default 0.1); nil for a
    ///     cumulative average.
    ///   - affine: learn gamma and beta (PyTorch's `affine`).
    public init(_ width: Int, epsilon: Scalar = 1e-5, momentum: Scalar? = 0.1, affine: Bool = true) {
        precondition(width > 0, "BatchNorm: width must be positive, got \(width)")
        if let momentum { precondition(momentum >= 0 && momentum <= 1, "BatchNorm: momentum must be in [0, 1], got \(momentum)") }
        self.width = width
        self.epsilon = epsilon
        self.momentum = momentum
        weight = affine ? Parameter(.ones([width])) : nil
        bias = affine ? Parameter(.zeros([width])) : nil
        runningMean = Buffer(.zeros([width]))
        runningVariance = Buffer(.ones([width]))
        batchesTracked = Buffer(.zeros([]))
    }

    public var isAffine: Bool { weight != nil }

    /// Whether the layer normalises by batch statistics (training) or running ones (evaluation).
    public var isTraining: Bool { mode.isTraining }

    public func setTraining(_ training: Bool) { mode.isTraining = training }

    public var mixesBatchRows: Bool { mode.isTraining }

    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.tape.batchNorm(x, self) }

    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    /// Counts a training batch of `rows` rows and moves the running statistics towards its own,
    /// as PyTorch does (the count first, so that a cumulative average weighs this batch 1 / count).
    func updateRunningStatistics(mean: UnsafePointer<Scalar>, sumOfSquaredDeviations: UnsafePointer<Scalar>, rows: Int) {
        let count = batchesTracked.value.unsafeMutableBaseAddress()
        count.pointee += 1
        let factor = momentum ?? 1 / count.pointee
        let (runningMean, runningVariance) = (runningMean.value.unsafeMutableBaseAddress(),
                                              runningVariance.value.unsafeMutableBaseAddress())
        let unbiasedDivisor = Scalar(rows - 1)
        for j in 0..<width {
            runningMean[j] = factor * mean[j] + (1 - factor) * runningMean[j]
            runningVariance[j] = factor * (sumOfSquaredDeviations[j] / unbiasedDivisor) + (1 - factor) * runningVariance[j]
        }
    }
}

// MARK: - Infinite-width kernel map

extension BatchNorm {
    /// BatchNorm has no map here, in either mode.
    /// - Throws: `InfiniteWidthKernelError`, saying why.
    public func kernelMap(_ kernel: inout InfiniteWidthKernel) throws {
        if isTraining {
            throw InfiniteWidthKernelError(
                layer: "BatchNorm(\(width)) in training mode",
                reason: "its batch statistics make each point's output depend on the whole batch, so its limit is a "
                    + "kernel over batches, not a map of the pairwise kernels; switch it to evaluation mode with "
                    + "setTraining(false) for the empirical NTK")
        }
        throw InfiniteWidthKernelError(
            layer: "BatchNorm(\(width)) in evaluation mode",
            reason: "it is an affine map of each feature, (x - running_mean) / sqrt(running_var + eps) * gamma + beta, "
                + "and its kernel depends on the running statistics, which are values of one finite network rather "
                + "than functions of the kernel; there is no map in general")
    }
}

// MARK: - Empirical-NTK factors

extension Tape {
    /// An evaluation-mode BatchNorm's gamma and beta as per-point features: with the running
    /// statistics fixed, a point's gradients are `D_i .* xhat_i` for gamma and `D_i` for beta (D the
    /// gradient at the output, xhat = (x - running_mean) * rstd), so their part of the NTK is the
    /// Gram product of the rows of `[D .* Xhat, D]`, as for LayerNorm's gamma and beta. Nil
    /// without gamma and beta or without a gradient. A training-mode BatchNorm has no per-point
    /// gradients: the caller refuses it first.
    func batchNormKernelContribution(
        _ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?, bias: Parameter<Scalar>?, usesBatchStatistics: Bool
    ) -> KernelContribution<Scalar> {
        if usesBatchStatistics { return .unsupported("a BatchNorm in training mode (its batch statistics couple the points)") }
        let parameters = [weight, bias].compactMap { $0 }
        guard !parameters.isEmpty else { return .noParameters }
        guard let features = batchNormKernelFeatures(node, input: input, weight: weight) else { return .terms([], parameters: parameters) }
        return .terms([.perSampleGradients(features)], parameters: parameters)
    }

    func batchNormKernelFeatures(_ node: Node<Scalar>, input: Node<Scalar>, weight: Parameter<Scalar>?) -> Tensor<Scalar>? {
        guard weight != nil, node.requiresGradient, node.gradient.shape == node.value.shape else { return nil }
        let (rows, width) = (input.value.shape[0], input.value.shape[1])
        var features = Tensor<Scalar>(uninitializedShape: [rows, 2 * width])
        let (x, d) = (input.value.unsafeBaseAddress, node.gradient.unsafeBaseAddress)
        let (mean, rstd) = (node.cache.unsafeBaseAddress, node.cache.unsafeBaseAddress + width)
        let target = features.unsafeMutableBaseAddress()
        for i in 0..<rows {
            let (row, xRow, dRow) = (target + i &* 2 &* width, x + i &* width, d + i &* width)
            for j in 0..<width { row[j] = dRow[j] * ((xRow[j] - mean[j]) * rstd[j]) }
            (row + width).update(from: dRow, count: width)
        }
        return features
    }
}
