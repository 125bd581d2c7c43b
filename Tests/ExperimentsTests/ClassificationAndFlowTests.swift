import Foundation
import Glibc
import Testing
@testable import Experiments
import TestSupport

/// The config keys of classification and gradient flow, class-label validation, and gradient flow
/// as a training run: resumed from a checkpoint exactly, and gradient descent converging to it at
/// first order in the step size.
@Suite struct ClassificationConfigTests {
    static let csv = """
        "data": { "kind": "csv", "path": "data/digits.csv", "features": ["p0", "p1"], "target": "label",
                  "classes": 10, "firstRows": 100 }
        """

    @Test func classificationKeysDecodeAndRoundTrip() throws {
        let config = try plan("""
            { \(Self.csv), "model": { "bias": false, "weightInit": "xavierUniform" },
              "training": { "loss": "crossEntropy", "optimizer": "gradientFlow", "time": 2.5, "tolerance": 1e-7 } }
            """).base
        #expect(config.data.classes == 10 && config.data.outputSize == 10)
        #expect(config.model.bias == false && config.model.weightInit == .xavierUniform)
        #expect(config.training.loss == .crossEntropy)
        #expect(config.training.optimizer == .gradientFlow(tolerance: 1e-7, absoluteTolerance: nil))
        #expect(config.training.flowTime == 2.5)
        let description = config.model.mlpDescription(inputSize: 2, width: 4, outputSize: config.data.outputSize)
        #expect(description.outputSize == 10 && !description.bias && description.weightInitialization == .xavierUniform)
        let reread = try plan(config.json.rendered(style: .pretty)).base
        #expect(reread == config)
    }

    @Test func trajectoryKeysDecodeRoundTripAndNameTheirMistakes() throws {
        let full = #""training": { "optimizer": "sgd", "batchSize": "full" }"#
        let config = try plan("""
            { \(full), "evaluation": { "trajectory": { "stepRatios": [3, 7], "stamps": 9, "gradientFlow": false,
                                                       "hessian": true, "tolerance": 1e-4 } } }
            """).base
        #expect(config.evaluation.trajectory == TrajectoryConfig(stepRatios: [3, 7], stamps: 9, gradientFlow: false, hessian: true,
                                                                 tolerance: 1e-4))
        #expect(try plan(config.json.rendered(style: .pretty)).base == config)
        #expect(try plan("{ \(full), \"evaluation\": { \"trajectory\": {} } }").base.evaluation.trajectory == TrajectoryConfig())
        #expect(problems("{ \(full), \"evaluation\": { \"trajectory\": { \"tolerance\": 0 } } }")
            .contains { $0.contains("evaluation.trajectory.tolerance") })
        #expect(problems("{ \(full), \"evaluation\": { \"trajectory\": { \"stepRatios\": [1] } } }")
            .contains { $0.contains("evaluation.trajectory.stepRatios") })
        #expect(problems(#"{ "training": { "optimizer": "adam", "batchSize": "full" }, "evaluation": { "trajectory": {} } }"#)
            .contains { $0.contains("evaluation.trajectory") && $0.contains("sgd") })
    }

    @Test func flowTimeDefaultsToTheTimeGradientDescentCovers() throws {
        let config = try plan(#"{ "training": { "optimizer": "gradientFlow", "learningRate": 0.01, "epochs": 300 } }"#).base
        #expect(config.training.flowTime == 3)
        #expect(config.training.optimizer == .gradientFlow(tolerance: 1e-6, absoluteTolerance: nil))
    }

    @Test func mistakesAreNamed() {
        #expect(problems(#"{ "training": { "loss": "crossEntropy" } }"#).contains { $0.contains("training.loss") && $0.contains("classes") })
        #expect(problems("{ \(Self.csv) }").contains { $0.contains("training.loss") && $0.contains("crossEntropy") })
        #expect(problems(#"{ "training": { "optimizer": "gradientFlow", "batchSize": 10 } }"#)
            .contains { $0.contains("training.batchSize") && $0.contains("full") })
        #expect(problems(#"{ "training": { "optimizer": "sgd", "tolerance": 1e-6 } }"#)
            .contains { $0.contains("training.tolerance") && $0.contains("does not apply") })
        #expect(problems(#"{ "training": { "optimizer": "gradientFlow", "momentum": 0.9 } }"#)
            .contains { $0.contains("training.momentum") && $0.contains("does not apply") })
        #expect(problems(#"{ "training": { "optimizer": "gradientFlow", "time": -1 } }"#).contains { $0.contains("training.time") })
        #expect(problems(#"{ "model": { "weightInit": "xavier" } }"#).contains { $0.contains("xavierUniform") })
    }

    @Test func classLabelsAreValidatedWithFileRowAndValue() throws {
        let config = CSVDataConfig(path: "data/t.csv", features: ["x"], target: "y")
        var classified = config
        classified.classes = 3
        let good = try CSVTable(text: "x,y\n0.5,0\n1.5,2\n2.5,1\n", file: "data/t.csv")
        let data: ExperimentData<Double> = try classified.prepare(good, seed: 0)
        #expect(data.train.targets.scalars == [0, 2, 1], "labels are not standardised")
        for (text, value) in [("x,y\n0.5,0\n1.5,3\n", "3.0"), ("x,y\n0.5,0\n1.5,1.5\n", "1.5"), ("x,y\n0.5,-1\n", "-1.0")] {
            do {
                let _: ExperimentData<Double> = try classified.prepare(CSVTable(text: text, file: "data/t.csv"), seed: 0)
                Issue.record("accepted \(text)")
            } catch {
                let message = error.description
                #expect(message.contains("data/t.csv") && message.contains(value) && message.contains("0 to 2") && message.contains("\"y\""),
                        "\(message)")
            }
        }
        var limited = config
        limited.firstRows = 2
        let firstTwo: ExperimentData<Double> = try limited.prepare(good, seed: 0)
        #expect(firstTwo.train.count == 2)
        limited.firstRows = 4
        #expect(throws: CSVError.self) { let _: ExperimentData<Double> = try limited.prepare(good, seed: 0) }
    }
}

@Suite struct GradientFlowTrainingTests {
    /// A small tanh network (smooth, so the flow and the comparison with GD are clean) on 2-D data.
    static func trainer(optimizer: OptimizerConfig, learningRate: Double = 0.05) -> Trainer<Double> {
        var generator = Xoshiro256StarStar(seed: 4)
        var description = MLPDescription(inputSize: 2, width: 8, hiddenLayers: 1)
        description.activation = .tanh
        let model: Sequential<Double> = description.build(generator: &generator)
        let x = Tensor<Double>.randomNormal([16, 2], using: &generator)
        let y = Tensor(shape: [16, 1], scalars: x.map { Glibc.sin(2 * $0) }.sum(alongAxis: 1).scalars)
        let training = TrainingConfig(optimizer: optimizer, learningRate: learningRate)
        return Trainer(model: model, optimizer: training.makeOptimizer(parameters: model.parameters), inputs: x, targets: y,
                       generator: Xoshiro256StarStar(seed: 0))
    }

    static func flatParameters(_ trainer: Trainer<Double>) -> [Double] { trainer.model.parameters.flatMap(\.value.scalars) }

    @Test func resumedFlowEndsWhereAnUnstoppedOneDoes() throws {
        let folder = try makeTemporaryFolder()
        let whole = GradientFlowTraining(trainer: Self.trainer(optimizer: .gradientFlow()), endTime: 2, tolerance: 1e-8,
                                         absoluteTolerance: nil, logEvery: 3, checkpointEvery: 1000, checkpointPath: nil)
        let wholeOutcome = try whole.run()
        // A run that saved every 7 accepted steps; its last checkpoint stands for a run killed there.
        let path = folder + "/checkpoint.safetensors"
        let saving = GradientFlowTraining(trainer: Self.trainer(optimizer: .gradientFlow()), endTime: 2, tolerance: 1e-8,
                                          absoluteTolerance: nil, logEvery: 3, checkpointEvery: 7, checkpointPath: path)
        _ = try saving.run()
        let resumed = GradientFlowTraining(trainer: Self.trainer(optimizer: .gradientFlow()), endTime: 2, tolerance: 1e-8,
                                           absoluteTolerance: nil, logEvery: 3, checkpointEvery: 7, checkpointPath: path)
        #expect(try resumed.resumeFromCheckpoint())
        #expect(resumed.flow.time > 0 && resumed.flow.time < 2)
        let outcome = try resumed.run()
        #expect(Self.flatParameters(resumed.trainer) == Self.flatParameters(whole.trainer))
        #expect(resumed.summary == whole.summary)
        #expect(outcome.lossCurve == wholeOutcome.lossCurve && outcome.finalLoss == wholeOutcome.finalLoss)
        #expect(whole.summary.acceptedSteps > 10 && whole.summary.gradientEvaluations >= 6 * whole.summary.acceptedSteps)
    }

    /// GD is Euler's method for the flow: ||theta_GD(T) - theta_GF(T)|| = O(eta), so halving eta halves it.
    @Test func gradientDescentApproachesTheFlowAtFirstOrder() throws {
        let time = 2.0
        let flow = GradientFlowTraining(trainer: Self.trainer(optimizer: .gradientFlow()), endTime: time, tolerance: 1e-10,
                                        absoluteTolerance: nil, logEvery: 1000, checkpointEvery: 100_000, checkpointPath: nil)
        _ = try flow.run()
        let exact = Self.flatParameters(flow.trainer)
        var distances: [Double] = []
        for eta in [0.04, 0.02, 0.01, 0.005] {
            let descent = Self.trainer(optimizer: .sgd(), learningRate: eta)
            for _ in 0..<Int((time / eta).rounded()) { try descent.runEpoch() }
            let theta = Self.flatParameters(descent)
            distances.append(zip(theta, exact).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot())
        }
        let initial = Self.flatParameters(Self.trainer(optimizer: .sgd()))
        let moved = zip(initial, exact).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        #expect(distances[0] < 0.1 * moved, "GD must track the flow: \(distances) against a path of length \(moved)")
        for (coarse, fine) in zip(distances, distances.dropFirst()) {
            let ratio = coarse / fine
            #expect(abs(ratio - 2) < 0.1, "halving eta should halve the distance: \(distances)")
        }
    }
}

@Suite struct TrajectoryMeasurementTests {
    /// At first order theta_{eta/r}(t) - theta_eta(t) = (1 - 1/r)(theta_GF(t) - theta_eta(t)):
    /// the distance to the eta / r run is (1 - 1/r) times the distance to the flow.
    @Test func distancesBetweenRunsFollowTheFirstOrderError() throws {
        let config = TrajectoryConfig(stepRatios: [2, 4], stamps: 10, gradientFlow: true)
        let table = try TrajectoryMeasurement.measure(
            config, steps: 40, learningRate: 0.05, tolerance: 1e-10,
            makeTrainer: { learningRate, optimizer in
                GradientFlowTrainingTests.trainer(optimizer: optimizer, learningRate: learningRate)
            })
        #expect(table.times.count == 11 && table.times.last! == 2)
        #expect(table.distanceFromInit[0] == 0 && table.flowDistance![0] == 0)
        let flow = table.flowDistance!.last!
        #expect(flow > 0)
        for (index, r) in [2.0, 4.0].enumerated() {
            let ratio = table.ratioDistance[index].last! / flow
            #expect(abs(ratio - (1 - 1 / r)) < 0.05, "r = \(r): \(ratio)")
        }
        let lines = table.csv.split(separator: "\n")
        #expect(lines[0] == "t,loss,distance_from_init,loss_r2,distance_to_r2,loss_r4,distance_to_r4,loss_gf,distance_to_gf")
        #expect(lines.count == 12)
        #expect(TrajectoryPlot.svg(table, learningRate: 0.05).contains("Distance between runs"))
    }

    /// With `hessian`, the extremes at t = 0 are the Hessian's at theta_0 (Lanczos against the
    /// Rayleigh quotients of random directions, which lie between them), and the bound's factor
    /// is t eta while lambda_min >= 0.
    @Test func hessianColumns() throws {
        let config = TrajectoryConfig(stepRatios: [2], stamps: 4, gradientFlow: true, hessian: true)
        let table = try TrajectoryMeasurement.measure(
            config, steps: 8, learningRate: 0.05, tolerance: 1e-8,
            makeTrainer: { learningRate, optimizer in
                GradientFlowTrainingTests.trainer(optimizer: optimizer, learningRate: learningRate)
            })
        let (smallest, largest) = (table.hessianSmallest!, table.hessianLargest!)
        #expect(smallest.count == table.times.count && largest.count == table.times.count)
        let trainer = GradientFlowTrainingTests.trainer(optimizer: .sgd())
        let hessian = try MLPHessian(trainer.model, inputs: trainer.inputs, targets: trainer.targets, loss: .meanSquaredError)
        var generator = Xoshiro256StarStar(seed: 3)
        for _ in 0..<5 {
            let v = (0..<hessian.parameterCount).map { _ in generator.nextNormal() }
            let quotient = zip(v, hessian.hessianVectorProduct(v)).reduce(0) { $0 + $1.0 * $1.1 } / v.reduce(0) { $0 + $1 * $1 }
            #expect(quotient <= largest[0] + 1e-9 && quotient >= smallest[0] - 1e-9)
        }
        let integral = table.integralOfLambdaMinus!, factor = table.boundFactor!
        #expect(integral.allSatisfy { $0 <= 0 } && integral[0] == 0)
        for k in table.times.indices { #expect(factor[k] >= table.times[k] * 0.05 * (1 - 1e-12)) }
        let header = table.csv.split(separator: "\n")[0]
        #expect(header.hasSuffix("loss_gf,distance_to_gf,hessian_min,hessian_max,int_lambda_minus,bound_factor"))
        #expect(TrajectoryPlot.svg(table, learningRate: 0.05).contains("Hessian along the path"))
    }
}

/// The shipped `configs/gf-vs-gd.json`, shrunk (`ShippedConfigRunTests.runShrunk`): a cross-entropy
/// classifier under full-batch gradient descent writes its trajectory with gradient flow and the
/// Hessian, reports accuracy, and the MSE-only stability number stays out of it.
@Suite struct ShippedTrajectoryConfigTests {
    @Test func gradientFlowVersusDescentConfigWritesItsTrajectory() throws {
        try ShippedConfigRunTests.runShrunk("gf-vs-gd.json") { report, folder in
            let record = try #require(report.records.first)
            #expect(record.metrics.gradientDescentStability == nil)
            let accuracy = try #require(record.metrics.accuracy.train)
            #expect(accuracy >= 0 && accuracy <= 1)
            let lines = try readText(folder + "/trajectory.csv").split(separator: "\n")
            #expect(lines.first.map(String.init) == "t,loss,distance_from_init,loss_r2,distance_to_r2,loss_gf,distance_to_gf,"
                    + "hessian_min,hessian_max,int_lambda_minus,bound_factor")
            #expect(lines.count == 1 + 2)  // t = 0 and the end
            #expect(FileManager.default.fileExists(atPath: folder + "/trajectory.svg"))
        }
    }
}
