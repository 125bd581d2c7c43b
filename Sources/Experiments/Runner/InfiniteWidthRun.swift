/// `"width": "infinite"`: the infinitely wide network trained to convergence, i.e. kernel
/// regression with its analytic NTK, f(x*) = Θ(x*, X) Θ(X, X)^-1 y, in place of training.
/// Reported like any run: extrapolation table, R², prediction curve; no parameters to save.
/// With a nonzero `training.jacobianPenalty`, the robust-training predictor in its place
/// (`JacobianPenaltyRegression` at t = infinity, with the Jacobian NTK).
enum InfiniteWidthRun {
    static func execute<Scalar>(_ run: ExperimentPlan.Run, data: ExperimentData<Scalar>, folder: String,
                                progress: ProgressReporter) throws -> RunRecord {
        let config = run.config
        let start = monotonicSeconds()
        let network: Sequential<Double> = config.model.analyticNetwork(inputSize: data.train.inputDim)
        let (inputs, targets) = (data.train.inputs.converted(to: Double.self), data.train.targets.converted(to: Double.self))
        let evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar>
        let fit: InfiniteWidthFit
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
            fit = InfiniteWidthFit(kernel: "jacobianNTK", jitter: regression.jitter, gramEigenvalueMinimum: regression.eigenvalueRange.minimum,
                                   gramEigenvalueMaximum: regression.eigenvalueRange.maximum)
        } else {
            let regression = try InfiniteWidthRegression(network: network, inputs: inputs, targets: targets)
            evaluate = { try regression.predict($0.converted(to: Double.self)).converted(to: Scalar.self) }
            fit = InfiniteWidthFit(kernel: "ntk", jitter: regression.regression.jitter)
        }
        // Θ(x*, X) for a batch costs N x batch kernel entries: smaller batches keep memory bounded.
        let table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed,
                                                         batchRows: 2048, evaluate)
        let trainPredictions = try evaluate(data.train.inputs)
        let trainLoss = (trainPredictions - data.train.targets).map { $0 * $0 }.mean()
        let metrics = RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                 threads: BLASRuntime.threadCount, wallTimeSeconds: monotonicSeconds() - start, lossCurve: [],
                                 finalTrainLoss: Double(trainLoss), epochsRun: 0, extrapolation: table,
                                 infiniteWidth: fit)
        var record = try RunRecord.measuring(metrics, config: config, data: data, evaluate)
        let failure = ResultCheck.problem(in: record, initialLoss: nil, learningRate: nil, data: data)
        record.metrics.failure = failure?.description
        try record.write(folder: folder)
        if let failure { throw failure }
        let gram = fit.gramEigenvalueMinimum.map { ", Θ_J(X, X) eigenvalues \($0) to \(fit.gramEigenvalueMaximum!)" } ?? ""
        progress.message("\(ExperimentRunner.identifier(run)): infinite width, \(fit.kernel == "ntk" ? "kernel regression" : "the Jacobian-penalty predictor") on \(data.train.count) points (jitter \(fit.jitter)\(gram))")
        return record
    }
}
