import Experiments

/// A tiny trainer (2 inputs, 10 rows in minibatches of 4 by default, LayerNorm) whose checkpoint is a
/// realistic fuzzing seed and whose `restore` is fuzzed and checked for completeness.
func tinyTrainer<Scalar: BLASScalar>(_ type: Scalar.Type, optimizer: OptimizerConfig = .adam(),
                                     seed: UInt64 = 1, initializationSeed: UInt64? = nil,
                                     learningRate: Double = 0.01, batchSize: Int? = 4) -> Trainer<Scalar> {
    var initialization = Xoshiro256StarStar(seed: initializationSeed ?? seed)
    var description = MLPDescription(inputSize: 2, width: 4, hiddenLayers: 2)
    description.layerNormAfter = [0]
    let model: Sequential<Scalar> = description.build(generator: &initialization)
    var data = Xoshiro256StarStar(seed: seed + 100)
    let inputs = Tensor<Scalar>.randomUniform([10, 2], low: -1, high: 1, using: &data)
    let targets = Tensor<Scalar>.randomUniform([10, 1], low: -1, high: 1, using: &data)
    let training = TrainingConfig(optimizer: optimizer, learningRate: learningRate)
    return Trainer(model: model, optimizer: training.makeOptimizer(parameters: model.parameters),
                   inputs: inputs, targets: targets, batchSize: batchSize, generator: Xoshiro256StarStar(seed: seed + 200))
}
