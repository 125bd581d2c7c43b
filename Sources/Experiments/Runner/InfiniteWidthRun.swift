/// `"width": "infinite"`: the infinitely wide network trained to convergence, i.e. kernel
/// regression with its analytic NTK, f(x*) = Θ(x*, X) Θ(X, X)^-1 y, in place of training.
/// Reported like any run: extrapolation table, R², prediction curve; no parameters to save. Also
/// the variance over initialisations along the rays (``InfiniteWidthOutputVariance``) and the
/// bound sup|f| <= sqrt(C / lambda_min(Θ(X, X))) ||y||_2 beside the largest |f| seen (``OutputBound``).
/// With a nonzero `training.jacobianPenalty`, the robust-training predictor in its place
/// (`JacobianPenaltyRegression` at t = infinity, with the Jacobian NTK).
enum InfiniteWidthRun {
    static func execute<Scalar>(_ run: ExperimentPlan.Run, data: ExperimentData<Scalar>, folder: String,
                                progress: ProgressReporter) throws -> RunRecord {
        let config = run.config
        let start = monotonicSeconds()
        let network: Sequential<Double> = config.model.analyticNetwork(inputSize: data.train.inputDim)
        let (inputs, targets) = (data.train.inputs.converted(to: Double.self), data.train.targets.converted(to: Double.self))
        let id = ExperimentRunner.identifier(run)
        let evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>
        var table: ExtrapolationTable
        let fit: InfiniteWidthFit
        var boundMessage: String?
        if config.training.jacobianPenalty > 0 {
            // The robust-training predictor at t = infinity: f is the first column of G = (f, df/dx).
            guard targets.rank == 1 || targets.shape[1] == 1 else {
                throw UsageError("training.jacobianPenalty with \"width\": \"infinite\" needs one target column; this data has \(targets.shape[1])")
            }
            let regression = try JacobianPenaltyRegression(network: network, inputs: inputs, targets: targets.reshaped([targets.shape[0]]),
                                                           penalty: config.training.jacobianPenalty)
            evaluate = { x in
                let joint = try regression.predict(x.converted(to: Double.self))
                return Tensor(shape: [x.shape[0], 1], scalars: (0..<x.shape[0]).map { joint[$0, 0] }).converted(to: Scalar.self)
            }
            table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed,
                                                         batchRows: 2048, evaluate)
            fit = InfiniteWidthFit(kernel: "jacobianNTK", jitter: regression.jitter, gramEigenvalueMinimum: regression.eigenvalueRange.minimum,
                                   gramEigenvalueMaximum: regression.eigenvalueRange.maximum)
        } else {
            let regression = try InfiniteWidthRegression(network: network, inputs: inputs, targets: targets)
            evaluate = { try regression.predict($0.converted(to: Double.self)).converted(to: Scalar.self) }
            // Θ(x*, X) for a batch costs N x batch kernel entries: smaller batches keep memory bounded.
            table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed,
                                                         batchRows: 2048, evaluate)
            // A second pass along the same rays: the variance over initialisations (max over directions
            // per lambda), and Θ(x, x) for the bound's C. It costs one more cross kernel, as the first pass.
            let outputVariance = try InfiniteWidthOutputVariance(regression)
            var supremumOfNTKDiagonal = 0.0
            let variances = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed,
                                                                 batchRows: 2048) { (batch: Tensor<Scalar>) in
                let evaluation = try outputVariance.evaluate(batch.converted(to: Double.self))
                supremumOfNTKDiagonal = max(supremumOfNTKDiagonal, evaluation.ntkDiagonal.scalars.max() ?? 0)
                return evaluation.variance.converted(to: Scalar.self)
            }
            for index in table.points.indices { table.points[index].variance = variances.points[index].maxAbs }
            let (bound, smallestEigenvalue) = try outputVariance.outputBound(supremumOfNTKDiagonal: supremumOfNTKDiagonal, targets: targets)
            let outputBound = OutputBound(bound: bound, observedMaximum: table.maxAbs.max() ?? .nan,
                                          supremumOfNTKDiagonal: supremumOfNTKDiagonal, smallestEigenvalue: smallestEigenvalue,
                                          targetNorm: targets.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot())
            fit = InfiniteWidthFit(kernel: "ntk", jitter: regression.regression.jitter, outputBound: outputBound)
            boundMessage = "\(id): max |f| over the rays \(compact(outputBound.observedMaximum, digits: 4)) "
                + "<= bound sqrt(C / lambda_min) ||y|| = \(compact(bound, digits: 4)) (C = sup Θ(x,x) over the rays = "
                + "\(compact(supremumOfNTKDiagonal, digits: 4)), lambda_min(Θ(X,X)) = \(compact(smallestEigenvalue, digits: 4)), "
                + "||y|| = \(compact(outputBound.targetNorm, digits: 4)))"
        }
        let trainPredictions = try evaluate(data.train.inputs)
        let trainLoss = (trainPredictions - data.train.targets).map { $0 * $0 }.mean()
        let metrics = RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                 threads: BLASRuntime.threadCount, wallTimeSeconds: monotonicSeconds() - start, lossCurve: [],
                                 finalTrainLoss: Double(trainLoss), epochsRun: 0, extrapolation: table, infiniteWidth: fit)
        var record = try RunRecord.measuring(metrics, config: config, data: data, evaluate)
        if config.evaluation.linearized {
            record.metrics.linearized = try LinearizedInfiniteWidth.measure(network: network, data: data.train, config: config, seed: run.seed,
                                                                            beside: record.extrapolation, folder: folder)
        }
        let failure = ResultCheck.problem(in: record, initialLoss: nil, learningRate: nil, data: data)
        record.metrics.failure = failure?.description
        try record.write(folder: folder)
        if let failure { throw failure }
        let gram = fit.gramEigenvalueMinimum.map { ", Θ_J(X, X) eigenvalues \($0) to \(fit.gramEigenvalueMaximum!)" } ?? ""
        progress.message("\(id): infinite width, \(fit.kernel == "ntk" ? "kernel regression" : "the Jacobian-penalty predictor") on \(data.train.count) points (jitter \(fit.jitter)\(gram))")
        if let boundMessage { progress.message(boundMessage) }
        return record
    }
}
