import Glibc
import Synchronization

/// Progress of a run or a sweep on standard error: on a terminal one line redrawn in place
/// (run, epoch, loss, steps/s, ETA); otherwise a plain line every tenth of each run.
public final class ProgressReporter: Sendable {
    let isTerminal: Bool
    let quiet: Bool
    let state: Mutex<State>

    struct State {
        var totalEpochs = 0
        var doneEpochs = 0
        var start = monotonicSeconds()
        var lastDraw = 0.0
        var finishedRuns = 0
        var totalRuns = 0
    }

    public init(quiet: Bool, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.quiet = quiet
        self.isTerminal = isTerminal
        state = Mutex(State())
    }

    /// Declares the work ahead: `runs` runs of `epochs` epochs in all.
    public func begin(runs: Int, epochs: Int) {
        state.withLock {
            $0 = State()
            $0.totalRuns = runs
            $0.totalEpochs = max(epochs, 1)
        }
    }

    /// Reports that `run` finished `epoch` of `epochs` with this loss.
    public func epochDone(run: String, epoch: Int, of epochs: Int, loss: Double) {
        guard !quiet else { return }
        let line: String? = state.withLock { state in
            state.doneEpochs += 1
            let now = monotonicSeconds()
            let elapsed = now - state.start
            let rate = Double(state.doneEpochs) / max(elapsed, 1e-9)
            let remaining = Double(state.totalEpochs - state.doneEpochs) / max(rate, 1e-9)
            let text = "[\(state.finishedRuns)/\(state.totalRuns) runs done] \(run): epoch \(epoch)/\(epochs), loss \(formatLoss(loss)), "
                + "\(compact(rate.rounded(), digits: 6)) steps/s, ETA \(formatDuration(remaining))"
            if isTerminal {
                guard now - state.lastDraw > 0.1 || epoch == epochs else { return nil }
                state.lastDraw = now
                return "\r\u{1B}[K" + text
            }
            let tenth = max(epochs / 10, 1)
            return epoch % tenth == 0 || epoch == epochs ? text + "\n" : nil
        }
        if let line { writeStandardError(line) }
    }

    /// Reports a finished run.
    public func runDone() {
        state.withLock { $0.finishedRuns += 1 }
    }

    /// Drops epochs a run will not do (it stopped early) from the ETA.
    public func epochsSkipped(_ count: Int) {
        state.withLock { $0.totalEpochs -= count }
    }

    /// Prints a message on its own line (ending a redrawn progress line first).
    public func message(_ text: String) {
        writeStandardError((isTerminal && !quiet ? "\r\u{1B}[K" : "") + text + "\n")
    }

    /// Ends the redrawn line.
    public func finish() {
        if isTerminal && !quiet { writeStandardError("\r\u{1B}[K") }
    }
}

func formatLoss(_ loss: Double) -> String {
    compact(loss, digits: 4)
}

func formatDuration(_ seconds: Double) -> String {
    // Beyond 10^15 s (30 million years) an estimate means nothing, and Int could not hold it.
    guard seconds.isFinite, abs(seconds) < 1e15 else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? "\(total / 3600)h\(total % 3600 / 60)m" : total >= 60 ? "\(total / 60)m\(total % 60)s" : "\(total)s"
}

/// Writes text to standard error unbuffered (Swift 6 refuses the global `stderr`).
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { return }
        offset += written
    }
}

/// Seconds on a clock that never goes backwards.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
