import Experiments
import Foundation
import Testing
import TestSupport

/// How `train --config C --output O` ends, computed in this process through the library calls the
/// command makes (`ExperimentPlan.load`, `ExperimentRunner.run`) and its exit-code mapping
/// (`CommandFailure`): a child process per case would take minutes for thousands of cases.
struct InProcessOutcome: CustomStringConvertible {
    let exitCode: Int32
    /// The message `train` prints: the error on standard error, or the report's table on success.
    let message: String

    var description: String { "exit \(exitCode): \(message)" }

    static func train(config: String, output: String, threads: Int = 1) -> InProcessOutcome {
        do {
            let plan = try ExperimentPlan.load(path: config, memoryLimitBytes: MemoryEstimate.availableBytes())
            var options = RunnerOptions(output: output, threads: threads)
            options.quiet = true
            let report = try ExperimentRunner.run(plan, options: options, progress: ProgressReporter(quiet: true, isTerminal: false))
            let table = plan.runs.count == 1 ? report.records.first?.metrics.extrapolation.terminalText ?? "" : report.terminalText
            return InProcessOutcome(exitCode: 0, message: table)
        } catch {
            return InProcessOutcome(exitCode: CommandFailure.exitCode(for: error), message: CommandFailure.message(for: error))
        }
    }
}

/// Counts of how fuzz cases ended, for the test's printed summary.
struct ExitTally: CustomStringConvertible {
    var counts: [Int32: Int] = [:]
    var notRun = 0

    mutating func add(_ code: Int32) { counts[code, default: 0] += 1 }
    var description: String {
        "exit 0: \(counts[0] ?? 0), exit 1: \(counts[1] ?? 0), exit 2: \(counts[2] ?? 0)"
            + (notRun > 0 ? ", accepted but not run (too much work for a test): \(notRun)" : "")
    }
}

/// Small runs (a few epochs of a few units) covering what a config can ask for: a sweep, CSV
/// data, the infinite-width regression, float32 minibatches with checkpoints and a target loss.
/// Fuzzing starts from these, so an accepted mutation trains in milliseconds.
func runnableConfigSeeds(csvPath: String) -> [String] {
    [
        """
        { "name": "tiny", "seed": 1, "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 8 },
          "model": { "hiddenLayers": 1, "width": 4, "layerNorm": "first" },
          "training": { "optimizer": "adam", "learningRate": 0.01, "epochs": 3 },
          "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 }, "curve": { "from": -3, "to": 3, "points": 5 } } }
        """,
        """
        { "name": "sweep", "data": { "trainSize": 6, "inputDim": 2, "target": "quadratic" },
          "model": { "hiddenLayers": 2, "width": 3 }, "training": { "epochs": 2, "optimizer": "sgd", "learningRate": 0.1 },
          "evaluation": { "lambdas": { "from": 1, "to": 10, "perDecade": 2 }, "directions": { "random": 3 } },
          "variants": [ { "name": "a.ln", "model": { "layerNorm": "every" } }, { "name": "a.none" } ], "seeds": [0, 1] }
        """,
        """
        { "name": "csv", "data": { "kind": "csv", "path": "\(csvPath)", "features": ["a", "b"], "target": "y",
                                   "split": { "column": "a", "below": 6, "validationFraction": 0.2 } },
          "model": { "hiddenLayers": 1, "width": 4, "layerNorm": "first" }, "training": { "epochs": 2 },
          "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 1 } } }
        """,
        """
        { "name": "infinite", "data": { "trainSize": 5 }, "model": { "width": "infinite", "parameterization": "ntk", "layerNorm": "first" },
          "evaluation": { "lambdas": { "from": 1, "to": 1000, "perDecade": 1 }, "curve": { "from": -2, "to": 2, "points": 4 } } }
        """,
        """
        { "name": "float32", "precision": "float32", "data": { "trainSize": 10, "domain": [-2, 2], "target": "linear" },
          "model": { "hiddenLayers": 2, "width": 5, "activation": "tanh", "layerNorm": [1], "layerNormAffine": false,
                     "parameterization": "ntk", "weightStd": 1.2, "biasStd": 0.1 },
          "training": { "optimizer": "adamw", "learningRate": 0.05, "epochs": 4, "batchSize": 3, "checkpointEvery": 2,
                        "logEvery": 1, "targetLoss": 0.01 },
          "evaluation": { "lambdas": { "from": 0.5, "to": 50, "perDecade": 1 }, "curve": "none" } }
        """,
    ]
}

/// A small CSV table for the CSV seed config: columns a, b, y, group.
let smallCSV = "a,b,y,group\n" + (0..<12).map { "\($0),\(Double($0) * 0.5 - 2),\($0 * $0 % 7),\($0 % 3)" }.joined(separator: "\n") + "\n"

/// Roughly the multiply-adds a plan's runs take: the fuzz test runs only plans that finish in a
/// blink, and counts the others (a mutation like `"epochs": 1e15` is a valid config that would
/// train for years).
func estimatedWork(_ plan: ExperimentPlan) -> Double {
    plan.runs.reduce(0.0) { total, run in
        let config = run.config
        let samples: Double = switch config.data {
        case .synthetic(let synthetic): Double(synthetic.trainSize)
        case .csv: 100  // the fuzzed tables are small
        }
        let directions: Double = switch config.evaluation.directions {
        case .training: samples
        case .random(let count): Double(count)
        }
        let grid = config.evaluation.lambdas
        let evaluations = lambdaGridCount(from: grid.from, to: grid.to, perDecade: grid.perDecade) * directions
            + Double(config.evaluation.curve?.points ?? 0) + 3 * samples
        switch config.model.width {
        case .infinite:
            let layers = Double(config.model.hiddenLayers)
            return total + layers * samples * (samples + evaluations) + samples * samples * samples
        case .finite:
            let parameters = MemoryEstimate(config: config).parameterCount
            return total + parameters * (3 * Double(config.training.epochs) * samples + evaluations + 1)
        }
    }
}

/// The most work a fuzzed run may take here (a few milliseconds in a debug build).
let fuzzWorkBudget = 3e6

/// A folder for fuzz cases' files: in memory where the system has /dev/shm, so the thousands of
/// fsyncs of the runs' atomic writes cost nothing.
func withFuzzFolder<R>(_ body: (String) throws -> R) throws -> R {
    guard FileSystem.isFolder("/dev/shm"), access("/dev/shm", W_OK) == 0 else { return try withTemporaryFolder(body) }
    var template = Array("/dev/shm/finitewidth-fuzz-XXXXXX".utf8CString)
    let folder = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try body(folder)
}

extension FuzzRandom {
    /// A mutated runnable config: one to three mutations of the JSON tree, then sometimes the
    /// text damaged (truncated, bits flipped, bytes spliced in).
    mutating func runnableMutatedConfig(csvPath: String) -> String {
        let seedText = pick(runnableConfigSeeds(csvPath: csvPath))
        guard var value = try? JSONValue.parse(seedText) else { return seedText }
        for _ in 0..<int(in: 1...3) { value = mutate(value) }
        var bytes = Array(FuzzRandom.expandingNesting(value.rendered(style: chance(0.5) ? .pretty : .compact)).utf8)
        if chance(0.2) {
            switch below(3) {
            case 0: bytes = truncate(bytes)
            case 1: bytes = flipBits(bytes)
            default: bytes = splice(bytes, interesting: Array("{}[]\",:0-.e\\/ \nnull".utf8))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A CSV file changed the ways issue 12 names, or by ``corruptedCSV(_:)``: a column of
    /// values whose standardisation overflows, a constant column (standard deviation 0), a single
    /// row, NaN spelled in the ways files spell it.
    mutating func mutatedCSVFile() -> String {
        // "\r\n" is one Character in Swift: split on both line ends.
        var lines = pick(csvSeeds + [smallCSV]).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(String.init)
        while lines.last == "" { lines.removeLast() }
        let columns = lines[0].split(separator: ",").count
        func setColumn(_ column: Int, _ value: (Int) -> String) {
            for row in 1..<lines.count {
                var fields = lines[row].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                if column < fields.count { fields[column] = value(row) }
                lines[row] = fields.joined(separator: ",")
            }
        }
        switch below(6) {
        case 0: setColumn(below(columns)) { row in (row % 2 == 0 ? "" : "-") + self.pick(["1e308", "1.7976931348623157e308", "8e307"]) }
        case 1: let constant = pick(["0", "1", "-3.5", "1e308", "5e-324"]); setColumn(below(columns)) { _ in constant }
        case 2: lines = Array(lines.prefix(2))
        case 3:
            let spelling = pick(["nan", "NaN", "NAN", "-nan", "+nan", "nan(0x1)", "NA", "N/A", "#N/A", "null", "None", "", " ", "?",
                                 "inf", "-Infinity", "1e999"])
            let row = int(in: 1...(lines.count - 1))
            var fields = lines[row].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[below(fields.count)] = spelling
            lines[row] = fields.joined(separator: ",")
        default:
            return corruptedCSV(lines.joined(separator: "\n") + "\n")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A config training a tiny network on `path`, with the data section ``csvConfig(columns:)`` draws.
    mutating func csvRunConfig(path: String, columns: [String]) -> String {
        let data = csvConfig(columns: columns)
        var members: [JSONMember] = [
            JSONMember("kind", .string("csv")), JSONMember("path", .string(path)),
            JSONMember("features", .array(data.features.map { .string($0) })), JSONMember("target", .string(data.target)),
            JSONMember("standardize", .bool(data.standardize)),
        ]
        if let split = data.split {
            members.append(JSONMember("split", .object([JSONMember("column", .string(split.column)), JSONMember("below", .number(split.below)),
                                                        JSONMember("validationFraction", .number(split.validationFraction))])))
        }
        return JSONValue.object([
            JSONMember("name", .string("csv-fuzz")),
            JSONMember("precision", .string(chance(0.3) ? "float32" : "float64")),
            JSONMember("data", .object(members)),
            JSONMember("model", .object([JSONMember("hiddenLayers", .number(1)), JSONMember("width", .number(4)),
                                         JSONMember("layerNorm", .string(pick(["first", "none"])))])),
            JSONMember("training", .object([JSONMember("epochs", .number(2)), JSONMember("learningRate", .number(pick([0.01, 1e12])))])),
            JSONMember("evaluation", .object([JSONMember("lambdas", .object([JSONMember("from", .number(1)), JSONMember("to", .number(pick([100, 1e300]))),
                                                                              JSONMember("perDecade", .number(1))]))])),
        ]).rendered()
    }
}

/// Checks one case's outcome: a documented exit code with a message, and an output folder that
/// holds only whole, valid files (nothing at all after a usage or config error).
func checkOutcome(_ outcome: InProcessOutcome, output: String, label: String) {
    #expect([0, 1, 2].contains(outcome.exitCode), "\(label): \(outcome)")
    #expect(!outcome.message.isEmpty, "\(label): no message")
    if outcome.exitCode != 0 {
        #expect(outcome.message.hasPrefix("error: ") && outcome.message.count > 8, "\(label): \(outcome)")
    }
    if outcome.exitCode == 2 {
        #expect(!FileSystem.exists(output), "\(label): a config or usage error left \(output)")
    } else {
        let sweep = FileSystem.isFolder(output + "/runs")
        let problems = runFolderProblems(output, allowTemporaries: false).filter { problem in
            // The extrapolation CSV holds "inf" where a run failed on infinite outputs (a number for
            // NumPy and pandas too), and a sweep's own metrics.json is its summary, not a run's.
            !problem.contains("\"inf\" is not a number") && !problem.contains("\"-inf\" is not a number")
                && !(sweep && problem == "metrics.json: not a metrics file")
        }
        #expect(problems.isEmpty, "\(label): \(problems.prefix(3))")
    }
}

/// `train` on mutated configs, CSV files and command lines: every case ends with exit code 0, 1
/// or 2 and a message, never a signal. Most cases run in this process through the command's own
/// library calls; a sample runs as child processes, which must end as the in-process run did.
@Suite struct CommandLineFuzzTests {
    static let configCases = 1_000
    static let csvCases = 1_000
    /// Of each kind, this many cases also run as `train` child processes.
    static let childSample = 50

    /// Config case `index`: a mutated runnable config (its CSV seed reads `small.csv` in `folder`).
    static func prepareConfigCase(_ index: Int, in folder: String) throws -> String {
        try AtomicFile.write(smallCSV, to: folder + "/small.csv")
        var random = FuzzRandom(seed: 0xF022_C0DE, case: index)
        return random.runnableMutatedConfig(csvPath: folder + "/small.csv")
    }

    /// CSV case `index`: a mutated CSV file written to `folder`/data.csv, and a config training on it.
    static func prepareCSVCase(_ index: Int, in folder: String) throws -> String {
        var random = FuzzRandom(seed: 0xF022_C5F, case: index)
        let csv = random.mutatedCSVFile()
        try AtomicFile.write(csv, to: folder + "/data.csv")
        let columns = (try? CSVTable(text: csv, file: "data.csv").columnNames)
            ?? csv.split(separator: "\n").first.map { $0.split(separator: ",").map(String.init) } ?? ["a"]
        return random.csvRunConfig(path: folder + "/data.csv", columns: columns)
    }

    /// Runs one case in this process unless its plan is too much work; returns nil when skipped.
    static func runCase(config: String, in folder: String) throws -> InProcessOutcome? {
        let path = folder + "/config.json"
        try AtomicFile.write(config, to: path)
        if let plan = try? ExperimentPlan.load(path: path, memoryLimitBytes: MemoryEstimate.availableBytes()),
           estimatedWork(plan) > fuzzWorkBudget {
            return nil
        }
        return InProcessOutcome.train(config: path, output: folder + "/out")
    }

    /// Runs cases `0..<count` of a kind in this process, each in a folder of its own, and checks each outcome.
    static func runInProcess(_ count: Int, kind: String, prepare: (Int, String) throws -> String) throws -> ExitTally {
        let start = monotonicSeconds()
        var tally = ExitTally()
        try withFuzzFolder { root in
            for index in 0..<count {
                let folder = root + "/case-\(index)"
                try FileSystem.createFolder(folder)
                defer { try? FileManager.default.removeItem(atPath: folder) }
                guard let outcome = try runCase(config: prepare(index, folder), in: folder) else {
                    tally.notRun += 1
                    continue
                }
                tally.add(outcome.exitCode)
                checkOutcome(outcome, output: folder + "/out", label: "\(kind) case \(index)")
                if outcome.exitCode == 2 {
                    // Refused before any work, naming the file (or the option) at fault: "error: <what>: <problem>".
                    #expect(outcome.message.dropFirst("error: ".count).contains(": "), "\(kind) case \(index): \(outcome)")
                }
            }
        }
        print("command-line fuzz: \(count) mutated \(kind) files in process, \(tally) (\(Int(monotonicSeconds() - start)) s)")
        return tally
    }

    @Test(.timeLimit(.minutes(2))) func mutatedConfigsEndWithADocumentedExitCode() throws {
        let tally = try Self.runInProcess(Self.configCases, kind: "config", prepare: Self.prepareConfigCase)
        #expect((tally.counts[0] ?? 0) > 50 && (tally.counts[2] ?? 0) > 300)
    }

    @Test(.timeLimit(.minutes(2))) func mutatedCSVFilesEndWithADocumentedExitCode() throws {
        let tally = try Self.runInProcess(Self.csvCases, kind: "CSV", prepare: Self.prepareCSVCase)
        #expect((tally.counts[0] ?? 0) > 50 && (tally.counts[2] ?? 0) > 100)
    }

    /// A sample of the cases above as `train` child processes: no signal, and the exit code the
    /// in-process run gave.
    @Test(.timeLimit(.minutes(2))) func aSampleAsChildProcessesEndsAsInProcess() throws {
        let start = monotonicSeconds()
        var tally = ExitTally()
        try withFuzzFolder { root in
            let kinds: [(kind: String, count: Int, prepare: (Int, String) throws -> String)] = [
                ("config", Self.configCases, Self.prepareConfigCase), ("CSV", Self.csvCases, Self.prepareCSVCase),
            ]
            for (kind, count, prepare) in kinds {
                // Spread over the case numbers.
                for index in stride(from: 0, to: count, by: count / Self.childSample).prefix(Self.childSample) {
                    let label = "\(kind) case \(index)"
                    let folder = root + "/\(kind)-\(index)"
                    try FileSystem.createFolder(folder)
                    guard let expected = try Self.runCase(config: prepare(index, folder), in: folder) else { tally.notRun += 1; continue }
                    let result = try runTrain(["--config", "config.json", "--output", "child", "--threads", "1", "--quiet", "--blas-core", "keep"],
                                              in: folder, timeout: 60)
                    #expect(!result.killedBySignal, "\(label): \(result)")
                    #expect(result.exitCode == expected.exitCode, "\(label): in process \(expected), as a child \(result)")
                    if let code = result.exitCode { tally.add(code) }
                    let message = result.exitCode == 0 ? result.standardOutput : result.standardError
                    #expect(result.exitCode == 0 ? !message.isEmpty : message.hasPrefix("error: "), "\(label): \(result)")
                }
            }
        }
        print("command-line fuzz: \(2 * Self.childSample) cases as child processes, \(tally) (\(Int(monotonicSeconds() - start)) s)")
    }

    /// Hostile command lines: thread counts, shards, output folders that are files, kernel
    /// folders or read-only, missing and wrong arguments. Each as a child process: no signal, the
    /// exit code given, and a message (the error, or the report).
    @Test(.timeLimit(.minutes(2))) func mutatedCommandLinesEndWithADocumentedExitCode() throws {
        let start = monotonicSeconds()
        var tally = ExitTally()
        try withFuzzFolder { folder in
            let seeds = runnableConfigSeeds(csvPath: folder + "/small.csv")
            try AtomicFile.write(seeds[0], to: folder + "/tiny.json")
            try AtomicFile.write(seeds[1], to: folder + "/sweep.json")
            try AtomicFile.write("not a folder", to: folder + "/afile")
            let tiny = ["--config", "tiny.json", "--quiet", "--blas-core", "keep"]
            let sweep = ["--config", "sweep.json", "--quiet", "--blas-core", "keep"]
            var cases: [(arguments: [String], exitCode: Int32)] = [
                (tiny + ["--threads", "0"], 2), (tiny + ["--threads", "-1"], 2), (tiny + ["--threads", "two"], 2),
                (tiny + ["--threads", "99999999999999999999"], 2), (tiny + ["--threads", "100000", "--output", "many-threads"], 0),
                // More than an Int32 holds: OpenBLAS's thread count used to trap converting it.
                (tiny + ["--threads", "9999999999", "--output", "too-many-threads"], 0),
                (sweep + ["--threads", "100000", "--output", "many-threads-sweep"], 0),
                (sweep + ["--shard", "0/0"], 2), (sweep + ["--shard", "5/3"], 2), (sweep + ["--shard", "1/0"], 2),
                (sweep + ["--shard", "-1/3"], 2), (sweep + ["--shard", "1/3/4"], 2), (sweep + ["--shard", "x"], 2),
                (sweep + ["--shard", "2/3", "--output", "shard-2"], 0), (sweep + ["--shard", "9/1000"], 2), (tiny + ["--shard", "2/2"], 2),
                (tiny + ["--output", "afile"], 1), (tiny + ["--output", "afile/run"], 1), (tiny + ["--output", "/proc"], 2),
                (tiny + ["--output", "/proc/finitewidth-fuzz/run"], 1), (tiny + ["--output", "/sys/finitewidth-fuzz"], 1),
                (tiny + ["--output"], 2), (["--config", "missing.json", "--blas-core", "keep"], 2), (["--config", ".", "--blas-core", "keep"], 2),
                ([], 2), (tiny + ["--resume"], 2), (tiny + ["--init-from", "missing.safetensors", "--output", "init"], 2), (tiny + ["--bogus"], 2),
                (["--config", "tiny.json", "--blas-core", "maybe"], 2), (["merge"], 2), (["merge", "nowhere", "--output", "merged"], 2),
                (["ntk", "--config", "tiny.json", "--grid=1:0:0", "--out", "k.csv"], 2),
                (["ntk", "--config", "tiny.json", "--grid=nan:1:5", "--out", "k.csv"], 2),
                (["ntk", "--config", "tiny.json", "--grid=-1e308:1e308:5", "--empirical", "--out", "k.csv"], 1),
                (["ntk", "--config", "tiny.json", "--grid=-3:3:5", "--empirical", "--heatmap", "k.svg"], 0),
            ]
            // A folder train may not write to: read-only to the user, or a read-only file system for root.
            let unwritable = folder + "/read-only"
            try FileSystem.createFolder(unwritable)
            let madeUnwritable = getuid() == 0 ? mount("tmpfs", unwritable, "tmpfs", UInt(MS_RDONLY), "size=16k") == 0
                : chmod(unwritable, 0o555) == 0
            defer { if getuid() == 0 { umount(unwritable) } }
            if madeUnwritable {
                cases += [(tiny + ["--output", unwritable], 1), (tiny + ["--output", unwritable + "/run"], 1)]
            }
            for (arguments, expected) in cases {
                let result = try runTrain(arguments, in: folder, timeout: 60)
                #expect(!result.killedBySignal, "\(arguments): \(result)")
                #expect(result.exitCode == expected, "\(arguments): \(result)")
                if let code = result.exitCode { tally.add(code) }
                let message = result.exitCode == 0 ? result.standardOutput : result.standardError
                #expect(message.trimmingCharacters(in: .whitespacesAndNewlines).count > 5, "\(arguments): no message: \(result)")
            }
            print("command-line fuzz: \(cases.count) hostile command lines as child processes\(madeUnwritable ? "" : " (no read-only folder here)"), "
                  + "\(tally) (\(Int(monotonicSeconds() - start)) s)")
        }
    }
}
