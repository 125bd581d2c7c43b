import Glibc
import Testing
@testable import Experiments
import TestSupport

func table(_ rows: [(Double, Double, Double)]) -> ExtrapolationTable {
    ExtrapolationTable(points: rows.map { ExtrapolationPoint(lambda: $0.0, maxAbs: $0.1, meanAbs: $0.2) })
}

@Suite struct ExtrapolationCSVTests {
    static let linear = table([(1, 2, 1), (10, 20, 10), (100, 200, 100)])

    @Test func singleRunHasTheThreeDesignColumns() throws {
        let text = ExtrapolationCSV.text([RunExtrapolation(variant: nil, seed: 0, table: Self.linear)])
        #expect(text == "lambda,max_abs,mean_abs\n1,2,1\n10,20,10\n100,200,100\n")
    }

    @Test func sweepsAddVariantAndSeedColumnsAndReadBack() throws {
        let runs = [
            RunExtrapolation(variant: "no-ln", seed: 0, table: Self.linear),
            RunExtrapolation(variant: "no-ln", seed: 1, table: table([(1, .nan, 0.1), (10, 1e-7, 0.1), (100, 1.5e300, 0.1)])),
            RunExtrapolation(variant: "odd, \"name\"", seed: 0, table: Self.linear),
        ]
        let text = ExtrapolationCSV.text(runs)
        let parsed = try CSVTable(text: text, file: "extrapolation.csv")
        #expect(parsed.columnNames == ["lambda", "max_abs", "mean_abs", "variant", "seed"])
        #expect(parsed.rows.count == 9)
        #expect(parsed.rows[3] == ["1", "nan", "0.1", "no-ln", "1"])
        #expect(parsed.rows[5][1] == "1.5e+300")
        #expect(parsed.rows[8][3] == "odd, \"name\"")
        // One variant over several seeds: a seed column only.
        let seedsOnly = ExtrapolationCSV.text([RunExtrapolation(variant: nil, seed: 3, table: Self.linear),
                                               RunExtrapolation(variant: nil, seed: 4, table: Self.linear)])
        #expect(seedsOnly.hasPrefix("lambda,max_abs,mean_abs,seed\n1,2,1,3\n"))
    }

    @Test func writesAtomically() throws {
        try withTemporaryFolder { folder in
            try ExtrapolationCSV.write([RunExtrapolation(variant: nil, seed: 0, table: Self.linear)], to: folder + "/extrapolation.csv")
            #expect(try AtomicFile.readText(folder + "/extrapolation.csv").hasPrefix("lambda,max_abs,mean_abs\n"))
            #expect(throws: FileError.self) {
                try ExtrapolationCSV.write([], to: "/nonexistent-folder/extrapolation.csv")
            }
        }
    }
}

@Suite struct MetricsTests {
    static let metrics = RunMetrics(
        name: "ln", variant: "ln-first", seed: 3, precision: .float32, threads: 2, wallTimeSeconds: 12.5,
        lossCurve: [LossRecord(epoch: 0, loss: 0.5), LossRecord(epoch: 10, loss: 0.25), LossRecord(epoch: 20, loss: .nan)],
        finalTrainLoss: .nan, epochsRun: 20, extrapolation: ExtrapolationCSVTests.linear,
        rSquared: RSquaredBySplit(test: 0.42))

    @Test func keysComeInAFixedOrder() throws {
        let value = try JSONValue.parse(Self.metrics.json.rendered())
        #expect(value.objectMembers?.map(\.key) == ["name", "variant", "seed", "precision", "threads", "wallTimeSeconds", "epochsRun",
                                                    "finalTrainLoss", "lossCurve", "extrapolation", "testR2"])
        #expect(value["precision"] == .string("float32"))
        #expect(value["finalTrainLoss"] == .null)
        #expect(value["lossCurve"]?["epoch"] == .array([.number(0), .number(10), .number(20)]))
        #expect(value["lossCurve"]?["loss"] == .array([.number(0.5), .number(0.25), .null]))
        #expect(value["extrapolation"]?["growthExponent"]?.doubleValue == 1)
        #expect(value["extrapolation"]?["points"] == .array([
            .object(["lambda": .number(1), "maxAbs": .number(2), "meanAbs": .number(1)]),
            .object(["lambda": .number(10), "maxAbs": .number(20), "meanAbs": .number(10)]),
            .object(["lambda": .number(100), "maxAbs": .number(200), "meanAbs": .number(100)]),
        ]))
    }

    @Test func writesTheSameTextEveryTime() throws {
        try withTemporaryFolder { folder in
            try Self.metrics.write(to: folder + "/metrics.json")
            try Self.metrics.write(to: folder + "/again.json")
            let text = try AtomicFile.readText(folder + "/metrics.json")
            #expect(text == (try AtomicFile.readText(folder + "/again.json")))
            #expect(text.hasSuffix("}\n"))
        }
    }

    @Test func resolvedConfigWritesAndLoadsBack() throws {
        try withTemporaryFolder { folder in
            let sweep = try plan(SweepTests.paperToy)
            try sweep.writeResolvedConfig(to: folder + "/config.json")
            let reloaded = try ExperimentPlan.load(path: folder + "/config.json", memoryLimitBytes: sixteenGiB)
            #expect(reloaded.runs.map(\.config) == sweep.runs.map(\.config))
        }
    }
}

@Suite struct TerminalTableTests {
    @Test func showsTheTableAndAVerdict() {
        let text = ExtrapolationCSVTests.linear.terminalText
        let lines = text.split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines[0] == "      lambda       max |f|      mean |f|")
        #expect(lines[2] == "          10            20            10")
        #expect(lines[4] == "growth exponent over the last decade: 1 (linear growth)")
        #expect(ExtrapolationTable.verdict(0.02) == "bounded")
        #expect(ExtrapolationTable.verdict(.nan) == "not finite: the network diverged")
        #expect(ExtrapolationTable.verdict(2.04) == "grows like lambda^2")
    }

    @Test func compactNumbers() {
        #expect(compact(0.998123) == "0.9981")
        #expect(compact(1.7782794) == "1.778")
        #expect(compact(17782.794) == "17783")
        #expect(compact(1_778_279.4) == "1.778e+06")
        #expect(compact(9.99996e7) == "1e+08")
        #expect(compact(0.00001) == "1e-05")
        #expect(compact(-0.25) == "-0.25")
        #expect(compact(0) == "0")
        #expect(compact(.infinity) == "inf")
    }
}
