import Experiments
import Foundation

/// The `train` command built with the tests: SwiftPM puts it in the same folder as the test
/// bundle (`.build/debug/`), because this test target depends on it.
let trainExecutable: String = {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("train").path
}()

/// How a `train` child process ended and what it printed.
struct TrainResult: CustomStringConvertible {
    /// The exit code, or the signal number when `killedBySignal`.
    var status: Int32
    var killedBySignal: Bool
    var standardOutput: String
    var standardError: String

    var exitCode: Int32? { killedBySignal ? nil : status }

    var description: String {
        (killedBySignal ? "killed by signal \(status)" : "exit \(status)")
            + "\n--- stdout\n\(standardOutput)--- stderr\n\(standardError)"
    }
}

/// A `train` process started in `directory`; its output goes to files there (no pipe to fill).
final class TrainProcess {
    let process = Process()
    let outputPath: String
    let errorPath: String

    /// Starts `train` with `arguments`. `--blas-core keep` is added so the process is never
    /// replaced by its BLAS-core relaunch, and the kernels stay what the reference run used.
    init(_ arguments: [String], in directory: String, shellPrefix: String? = nil) throws {
        let tag = UInt64.random(in: 0...UInt64.max)
        outputPath = directory + "/.stdout-\(tag)"
        errorPath = directory + "/.stderr-\(tag)"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let fullArguments = arguments + ["--blas-core", "keep"]
        if let shellPrefix {
            // For resource limits: `sh -c '<prefix>; exec train "$@"' sh <arguments>`.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(shellPrefix); exec \"$0\" \"$@\"", trainExecutable] + fullArguments
        } else {
            process.executableURL = URL(fileURLWithPath: trainExecutable)
            process.arguments = fullArguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the end and collects the output (the output files are removed).
    func wait() -> TrainResult {
        process.waitUntilExit()
        defer {
            unlink(outputPath)
            unlink(errorPath)
        }
        return TrainResult(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                           standardOutput: (try? AtomicFile.readText(outputPath)) ?? "",
                           standardError: (try? AtomicFile.readText(errorPath)) ?? "")
    }
}

/// Runs `train` to its end.
func runTrain(_ arguments: [String], in directory: String, shellPrefix: String? = nil) throws -> TrainResult {
    try TrainProcess(arguments, in: directory, shellPrefix: shellPrefix).wait()
}

/// A small run that still exercises everything a resume must restore: Adam's moments and step
/// count, minibatches drawn by the generator (40 rows in batches of 16, so the last is short),
/// LayerNorm parameters, the loss curve; checkpoints every 10 of 300 epochs.
let smallRunConfig = """
    { "name": "small", "seed": 3,
      "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 40 },
      "model": { "hiddenLayers": 2, "width": 16, "layerNorm": "first" },
      "training": { "optimizer": "adam", "learningRate": 0.01, "epochs": 300, "batchSize": 16,
                    "checkpointEvery": 10, "logEvery": 5 },
      "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 2 },
                      "curve": { "from": -3, "to": 3, "points": 21 } } }
    """
