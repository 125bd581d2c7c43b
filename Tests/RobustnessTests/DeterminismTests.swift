import Experiments
import Testing

/// The same config and seed give the same bytes: on one BLAS thread for a single run, and for a
/// sweep whatever `--threads` says (its runs each use one BLAS thread).
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
                let result = try runTrain(["--config", "small.json", "--output", output, "--threads", "1", "--quiet"], in: folder)
                try #require(result.exitCode == 0, "\(result)")
            }
            try expectSameOutputs(folder + "/first", folder + "/second")
        }
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
                let result = try runTrain(["--config", "sweep.json", "--output", output, "--threads", threads, "--quiet"], in: folder)
                try #require(result.exitCode == 0, "\(result)")
            }
            #expect(filesBelow(folder + "/one").filter { $0.hasSuffix("model.safetensors") }.count == 2)
            try expectSameOutputs(folder + "/one", folder + "/two")
        }
    }
}
