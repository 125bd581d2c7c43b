import Foundation
import Testing
import Experiments
import TestSupport

/// `evaluation.linearized` end to end: `train --init-from` a checkpoint `train` wrote, against an
/// independent implementation (torch.func's per-sample Jacobians and the gradient-descent steps
/// iterated, `scripts/reference/generate_linearized.py`).
@Suite struct LinearizedRunTests {
    static let resources = projectRoot + "/Tests/TrainCommandTests/Resources"

    /// The reference's config with the data file's absolute path.
    static func referenceConfig() throws -> (config: String, reference: [String: Any]) {
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resources + "/linearized_reference.json"))) as! [String: Any]
        var config = reference["config"] as! [String: Any]
        var data = config["data"] as! [String: Any]
        data["path"] = resources + "/" + (data["path"] as! String)
        config["data"] = data
        let text = String(data: try JSONSerialization.data(withJSONObject: config), encoding: .utf8)!
        return (text, reference)
    }

    @Test func linearizedTableMatchesTorchFromTheSameCheckpoint() throws {
        let (config, reference) = try Self.referenceConfig()
        try withTemporaryFolder { folder in
            try writeFile(config, to: folder + "/linearized.json")
            let result = try runTrain(["--config", "linearized.json", "--init-from", Self.resources + "/linearized_init.safetensors",
                                       "--threads", "1", "--output", "run", "--quiet"], in: folder)
            #expect(result.exitCode == 0, "\(result)")
            let rows = try csvRows(folder + "/run/extrapolation-linearized.csv")
            #expect(rows.first == ["lambda", "max_abs", "mean_abs"])
            let expected = reference["extrapolation"] as! [[String: Double]]
            #expect(rows.count == expected.count + 1)
            for (row, point) in zip(rows.dropFirst(), expected) {
                #expect(abs(Double(row[0])! / point["lambda"]! - 1) < 1e-12)
                #expect(abs(Double(row[1])! / point["maxAbs"]! - 1) < 1e-8, "lambda \(row[0]) max: \(row[1]) against \(point["maxAbs"]!)")
                #expect(abs(Double(row[2])! / point["meanAbs"]! - 1) < 1e-8, "lambda \(row[0]) mean: \(row[2]) against \(point["meanAbs"]!)")
            }
            let summary = try readJSON(folder + "/run/metrics.json")["linearized"]
            let trainLoss = summary?["trainLoss"]?.doubleValue ?? .nan
            #expect(abs(trainLoss / (reference["trainLoss"] as! Double) - 1) < 1e-8, "train loss \(trainLoss)")
            #expect(summary?["dynamics"] == .string("gradientDescent"))

            // Distances every logEvery (10) epochs from 0 to 60; 0 at the start, where both are the initial network.
            let distances = try csvRows(folder + "/run/linearized.csv")
            #expect(distances.first == ["epoch", "train_distance", "probe_distance"])
            #expect(distances.dropFirst().map { Int($0[0])! } == [0, 10, 20, 30, 40, 50, 60])
            #expect(distances[1] == ["0", "0", "0"])
            #expect(distances.dropFirst(2).allSatisfy { Double($0[1])! > 0 && Double($0[2])! > 0 })
            #expect(summary?["probeDistance"]?.doubleValue == Double(distances.last![2]))
            #expect(exists(folder + "/run/extrapolation-linearized.svg"))
        }
    }

    /// A run resumed from a checkpoint keeps the distances recorded before it (from the
    /// `linearized.csv` written with the checkpoint) and ends with the same files as one never
    /// stopped; without that file the resume is refused, saying what to do.
    @Test func resumedRunKeepsItsEarlierDistances() throws {
        let config = """
            { "name": "linearized-resume", "seed": 3,
              "data": { "kind": "synthetic", "target": "sin", "inputDim": 2, "trainSize": 12 },
              "model": { "hiddenLayers": 1, "width": 16, "parameterization": "ntk" },
              "training": { "optimizer": "sgd", "learningRate": 0.2, "epochs": 30, "checkpointEvery": 10, "logEvery": 5 },
              "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 }, "linearized": true } }
            """
        try withTemporaryFolder { folder in
            try writeFile(config, to: folder + "/c.json")
            let whole = try runTrain(["--config", "c.json", "--threads", "1", "--output", "whole", "--quiet"], in: folder)
            #expect(whole.exitCode == 0, "\(whole)")
            let plan = try ExperimentPlan.load(path: folder + "/c.json")
            let wholeRows = try readText(folder + "/whole/linearized.csv").split(separator: "\n")
            for (name, partialRows) in [("resumed", wholeRows.filter { Int($0.split(separator: ",")[0]).map { $0 <= 20 } ?? true }), ("unrecorded", [])] {
                try writeInterruptedRun(plan, plan.runs[0], folder: folder + "/" + name, output: folder + "/" + name, after: 20)
                if !partialRows.isEmpty { try writeFile(partialRows.joined(separator: "\n") + "\n", to: folder + "/\(name)/linearized.csv") }
                let resumed = try runTrain(["--config", "c.json", "--threads", "1", "--output", name, "--resume", "--quiet"], in: folder)
                if partialRows.isEmpty {
                    #expect(resumed.exitCode == 1, "\(resumed)")
                    #expect(resumed.standardError.contains("linearized.csv: missing: the distances recorded before the checkpoint at epoch 20"), "\(resumed)")
                    continue
                }
                #expect(resumed.exitCode == 0, "\(resumed)")
                for file in ["linearized.csv", "extrapolation-linearized.csv", "extrapolation.csv"] {
                    #expect(try readText(folder + "/\(name)/" + file) == readText(folder + "/whole/" + file), "\(file)")
                }
            }
        }
    }
}
