import Experiments
import Testing
import TestSupport

/// The same config and seed give the same bytes: for a single run on a given thread count, and
/// for a sweep whatever `--threads` says (its runs each use one thread).
@Suite struct DeterminismTests {
    /// Every file of two run folders, byte for byte; `metrics.json` and `report.json` without
    /// their wall times, which measure the machine.
    func expectSameOutputs(_ first: String, _ second: String) throws {
        let names = filesBelow(first)
        #expect(names == filesBelow(second))
        #expect(names.contains("model.safetensors") || names.contains { $0.hasSuffix("/model.safetensors") })
        for name in names {
            if name.hasSuffix("metrics.json") {
                #expect(try metricsWithoutWallTime(first + "/" + name) == metricsWithoutWallTime(second + "/" + name), "\(name)")
            } else {
                let same = contentsOrNil(first + "/" + name) == contentsOrNil(second + "/" + name)
                #expect(same, "\(name) differs between two runs of one config")
            }
        }
    }

    @Test(.timeLimit(.minutes(2))) func oneThreadGivesIdenticalFiles() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            for output in ["first", "second"] {
                let result = try runTrain(["--config", "small.json", "--output", output, "--threads", "1", "--quiet", "--blas-core", "keep"],
                                          in: folder)
                try #require(result.exitCode == 0, "\(result)")
            }
            try expectSameOutputs(folder + "/first", folder + "/second")
        }
    }

    /// Two threads split each batch (40 rows, full batch): the same bytes from run to run, and
    /// the same training as one thread's up to the order of additions.
    @Test(.timeLimit(.minutes(2))) func twoThreadsGiveIdenticalFilesAndOneThreadsTraining() throws {
        let config = try JSONValue.parse(smallRunConfig).setting(["training", "batchSize"], to: .string("full"))
        try withTemporaryFolder { folder in
            try AtomicFile.write(config.rendered(), to: folder + "/full.json")
            for (output, threads) in [("first", "2"), ("second", "2"), ("one", "1")] {
                let result = try runTrain(["--config", "full.json", "--output", output, "--threads", threads, "--quiet", "--blas-core", "keep"],
                                          in: folder)
                try #require(result.exitCode == 0, "\(result)")
            }
            try expectSameOutputs(folder + "/first", folder + "/second")
            let (two, one) = try (finalTrainLoss(folder + "/first"), finalTrainLoss(folder + "/one"))
            #expect(abs(two - one) <= 1e-9 * one, "final loss \(two) on 2 threads, \(one) on 1")
        }
    }

    func finalTrainLoss(_ run: String) throws -> Double {
        let metrics = try JSONValue.parse(AtomicFile.readText(run + "/metrics.json"))
        return try #require(metrics["finalTrainLoss"]?.doubleValue, "no finalTrainLoss number in \(run)/metrics.json")
    }

    @Test(.timeLimit(.minutes(2))) func sweepRunsDoNotDependOnTheThreadCount() throws {
        // Two runs, so --threads 2 trains them side by side; 100 epochs keep it quick.
        var sweep = try JSONValue.parse(smallRunConfig).setting(["training", "epochs"], to: .number(100))
        guard case .object(var members) = sweep else { return }
        members.append(JSONMember("variants", .array([
            .object([JSONMember("name", .string("ln")), JSONMember("model", .object([JSONMember("layerNorm", .string("first"))]))]),
            .object([JSONMember("name", .string("no-ln")), JSONMember("model", .object([JSONMember("layerNorm", .string("none"))]))]),
        ])))
        sweep = .object(members)
        try withTemporaryFolder { folder in
            try AtomicFile.write(sweep.rendered(), to: folder + "/sweep.json")
            for (output, threads) in [("one", "1"), ("two", "2")] {
                let result = try runTrain(["--config", "sweep.json", "--output", output, "--threads", threads, "--quiet", "--blas-core", "keep"],
                                          in: folder)
                try #require(result.exitCode == 0, "\(result)")
            }
            #expect(filesBelow(folder + "/one").filter { $0.hasSuffix("model.safetensors") }.count == 2)
            try expectSameOutputs(folder + "/one", folder + "/two")
        }
    }
}
