import Testing
@testable import Experiments
import TestSupport

/// `data/digits.csv` through CSV data, as data/README.md shows it: 64 numbered pixel columns without
/// listing them, the first 128 rows.
@Suite struct DigitsDataTests {
    /// The `"data": {...}` block of data/README.md's example, with the path made absolute.
    static func readmeDataBlock() throws -> String {
        let readme = try readText(projectRoot + "/data/README.md")
        let start = try #require(readme.range(of: "\"data\": { \"kind\": \"csv\", \"path\": \"data/digits.csv\""))
        let end = try #require(readme[start.lowerBound...].range(of: "}\n```"))
        return String(readme[start.lowerBound..<end.upperBound].dropLast(4))
            .replacingOccurrences(of: "data/digits.csv", with: projectRoot + "/data/digits.csv")
    }

    @Test func theReadmeExampleLoads128DigitsOf64Pixels() throws {
        let config = try plan("{ \(try Self.readmeDataBlock()) }").base
        guard case .csv(let csv) = config.data else { Issue.record("not CSV data"); return }
        #expect(csv.features == (0...63).map { "p\($0)" })
        #expect(csv.firstRows == 128)
        #expect(config.data.inputDim == 64)
        let data = try ExperimentData<Double>.load(config.data, seed: 0)
        #expect(data.train.inputs.shape == [128, 64])
        #expect(data.train.targets.count == 128)
        // p0 is 0 in all 128 rows: standardised to exactly 0. The target (the label) to mean 0, deviation 1.
        #expect((0..<128).allSatisfy { data.train.inputs[$0, 0] == 0 })
        let labels = data.train.targets.scalars
        let mean = labels.reduce(0, +) / 128
        let deviation = (labels.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 128).squareRoot()
        #expect(abs(mean) < 1e-12 && abs(deviation - 1) < 1e-12)
        // The first row's raw pixels, standardised back: p2 is 5 in the file's first row.
        let table = try CSVTable.read(path: projectRoot + "/data/digits.csv")
        let p2 = (0..<128).map { Double(table.rows[$0][2])! }
        let p2Mean = p2.reduce(0, +) / 128
        let p2Scale = (p2.map { ($0 - p2Mean) * ($0 - p2Mean) }.reduce(0, +) / 128).squareRoot()
        #expect(abs(data.train.inputs[0, 2] - (5 - p2Mean) / p2Scale) < 1e-12)
        // The resolved config lists the columns, and reads back to the same config.
        let reloaded = try plan(try plan("{ \(try Self.readmeDataBlock()) }").resolvedJSON.rendered(style: .pretty)).base
        #expect(reloaded.data == config.data)
    }

    @Test func badRangesAndRowCountsAreNamed() throws {
        let path = projectRoot + "/data/digits.csv"
        func data(_ features: String, firstRows: String = "128") -> String {
            #"{"data": {"kind": "csv", "path": "\#(path)", "features": \#(features), "target": "label", "firstRows": \#(firstRows)}}"#
        }
        #expect(problems(data(#"{"prefix": "p", "from": 5, "to": 2}"#))
            == [#"configs/x.json: data.features.to: expected a number at least "from" (5), found 2"#])
        #expect(problems(data(#"{"prefix": "p", "to": 2}"#)).first?.hasPrefix("configs/x.json: data.features.from: missing;") == true)
        #expect(problems(data(#"{"prefix": "p", "from": 0, "to": 2, "step": 1}"#)).first?
            .hasPrefix("configs/x.json: data.features.step: unknown key") == true)
        #expect(problems(data(#"["p1"]"#, firstRows: "0")) == [#"configs/x.json: data.firstRows: expected a positive integer (rows of the file to use), found 0"#])
        let tooMany = try plan(data(#"["p1"]"#, firstRows: "5000")).base
        #expect(throws: CSVError.self) { try ExperimentData<Double>.load(tooMany.data, seed: 0) }
        do {
            _ = try ExperimentData<Double>.load(tooMany.data, seed: 0)
        } catch {
            #expect("\(error)".contains("data.firstRows is 5000 but the file has 1797 data rows"), "\(error)")
        }
    }
}
