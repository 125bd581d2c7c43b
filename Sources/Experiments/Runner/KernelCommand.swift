/// `train ntk`: a network's NTK between two point sets, analytic (infinite width) or empirical
/// (the finite network the config describes, at its seeded initialisation, in evaluation mode), as a CSV matrix and,
/// for 1-D inputs, a heatmap (the paper's Figure 2); with `jacobian`, the analytic Jacobian NTK.
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
        /// The Jacobian NTK (Kim & Yang 2024): N1 (1 + d) x N2 (1 + d), point-major
        /// (f(x_1), d_1 f(x_1), ..., d_d f(x_1), f(x_2), ...).
        public var jacobian: Bool
        public init(config: String, x1: Points, x2: Points?, empirical: Bool, output: String?, heatmap: String?, jacobian: Bool = false) {
            (self.config, self.x1, self.x2, self.empirical, self.output, self.heatmap) = (config, x1, x2, empirical, output, heatmap)
            self.jacobian = jacobian
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
        if request.jacobian && request.heatmap != nil {
            throw UsageError("--heatmap draws the NTK of 1-D inputs, not the Jacobian NTK's blocks; drop --heatmap or --jacobian")
        }
        // The Jacobian NTK has (1 + d)^2 entries a pair of points.
        let valuesPerPoint = request.jacobian ? 1 + x1.columns : 1
        try checkMemory(config: config, rows: x1.shape[0] * valuesPerPoint, columns: (x2?.shape[0] ?? x1.shape[0]) * valuesPerPoint,
                        limitBytes: MemoryEstimate.availableBytes(), empirical: request.empirical)
        let kernel: Tensor<Double>
        if request.jacobian && !request.empirical {
            guard config.model.parameterization == .ntk else {
                throw UsageError("\(request.config): model.parameterization is \"standard\": the analytic Jacobian NTK describes the "
                                 + "\"ntk\" parameterization")
            }
            kernel = try config.model.analyticNetwork(inputSize: x1.columns).infiniteWidthJacobianKernel(x1, x2).ntk
        } else if request.empirical {
            guard case .finite(let width) = config.model.width else {
                throw UsageError("\(request.config): model.width is \"infinite\": --empirical needs a finite network")
            }
            var generator = Xoshiro256StarStar(seed: config.seed, stream: .initialization)
            let network: Sequential<Double> = config.model.mlpDescription(inputSize: x1.columns, width: width)
                .build(generator: &generator)
            // As a trained network is measured: a BatchNorm by its (initial) running statistics, since
            // in training mode its batch statistics leave a point no gradient of its own.
            network.setTraining(false)
            kernel = request.jacobian ? try network.empiricalJacobianTangentKernel(x1, x2) : try network.empiricalTangentKernel(x1, x2)
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
            guard !request.jacobian else { throw UsageError("--heatmap draws the NTK of 1-D inputs, not the Jacobian NTK; use --out") }
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

    /// Training points the NTK structure of `--phase` is measured on.
    static let structurePoints = 8
    /// The depths `--phase` shows the NTK's structure at, besides the config's own.
    static let structureDepths = [1, 2, 3, 5, 10, 20, 30, 40, 50]

    /// `train ntk --phase`: the mean-field quantities of the config's network at initialisation
    /// (`MeanField`): sigma_w^2 and sigma_b^2 as the config's init gives them, q*, chi_1, the
    /// phase, and the critical sigma_w^2 at that sigma_b^2. They describe the plain stack of
    /// Dense and activation layers; a note says when norms or residual blocks change the picture.
    /// Then the NTK's structure by depth (`MeanField.kernelStructure`) on the first training points,
    /// when the config's data can be read.
    public static func phaseReport(config path: String) throws -> String {
        let plan = try ExperimentPlan.load(path: path, memoryLimitBytes: MemoryEstimate.availableBytes())
        let model = plan.base.model
        let (weightVariance, biasVariance): (Double, Double)
        switch model.meanFieldVariances() {
        case .success(let variances): (weightVariance, biasVariance) = variances
        case .failure(let problem): throw UsageError("\(path): \(problem.location ?? "model"): --phase needs \(problem.problem)")
        }
        let field = MeanField(activation: model.activation, weightVariance: weightVariance, biasVariance: biasVariance)
        let critical = MeanField.criticalWeightVariance(activation: model.activation, biasVariance: biasVariance)
        func number(_ value: Double?) -> String { value.map { compact($0, digits: 7) } ?? "none" }
        var lines = [
            "mean field of \(model.activation.rawValue), sigma_w^2 = \(number(weightVariance)), sigma_b^2 = \(number(biasVariance))",
            "  q* (fixed-point pre-activation variance): "
                + (field.fixedPointVariance.map(number) ?? "none (the variance grows without bound with depth)"),
            "  chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: \(number(field.chi1))",
            "  phase: \(field.phase?.rawValue ?? "unknown (no fixed point)")",
            "  critical sigma_w^2 at sigma_b^2 = \(number(biasVariance)): "
                + (critical.map(number) ?? "none (chi_1 < 1 up to sigma_w^2 = 1e4)"),
        ]
        // The NTK's structure by depth on a few training points (the quadrature activations cost
        // 160^2 evaluations an entry and layer, so a few points keep this to a second).
        var probe: Tensor<Double>?
        do {
            let inputs = try ExperimentData<Double>.load(plan.base.data, seed: plan.base.seed).train.inputs
            probe = leadingRows(inputs, min(inputs.rows, Self.structurePoints))
        } catch {
            // The mean-field numbers need no data; say why the structure is missing.
            lines.append("  NTK structure by depth: not computed, the config's data could not be read: \(error)")
        }
        if let probe, probe.rows >= 2 {
            lines.append("  NTK structure by depth (NTK parameterisation, the first \(probe.rows) training points; "
                         + "Theta ~ kappa_1 I + kappa_2 11^T, kappa_1/kappa_2 -> 0: a constant kernel, large: a diagonal one):")
            lines.append("    depth  mean Theta(x,x)  mean Theta(x,x')  kappa_1/kappa_2")
            let shown = Set(Self.structureDepths + [model.hiddenLayers])
            for layer in try field.kernelStructure(points: probe, depth: shown.max()!) where shown.contains(layer.depth) {
                lines.append("    " + pad(String(layer.depth), 5) + pad(number(layer.diagonalMean), 17)
                             + pad(number(layer.offDiagonalMean), 18) + pad(number(layer.ratio), 17)
                             + (layer.depth == model.hiddenLayers ? "   <- this network" : ""))
            }
        }
        if !model.layerNormIndices.isEmpty || model.residual != .none || model.finalNorm {
            lines.append("  note: these describe a plain stack of Dense and \(model.activation.rawValue) layers; "
                         + "the config's norms or residual blocks change the forward and backward passes")
        }
        return lines.joined(separator: "\n")
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
