import Experiments
import Testing
import TestSupport

/// A few fuzz cases through `train` itself: a damaged config, `--init-from` file, checkpoint or
/// CSV file ends the command with exit code 2 and one message naming the file, before any run.
@Suite struct CLIInputTests {
    /// The first fuzz cases of each kind that the library refuses.
    static func refusedConfigs(_ count: Int) -> [String] {
        (0..<ConfigFuzzTests.cases).lazy.map(ConfigFuzzTests.mutatedConfig).filter { text in
            (try? ExperimentPlan.parse(text, file: "x.json", memoryLimitBytes: fuzzMemoryLimit)) == nil
        }.prefix(count).map { $0 }
    }

    static func refusedSafetensors(_ count: Int) -> [[UInt8]] {
        (0..<SafetensorsFuzzTests.cases).lazy.map(SafetensorsFuzzTests.corruptedFile).filter { bytes in
            (try? Safetensors.decode(bytes)) == nil
        }.prefix(count).map { $0 }
    }

    @Test(.timeLimit(.minutes(1))) func fuzzedConfigsExitWithTwo() throws {
        try withTemporaryFolder { folder in
            for (index, text) in Self.refusedConfigs(3).enumerated() {
                try AtomicFile.write(text, to: folder + "/fuzz-\(index).json")
                let result = try runTrain(["--config", "fuzz-\(index).json", "--output", "run-\(index)", "--quiet", "--blas-core", "keep"],
                                          in: folder)
                #expect(result.exitCode == 2, "\(result)")
                #expect(result.standardError.hasPrefix("error: fuzz-\(index).json: "), "\(result)")
                #expect(!FileSystem.exists(folder + "/run-\(index)"))
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func corruptedInitFromFilesExitWithTwo() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            var files = Self.refusedSafetensors(2).enumerated().map { ("fuzz-\($0.offset).safetensors", $0.element) }
            // Whole files that still do not fit: another network's parameters, and infinities.
            var generator = Xoshiro256StarStar(seed: 1)
            let other: Sequential<Double> = MLPDescription(inputSize: 1, width: 8, hiddenLayers: 2).build(generator: &generator)
            try other.saveCheckpoint(to: folder + "/other.safetensors")
            files.append(("other.safetensors", try AtomicFile.read(folder + "/other.safetensors")))
            files.append(("infinite.safetensors", try Safetensors.encode([("0.weight", AnyTensor(Tensor<Float>(shape: [1], scalars: [.infinity])))])))
            for (name, bytes) in files {
                try AtomicFile.write(bytes, to: folder + "/" + name)
                let result = try runTrain(["--config", "small.json", "--output", "run", "--init-from", name, "--quiet", "--blas-core", "keep"],
                                          in: folder)
                #expect(result.exitCode == 2, "\(name): \(result)")
                #expect(result.standardError.hasPrefix("error: --init-from \(name)"), "\(name): \(result)")
                #expect(!FileSystem.exists(folder + "/run"), "\(name)")
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aCorruptedCheckpointStopsResumeWithTwo() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            try FileSystem.createFolder(folder + "/run")
            try AtomicFile.write(smallRunConfig, to: folder + "/run/config.json")
            for (index, bytes) in Self.refusedSafetensors(2).enumerated() {
                try AtomicFile.write(bytes, to: folder + "/run/checkpoint.safetensors")
                let result = try runTrain(["--config", "small.json", "--output", "run", "--resume", "--quiet", "--blas-core", "keep"],
                                          in: folder)
                #expect(result.exitCode == 2, "case \(index): \(result)")
                #expect(result.standardError.hasPrefix("error: cannot resume seed3: run/checkpoint.safetensors: "), "\(result)")
                #expect(result.standardError.hasSuffix("Delete run/checkpoint.safetensors to start that run over\n"), "\(result)")
                #expect(filesBelow(folder + "/run") == ["checkpoint.safetensors", "config.json"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aMalformedCSVExitsWithTwo() throws {
        try withTemporaryFolder { folder in
            var random = FuzzRandom(seed: 0xC5F, case: 0)
            var text = csvSeeds[0]
            while (try? CSVTable(text: text, file: "d.csv")) != nil { text = random.corruptedCSV(csvSeeds[0]) }
            try AtomicFile.write(text, to: folder + "/d.csv")
            try AtomicFile.write(#"{"data": {"kind": "csv", "path": "d.csv", "features": ["a", "b"], "target": "y"}}"#, to: folder + "/csv.json")
            let result = try runTrain(["--config", "csv.json", "--output", "run", "--quiet", "--blas-core", "keep"], in: folder)
            #expect(result.exitCode == 2, "\(result)")
            #expect(result.standardError.hasPrefix("error: d.csv: "), "\(result)")
        }
    }
}
