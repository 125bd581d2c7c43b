import Foundation
import Testing
@testable import Experiments

/// Seeded draws from a distribution that holds every number careless numeric code breaks on:
/// 0 and -0, subnormals (±1e-320), the ends of the Double range (±1e308, ±1.8e308), NaN, ±inf,
/// magnitudes anywhere from 1e-324 to 1e308, and arrays that are empty, a single value, all
/// equal, or a mix. Each property test case gets its own generator from its index, so a failing
/// case is replayed from the index its message names.
struct ExtremeNumbers {
    var generator: Xoshiro256StarStar

    init(case index: Int, salt: UInt64) {
        generator = Xoshiro256StarStar(seed: salt &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    static let special: [Double] = [
        0, -0.0, 1e-320, -1e-320, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, 1e-300,
        1e300, 1e308, -1e308, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .nan, .infinity, -.infinity,
        1, -1, 0.5, 9.99996e7, 0x1p53, 9.2e18, 1e16,
    ]

    mutating func below(_ bound: Int) -> Int { generator.nextIndex(below: bound) }
    mutating func chance(_ probability: Double) -> Bool { generator.nextUniform() < probability }
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    /// One number: a special value, a random magnitude over the whole Double range, or an ordinary one.
    mutating func number() -> Double {
        switch below(4) {
        case 0: return pick(Self.special)
        case 1:
            // 10^e with e uniform in [-324, 308.25], times a sign: every decade a Double has.
            let exponent = -324 + generator.nextUniform() * 632.25
            let value = pow(10, exponent)
            return chance(0.5) ? -value : value
        case 2: return generator.nextUniform() * 20 - 10
        default: return generator.nextNormal() * pick([1e-3, 1, 1e6])
        }
    }

    /// A positive number (for scales and lambdas), still from the whole range and sometimes not
    /// positive or not finite at all.
    mutating func positive() -> Double {
        chance(0.1) ? number() : max(abs(number()), .leastNonzeroMagnitude)
    }

    /// An array of `count` numbers (random when nil): empty, one, all equal, or mixed.
    mutating func array(count: Int? = nil, element: (inout ExtremeNumbers) -> Double = { $0.number() }) -> [Double] {
        let count = count ?? pick([0, 1, 2, 3, 5, 17, below(40)])
        switch below(5) {
        case 0:
            let value = element(&self)
            return Array(repeating: value, count: count)
        case 1:  // ordinary values with a few specials among them
            return (0..<count).map { _ in chance(0.15) ? pick(Self.special) : generator.nextUniform() * 4 - 1 }
        default:
            return (0..<count).map { _ in element(&self) }
        }
    }
}

/// A quick well-formedness check of an SVG document for property tests that draw thousands of
/// plots (``XMLCheck`` is thorough but slow in debug builds; every tenth case also goes through
/// it): tags balance and close, attributes are `name="value"`, every coordinate and length is a
/// finite number (no `nan`, no `inf`). Counts elements by name and keeps the text of `<text>`s.
struct QuickSVGCheck {
    private(set) var problems: [String] = []
    private(set) var counts: [String: Int] = [:]
    private(set) var texts: [String] = []

    static let numericAttributes: Set<String> = ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"]

    init(_ document: String) {
        let bytes = Array(document.utf8)
        var stack: [String] = []
        var index = 0
        var textStart: Int?  // where the content of the innermost open <text> starts
        var roots = 0
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        // 0 past the end, so a truncated document is a problem, not a crash.
        func at(_ position: Int) -> UInt8 { position < bytes.count ? bytes[position] : 0 }
        while index < bytes.count {
            guard at(index) == UInt8(ascii: "<") else { index += 1; continue }
            if at(index + 1) == UInt8(ascii: "?") || at(index + 1) == UInt8(ascii: "!") {
                // A declaration or a comment: skip to its end.
                while index < bytes.count && at(index) != UInt8(ascii: ">") { index += 1 }
                index += 1
                continue
            }
            let closing = at(index + 1) == UInt8(ascii: "/")
            var end = index + (closing ? 2 : 1)
            let nameStart = end
            while end < bytes.count, ![UInt8(ascii: " "), UInt8(ascii: ">"), UInt8(ascii: "/")].contains(at(end)) { end += 1 }
            let name = string(nameStart..<end)
            if closing {
                guard stack.popLast() == name else { problems.append("</\(name)> does not close the open tag"); break }
                if name == "text", let start = textStart {
                    // The text with its <tspan> markup removed.
                    texts.append(string(start..<index).replacingOccurrences(of: #"<tspan[^>]*>|</tspan>"#, with: "", options: .regularExpression))
                    textStart = nil
                }
                index = end + 1
                continue
            }
            // Attributes up to `>` or `/>`.
            var selfClosing = false
            while end < bytes.count {
                while at(end) == UInt8(ascii: " ") { end += 1 }
                if at(end) == UInt8(ascii: ">") { end += 1; break }
                if at(end) == UInt8(ascii: "/") && at(end + 1) == UInt8(ascii: ">") { selfClosing = true; end += 2; break }
                let attributeStart = end
                while end < bytes.count && at(end) != UInt8(ascii: "=") && at(end) != UInt8(ascii: ">") { end += 1 }
                guard end + 1 < bytes.count, at(end) == UInt8(ascii: "="), at(end + 1) == UInt8(ascii: "\"") else {
                    problems.append("<\(name)>: an attribute that is not name=\"value\""); return
                }
                let attribute = string(attributeStart..<end)
                let valueStart = end + 2
                end = valueStart
                while end < bytes.count && at(end) != UInt8(ascii: "\"") {
                    if at(end) == UInt8(ascii: "<") { problems.append("raw < in \(attribute)") }
                    end += 1
                }
                let value = string(valueStart..<end)
                end += 1
                if Self.numericAttributes.contains(attribute) && Double(value)?.isFinite != true {
                    problems.append("<\(name) \(attribute)=\"\(value)\">: not a finite number")
                }
                if attribute == "points" {
                    for number in value.split(whereSeparator: { $0 == " " || $0 == "," }) where Double(number)?.isFinite != true {
                        problems.append("<\(name) points>: \(number) is not a finite number")
                    }
                }
            }
            if stack.isEmpty { roots += 1 }
            counts[name, default: 0] += 1
            if !selfClosing {
                stack.append(name)
                if name == "text" { textStart = end }
            }
            index = end
        }
        if !stack.isEmpty { problems.append("unclosed tags: \(stack)") }
        if roots != 1 { problems.append("\(roots) root elements") }
    }
}

/// Checks `svg` quickly, and thoroughly with ``XMLCheck`` for every tenth case.
@discardableResult
func checkSVG(_ svg: String, case index: Int, sourceLocation: SourceLocation = #_sourceLocation) -> QuickSVGCheck {
    let check = QuickSVGCheck(svg)
    #expect(check.problems.isEmpty, "case \(index): \(check.problems.prefix(3))", sourceLocation: sourceLocation)
    #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"), "case \(index)", sourceLocation: sourceLocation)
    if index % 10 == 0 { _ = checkWellFormed(svg, sourceLocation: sourceLocation) }
    return check
}

/// The numbers of a "Not drawn: ..." note on a plot: points left out as not finite, and as not
/// positive on a log axis (0 and 0 without a note).
func omittedCounts(_ texts: [String]) -> (notFinite: Int, notPositive: Int) {
    guard let note = texts.first(where: { $0.hasPrefix("Not drawn: ") }) else { return (0, 0) }
    func count(before phrase: String) -> Int {
        guard let range = note.range(of: phrase) else { return 0 }
        let words = note[..<range.lowerBound].split(separator: " ")
        return Int(words.dropLast().last ?? "") ?? 0
    }
    return (count(before: "with NaN or infinite values"), count(before: "at zero or below"))
}

/// Property tests: plots, reports, the growth-exponent fit and the memory estimate on thousands of
/// seeded random inputs from ``ExtremeNumbers``. A trap would end the test process, so a pass
/// also says none happened.
@Suite struct NumericPropertyTests {
    @Test func numberFormatsReadBackToTheirValue() {
        for index in 0..<20_000 {
            var random = ExtremeNumbers(case: index, salt: 1)
            let value = random.number()
            let digits = random.pick([1, 2, 3, 4, 8, 17, 40, 0, -3])
            let text = compact(value, digits: digits)
            if !value.isFinite {
                #expect(text == nonFiniteText(value), "case \(index)")
                continue
            }
            // Read as mantissa and exponent: 1.8e+308, the nearest rounding of the largest Double, is
            // right for a reader although it would read back as infinity.
            let parts = text.split(separator: "e")
            let mantissa = Double(parts[0])
            let exponent = parts.count == 2 ? Int(parts[1]) : 0
            #expect(mantissa != nil && exponent != nil && parts.count <= 2, "case \(index): compact(\(value)) = \(text)")
            // About `digits` significant digits: within half a unit of the last one (or a few ulps,
            // what the scaling to a mantissa costs, at 16 and 17 digits).
            let significant = Double(min(max(digits, 1), 17))
            if let mantissa, let exponent, value != 0 {
                let expected = timesPowerOfTen(value, -exponent)
                #expect(abs(mantissa - expected) <= abs(expected) * max(5 * pow(10, -significant) * 1.000001, 1e-15) || mantissa == expected,
                        "case \(index): compact(\(value), \(digits)) = \(text)")
            }
            let places = random.pick([0, 1, 2, 5, 17, 30, 320, 400])
            let fixedText = fixed(value, decimals: places)
            let fixedRead = Double(fixedText)
            #expect(fixedRead != nil, "case \(index): fixed(\(value), \(places)) = \(fixedText)")
            if let fixedRead {
                // Rounded to `places` decimals, or exactly the value where integer arithmetic cannot hold it.
                #expect(fixedRead == value || abs(fixedRead - value) <= 0.5 * pow(10, -Double(places)) * 1.01 + abs(value) * 1e-15,
                        "case \(index): fixed(\(value), \(places)) = \(fixedText)")
            }
            let decimalsText = decimals(value, places: min(places, 6))
            #expect(Double(decimalsText) != nil, "case \(index): decimals(\(value)) = \(decimalsText)")
            #expect(!SVGWriter.number(value).isEmpty)
        }
    }

    @Test func axesCoverTheirValuesWithFiniteTicks() {
        for index in 0..<5_000 {
            var random = ExtremeNumbers(case: index, salt: 2)
            let values = random.array()
            let finite = values.filter(\.isFinite)
            let linear = AxisScale.linear(covering: values, targetTickCount: random.pick([1, 2, 5, 6]))
            #expect(linear.lower.isFinite && linear.upper.isFinite && linear.lower < linear.upper, "case \(index): \(values)")
            if let low = finite.min(), let high = finite.max() {
                #expect(linear.lower <= low && linear.upper >= high, "case \(index): \(linear.lower)...\(linear.upper) for \(values)")
            }
            #expect(linear.ticks.count >= 2 && linear.ticks.allSatisfy { $0.value.isFinite && !$0.label.isEmpty }, "case \(index)")
            let positive = values.filter { $0 > 0 && $0.isFinite }
            let log = AxisScale.logarithmic(covering: values)
            #expect(log.lower > 0 && log.upper.isFinite && log.lower < log.upper, "case \(index): \(values)")
            if let low = positive.min(), let high = positive.max() {
                #expect(log.lower <= low && log.upper >= high, "case \(index): \(log.lower)...\(log.upper) for \(values)")
            }
            let labelled = log.ticks.filter { !$0.label.isEmpty && $0.value >= log.lower && $0.value <= log.upper }
            #expect(labelled.count >= 1 && log.ticks.allSatisfy { $0.value.isFinite && $0.value > 0 }, "case \(index): \(values)")
            for axis in [linear, log] {
                let placed = axis.placed(from: 90, to: 700)
                for value in values where axis.canShow(value) {
                    let pixel = placed.pixel(value)
                    #expect(pixel.isFinite && pixel >= 90 - 1e-6 && pixel <= 700 + 1e-6, "case \(index): \(value) -> \(pixel)")
                }
            }
        }
    }

    @Test func growthPlotsAreValidSVGThatDrawEveryDrawablePointAndCountTheRest() {
        for index in 0..<1_000 {
            var random = ExtremeNumbers(case: index, salt: 3)
            var runs: [RunExtrapolation] = []
            for variant in 0..<random.pick([0, 1, 1, 2, 3]) {
                let lambdas = random.chance(0.5) ? lambdaGrid(from: 1, to: 10_000, perDecade: 2) : random.array(element: { $0.positive() })
                for seed in 0..<random.pick([1, 1, 2, 4]) {
                    let maxima = random.array(count: lambdas.count, element: { $0.positive() })
                    let means = random.array(count: lambdas.count)
                    runs.append(RunExtrapolation(variant: "v\(variant)", seed: UInt64(seed), table: ExtrapolationTable(
                        points: lambdas.indices.map { ExtrapolationPoint(lambda: lambdas[$0], maxAbs: maxima[$0], meanAbs: means[$0]) })))
                }
            }
            let plot = GrowthPlot(runs: runs)
            let check = checkSVG(plot.svg, case: index)
            // Every point of a centre line is drawn as a dot, or counted in the note.
            let points = plot.series.reduce(0) { $0 + $1.summary.lambdas.count }
            let dots = check.counts["circle", default: 0]
            let omitted = omittedCounts(check.texts)
            #expect(dots + omitted.notFinite + omitted.notPositive == points, "case \(index): \(dots) dots, \(omitted) omitted of \(points)")
        }
    }

    @Test func predictionPlotsAreValidSVGAndCountWhatTheyLeaveOut() {
        for index in 0..<1_000 {
            var random = ExtremeNumbers(case: index, salt: 4)
            func series(_ name: String) -> PredictionCurvePlot.Series {
                let inputs = random.array()
                if random.chance(0.3) {
                    let runs = (0..<random.pick([1, 2, 3])).map { _ in random.array(count: inputs.count) }
                    return PredictionCurvePlot.Series(name: name, inputs: inputs, predictionsPerRun: runs)
                }
                return PredictionCurvePlot.Series(name: name, inputs: inputs, predictions: random.array(count: inputs.count))
            }
            let curves = (0..<random.pick([0, 1, 2])).map { series("s\($0)") }
            let trainingInputs = random.array()
            let interval = random.chance(0.5) ? Interval(lower: random.number(), upper: random.number()) : nil
            let plot = PredictionCurvePlot(series: curves, trainingInterval: interval, trainingInputs: trainingInputs,
                                           trainingTargets: random.array(count: trainingInputs.count),
                                           target: random.chance(0.3) ? series("target") : nil)
            let check = checkSVG(plot.svg, case: index)
            let pairs = (curves + (plot.target.map { [$0] } ?? [])).flatMap { zip($0.inputs, $0.predictions) }
                + Array(zip(trainingInputs, plot.trainingTargets))
            let notFinite = pairs.filter { !$0.0.isFinite || !$0.1.isFinite }.count
            #expect(omittedCounts(check.texts).notFinite == notFinite, "case \(index)")
        }
    }

    @Test func heatmapsAreValidSVGForAnyValuesAndInputs() {
        for index in 0..<500 {
            var random = ExtremeNumbers(case: index, salt: 5)
            let rows = random.chance(0.7) ? (0..<random.pick([1, 2, 7])).map { Double($0) * random.positive() } : random.array(count: random.pick([1, 3]))
            let columns = random.chance(0.7) ? rows : random.array(count: random.pick([1, 2, 5]))
            let values = rows.map { _ in random.array(count: columns.count) }
            let check = checkSVG(KernelHeatmap(rowInputs: rows, columnInputs: columns, values: values).svg, case: index)
            let shownCells = rows.filter(\.isFinite).count * columns.filter(\.isFinite).count
            if shownCells < rows.count * columns.count {
                #expect(check.texts.contains { $0.contains("at a NaN or infinite input not drawn") }, "case \(index)")
            }
        }
    }

    @Test func reportsAreValidCSVAndJSONThatReadBackToTheirNumbers() throws {
        for index in 0..<2_000 {
            var random = ExtremeNumbers(case: index, salt: 6)
            let count = random.pick([0, 1, 2, 9])
            let runs = (0..<random.pick([1, 2, 3])).map { seed in
                RunExtrapolation(variant: random.chance(0.5) ? "v,\"\(seed % 2)\"" : nil, seed: UInt64(seed), table: ExtrapolationTable(
                    points: (0..<count).map { _ in ExtrapolationPoint(lambda: random.number(), maxAbs: random.number(), meanAbs: random.number()) }))
            }
            // CSV: the project's reader parses it, and every number reads back to its value.
            let csv = ExtrapolationCSV.text(runs)
            let expected = runs.flatMap { run in run.table.points.map { [$0.lambda, $0.maxAbs, $0.meanAbs] } }
            if expected.isEmpty {
                #expect(csv.split(separator: "\n").count == 1, "case \(index): \(csv)")  // the header alone
            } else {
                let table = try CSVTable(text: csv, file: "extrapolation.csv")
                #expect(table.rows.count == expected.count, "case \(index)")
                for (fields, numbers) in zip(table.rows, expected) {
                    for (field, number) in zip(fields.prefix(3), numbers) {
                        let read = ["nan": Double.nan, "inf": .infinity, "-inf": -.infinity][field] ?? Double(field)
                        #expect(read.map { $0 == number || ($0.isNaN && number.isNaN) } == true, "case \(index): \(field) for \(number)")
                    }
                }
            }
            // JSON: the project's parser reads metrics.json back; finite numbers exactly, the rest as null.
            let metrics = RunMetrics(name: "n", seed: 1, precision: .float64, threads: 1, wallTimeSeconds: random.number(),
                                     lossCurve: random.array().enumerated().map { LossRecord(epoch: $0.offset, loss: $0.element) },
                                     finalTrainLoss: random.number(), epochsRun: 3, extrapolation: runs[0].table,
                                     rSquared: RSquaredBySplit(test: random.number()))
            let parsed = try JSONValue.parse(metrics.json.rendered(style: .pretty))
            let back = try #require(RunMetrics(json: parsed), "case \(index)")
            func same(_ a: Double, _ b: Double) -> Bool { a == b || (!a.isFinite && b.isNaN) }
            #expect(zip(back.extrapolation.points, metrics.extrapolation.points).allSatisfy {
                same($1.lambda, $0.lambda) && same($1.maxAbs, $0.maxAbs) && same($1.meanAbs, $0.meanAbs)
            }, "case \(index)")
            #expect(same(metrics.finalTrainLoss, back.finalTrainLoss) && back.lossCurve.count == metrics.lossCurve.count, "case \(index)")
            let summary = GrowthCurveSummary([runs[0].table])
            _ = try JSONValue.parse(summary.json.rendered())
            // The terminal table: a header, a line per point, the exponent.
            #expect(runs[0].table.terminalText.split(separator: "\n").count == count + 2, "case \(index)")
        }
    }

    @Test func sweepReportsRenderForAnyRuns() throws {
        for index in 0..<300 {
            var random = ExtremeNumbers(case: index, salt: 7)
            let lambdas = random.array(element: { $0.positive() })
            let records = (0..<random.pick([1, 2, 5])).map { seed in
                RunRecord(metrics: RunMetrics(name: "sweep", variant: "v\(seed % 2)", seed: UInt64(seed), precision: .float32, threads: 1,
                                              wallTimeSeconds: 1, lossCurve: [], finalTrainLoss: random.number(), epochsRun: 1,
                                              extrapolation: ExtrapolationTable(points: lambdas.map {
                                                  ExtrapolationPoint(lambda: $0, maxAbs: random.positive(), meanAbs: random.number())
                                              }), rSquared: RSquaredBySplit(test: random.number())),
                          curve: nil, trainingPoints: [])
            }
            let report = ExperimentReport(name: "sweep", records: records)
            _ = try JSONValue.parse(report.json.rendered(style: .pretty))
            #expect(report.terminalText.split(separator: "\n").count == Set(records.map { $0.metrics.variant }).count + 1, "case \(index)")
            checkSVG(GrowthPlot(runs: records.map(\.extrapolation)).svg, case: index)
        }
    }

    /// The fit recovers p from c * lambda^p exactly up to rounding, on grids anywhere in the Double
    /// range; on anything else it gives a finite number or NaN, never infinity or a trap.
    @Test func growthExponentFitsPowerLawsAndIsFiniteOrNaNOtherwise() {
        for index in 0..<20_000 {
            var random = ExtremeNumbers(case: index, salt: 8)
            if random.chance(0.5) {
                // A power law on a valid grid, computed in decades so it stays inside the Double range.
                let fromDecade = -300 + random.generator.nextUniform() * 590
                let decades = 0.5 + random.generator.nextUniform() * min(8, 308 - fromDecade)
                let grid = lambdaGrid(from: pow(10, fromDecade), to: pow(10, fromDecade + decades), perDecade: random.pick([1, 2, 4, 7]))
                let exponent = random.generator.nextUniform() * 20 - 10
                let scaleDecade = random.generator.nextUniform() * 200 - 100
                let logValues = grid.map { scaleDecade + exponent * log10($0) }
                guard logValues.allSatisfy({ $0 > -300 && $0 < 300 }) else { continue }
                let fitted = growthExponent(lambdas: grid, maxAbs: logValues.map { pow(10, $0) })
                #expect(abs(fitted - exponent) <= 1e-9 * max(1, abs(exponent)), "case \(index): \(fitted) for \(exponent)")
            } else {
                let lambdas = random.array()
                let fitted = growthExponent(lambdas: lambdas, maxAbs: random.array(count: lambdas.count))
                #expect(fitted.isFinite || fitted.isNaN, "case \(index): \(fitted)")
            }
        }
    }

    @Test func memoryEstimatesAreNonNegativeAndRefuseExactlyWhatExceedsTheLimit() {
        let sizes = [0, 1, 2, 3, 100, 1 << 20, 1 << 31, 1 << 52, Int.max / 2, Int.max]
        for index in 0..<5_000 {
            var random = ExtremeNumbers(case: index, salt: 9)
            var config = ExperimentConfig(name: "m", precision: random.chance(0.5) ? .float32 : .float64)
            // Sizes the decoder accepts (a network has a hidden layer and a unit); the data may be empty.
            let hiddenLayers = max(random.pick(sizes), 1)
            config.data = .synthetic(SyntheticDataConfig(inputDim: max(random.pick(sizes), 1), trainSize: random.pick(sizes)))
            config.model.width = random.chance(0.1) ? .infinite : .finite(max(random.pick(sizes), 1))
            config.model.hiddenLayers = hiddenLayers
            config.model.layerNorm = random.pick([.none, .first, .every, .layers([0, 1])])
            config.training.batchSize = random.chance(0.5) ? .full : .samples(random.pick(sizes))
            config.evaluation.lambdas = LambdaGridConfig(from: random.positive(), to: random.positive(), perDecade: max(random.pick(sizes), 1))
            config.evaluation.directions = random.chance(0.5) ? .training : .random(max(random.pick(sizes), 1))
            let estimate = MemoryEstimate(config: config, trainingSamples: random.chance(0.3) ? random.pick(sizes) : nil)
            let total = estimate.totalBytes
            #expect(estimate.parts.allSatisfy { !($0.bytes < 0) } && !(total < 0), "case \(index)")
            let limit = random.pick([0, 1e3, 8 * 1024 * 1024 * 1024, 1e300, .infinity, random.number()])
            let problem = estimate.check(limitBytes: limit)
            #expect((problem != nil) == (total > limit || !total.isFinite), "case \(index): \(total) against \(limit)")
            if let problem {
                #expect(problem.problem.contains("this run needs about ") && problem.problem.hasSuffix("lower \(problem.location ?? "")"),
                        "case \(index): \(problem.problem)")
            }
            let bytes = random.number()
            let text = MemoryEstimate.format(bytes: bytes)
            #expect(!text.isEmpty, "case \(index)")
            if bytes >= 0 && bytes < 1024 { #expect(text == "\(Int(bytes)) B", "case \(index): \(text)") }
        }
    }

    @Test func intervalsHoldTheirMeanAndSurviveOverflow() {
        for index in 0..<10_000 {
            var random = ExtremeNumbers(case: index, salt: 10)
            let values = random.array(count: random.pick([1, 2, 3, 8]))
            let summary = MeanWithInterval(values)
            if values.allSatisfy(\.isFinite) {
                #expect(summary.mean.isFinite, "case \(index): \(values)")
                #expect(summary.lower <= summary.mean && summary.mean <= summary.upper, "case \(index): \(values)")
                // Between the least and the greatest value, up to the rounding of the sum.
                let slack = 1e-12 * max(abs(values.min()!), abs(values.max()!))
                #expect(summary.mean >= values.min()! - slack && summary.mean <= values.max()! + slack, "case \(index): \(values)")
            }
        }
    }
}

/// The cases of issue 12, one by one: what the plots and formats give at the ends of the range.
@Suite struct ExtremeValueTests {
    @Test func formatsAtTheEndsOfTheDoubleRange() {
        #expect(compact(.leastNonzeroMagnitude) == "4.941e-324")
        #expect(compact(.greatestFiniteMagnitude) == "1.798e+308")
        #expect(compact(-1e-320, digits: 2) == "-1e-320")
        #expect(fixed(3.1117e38, decimals: 2) == "3.1117e+38")  // was a trap: Int(3e38)
        #expect(fixed(0.125, decimals: 400) == "0.125")
        #expect(fixed(-2.5, decimals: -3) == "-3")
        #expect(decimals(1.5e20, places: 2) == "1.5e+20")
        #expect(MemoryEstimate.format(bytes: -.infinity) == "-more than 10^308 B")
        #expect(MemoryEstimate.format(bytes: .nan) == "an unknown amount")
        #expect(formatDuration(1e300) == "?" && formatDuration(3_725) == "1h2m")
    }

    /// The trap the issue reported: predictions near 3e38 (a learning rate of 10^12) in the prediction plot.
    @Test func predictionsNear1e38GetPowerOfTenLabels() {
        let inputs = (0..<21).map { Double($0) - 10 }
        let plot = PredictionCurvePlot(series: [.init(name: "f", inputs: inputs, predictions: inputs.map { 1.5e38 * (1 + $0 / 10) })])
        let check = checkWellFormed(plot.svg)
        #expect(check.texts.contains("1.5×1038") && check.texts.contains("1038") && check.texts.contains("5×1037"), "\(check.texts)")
        #expect(!check.texts.contains { $0.hasPrefix("Not drawn") })
        let axis = AxisScale.linear(covering: [0, 6e38])
        #expect(axis.ticks.map(\.label).contains("10<tspan dy=\"-0.5em\" font-size=\"75%\">38</tspan>"))
    }

    @Test func logAxesStopAtTheDoubleRange() {
        let wide = AxisScale.logarithmic(covering: [.leastNonzeroMagnitude, .greatestFiniteMagnitude])
        #expect(wide.lower == .leastNonzeroMagnitude && wide.upper == .greatestFiniteMagnitude)
        #expect(wide.ticks.filter { !$0.label.isEmpty }.map(\.value) == [1e-300, 1e-200, 1e-100, 1, 1e100, 1e200, 1e300])
        let spanning = AxisScale.logarithmic(covering: [1e-300, 1e300])
        #expect(spanning.lower == 1e-300 && spanning.upper == 1e300)
    }

    @Test func growthPlotsSayWhatTheyLeaveOut() {
        let lambdas = [1.0, 10, 100, 1000, 1e4]
        let table = ExtrapolationTable(points: zip(lambdas, [1, .nan, 0, .infinity, 1e300]).map {
            ExtrapolationPoint(lambda: $0, maxAbs: $1, meanAbs: 1)
        })
        let check = checkWellFormed(GrowthPlot(runs: [RunExtrapolation(variant: nil, seed: 0, table: table)]).svg)
        #expect(check.texts.contains("Not drawn: 2 points with NaN or infinite values, 1 point at zero or below (log scale)."))
        #expect(check.elements.filter { $0.name == "circle" }.count == 2)
        let nothing = ExtrapolationTable(points: lambdas.map { ExtrapolationPoint(lambda: $0, maxAbs: .nan, meanAbs: .nan) })
        let empty = checkWellFormed(GrowthPlot(runs: [RunExtrapolation(variant: nil, seed: 0, table: nothing)]).svg)
        #expect(empty.texts.contains("no finite values to show"))
    }

    @Test func aSinglePointAndEqualValuesDraw() {
        let single = checkWellFormed(PredictionCurvePlot(series: [.init(name: "f", inputs: [1e-320], predictions: [1e-320])]).svg)
        #expect(single.elements.contains { $0.name == "circle" })
        let flat = AxisScale.linear(covering: [1e308, 1e308, 1e308])
        #expect(flat.lower < 1e308 && flat.upper > 1e308 && flat.upper.isFinite)
        let heatmap = checkWellFormed(KernelHeatmap(rowInputs: [0, .nan], columnInputs: [-1e308, 1e308], values: [[1, .infinity], [2, 3]]).svg)
        #expect(heatmap.texts.contains("grey: 1 cell NaN or infinite; 1 row at a NaN or infinite input not drawn."))
    }

    @Test func gridsNearTheLargestDoubleEndOnIt() {
        let grid = lambdaGrid(from: 1, to: .greatestFiniteMagnitude, perDecade: 1)
        #expect(grid.count == 310 && grid.last == .greatestFiniteMagnitude && grid.allSatisfy(\.isFinite))
        #expect(lambdaGridCount(from: 1, to: .greatestFiniteMagnitude, perDecade: 1) == 310)
        #expect(lambdaGridCount(from: 1e-320, to: 1e308, perDecade: Int.max) > 5e21)
        #expect(lambdaGridCount(from: 1, to: 0.5, perDecade: 4).isNaN)
        #expect(lambdaGridCount(from: 1, to: 10_000, perDecade: 4) == 17)
    }
}
