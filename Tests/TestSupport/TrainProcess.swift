import Dispatch
import Foundation
import Tensors

/// The `train` command built with the tests: SwiftPM puts it in the same folder as the test
/// bundle (`.build/debug/`), because the test targets that use this module depend on it.
public let trainExecutable: String = {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("train").path
}()

/// How a `train` child process ended and what it printed.
public struct TrainResult: CustomStringConvertible, Sendable {
    /// The exit code, or the signal number when `killedBySignal`.
    public let status: Int32
    public let killedBySignal: Bool
    public let standardOutput: String
    public let standardError: String

    /// The exit code; nil when a signal ended the process.
    public var exitCode: Int32? { killedBySignal ? nil : status }

    public var description: String {
        (killedBySignal ? "killed by signal \(status)" : "exit code \(status)")
            + "\n--- stdout:\n\(standardOutput)--- stderr:\n\(standardError)"
    }
}

/// A `train` child process. Its output goes to files in a folder of its own (a pipe could fill
/// and stall it, and the working folder stays exactly as `train` leaves it).
public final class TrainProcess {
    private let process = Process()
    private let logs: String
    private let watchdog: DispatchWorkItem

    /// Starts `train` with `arguments`, as they are, in `directory`. OpenBLAS gets one thread at
    /// load, so the 2-core CI machine is not oversubscribed by tests running side by side (`--threads`
    /// still sets the count a run uses). Pass `--blas-core keep` where a test needs the process
    /// never to restart itself with other BLAS kernels (nor print that it does).
    /// - Parameters:
    ///   - shellPrefix: shell commands run before `train` in the same process, for resource limits
    ///     (`ulimit -f 8`).
    ///   - timeout: seconds after which the process is killed, so a hang fails its test instead of
    ///     stalling the whole suite.
    public init(_ arguments: [String], in directory: String, shellPrefix: String? = nil, timeout: Double = 300) throws {
        guard FileManager.default.isExecutableFile(atPath: trainExecutable) else {
            throw FileError(path: trainExecutable, problem: "no train executable (the test target must depend on `train`)")
        }
        logs = try makeTemporaryFolder()
        _ = FileManager.default.createFile(atPath: logs + "/stdout", contents: nil)
        _ = FileManager.default.createFile(atPath: logs + "/stderr", contents: nil)
        if let shellPrefix {
            // `sh -c '<prefix>; exec train "$@"' train <arguments>`: the limits apply to `train` itself.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(shellPrefix); exec \"$0\" \"$@\"", trainExecutable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: trainExecutable)
            process.arguments = arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: logs + "/stdout")
        process.standardError = FileHandle(forWritingAtPath: logs + "/stderr")
        try process.run()
        let pid = process.processIdentifier
        watchdog = DispatchWorkItem { Foundation.kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    }

    deinit {
        watchdog.cancel()
        try? FileManager.default.removeItem(atPath: logs)
    }

    public var isRunning: Bool { process.isRunning }

    /// Ends the process at once, as a crash or a power cut would.
    public func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the process to end and collects what it printed.
    public func wait() -> TrainResult {
        process.waitUntilExit()
        // Once the process is gone its pid may be reused: the watchdog must not fire.
        watchdog.cancel()
        // Decoded leniently: a fuzzed input echoed in a message need not be UTF-8.
        func printed(_ name: String) -> String {
            String(decoding: FileManager.default.contents(atPath: logs + "/" + name) ?? Data(), as: UTF8.self)
        }
        return TrainResult(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                           standardOutput: printed("stdout"), standardError: printed("stderr"))
    }
}

/// Runs `train` with `arguments` in `directory` to its end; see `TrainProcess.init` for the options.
public func runTrain(_ arguments: [String], in directory: String, shellPrefix: String? = nil,
                     timeout: Double = 300) throws -> TrainResult {
    try TrainProcess(arguments, in: directory, shellPrefix: shellPrefix, timeout: timeout).wait()
}
