/// One run of a finite network: built from the config (or `--init-from`), trained by a
/// ``TrainingLoop`` (resumed from its checkpoint with `--resume`), measured, and its folder
/// written: the run's files, `model.safetensors`, and no checkpoint once it is done.
enum FiniteWidthRun {
    static func execute<Scalar: BLASScalar>(
        _ run: ExperimentPlan.Run, data: ExperimentData<Scalar>, width: Int, folder: String, options: RunnerOptions,
        threads: Int, progress: ProgressReporter
    ) throws -> RunRecord {
        let config = run.config
        let id = ExperimentRunner.identifier(run)
        var initialization = Xoshiro256StarStar(seed: run.seed, stream: .initialization)
        let description = config.model.mlpDescription(inputSize: data.train.inputDim, width: width, outputSize: config.data.outputSize)
        let model: Sequential<Scalar> = description.build(generator: &initialization)
        if let initFrom = options.initFrom { try model.loadCheckpoint(from: initFrom) }
        // Before a checkpoint replaces the parameters: the linearisation is at initialisation.
        let linearized = config.evaluation.linearized
            ? try LinearizedComparison(network: model, description: description, data: data.train, config: config, seed: run.seed) : nil
        let trainer = Trainer(model: model, optimizer: config.training.makeOptimizer(parameters: model.parameters),
                              inputs: data.train.inputs, targets: data.train.targets,
                              batchSize: config.training.batchSize.resolved(trainingSamples: data.train.count),
                              generator: Xoshiro256StarStar(seed: run.seed, stream: .batchOrder), threads: threads,
                              loss: config.training.loss, jacobianPenalty: Scalar(config.training.jacobianPenalty))
        // Before a checkpoint replaces the parameters: what the results check compares the final loss
        // with. On a tape of its own, freed here: the trainer's tapes keep their batch-sized buffers.
        // A training-mode BatchNorm's forward moves its running statistics: put them back, so the
        // run trains from the same state whether or not this loss was taken (and resumes alike).
        let buffers = model.namedBuffers.map { ($0.buffer, $0.buffer.value) }
        let initialTape = Tape<Scalar>()
        let initialLoss = Double(config.training.loss(model(initialTape.input(data.train.inputs)), data.train.targets).value.scalar)
        for (buffer, value) in buffers { buffer.value = value }
        if let problem = ResultCheck.problem(atInitialisation: initialLoss, data: data, config: config) { throw problem }
        let kernels = try RunKernelMeasurement(run, model: model, width: width, data: data, folder: folder, progress: progress)

        let checkpointPath = folder + "/checkpoint.safetensors"
        let loop = TrainingLoop(trainer: trainer, schedule: .init(config.training), checkpointPath: checkpointPath)
        loop.observation = kernels.observation
        var flowTraining: GradientFlowTraining<Scalar>?
        if case .gradientFlow = config.training.optimizer {
            flowTraining = GradientFlowTraining(trainer: trainer, training: config.training, checkpointPath: checkpointPath)
        }
        if options.resume, let flowTraining, try flowTraining.resumeFromCheckpoint() {
            progress.message("\(id): resuming at t = \(flowTraining.flow.time)")
        } else if options.resume, flowTraining == nil, let restored = try loop.resumeFromCheckpoint() {
            progress.message("\(id): resuming at epoch \(restored.epoch)")
            try kernels.resumed(atEpoch: restored.epoch)
            try linearized?.resume(folder: folder, at: restored.epoch)
        }
        let epochs = config.training.epochs
        let outcome: TrainingLoop<Scalar>.Outcome
        do {
            if let flowTraining {
                // Progress in per mille of the flow's time, as the display counts epochs.
                let endTime = flowTraining.endTime
                outcome = try flowTraining.run { _, time, loss in
                    progress.epochDone(run: id, epoch: Int(1000 * time / endTime), of: 1000, loss: loss)
                }
            } else {
                outcome = try loop.run { epoch, loss in
                    progress.epochDone(run: id, epoch: epoch, of: epochs, loss: loss)
                    linearized?.epochDone(epoch, of: epochs, network: model, checkpointEvery: loop.schedule.checkpointEvery, folder: folder)
                }
            }
        } catch let divergence as DivergenceError {
            // Keep what a researcher needs to see what happened: the metrics so far; the last
            // checkpoint (finite, saved before the blow-up) stays in the folder.
            var partial = RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                     threads: threads, wallTimeSeconds: flowTraining?.wallTimeSeconds ?? loop.wallTimeSeconds,
                                     lossCurve: flowTraining.map { $0.records.map { LossRecord(epoch: $0.step, loss: $0.loss) } } ?? loop.lossCurve,
                                     finalTrainLoss: divergence.loss, epochsRun: divergence.epoch,
                                     extrapolation: ExtrapolationTable(points: []), divergence: divergence.description)
            partial.stopReason = .diverged
            partial.minimumTrainLoss = loop.minimumLoss.isFinite ? loop.minimumLoss : nil
            try kernels.finish(&partial)
            try partial.write(to: folder + "/metrics-partial.json")
            throw divergence
        }
        if outcome.stoppedEarly { progress.epochsSkipped(epochs - outcome.epochsRun) }
        let wallTime = flowTraining?.wallTimeSeconds ?? loop.wallTimeSeconds

        // The loop left the model in evaluation mode: a BatchNorm now normalises by its running
        // statistics, an affine map, for the rays, the curve and R², as a PyTorch model after eval().
        // Data-parallel steps left BLAS on one thread; the evaluation's large products want them all.
        if threads > 1 { BLASRuntime.setThreadCount(threads) }
        let tape = Tape<Scalar>()
        let evaluate: (Tensor<Scalar>) -> Tensor<Scalar> = { model($0, tape: tape) }
        var table = ExtrapolationMeasurement.measure(config.evaluation, trainingInputs: data.train.inputs, seed: run.seed, evaluate)
        // Input Jacobians when asked for or trained against (the config refuses them with a BatchNorm).
        let measuresJacobians = (config.evaluation.jacobianNorms || config.training.jacobianPenalty > 0) && model.providesTangents
        if measuresJacobians {
            let directions = ExtrapolationMeasurement.directions(config.evaluation.directions, trainingInputs: data.train.inputs, seed: run.seed)
            JacobianNorms.addRayNorms(to: &table, model, directions: directions)
        }
        var metrics = RunMetrics(name: config.name, variant: run.variant, seed: run.seed, precision: config.precision,
                                 threads: threads, wallTimeSeconds: wallTime, lossCurve: outcome.lossCurve,
                                 finalTrainLoss: outcome.finalLoss, epochsRun: outcome.epochsRun, extrapolation: table,
                                 stoppedEarly: outcome.stoppedEarly)
        if measuresJacobians { metrics.meanSquaredJacobianNorm = JacobianNorms.meanSquared(model, inputs: data.train.inputs) }
        metrics.gradientFlow = flowTraining?.summary
        var record = RunRecord.measuring(metrics, config: config, data: data, evaluate)
        record.metrics.stopReason = outcome.stopReason
        record.metrics.minimumTrainLoss = outcome.minimumLoss
        try kernels.finish(&record.metrics)
        if let linearized {
            let summary = try linearized.finish(epochs: outcome.epochsRun, network: model, beside: record.extrapolation,
                                                config: config, seed: run.seed, folder: folder)
            record.metrics.linearized = summary
            progress.message("\(id): " + linearized.report(summary))
        }
        let failure = ResultCheck.problem(in: record, initialLoss: initialLoss, learningRate: config.training.learningRate, data: data)
        record.metrics.failure = failure?.description
        // A loss grown past the limit while finite is a divergence too: the sweep's table says so.
        if failure != nil, record.metrics.finalTrainLoss > ResultCheck.lossGrowthLimit * initialLoss { record.metrics.stopReason = .diverged }
        try model.saveCheckpoint(to: folder + "/model.safetensors", metadata: ["name": config.name, "seed": "\(run.seed)"])
        if let trajectory = config.evaluation.trajectory {
            try measureTrajectory(trajectory, run: run, data: data, width: width, folder: folder, options: options,
                                  threads: threads, progress: progress)
        }
        try record.write(folder: folder)
        FileSystem.remove(checkpointPath)
        FileSystem.remove(folder + "/metrics-partial.json")
        if let failure { throw failure }
        return record
    }

    /// `evaluation.trajectory`: the same initialisation at smaller steps and by gradient flow;
    /// writes `trajectory.csv`, `trajectory.json` and `trajectory.svg`.
    static func measureTrajectory<Scalar: BLASScalar>(
        _ trajectory: TrajectoryConfig, run: ExperimentPlan.Run, data: ExperimentData<Scalar>, width: Int, folder: String,
        options: RunnerOptions, threads: Int, progress: ProgressReporter
    ) throws {
        let config = run.config
        let id = ExperimentRunner.identifier(run)
        var loadFailure: Error?
        let table = try TrajectoryMeasurement.measure(
            trajectory, steps: config.training.epochs, learningRate: config.training.learningRate, tolerance: trajectory.tolerance,
            makeTrainer: { (learningRate: Double, optimizer: OptimizerConfig) -> Trainer<Scalar> in
                var initialization = Xoshiro256StarStar(seed: run.seed, stream: .initialization)
                let model: Sequential<Scalar> = config.model.mlpDescription(inputSize: data.train.inputDim, width: width,
                                                                            outputSize: config.data.outputSize)
                    .build(generator: &initialization)
                if let initFrom = options.initFrom {
                    do { _ = try model.loadCheckpoint(from: initFrom) } catch { loadFailure = error }
                }
                var training = config.training
                (training.optimizer, training.learningRate) = (optimizer, learningRate)
                return Trainer(model: model, optimizer: training.makeOptimizer(parameters: model.parameters),
                               inputs: data.train.inputs, targets: data.train.targets,
                               generator: Xoshiro256StarStar(seed: run.seed, stream: .batchOrder), threads: threads,
                               loss: config.training.loss)
            },
            onProgress: { progress.message("\(id): \($0)") })
        if let loadFailure { throw loadFailure }
        try AtomicFile.write(table.csv, to: folder + "/trajectory.csv")
        try writeJSON(table.json, to: folder + "/trajectory.json")
        try AtomicFile.write(TrajectoryPlot.svg(table, learningRate: config.training.learningRate), to: folder + "/trajectory.svg")
    }
}
