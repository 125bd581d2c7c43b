/// What a finite-width run measures of its empirical NTK besides training, all from the network
/// as initialised (before a checkpoint replaces its parameters, so a resumed run reports the same):
/// the gradient-descent stability number (plain GD only), the dispersion over independent
/// initialisations (`evaluation.kernel.initializations`) and the kernel drift on the probe points
/// (`evaluation.kernel`), measured between epochs through a ``TrainingLoop/Observation``.
final class RunKernelMeasurement<Scalar: BLASScalar> {
    let folder: String
    let every: Int
    let tracker: KernelDriftTracker<Scalar>?
    let analyticReason: String
    let dispersion: KernelDispersionSummary?
    let stability: GradientDescentStability?

    var kernelCSVPath: String { folder + "/kernel.csv" }

    /// Measures at initialisation; writes `kernel-dispersion.csv`, and prints the stability warning.
    init(_ run: ExperimentPlan.Run, model: Sequential<Scalar>, width: Int, data: ExperimentData<Scalar>, folder: String,
         progress: ProgressReporter) throws {
        let config = run.config
        self.folder = folder
        let train = data.train
        if GradientDescentStability.applies(to: config) {
            let stability = try GradientDescentStability.measure(model, inputs: train.inputs, learningRate: config.training.learningRate)
            if let warning = stability.warning { progress.message("\(ExperimentRunner.identifier(run)): \(warning)") }
            self.stability = stability
        } else {
            stability = nil
        }
        guard let kernel = config.evaluation.kernel else {
            (every, tracker, analyticReason, dispersion) = (1, nil, "", nil)
            return
        }
        every = kernel.interval(epochs: config.training.epochs)
        let probeInputs = leadingRows(train.inputs, kernel.points)
        let probeTargets = leadingRows(train.targets, kernel.points).scalars.map { Double($0) }
        if let initializations = kernel.initializations {
            var generator = Xoshiro256StarStar(seed: run.seed, stream: .kernelDispersion)
            var bootstrap = Xoshiro256StarStar(seed: run.seed, stream: .bootstrap)
            let measured = try KernelDispersion.measure(config.model.mlpDescription(inputSize: train.inputDim, width: width),
                                                        probeInputs: probeInputs, initializations: initializations,
                                                        generator: &generator, bootstrap: &bootstrap)
            try AtomicFile.write(measured.csv, to: folder + "/kernel-dispersion.csv")
            dispersion = KernelDispersionSummary(measured)
        } else {
            dispersion = nil
        }
        let analytic = KernelDriftTracker<Scalar>.analyticKernel(model: config.model, probeInputs: probeInputs)
        analyticReason = analytic.reason
        // kernel.csv is first written by the first measurement after this one: a resumed run reads
        // the killed run's file before that.
        tracker = try KernelDriftTracker(model: model, probeInputs: probeInputs, probeTargets: probeTargets,
                                         analyticKernel: analytic.kernel)
    }

    /// The loop's observation: a kernel measurement every `every` epochs, `kernel.csv` rewritten
    /// after each (so a killed run keeps what it measured); nil without `evaluation.kernel`.
    var observation: TrainingLoop<Scalar>.Observation? {
        guard let tracker else { return nil }
        let path = kernelCSVPath
        return TrainingLoop.Observation(every: every) { epoch in
            try tracker.measure(epoch: epoch)
            try KernelDriftCSV.write(tracker.records, to: path)
        }
    }

    /// After a resume from epoch `epoch`: the measurements the killed run wrote up to there.
    func resumed(atEpoch epoch: Int) throws {
        guard let tracker, FileSystem.exists(kernelCSVPath) else { return }
        tracker.restore(try KernelDriftCSV.read(kernelCSVPath), upTo: epoch)
        try KernelDriftCSV.write(tracker.records, to: kernelCSVPath)
    }

    /// Writes `kernel.csv` and `kernel.svg`, and puts the end values into `metrics`.
    func finish(_ metrics: inout RunMetrics) throws {
        metrics.gradientDescentStability = stability
        metrics.kernelDispersion = dispersion
        guard let tracker, let initial = tracker.records.first, let final = tracker.records.last else { return }
        try KernelDriftCSV.write(tracker.records, to: kernelCSVPath)
        try KernelDriftPlot(records: tracker.records).write(to: folder + "/kernel.svg")
        metrics.kernelDrift = KernelDriftSummary(probePoints: tracker.probeInputs.rows, every: every, initial: initial, final: final,
                                                 analyticKernel: analyticReason)
    }
}
