import Foundation
import Testing
import TestSupport

/// A config that would run (briefly), for the cases where the command line is what is wrong.
let validConfig = """
    { "name": "ok", "data": { "trainSize": 10 }, "model": { "width": 8 }, "training": { "epochs": 1 },
      "evaluation": { "lambdas": { "from": 1, "to": 10, "perDecade": 1 } } }
    """

/// One way to get `train` wrong, and what its message must name.
struct UsageErrorCase: Sendable, CustomTestStringConvertible {
    let label: String
    /// Written to `bad.json` in the working folder.
    let config: String
    /// Further files to create, by path relative to the working folder.
    var files: [String: String] = [:]
    var arguments = ["--config", "bad.json", "--output", "out"]
    /// Each must appear in standard error.
    let expected: [String]
    var testDescription: String { label }
}

@Suite struct UsageErrorTests {
    static let diabetes = projectRoot + "/data/diabetes.csv"

    static let cases: [UsageErrorCase] = [
        UsageErrorCase(label: "unknown key", config: #"{"model": {"widht": 8}}"#,
                       expected: ["bad.json: model.widht: unknown key", #"did you mean "width"?"#]),
        UsageErrorCase(label: "wrong type", config: #"{"training": {"epochs": "many"}}"#,
                       expected: ["bad.json: training.epochs: expected an integer", #"found "many""#]),
        UsageErrorCase(label: "negative width", config: #"{"model": {"width": -3}}"#,
                       expected: ["bad.json: model.width: expected a positive integer", "found -3"]),
        UsageErrorCase(label: "unknown activation", config: #"{"model": {"activation": "relux"}}"#,
                       expected: ["bad.json: model.activation: expected one of", #"found "relux""#]),
        UsageErrorCase(label: "LayerNorm index past the last hidden layer",
                       config: #"{"model": {"hiddenLayers": 2, "layerNorm": [0, 5]}}"#,
                       expected: ["bad.json: model.layerNorm[1]: expected a hidden-layer index from 0 to 1, found 5"]),
        UsageErrorCase(label: "lambdas the wrong way round", config: #"{"evaluation": {"lambdas": {"from": 100, "to": 1}}}"#,
                       expected: ["bad.json: evaluation.lambdas.to: must be larger than from (100), found 1"]),
        UsageErrorCase(label: "lambdas from zero, no points per decade",
                       config: #"{"evaluation": {"lambdas": {"from": 0, "to": 100, "perDecade": 0}}}"#,
                       expected: ["bad.json: evaluation.lambdas.from:", "bad.json: evaluation.lambdas.perDecade:"]),
        UsageErrorCase(label: "huge width refused before allocating", config: #"{"model": {"width": 1000000000}}"#,
                       expected: ["bad.json: model.width: this run needs about", "lower model.width"]),
        UsageErrorCase(label: "invalid JSON", config: "{\"model\": {\"width\": 8,}}",
                       expected: ["bad.json: line 1, column 23: trailing comma"]),
        UsageErrorCase(label: "problem inside a variant",
                       config: #"{"variants": [{"name": "a"}, {"name": "b", "training": {"optimiser": "sgd"}}]}"#,
                       expected: ["bad.json: variants[1].training.optimiser: unknown key"]),
        UsageErrorCase(label: "missing CSV column",
                       config: #"{"data": {"kind": "csv", "path": "\#(diabetes)", "features": ["age", "bmx"], "target": "progression"}}"#,
                       expected: [diabetes + #": no column named "bmx" (asked for by data.features[1])"#]),
        UsageErrorCase(label: "ragged CSV",
                       config: #"{"data": {"kind": "csv", "path": "ragged.csv", "features": ["x"], "target": "y"}}"#,
                       files: ["ragged.csv": "x,y\n1,2\n3\n4,5\n"],
                       expected: ["ragged.csv: row 3: 1 field, but the header has 2 columns"]),
        UsageErrorCase(label: "missing config file", config: validConfig,
                       arguments: ["--config", "missing.json", "--output", "out"],
                       expected: ["missing.json: cannot read the config"]),
        UsageErrorCase(label: "--shard 5/4", config: validConfig,
                       arguments: ["--config", "bad.json", "--output", "out", "--shard", "5/4"],
                       expected: [#"--shard expects i/n with 1 <= i <= n, got "5/4""#]),
        UsageErrorCase(label: "--threads 0", config: validConfig,
                       arguments: ["--config", "bad.json", "--output", "out", "--threads", "0"],
                       expected: ["--threads must be at least 1"]),
        UsageErrorCase(label: "--resume without --output", config: validConfig,
                       arguments: ["--config", "bad.json", "--resume"],
                       expected: ["--resume needs --output"]),
        UsageErrorCase(label: "output folder already holds files", config: validConfig,
                       files: ["out/earlier.txt": "an earlier run"],
                       expected: ["out already holds files; pass --resume"]),
        UsageErrorCase(label: "--init-from a missing file", config: validConfig,
                       arguments: ["--config", "bad.json", "--output", "out", "--init-from", "nowhere.safetensors"],
                       expected: ["--init-from nowhere.safetensors: no such file"]),
        UsageErrorCase(label: "merge of a folder that is not a run", config: validConfig,
                       arguments: ["merge", "nowhere", "--output", "merged"],
                       expected: ["nowhere/config.json: cannot read the config"]),
    ]

    /// Exit code 2, a message naming the file and the field, and nothing written: no output
    /// folder, no `runs/`, an existing folder left as it was.
    @Test(arguments: cases) func refusedWithExitCodeTwo(_ error: UsageErrorCase) throws {
        try withTemporaryFolder { folder in
            try writeFile(error.config, to: folder + "/bad.json")
            for (path, contents) in error.files {
                try FileManager.default.createDirectory(atPath: folder + "/" + (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
                try writeFile(contents, to: folder + "/" + path)
            }
            let before = try listing(folder)
            let result = try runTrain(error.arguments + (error.arguments.first == "merge" ? [] : ["--blas-core", "keep"]), in: folder)
            #expect(result.exitCode == 2, "\(result)")
            for expected in error.expected {
                #expect(result.standardError.contains(expected), "missing \"\(expected)\" in \(result)")
            }
            #expect(try listing(folder) == before)
            if error.files["out/earlier.txt"] != nil { #expect(try listing(folder + "/out") == ["earlier.txt"]) }
        }
    }
}
