import ArgumentParser
import Experiments
import Glibc

@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the networks a config describes and measure how they extrapolate along rays x -> lambda*x.",
        discussion: """
            Exit codes: 0 success; 1 a run failed (divergence, I/O); 2 a usage or config error.
            Examples:
              train --config configs/ln.json
              train --config configs/paper-toy.json --shard 2/4 --output runs/toy-2
              train merge runs/toy-1 runs/toy-2 runs/toy-3 runs/toy-4 --output runs/toy
              train ntk --config configs/ln.json --empirical --grid=-25:25:101 --heatmap ntk-ln.svg
            """,
        subcommands: [Run.self, Merge.self, NTK.self],
        defaultSubcommand: Run.self)

    /// ArgumentParser's own `main`, except that a usage error (a bad option, a failed
    /// `validate()`) exits with 2, the documented code, rather than ArgumentParser's 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            writeStandardError(fullMessage(for: error) + "\n")
            Glibc.exit(2)
        }
    }
}

/// Runs `body`, printing errors the way a researcher needs them and exiting with the documented code.
func exitingOnFailure(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        writeStandardError(CommandFailure.message(for: error))
        throw ExitCode(CommandFailure.exitCode(for: error))
    }
}

extension Train {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train and measure (the default command).")

        @Option(help: "The experiment config (JSON); see docs/config.md.")
        var config: String

        @Option(help: "The run folder (default: runs/<name>, or runs/<name>-2, -3, ... if that exists).")
        var output: String?

        @Option(name: .customLong("init-from"), help: "Start from the parameters in this safetensors file (names and shapes are checked).")
        var initFrom: String?

        @Flag(help: "Continue the runs in --output from their last checkpoints; finished runs are kept.")
        var resume = false

        @Option(help: "Cores to use: a run splits each batch over them, a sweep runs that many runs side by side (default: all cores).")
        var threads: Int?

        @Flag(help: "Print only the results, no progress.")
        var quiet = false

        @Option(help: "Run only the i-th of n slices of a sweep (1-based, e.g. 2/4), for job arrays; combine with `train merge`.")
        var shard: String?

        @Option(name: .customLong("blas-core"), help: "auto: restart once with a matching OPENBLAS_CORETYPE when OpenBLAS chose kernels far below this CPU; keep: never.")
        var blasCore: BLASCoreChoice = .auto

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
            if let shard, Shard(shard) == nil { throw ValidationError("--shard expects i/n with 1 <= i <= n, got \"\(shard)\"") }
            if resume && output == nil { throw ValidationError("--resume needs --output: the folder of the run to continue") }
        }

        func run() throws {
            relaunchWithMatchingBLASCoreIfNeeded(blasCore)
            try exitingOnFailure {
                let plan = try ExperimentPlan.load(path: config, memoryLimitBytes: MemoryEstimate.availableBytes())
                var options = RunnerOptions(output: output ?? freshFolder("runs/\(plan.base.name)"),
                                            threads: threads ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
                options.initFrom = initFrom
                options.resume = resume
                options.quiet = quiet
                options.shard = shard.flatMap(Shard.init)
                let progress = ProgressReporter(quiet: quiet)
                if !quiet { progress.message("\(plan.runs.count) run(s) of \"\(plan.base.name)\" into \(options.output); \(BLASRuntime.check())") }
                let report = try ExperimentRunner.run(plan, options: options, progress: progress)
                printReport(report, folder: options.output, singleRun: plan.runs.count == 1 && options.shard == nil)
            }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Combine the run folders of sweep shards into one report.")

        @Argument(help: "Shard output folders (each written by train --shard i/n).")
        var folders: [String]

        @Option(help: "Where to write the combined report.")
        var output: String

        func run() throws {
            try exitingOnFailure {
                let report = try ExperimentMerge.merge(folders: folders, into: output)
                printReport(report, folder: output, singleRun: false)
            }
        }
    }
}

extension Train {
    struct NTK: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ntk",
            abstract: "Write the NTK of the config's network between two point sets.",
            discussion: """
                Analytic (infinite width, the config's architecture in the NTK parameterization) by default;
                with --empirical, the finite network the config describes at its seeded initialisation.
                Points files: one point a row, comma-separated numbers, an optional header line of names.
                The output CSV holds one row per --x1 point with one number per --x2 point, no header.
                """)

        @Option(help: "The experiment config whose model section describes the network.")
        var config: String

        @Option(help: "Points file for the rows of the kernel.")
        var x1: String?

        @Option(help: "Points file for the columns (default: the --x1 points).")
        var x2: String?

        @Option(help: "1-D points FROM:TO:POINTS in place of --x1, e.g. --grid=-25:25:101.")
        var grid: String?

        @Flag(help: "The finite network's empirical NTK at initialisation, not the infinite-width one.")
        var empirical = false

        @Flag(help: "The Jacobian NTK: the kernel of (f, df/dx_1, ..., df/dx_d), point-major, N1(1+d) x N2(1+d).")
        var jacobian = false

        @Option(help: "Where to write the kernel as CSV.")
        var out: String?

        @Option(help: "Where to draw the kernel as an SVG heatmap (1-D inputs).")
        var heatmap: String?

        func validate() throws {
            if (x1 == nil) == (grid == nil) { throw ValidationError("give the points with exactly one of --x1 FILE or --grid FROM:TO:POINTS") }
            if grid != nil && parsedGrid == nil { throw ValidationError("--grid expects FROM:TO:POINTS, e.g. --grid=-25:25:101; got \"\(grid!)\"") }
            if out == nil && heatmap == nil { throw ValidationError("nothing to write: give --out K.csv and/or --heatmap K.svg") }
        }

        var parsedGrid: KernelCommand.Points? {
            guard let parts = grid?.split(separator: ":"), parts.count == 3,
                  let from = Double(parts[0]), let to = Double(parts[1]), let points = Int(parts[2]) else { return nil }
            return .grid(from: from, to: to, points: points)
        }

        func run() throws {
            try exitingOnFailure {
                let request = KernelCommand.Request(config: config, x1: parsedGrid ?? .file(x1!), x2: x2.map { .file($0) },
                                                    empirical: empirical, output: out, heatmap: heatmap, jacobian: jacobian)
                let shape = try KernelCommand.run(request)
                print("\(empirical ? "empirical" : "infinite-width") \(jacobian ? "Jacobian NTK" : "NTK"), \(shape[0]) x \(shape[1])"
                      + (out.map { ": \($0)" } ?? "") + (heatmap.map { ", heatmap \($0)" } ?? ""))
            }
        }
    }
}

enum BLASCoreChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, keep
}

/// Restarts this process once with `OPENBLAS_CORETYPE` set when OpenBLAS chose kernels far
/// below the CPU (the library reads the variable only when it loads). Never overrides a value
/// the user set, and never loops: the restarted process has the variable set.
func relaunchWithMatchingBLASCoreIfNeeded(_ choice: BLASCoreChoice) {
    let check = BLASRuntime.check()
    guard choice == .auto, check.shouldRelaunch else { return }
    writeStandardError("OpenBLAS chose \(check.coreName) kernels on a CPU with \(check.cpuClass): restarting with OPENBLAS_CORETYPE=\(check.recommendedCoreType) (--blas-core keep to opt out)\n")
    setenv("OPENBLAS_CORETYPE", check.recommendedCoreType, 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    // execv returns only on failure: carry on with the slow kernels rather than stop.
    writeStandardError("restart failed (\(String(cString: strerror(errno)))); continuing with \(check.coreName)\n")
}

/// `base`, or `base-2`, `base-3`, ... : the first that does not exist, so no earlier run is overwritten.
func freshFolder(_ base: String) -> String {
    if !FileSystem.exists(base) { return base }
    var index = 2
    while FileSystem.exists("\(base)-\(index)") { index += 1 }
    return "\(base)-\(index)"
}

func printReport(_ report: ExperimentReport, folder: String, singleRun: Bool) {
    if singleRun, let record = report.records.first {
        print(record.metrics.extrapolation.terminalText)
        // Three decimals; an R² that is not a number (a constant target) shows as "-".
        let r2 = DataSplit.allCases.compactMap { split in
            record.metrics.rSquared[split].map { "\(split.rSquaredKey) \($0.isFinite ? String(($0 * 1000).rounded() / 1000) : "-")" }
        }
        if !r2.isEmpty { print(r2.joined(separator: ", ")) }
        print("final train loss \(record.metrics.finalTrainLoss), \(record.metrics.epochsRun) epochs in \(String((record.metrics.wallTimeSeconds * 10).rounded() / 10)) s")
        print("plot: \(folder)/extrapolation.svg" + (record.curve != nil ? ", \(folder)/prediction.svg" : ""))
    } else {
        print(report.terminalText)
        print("plots: \(folder)/extrapolation.svg" + (report.records.contains { $0.curve != nil } ? ", \(folder)/prediction.svg" : ""))
    }
    print("run folder: \(folder)")
}
