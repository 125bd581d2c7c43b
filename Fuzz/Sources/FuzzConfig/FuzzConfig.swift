// libFuzzer target: ExperimentPlan.parse on arbitrary text. Every input must be refused with a
// ConfigError naming the file on every line, or accepted as runs within the memory limit whose
// resolved config reads back to the same runs. A trap, a sanitizer report, or an allocation
// above the `-malloc_limit_mb` that scripts/fuzz sets is a finding.
import FuzzDriver
import Experiments

/// The entry point SwiftPM links as `main`: libFuzzer's driver.
@_cdecl("FuzzConfig_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzz_driver_main(argc, argv)
}

let memoryLimit = 8.0 * 1024 * 1024 * 1024

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let plan: ExperimentPlan
    do {
        plan = try ExperimentPlan.parse(text, file: "input.json", memoryLimitBytes: memoryLimit)
    } catch {
        for line in error.description.split(separator: "\n", omittingEmptySubsequences: false) {
            precondition(line.hasPrefix("input.json: ") && line.count > 12, "a problem without the file or a message: \(line)")
        }
        return 0
    }
    precondition(!plan.runs.isEmpty, "a plan without runs")
    for run in plan.runs {
        precondition(MemoryEstimate(config: run.config).totalBytes <= memoryLimit, "a run over the memory limit")
    }
    do {
        let again = try ExperimentPlan.parse(plan.resolvedJSON.rendered(), file: "input.json", memoryLimitBytes: memoryLimit)
        precondition(again.runs.map(\.config) == plan.runs.map(\.config), "the resolved config reads back to other runs")
        precondition(again.runs.map(\.variant) == plan.runs.map(\.variant), "the resolved config reads back to other variants")
    } catch {
        preconditionFailure("the resolved config is refused: \(error)")
    }
    return 0
}
