import Foundation
import Testing
@testable import NeuralNet
import TestSupport

@Suite struct CheckpointTests {
    func network<S: BLASScalar>(_ type: S.Type, seed: UInt64) -> Sequential<S> {
        var generator = Xoshiro256StarStar(seed: seed)
        return Sequential(Dense(3, 5, generator: &generator), LayerNorm(5), ReLU(), Dense(5, 1, generator: &generator))
    }

    @Test func roundTripBothPrecisions() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/a.safetensors"
            let original = network(Double.self, seed: 1)
            try original.saveCheckpoint(to: path, metadata: ["epoch": "3"])
            let restored = network(Double.self, seed: 2)
            #expect(restored.stateDict != original.stateDict)
            #expect(try restored.loadCheckpoint(from: path) == ["epoch": "3"])
            #expect(restored.stateDict == original.stateDict)

            let single = network(Float.self, seed: 3)
            try single.saveCheckpoint(to: path)
            let singleRestored = network(Float.self, seed: 4)
            try singleRestored.loadCheckpoint(from: path)
            #expect(singleRestored.stateDict == single.stateDict)
        }
    }

    @Test func wrongArchitectureNamesTheFileAndMismatch() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/b.safetensors"
            try network(Double.self, seed: 1).saveCheckpoint(to: path)
            var generator = Xoshiro256StarStar(seed: 0)
            let other = Sequential<Double>(Dense(3, 7, generator: &generator), ReLU(), Dense(7, 1, generator: &generator))
            do {
                try other.loadCheckpoint(from: path)
                Issue.record("loading into a different architecture did not throw")
            } catch {
                let text = "\(error)"
                #expect(text.hasPrefix(path))
                #expect(text.contains("'0.weight' has shape [5, 3] but the model expects [7, 3]"))
                #expect(text.contains("unexpected parameters: 1.bias, 1.weight, 3.bias, 3.weight"))
            }
        }
    }
}

/// Checkpoints of networks with BatchNorm: buffers saved and restored under PyTorch's names, and
/// files PyTorch's `load_state_dict(strict=True)` accepts.
@Suite struct BufferCheckpointTests {
    /// A fixture network after three Adam steps in training mode (non-trivial running statistics),
    /// with its evaluation-mode and training-mode outputs on the fixture's x.
    static func trained(_ name: String) throws -> (Sequential<Double>, x: Tensor<Double>, eval: Tensor<Double>, train: Tensor<Double>) {
        let case_ = try LayerReferenceTests.network(name)
        let network = try LayerReferenceTests.model(case_, Double.self)
        let x = tensor(case_["x"]!), y = tensor(case_["y"]!)
        network.setTraining(true)
        threeAdamSteps(network, x: x, y: y, settings: case_["afterThreeAdamSteps"] as! [String: Any])
        let state = network.stateDict
        network.setTraining(false)
        let eval = network(x)
        network.setTraining(true)
        let train = network(x)  // moves the running statistics: put them back
        try network.load(stateDict: state)
        return (network, x, eval, train)
    }

    @Test(arguments: ["batchNormTrain", "residualBatchNorm"]) func roundTrip(name: String) throws {
        try withTemporaryFolder { folder in
            let path = folder + "/bn.safetensors"
            let (network, x, eval, train) = try Self.trained(name)
            try network.saveCheckpoint(to: path)
            let restored = try LayerReferenceTests.model(try LayerReferenceTests.network(name), Double.self)
            #expect(restored.stateDict != network.stateDict)
            try restored.loadCheckpoint(from: path)
            #expect(restored.stateDict == network.stateDict)
            restored.setTraining(false)
            #expect(restored(x) == eval)
            restored.setTraining(true)
            #expect(restored(x) == train)
            let names = Set(try Safetensors.read(path).tensors.keys)
            #expect(names.contains("1.inner.0.running_var") || names.contains("4.num_batches_tracked"))
        }
    }

    /// Files PyTorch wrote (`safetensors.torch.save_file(model.state_dict())`, num_batches_tracked
    /// as I64: `scripts/reference/generate_torch_layers.py --write-checkpoint`) load into the same
    /// network here and give PyTorch's outputs, in eval mode and then in train mode.
    @Test(arguments: ["batchNormEval", "residualBatchNorm"]) func filesPyTorchWroteLoad(name: String) throws {
        let url = try #require(Bundle.module.url(forResource: "torch_\(name)", withExtension: "safetensors", subdirectory: "Resources"))
        let file = try Safetensors.read(url.path)
        let counters = file.tensors.filter { $0.key.hasSuffix("num_batches_tracked") }
        #expect(!counters.isEmpty && counters.values.allSatisfy { $0 == AnyTensor(Tensor<Double>(shape: [], scalars: [7])) })
        let metadata = try #require(file.metadata)
        func decoded(_ key: String) throws -> Tensor<Double> {
            tensor(try JSONSerialization.jsonObject(with: Data(try #require(metadata[key]).utf8)))
        }
        let (x, eval, train) = (try decoded("x"), try decoded("evalOutput"), try decoded("trainOutput"))
        let network = try LayerReferenceTests.model(try LayerReferenceTests.network(name), Double.self)
        try network.loadCheckpoint(from: url.path)
        network.setTraining(false)
        #expect(relativeError(network(x), eval) < 1e-12, "\(name), eval mode")
        network.setTraining(true)
        #expect(relativeError(network(x), train) < 1e-12, "\(name), train mode")
        // A Float network converts the file's F64 and I64 on loading (1.7e-7 and 1.4e-6 measured).
        let single = try LayerReferenceTests.model(try LayerReferenceTests.network(name), Float.self)
        try single.loadCheckpoint(from: url.path)
        single.setTraining(false)
        #expect(relativeError(single(x.converted(to: Float.self)).converted(to: Double.self), eval) < 1e-5, "\(name), Float")
    }

    @Test func aCheckpointWithoutBuffersNamesThemMissing() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/nobuffers.safetensors"
            var generator = Xoshiro256StarStar(seed: 1)
            try Sequential<Double>(Dense(3, 4, generator: &generator), LayerNorm(4)).saveCheckpoint(to: path)
            let network = Sequential<Double>(Dense(3, 4, generator: &generator), BatchNorm(4))
            do {
                try network.loadCheckpoint(from: path)
                Issue.record("a checkpoint without the running statistics loaded")
            } catch {
                #expect("\(error)".contains("missing buffers: 1.running_mean, 1.running_var, 1.num_batches_tracked"))
            }
        }
    }

    /// The checkpoints in Resources, checked by PyTorch (`load_state_dict(strict=True)` into the
    /// fixture's torch module, outputs in both modes against the ones in the file's metadata):
    /// `python scripts/reference/generate_torch_layers.py --check-checkpoint FILE NETWORK`. This
    /// test proves they are what `saveCheckpoint` writes today.
    @Test(arguments: ["batchNormTrain", "residualBatchNorm"]) func filesCheckedByPyTorchAreOurs(name: String) throws {
        let (network, x, eval, train) = try Self.trained(name)
        func json(_ tensor: Tensor<Double>) -> String {
            "[" + (0..<tensor.shape[0]).map { i in "[" + (0..<tensor.shape[1]).map { "\(tensor[i, $0])" }.joined(separator: ", ") + "]" }
                .joined(separator: ", ") + "]"
        }
        try withTemporaryFolder { folder in
            let path = folder + "/\(name).safetensors"
            try network.saveCheckpoint(to: path, metadata: ["x": json(x), "evalOutput": json(eval), "trainOutput": json(train)])
            let committed = try #require(Bundle.module.url(forResource: "finitewidth_\(name)", withExtension: "safetensors",
                                                           subdirectory: "Resources"))
            let written = try Safetensors.read(path), expected = try Safetensors.read(committed.path)
            #expect(written == expected, "\(committed.path) differs from what saveCheckpoint writes now: copy the new file over and rerun the PyTorch check")
        }
    }
}
