// libFuzzer target: the plot and report writers, the growth-exponent fit and the memory format on
// arbitrary Doubles (the input's bytes read 8 at a time as bit patterns, so NaN payloads,
// subnormals, ±0, ±inf and the ends of the range all occur). Every plot must be an SVG document
// whose coordinates are finite numbers, the CSV must read back through the project's reader, the
// JSON through its parser, and the fit must give a finite number or NaN. A trap is a finding.
import FuzzDriver
import Experiments

/// The entry point SwiftPM links as `main`: libFuzzer's driver.
@_cdecl("FuzzPlots_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzz_driver_main(argc, argv)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlots(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let shape = Int(data[0])
    // At most 64 numbers: the writers are linear in their input, and a heatmap quadratic.
    let numbers = (0..<min((size - 1) / 8, 64)).map { index in
        Double(bitPattern: UnsafeRawPointer(data + 1 + 8 * index).loadUnaligned(as: UInt64.self).littleEndian)
    }
    let half = numbers.count / 2
    let (first, second) = (Array(numbers[..<half]), Array(numbers[half..<(2 * half)]))

    let table = ExtrapolationTable(points: zip(first, second).map { ExtrapolationPoint(lambda: $0, maxAbs: $1, meanAbs: $1 / 2) })
    let runs = (0..<(1 + shape % 3)).map { RunExtrapolation(variant: shape & 4 == 0 ? nil : "v\($0 % 2)", seed: UInt64($0), table: table) }
    checkSVG(GrowthPlot(runs: runs).svg)
    checkSVG(PredictionCurvePlot(series: [.init(name: "f", inputs: first, predictions: second)],
                                 trainingInterval: numbers.count >= 2 ? Interval(lower: numbers[0], upper: numbers[1]) : nil,
                                 trainingInputs: second, trainingTargets: first).svg)
    if half >= 1 {
        let side = min(half, 8)
        let grid = Array(first.prefix(side))
        let values = (0..<side).map { row in (0..<side).map { numbers[(row * side + $0) % numbers.count] } }
        checkSVG(KernelHeatmap(rowInputs: grid, columnInputs: grid, values: values).svg)
    }

    let csv = ExtrapolationCSV.text(runs)
    if !table.points.isEmpty {
        do {
            let parsed = try CSVTable(text: csv, file: "extrapolation.csv")
            for row in parsed.rows {
                for field in row.prefix(3) {
                    precondition(Double(field) != nil || ["nan", "inf", "-inf"].contains(field), "CSV field \(field) is not a number")
                }
            }
        } catch {
            preconditionFailure("the extrapolation CSV does not read back: \(error)\n\(csv)")
        }
    }
    let metrics = RunMetrics(name: "fuzz", seed: 0, precision: .float64, threads: 1, wallTimeSeconds: numbers.first ?? 0,
                             lossCurve: first.enumerated().map { LossRecord(epoch: $0.offset, loss: $0.element) },
                             finalTrainLoss: numbers.last ?? 0, epochsRun: first.count, extrapolation: table)
    do {
        let parsed = try JSONValue.parse(metrics.json.rendered(style: .pretty))
        precondition(RunMetrics(json: parsed) != nil, "metrics.json does not read back")
    } catch {
        preconditionFailure("metrics.json does not parse: \(error)")
    }
    _ = table.terminalText
    let exponent = growthExponent(lambdas: first, maxAbs: second)
    precondition(exponent.isFinite || exponent.isNaN, "growth exponent \(exponent)")
    for number in numbers { precondition(!MemoryEstimate.format(bytes: number).isEmpty, "no text for \(number) bytes") }
    return 0
}

/// Precondition: an SVG document with balanced tags whose attribute values (every odd segment
/// between quotes: text content escapes its quotes) hold no NaN or infinity.
func checkSVG(_ svg: String) {
    precondition(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"), "not a whole SVG document")
    let segments = svg.split(separator: "\"", omittingEmptySubsequences: false)
    for (index, segment) in segments.enumerated() where index % 2 == 1 {
        precondition(!segment.contains("nan") && !segment.contains("inf"), "an attribute holds \(segment)")
    }
    let bytes = Array(svg.utf8)
    var opened = 0, closed = 0, selfClosing = 0
    for index in 1..<bytes.count {
        if bytes[index - 1] == UInt8(ascii: "<") {
            if bytes[index] == UInt8(ascii: "/") { closed += 1 } else if bytes[index] != UInt8(ascii: "?") && bytes[index] != UInt8(ascii: "!") { opened += 1 }
        }
        if bytes[index - 1] == UInt8(ascii: "/") && bytes[index] == UInt8(ascii: ">") { selfClosing += 1 }
    }
    precondition(opened == closed + selfClosing, "\(opened) tags opened, \(closed) closed, \(selfClosing) self-closing")
}
