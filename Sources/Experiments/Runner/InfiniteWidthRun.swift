/// `"width": "infinite"`: kernel regression with the analytic NTK in place of training.
enum InfiniteWidthRun {
    static func execute<Scalar>(_ run: ExperimentPlan.Run, data: ExperimentData<Scalar>, folder: String,
                                progress: ProgressReporter) throws -> RunRecord {
        throw UsageError("model.width \"infinite\" (analytic NTK regression) is not available in this build yet")
    }
}
