import Glibc

/// A rough upper estimate of the memory a run needs, computed before anything is allocated, so
/// a config asking for width 10^9 is refused with a message rather than killed by the kernel.
///
/// Sizes are `Double`s so the products of absurd sizes stay finite instead of overflowing `Int`.
public struct MemoryEstimate: Sendable {
    /// One part of the estimate and the config key most responsible for it.
    public struct Part: Sendable {
        public let name: String
        public let bytes: Double
        /// The JSON path of the setting to lower, e.g. `model.width`.
        public let key: String
    }

    public let parts: [Part]
    /// The number of trainable parameters (0 for width "infinite").
    public let parameterCount: Double

    /// The sum of the parts.
    public var totalBytes: Double { parts.reduce(0) { $0 + $1.bytes } }

    /// Estimates a run of `config` on `trainingSamples` rows (defaults to `data.trainSize` for
    /// synthetic data; pass the row count for CSV data once the file has been read).
    /// `evaluationBatchRows` is how many rows the extrapolation measurement evaluates at once
    /// (``ExtrapolationMeasurement/defaultBatchRows``).
    public init(config: ExperimentConfig, trainingSamples: Int? = nil, evaluationBatchRows: Int = 8192) {
        let scalarBytes = Double(config.precision.byteCount)
        let inputDim = Double(config.data.inputDim)
        let samples: Double = switch config.data {
        case .synthetic(let synthetic): Double(trainingSamples ?? synthetic.trainSize)
        case .csv: Double(trainingSamples ?? 0)
        }
        // Counted, not built: a grid in an unchecked config may be absurdly long.
        let grid = config.evaluation.lambdas
        let gridSize = lambdaGridCount(from: grid.from, to: grid.to, perDecade: grid.perDecade)
        let directions: Double = switch config.evaluation.directions {
        case .training: samples
        case .random(let count): Double(count)
        }
        var parts = [Part(name: "training data", bytes: samples * (inputDim + 1) * scalarBytes, key: "data.trainSize")]
        parts.append(Part(name: "extrapolation directions and results", bytes: directions * (inputDim + 2 * gridSize) * 8,
                          key: config.evaluation.directions == .training ? "data.trainSize" : "evaluation.directions"))

        switch config.model.width {
        case .infinite:
            // Kernel matrices K and Theta per layer plus a Cholesky factor, all samples x samples.
            parameterCount = 0
            parts.append(Part(name: "kernel matrices", bytes: 4 * samples * samples * 8, key: "data.trainSize"))
        case .finite(let units):
            let model = config.model
            let width = Double(units)
            let layers = Double(model.hiddenLayers)
            // Dense layers of width x width after the first: one per further hidden layer, two per residual block.
            let squareDenseLayers = model.residual == .none ? layers - 1 : 2 * layers
            let norms = Double(model.layerNormCount) + (model.finalNorm ? 1 : 0)
            let affine = model.layerNormAffine ? Double(model.normalization.affineParametersPerUnit) * width * norms : 0
            let parameters = inputDim * width + width + squareDenseLayers * (width * width + width) + width + 1 + affine
            parameterCount = parameters
            // BatchNorm's running mean and variance (and a count) per norm, kept once.
            let buffers = model.hasBatchNorm ? (2 * width + 1) * norms : 0
            // Parameters, gradients, and the optimizer's state (Adam keeps two moments).
            let copies: Double = switch config.training.optimizer {
            case .sgd(let momentum, _): momentum > 0 ? 3 : 2
            case .adam, .adamw: 4
            // The state, its derivative, 7 stages, a stage point and a proposal, in Double.
            case .gradientFlow: 2 + 11 * 8 / Double(config.precision.byteCount)
            }
            parts.append(Part(name: "parameters, gradients and optimizer state", bytes: (copies * parameters + buffers) * scalarBytes,
                              key: width >= layers ? "model.width" : "model.hiddenLayers"))
            // Per hidden layer the tape keeps the Dense output, the norm's output, the activation and a
            // gradient; a residual block twice that (two Dense outputs and the sum besides).
            let batch = Double(config.training.batchSize.resolved(trainingSamples: Int(min(samples, 0x1p52))))
            let evaluationBatch = min(directions * gridSize, Double(evaluationBatchRows))
            let rows = max(batch, evaluationBatch)
            // Named after the largest of its three factors: 2^40 hidden layers are not fixed by fewer rows.
            let rowsKey = config.training.batchSize == .full ? "data.trainSize" : "training.batchSize"
            let activationsKey = layers > max(rows, width) ? "model.hiddenLayers" : width > rows ? "model.width" : rowsKey
            let valuesPerLayer: Double = model.residual == .none ? 4 : 8
            parts.append(Part(name: "activations", bytes: valuesPerLayer * rows * width * layers * scalarBytes, key: activationsKey))
        }
        self.parts = parts
    }

    /// A ``ConfigProblem`` naming the largest part and its key when the total exceeds `limitBytes`
    /// (or is not a finite number), or nil when it fits. A NaN limit is no limit.
    public func check(limitBytes: Double) -> ConfigProblem? {
        let total = totalBytes
        guard total > limitBytes || !total.isFinite else { return nil }
        let largest = parts.max { $0.bytes < $1.bytes }!
        let breakdown = parts.filter { $0.bytes >= total / 1000 }
            .map { "\($0.name) \(MemoryEstimate.format(bytes: $0.bytes))" }.joined(separator: ", ")
        return ConfigProblem(
            location: largest.key,
            problem: "this run needs about \(MemoryEstimate.format(bytes: total)) of memory (\(breakdown)), "
                + "more than the \(MemoryEstimate.format(bytes: limitBytes)) available; lower \(largest.key)")
    }

    /// `512 B`, `3.2 GiB`, `8.0 EiB`, `10^25 B` beyond exbibytes, `more than 10^308 B` for
    /// infinity; never a trap (a negative count keeps its sign, NaN is "an unknown amount").
    public static func format(bytes: Double) -> String {
        if bytes.isNaN { return "an unknown amount" }
        if bytes < 0 { return "-" + format(bytes: -bytes) }
        guard bytes.isFinite else { return "more than 10^308 B" }
        if bytes < 1024 { return "\(Int(bytes)) B" }
        var value = bytes / 1024
        for unit in ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] {
            if value < 1024 { return "\((value * 10).rounded() / 10) \(unit)" }
            value /= 1024
        }
        return "10^\(Int(log10(bytes).rounded(.down))) B"
    }

    /// The memory this process may use: physical memory, or a smaller cgroup (container) limit.
    public static func availableBytes() -> Double {
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        var limit = physical > 0 ? physical : Double.infinity
        if let text = try? AtomicFile.readText("/sys/fs/cgroup/memory.max"),
           let cgroupLimit = Double(text.trimmingCharacters(in: " \n")), cgroupLimit > 0 {
            limit = min(limit, cgroupLimit)
        }
        return limit
    }
}

extension String {
    /// The string without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        guard let start = firstIndex(where: { !characters.contains($0) }),
              let end = lastIndex(where: { !characters.contains($0) }) else { return "" }
        return String(self[start...end])
    }
}
