import Glibc

/// Gradient descent against gradient flow along one training run (`evaluation.trajectory`).
///
/// From one initialisation theta_0: the configured full-batch GD with step eta for N steps; GD with
/// eta / r for r N steps for each r; and gradient flow up to T = N eta. Compared at the times
/// t_k = k s eta (s = max(1, N / stamps) steps of the configured GD, plus t = 0 and T): the loss
/// of each, ||theta_eta(t) - theta_0||, ||theta_eta(t) - theta_{eta/r}(t)|| and
/// ||theta_eta(t) - theta_GF(t)||, over every parameter. Elkabetz & Cohen 2021 bound the last by
/// O(exp(-int_0^t lambda_-(s) ds) t eta), lambda_- = min(lambda_min(Hessian), 0) along the flow's
/// path; with `hessian` the extreme eigenvalues are measured at each time (Lanczos on exact
/// Hessian-vector products, ``MLPHessian``) on the flow's path (the configured run's without
/// the flow), int lambda_- by the trapezoid rule over the recorded times.
///
/// The flow stops exactly at each t_k (its step is cut there), so its values are the flow's to its
/// tolerance, not an interpolation.
public struct TrajectoryTable: Sendable {
    public var times: [Double]
    /// The configured run's loss and distance from theta_0 at each time.
    public var loss: [Double]
    public var distanceFromInit: [Double]
    public var stepRatios: [Int]
    /// Per ratio r (in `stepRatios`' order): the run's loss and its distance from the configured run.
    public var ratioLoss: [[Double]]
    public var ratioDistance: [[Double]]
    /// Gradient flow's loss and distance from the configured run (nil without gradient flow).
    public var flowLoss: [Double]?
    public var flowDistance: [Double]?
    /// Gradient flow's counts.
    public var flowSummary: GradientFlowSummary?
    /// With `hessian`: lambda_min and lambda_max of the loss's Hessian at each time.
    public var hessianSmallest: [Double]?
    public var hessianLargest: [Double]?
    /// The configured step, for the bound's factor.
    public var learningRate = 0.0

    /// int_0^t min(lambda_min, 0) ds at each time, by the trapezoid rule.
    public var integralOfLambdaMinus: [Double]? {
        guard let smallest = hessianSmallest else { return nil }
        var integral = [0.0]
        for k in 1..<max(times.count, 1) {
            integral.append(integral[k - 1] + (times[k] - times[k - 1]) * (min(smallest[k], 0) + min(smallest[k - 1], 0)) / 2)
        }
        return Array(integral.prefix(times.count))
    }

    /// The bound's factor exp(-int_0^t lambda_-) t eta at each time.
    public var boundFactor: [Double]? {
        integralOfLambdaMinus.map { integral in zip(integral, times).map { Glibc.exp(-$0) * $1 * learningRate } }
    }

    /// max_t ||theta_eta(t) - theta_{eta/r}(t)|| / ||theta_eta(t) - theta_0|| over t > 0, per ratio.
    public var largestRelativeDistance: [Double] {
        ratioDistance.map { distances in
            zip(distances, distanceFromInit).filter { $0.1 > 0 }.map { $0.0 / $0.1 }.max() ?? .nan
        }
    }

    /// `t,loss,distance_from_init`, then `loss_r<r>,distance_to_r<r>` per ratio, then `loss_gf,distance_to_gf`.
    public var csv: String {
        var header = ["t", "loss", "distance_from_init"]
        for r in stepRatios { header += ["loss_r\(r)", "distance_to_r\(r)"] }
        if flowLoss != nil { header += ["loss_gf", "distance_to_gf"] }
        if hessianSmallest != nil { header += ["hessian_min", "hessian_max", "int_lambda_minus", "bound_factor"] }
        let (integral, factor) = (integralOfLambdaMinus, boundFactor)
        var lines = [header.joined(separator: ",")]
        for k in times.indices {
            var row = [times[k], loss[k], distanceFromInit[k]]
            for index in stepRatios.indices { row += [ratioLoss[index][k], ratioDistance[index][k]] }
            if let flowLoss, let flowDistance { row += [flowLoss[k], flowDistance[k]] }
            if let hessianSmallest, let hessianLargest, let integral, let factor {
                row += [hessianSmallest[k], hessianLargest[k], integral[k], factor[k]]
            }
            lines.append(row.map { "\($0)" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary for `trajectory.json`: final losses, largest relative distances, flow counts.
    public var json: JSONValue {
        var members = [
            JSONMember("time", .number(times.last ?? 0)),
            JSONMember("finalLoss", .number(loss.last ?? .nan)),
            JSONMember("stepRatios", .array(stepRatios.map { .number($0) })),
            JSONMember("finalLossByRatio", .array(ratioLoss.map { .number($0.last ?? .nan) })),
            JSONMember("largestRelativeDistanceByRatio", .array(largestRelativeDistance.map { .number($0) })),
        ]
        if let flowLoss, let flowDistance, let flowSummary {
            members += [
                JSONMember("finalFlowLoss", .number(flowLoss.last ?? .nan)),
                JSONMember("largestRelativeDistanceToFlow", .number(
                    zip(flowDistance, distanceFromInit).filter { $0.1 > 0 }.map { $0.0 / $0.1 }.max() ?? .nan)),
                JSONMember("gradientFlow", flowSummary.json),
            ]
        }
        if let hessianSmallest, let hessianLargest, let integral = integralOfLambdaMinus {
            members += [
                JSONMember("smallestHessianEigenvalue", .number(hessianSmallest.min() ?? .nan)),
                JSONMember("largestHessianEigenvalue", .number(hessianLargest.max() ?? .nan)),
                JSONMember("stabilityThreshold", .number(2 / learningRate)),
                JSONMember("integralOfLambdaMinus", .number(integral.last ?? .nan)),
            ]
        }
        return .object(members)
    }
}

public enum TrajectoryMeasurement {
    /// Lanczos steps per Hessian measurement: the outermost Ritz values converge first.
    public static let lanczosIterations = 20

    /// Runs the comparison. `makeTrainer(learningRate, optimizer)` builds a fresh trainer from
    /// theta_0 (same seed, same data) each time.
    /// - Parameters:
    ///   - steps: N, the configured run's steps; `learningRate`: its eta.
    ///   - tolerance: gradient flow's relative tolerance.
    ///   - onProgress: a line for the progress display.
    public static func measure<Scalar>(
        _ config: TrajectoryConfig, steps: Int, learningRate: Double, tolerance: Double,
        makeTrainer: (_ learningRate: Double, _ optimizer: OptimizerConfig) -> Trainer<Scalar>,
        onProgress: (String) -> Void = { _ in }
    ) throws -> TrajectoryTable {
        let stride = max(1, steps / config.stamps)
        var stampSteps = Array(Swift.stride(from: 0, through: steps, by: stride))
        if stampSteps.last != steps { stampSteps.append(steps) }
        let times = stampSteps.map { Double($0) * learningRate }

        // The configured run, keeping theta at every stamp.
        let base = makeTrainer(learningRate, .sgd())
        var snapshots: [[Double]] = []
        var loss: [Double] = []
        try descend(base, stampSteps: stampSteps, stepsPerStep: 1) { trainer in
            snapshots.append(flatParameters(trainer))
            loss.append(trainer.evaluateLoss())
        }
        let initial = snapshots[0]
        let distanceFromInit = snapshots.map { distance($0, initial) }

        var ratioLoss: [[Double]] = [], ratioDistance: [[Double]] = []
        for r in config.stepRatios {
            onProgress("trajectory: gradient descent at eta / \(r) (\(steps * r) steps)")
            let trainer = makeTrainer(learningRate / Double(r), .sgd())
            var losses: [Double] = [], distances: [Double] = []
            try descend(trainer, stampSteps: stampSteps, stepsPerStep: r) { trainer in
                distances.append(distance(flatParameters(trainer), snapshots[losses.count]))
                losses.append(trainer.evaluateLoss())
            }
            ratioLoss.append(losses)
            ratioDistance.append(distances)
        }

        var table = TrajectoryTable(times: times, loss: loss, distanceFromInit: distanceFromInit, stepRatios: config.stepRatios,
                                    ratioLoss: ratioLoss, ratioDistance: ratioDistance)
        table.learningRate = learningRate
        var hessian: MLPHessian?
        if config.hessian {
            hessian = try MLPHessian(base.model, inputs: base.inputs, targets: base.targets, loss: base.loss)
            table.hessianSmallest = []
            table.hessianLargest = []
        }
        func measureHessian(at theta: [Double]) {
            guard var model = hessian else { return }
            model.setParameters(theta)
            let (smallest, largest) = model.extremeEigenvalues(iterations: lanczosIterations)
            table.hessianSmallest?.append(smallest)
            table.hessianLargest?.append(largest)
        }
        if config.hessian && !config.gradientFlow {
            onProgress("trajectory: Hessian eigenvalues along the run")
            for snapshot in snapshots { measureHessian(at: snapshot) }
        }
        if config.gradientFlow {
            onProgress("trajectory: gradient flow to t = \(times.last ?? 0)")
            let trainer = makeTrainer(learningRate, .gradientFlow(tolerance: tolerance))
            let flow = GradientFlowTraining(trainer: trainer, endTime: times.last ?? 0, tolerance: tolerance, absoluteTolerance: nil,
                                            logEvery: Int.max, checkpointEvery: Int.max, checkpointPath: nil)
            var losses: [Double] = [], distances: [Double] = []
            for (index, time) in times.enumerated() {
                try flow.flow.run(until: time)
                onProgress("trajectory: gradient flow at t = \(compact(time)) of \(compact(times.last ?? 0)): "
                           + "\(flow.flow.acceptedSteps) steps, \(flow.flow.rejectedSteps) rejected, "
                           + "\(flow.flow.gradientEvaluations) gradients")
                let theta = flatParameters(trainer)
                distances.append(distance(theta, snapshots[index]))
                losses.append(trainer.evaluateLoss())
                measureHessian(at: theta)
            }
            table.flowLoss = losses
            table.flowDistance = distances
            table.flowSummary = flow.summary
        }
        return table
    }

    /// Runs `trainer` (full batch, one step per epoch), calling `record` at every stamp; between
    /// stamps k and k + 1 it takes `stepsPerStep` times the configured run's steps.
    static func descend<Scalar>(_ trainer: Trainer<Scalar>, stampSteps: [Int], stepsPerStep: Int,
                                record: (Trainer<Scalar>) throws -> Void) throws {
        trainer.model.setTraining(true)
        var done = 0
        for stamp in stampSteps {
            while done < stamp * stepsPerStep {
                try trainer.runEpoch()
                done += 1
            }
            try record(trainer)
        }
    }

    static func flatParameters<Scalar>(_ trainer: Trainer<Scalar>) -> [Double] {
        trainer.optimizer.parameters.flatMap { $0.value.scalars.map(Double.init) }
    }

    static func distance(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += (a[i] - b[i]) * (a[i] - b[i]) }
        return sum.squareRoot()
    }
}
