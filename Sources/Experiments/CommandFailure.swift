/// How `train` ends when a command throws: the documented exit code and the message for standard
/// error. In the library, so tests can check the mapping in-process for thousands of inputs.
public enum CommandFailure {
    /// 2 for a usage or config error (found before any work), 1 for anything else: a run that
    /// failed (divergence, unusable results), an I/O error.
    public static func exitCode(for error: any Error) -> Int32 {
        switch error {
        case is ConfigError, is UsageError: 2
        default: 1
        }
    }

    /// The message, `error: ...`, with a final newline; for failed runs one line per run.
    public static func message(for error: any Error) -> String {
        if let runs = error as? RunFailures { return "error: \(runs.failures.count) run(s) failed:\n\(runs)\n" }
        return "error: \(error)\n"
    }
}
