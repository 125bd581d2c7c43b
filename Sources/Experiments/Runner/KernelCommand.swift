/// `train ntk`: a network's NTK between two point sets, analytic (infinite width) or empirical
/// (the finite network the config describes, at its seeded initialisation, in evaluation mode), as a CSV matrix and,
/// for 1-D inputs, a heatmap (the paper's Figure 2).
public enum KernelCommand {
    /// Where the points come from.
    public enum Points: Sendable {
        /// A CSV file: one point a row, comma-separated numbers, an optional header line of names.
        case file(String)
        /// `points` evenly spaced 1-D inputs from `from` to `to`.
        case grid(from: Double, to: Double, points: Int)
    }

    public struct Request: Sendable {
        public var config: String
        public var x1: Points
        public var x2: Points?
        public var empirical: Bool
        public var output: String?
        public var heatmap: String?
        public init(config: String, x1: Points, x2: Points?, empirical: Bool, output: String?, heatmap: String?) {
            (self.config, self.x1, self.x2, self.empirical, self.output, self.heatmap) = (config, x1, x2, empirical, output, heatmap)
        }
    }

    /// Computes the kernel and writes what was asked; returns its shape.
    @discardableResult
    public static func run(_ request: Request) throws -> [Int] {
        let plan = try ExperimentPlan.load(path: request.config, memoryLimitBytes: MemoryEstimate.availableBytes())
        let config = plan.base
        let x1 = try points(request.x1)
        let x2 = try request.x2.map(points)
        if let x2, x2.columns != x1.columns {
            throw UsageError("--x1 has \(x1.columns) features but --x2 has \(x2.columns)")
        }
        try checkMemory(config: config, rows: x1.shape[0], columns: x2?.shape[0] ?? x1.shape[0],
                        limitBytes: MemoryEstimate.availableBytes(), empirical: request.empirical)
        let kernel: Tensor<Double>
        if request.empirical {
            guard case .finite(let width) = config.model.width else {
                throw UsageError("\(request.config): model.width is \"infinite\": --empirical needs a finite network")
            }
            var generator = Xoshiro256StarStar(seed: config.seed, stream: .initialization)
            let network: Sequential<Double> = config.model.mlpDescription(inputSize: x1.columns, width: width)
                .build(generator: &generator)
            // As a trained network is measured: a BatchNorm by its (initial) running statistics, since
            // in training mode its batch statistics leave a point no gradient of its own.
            network.setTraining(false)
            kernel = try network.empiricalTangentKernel(x1, x2)
        } else {
            guard config.model.parameterization == .ntk else {
                throw UsageError("\(request.config): model.parameterization is \"standard\": the analytic kernel describes the "
                                 + "\"ntk\" parameterization (set it, or pass --empirical for this network's kernel at initialisation)")
            }
            kernel = try config.model.analyticNetwork(inputSize: x1.columns).infiniteWidthKernel(x1, x2).ntk
        }
        if let output = request.output {
            let rows = kernel.array2D.map { $0.map(plainNumber).joined(separator: ",") }
            try AtomicFile.write(rows.joined(separator: "\n") + "\n", to: output)
        }
        if let heatmap = request.heatmap {
            guard x1.columns == 1, x2 == nil || x2!.columns == 1 else {
                throw UsageError("--heatmap draws 1-D inputs only; these points have \(x1.columns) features")
            }
            let title = (request.empirical ? "Empirical NTK at initialisation" : "Infinite-width NTK") + ": \(config.name)"
            try KernelHeatmap(rowInputs: x1.scalars, columnInputs: (x2 ?? x1).scalars, values: kernel.array2D, title: title)
                .write(to: heatmap)
        }
        if let failure = ResultCheck.problem(inKernel: kernel) { throw failure }
        return kernel.shape
    }

    /// Refuses, before anything is allocated, a kernel that would not fit in `limitBytes`: the
    /// analytic kernels keep two N1 x N2 matrices (NNGP and NTK, updated in place layer by layer), the
    /// empirical one its N1 x N2 result and each set's activations and deltas (about 4 per hidden unit).
    static func checkMemory(config: ExperimentConfig, rows: Int, columns: Int, limitBytes: Double, empirical: Bool) throws {
        let matrixBytes = Double(rows) * Double(columns) * 8
        var bytes = (empirical ? 1 : 2) * matrixBytes
        if empirical, case .finite(let width) = config.model.width {
            bytes += 4 * Double(rows + columns) * Double(width) * Double(config.model.hiddenLayers) * 8
        }
        guard bytes > limitBytes else { return }
        let flag = rows >= columns ? "--x1" : "--x2"
        throw UsageError("a \(rows) x \(columns) kernel needs about \(MemoryEstimate.format(bytes: bytes)) of memory, more than the "
                         + "\(MemoryEstimate.format(bytes: limitBytes)) available; pass fewer points with \(flag)"
                         + (empirical && matrixBytes * 4 < limitBytes ? " or lower model.width" : ""))
    }

    static func points(_ source: Points) throws -> Tensor<Double> {
        switch source {
        case let .grid(from, to, count):
            guard count >= 1, count <= 100_000, from.isFinite, to.isFinite else {
                throw UsageError("--grid expects FROM:TO:POINTS with finite bounds and 1 to 100000 points")
            }
            let values = (0..<count).map { count == 1 ? from : interpolate(from: from, to: to, step: $0, of: count - 1) }
            return Tensor(shape: [count, 1], scalars: values)
        case let .file(path):
            return try readPoints(path)
        }
    }

    /// Reads a points file: comma-separated finite numbers, the same count on every row; a first
    /// line with a field that is not a number is a header of names and is skipped, and so are
    /// blank lines.
    static func readPoints(_ path: String) throws -> Tensor<Double> {
        var rows: [[Double]] = []
        do {
            for line in CSVLine.lines(of: try AtomicFile.readText(path)) where !line.isBlank {
                let fields = try line.fields(file: path)
                let numbers = fields.map(CSVLine.finiteNumber)
                if line.number == 1 && numbers.contains(nil) { continue }  // a header of names
                for (column, number) in numbers.enumerated() where number == nil {
                    throw FormatError(file: path, row: line.number, column: "column \(column + 1)",
                                      problem: "expected a finite number, found \"\(fields[column])\"")
                }
                if let first = rows.first, first.count != fields.count {
                    throw UsageError("\(path): row \(line.number) has \(fields.count) numbers but the first point has \(first.count)")
                }
                rows.append(numbers.map { $0! })
            }
        } catch let error as UsageError {
            throw error
        } catch {
            throw UsageError("\(error)")
        }
        guard !rows.isEmpty else { throw UsageError("\(path): no points (expected one comma-separated point a row)") }
        return Tensor(rows)
    }
}
