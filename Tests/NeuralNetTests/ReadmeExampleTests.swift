import Foundation
import Testing
import NeuralNet  // not @testable: only the public API, as another package sees it

/// The README's "Build your own network" examples, verbatim between the markers, so CI proves they
/// compile and train.
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

    // README checkpoint example begins
    let restored = Sequential<Double>(
        Dense(2, 64, generator: &generator), LayerNorm(64), ReLU(),
        Dense(64, 64, generator: &generator), ReLU(),
        Dense(64, 1, generator: &generator))
    try restored.loadCheckpoint(from: "/tmp/readme-example.safetensors")   // or a file torch saved
    // README checkpoint example ends
    #expect(restored(x) == model(x), "the restored network computes what the saved one did")

    // README data-parallel example begins
    let training = DataParallelTraining(model: model, team: WorkerTeam(size: 2))
    for _ in 0..<200 { loss = training.step(inputs: x, targets: y, optimizer: optimizer) }
    // README data-parallel example ends
    #expect(loss < firstLoss / 10)
}

/// Every block between "README ... begins" and "ends" markers in the README example tests appears
/// in README.md as it is (less the test's indentation), so the README shows what CI runs.
@Test func readmeShowsTheTestedExamplesVerbatim() throws {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let readme = try String(contentsOf: tests.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
    var blocks = 0
    for file in ["NeuralNetTests/ReadmeExampleTests.swift", "TangentKernelsTests/ReadmeKernelExampleTests.swift"] {
        let source = try String(contentsOf: tests.appendingPathComponent(file), encoding: .utf8)
        var block: [String]?
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// README") && trimmed.hasSuffix("begins") {
                block = []
            } else if trimmed.hasPrefix("// README") && trimmed.hasSuffix("ends"), let lines = block {
                let text = lines.joined(separator: "\n")
                #expect(readme.contains(text), "\(file): this block is not in README.md as it is:\n\(text)")
                blocks += 1
                block = nil
            } else if block != nil {
                block!.append(line.hasPrefix("    ") ? String(line.dropFirst(4)) : String(line))
            }
        }
    }
    #expect(blocks == 4)
}
