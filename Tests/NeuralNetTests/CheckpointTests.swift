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
