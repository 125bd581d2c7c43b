/// `"width": "infinite"`: the infinitely wide network trained to convergence, i.e. kernel
/// regression with its analytic NTK, f(x*) = Θ(x*, X) Θ(X, X)^-1 y, in place of training.
/// Reported like any run: extrapolation table, R², prediction curve; no parameters to save.
enum InfiniteWidthRun {
    static func execute<Scalar>(_ run: ExperimentPlan.Run, data: ExperimentData<Scalar>, folder: String,
                                progress: ProgressReporter) throws -> RunRecord {
        let config = run.config
        let start = monotonicSeconds()
        // The kernel maps do not depend on the width; 1 unit per layer is enough to describe the architecture.
        let network: Sequential<Double> = ExperimentRunner.analyticNetwork(config.model, inputSize: data.train.inputDim)
        let regression = try InfiniteWidthRegression(network: network, inputs: data.train.inputs.converted(to: Double.self),
                                                     targets: data.train.targets.converted(to: Double.self))
        let evaluate: (Tensor<Scalar>) throws -> Tensor<Scalar> = {
            try regression.predict($0.converted(to: Double.self)).converted(to: Scalar.self)
        }
        // Θ(x*, X) for a batch costs N x batch kernel entries: smaller batches keep memory bounded.
        let table = try ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed,
                                                         batchRows: 2048, evaluate)
        let trainPredictions = try evaluate(data.train.inputs)
        let trainLoss = (trainPredictions - data.train.targets).map { $0 * $0 }.mean()
        var extra: [JSONMember] = [
            JSONMember("width", .string("infinite")),
            JSONMember("kernel", .string("ntk")),
            JSONMember("jitter", .number(regression.regression.jitter)),
        ]
        extra += try ExperimentRunner.rSquaredMembers(data, evaluate)
        var record = RunRecord(
            metrics: RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                threads: BLASRuntime.threadCount, wallTimeSeconds: monotonicSeconds() - start, lossCurve: [],
                                finalTrainLoss: Double(trainLoss), epochsRun: 0, extrapolation: table, extra: extra),
            curve: try ExperimentRunner.predictionCurve(config, data: data, evaluate),
            trainingPoints: ExperimentRunner.oneDimensionalPoints(data))
        let failure = ResultCheck.problem(in: record, initialLoss: nil, learningRate: nil, data: data)
        record.metrics.extra += failure?.metricsMembers ?? []
        try record.write(folder: folder)
        if let failure { throw failure }
        progress.message("\(ExperimentRunner.identifier(run)): infinite width, kernel regression on \(data.train.count) points (jitter \(regression.regression.jitter))")
        return record
    }
}

extension ExperimentRunner {
    /// The network whose analytic kernels a model section describes: its architecture in the NTK
    /// parameterization (the width is irrelevant to the kernels, so one unit per layer).
    public static func analyticNetwork(_ model: ModelConfig, inputSize: Int) -> Sequential<Double> {
        var description = modelDescription(model, inputSize: inputSize, width: 1)
        description.parameterization = .ntk
        description.weightStandardDeviation = model.weightStd ?? 2.0.squareRoot()
        description.biasStandardDeviation = model.biasStd ?? 0.1
        var generator = Xoshiro256StarStar(seed: 0)
        return description.build(generator: &generator)
    }
}
