import Testing
import NeuralNet  // not @testable: only the public API, as another package sees it

/// The README's "Build your own network" example, verbatim between the markers, so CI proves it
/// compiles and trains.
@Test func readmeCustomNetworkExample() throws {
    // README example begins
    var generator = Xoshiro256StarStar(seed: 0)
    let model = Sequential<Double>(
        Dense(2, 64, generator: &generator), LayerNorm(64), ReLU(),
        Dense(64, 64, generator: &generator), ReLU(),
        Dense(64, 1, generator: &generator))
    let x = Tensor<Double>.randomUniform([100, 2], low: -1, high: 1, using: &generator)
    let y = Tensor<Double>(shape: [100, 1], scalars: (0..<100).map { i in x[i, 0] * x[i, 1] })

    let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
    let tape = Tape<Double>()               // reused every step: no allocations after the first
    var firstLoss = 0.0, loss = 0.0
    for step in 0..<200 {
        tape.reset()
        optimizer.zeroGradients()
        let prediction = model(tape.input(x))
        let lossVariable = meanSquaredError(prediction, y)
        tape.backward(lossVariable)         // gradients accumulate into model.parameters
        optimizer.step()
        loss = lossVariable.value.scalar
        if step == 0 { firstLoss = loss }
    }
    let far = model(Tensor<Double>([[1000, -1000]]))   // bounded: the LayerNorm sees only directions
    try model.saveCheckpoint(to: "/tmp/readme-example.safetensors")   // loads in PyTorch as is
    // README example ends
    #expect(loss < firstLoss / 5)
    #expect(far.maxAbs().isFinite)
}
