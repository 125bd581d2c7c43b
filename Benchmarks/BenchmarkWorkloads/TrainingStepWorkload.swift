import Glibc
import NeuralNet

/// One training step (forward, MSE loss, backward, Adam update) of the MLPs this field studies,
/// with everything it touches built once: the network (1 input, `hiddenLayers` x `width`, ReLU,
/// Kaiming-normal weights, biases N(0, 0.1^2), LayerNorm after the first hidden Dense or none),
/// a full batch of sin(3x) on [-1, 1], Adam at 1e-3, the tape. Shared by `Benchmarks/TrainingStep`
/// and `Benchmarks/PeerWorkloads` (whose Python twins build the same network).
public final class TrainingStepWorkload<Scalar: BLASScalar> {
    public let model: Sequential<Scalar>
    let optimizer: Adam<Scalar>
    let tape = Tape<Scalar>()
    let x: Tensor<Scalar>, y: Tensor<Scalar>
    /// With a team: the batch split over its threads; without: one tape (BLAS may use threads).
    let dataParallel: DataParallelTraining<Scalar>?
    /// lambda of the Jacobian penalty (`Tape.jacobianPenalizedLoss`); 0: the plain MSE step.
    let jacobianPenalty: Scalar

    /// How a step uses threads.
    public enum Threads {
        /// One tape; BLAS uses the threads it is set to.
        case blas
        /// Each batch split over this many threads (`DataParallelTraining`).
        case splitOver(Int)
        /// As `train` does: split over as many of these as pay (`threadsWorthUsing`), else `blas`.
        case asTrainDoes(Int)
    }

    public convenience init(width: Int, hiddenLayers: Int, batch: Int, layerNorm: Bool, threads: Threads = .blas,
                            jacobianPenalty: Scalar = 0) {
        var generator = Xoshiro256StarStar(seed: 1)
        var description = MLPDescription(inputSize: 1, width: width, hiddenLayers: hiddenLayers)
        description.weightInitialization = .kaimingNormal
        description.biasInitialization = .normal(standardDeviation: 0.1)
        if layerNorm { description.layerNormAfter = [0] }
        let model: Sequential<Scalar> = description.build(generator: &generator)
        self.init(model: model, batch: batch, threads: threads, jacobianPenalty: jacobianPenalty, generator: &generator)
    }

    /// A step of `model` (1 input, 1 output) on the same data, drawn from `generator`.
    public init(model: Sequential<Scalar>, batch: Int, threads: Threads = .blas, jacobianPenalty: Scalar = 0,
                generator: inout Xoshiro256StarStar) {
        self.model = model
        self.jacobianPenalty = jacobianPenalty
        optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
        x = .randomUniform([batch, 1], low: -1, high: 1, using: &generator)
        y = x.map { Scalar(Glibc.sin(3 * Double($0))) }
        let teamSize = switch threads {
        case .blas: 1
        case .splitOver(let count): count
        case .asTrainDoes(let count):
            DataParallelTraining<Scalar>.threadsWorthUsing(available: count, rows: batch, model: model)
        }
        dataParallel = teamSize > 1 ? DataParallelTraining(model: model, team: WorkerTeam(size: teamSize)) : nil
        dataParallel?.jacobianPenalty = jacobianPenalty
    }

    /// Runs one step.
    @inline(__always)
    public func step() {
        if let dataParallel {
            _ = dataParallel.step(inputs: x, targets: y, optimizer: optimizer)
            return
        }
        tape.reset()
        optimizer.zeroGradients()
        let loss = tape.jacobianPenalizedLoss(model, inputs: x, targets: y, penalty: jacobianPenalty).loss
        tape.backward(loss)
        optimizer.step()
    }
}
