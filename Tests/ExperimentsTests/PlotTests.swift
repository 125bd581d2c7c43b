import Glibc
import Testing
@testable import Experiments
import TestSupport

/// Checks an SVG's structure (`XMLCheck`) and that its every coordinate is a finite number.
func checkWellFormed(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) -> XMLCheck {
    let check = XMLCheck(svg)
    #expect(check.problems.isEmpty, "\(check.problems)", sourceLocation: sourceLocation)
    #expect(check.elements.first?.name == "svg", sourceLocation: sourceLocation)
    let numbers = check.numbers
    #expect(!numbers.isEmpty, sourceLocation: sourceLocation)
    let bad = numbers.filter { Double($0)?.isFinite != true }
    #expect(bad.isEmpty, "not finite: \(bad.prefix(5))", sourceLocation: sourceLocation)
    return check
}

@Suite struct XMLCheckTests {
    @Test func catchesMalformedDocuments() {
        #expect(XMLCheck("<svg><g></svg>").problems.isEmpty == false)
        #expect(XMLCheck("<svg a=\"1\" a=\"2\"/>").problems.isEmpty == false)
        #expect(XMLCheck("<svg>a & b</svg>").problems.isEmpty == false)
        #expect(XMLCheck("<svg/><svg/>").problems.isEmpty == false)
        #expect(XMLCheck("<svg x=1/>").problems.isEmpty == false)
        let good = XMLCheck("<?xml version=\"1.0\"?><svg><!-- c --><text x=\"1\">a &amp; 10<tspan>2</tspan></text></svg>")
        #expect(good.problems.isEmpty)
        #expect(good.texts == ["a & 102"])
    }
}

func run(_ variant: String?, _ seed: UInt64, _ maxima: [Double]) -> RunExtrapolation {
    let lambdas = lambdaGrid(from: 1, to: 10_000, perDecade: 4)
    return RunExtrapolation(variant: variant, seed: seed, table: ExtrapolationTable(points: zip(lambdas, maxima).map {
        ExtrapolationPoint(lambda: $0, maxAbs: $1, meanAbs: $1 / 2)
    }))
}

@Suite struct GrowthPlotTests {
    static let lambdas = lambdaGrid(from: 1, to: 10_000, perDecade: 4)
    static let runs = (0..<3).flatMap { seed in
        [run("no-ln", UInt64(seed), lambdas.map { (1 + Double(seed) / 10) * $0 }),
         run("ln-first <&>", UInt64(seed), lambdas.map { _ in 1.5 + Double(seed) / 10 })]
    }

    @Test func hasAxesTicksLegendAndBands() {
        let svg = GrowthPlot(runs: Self.runs, title: "Growth & decay").svg
        let check = checkWellFormed(svg)
        let texts = check.texts
        #expect(texts.contains("Growth & decay"))
        #expect(texts.contains("\u{03BB} (scale of the input)"))
        #expect(texts.contains("max |f(\u{03BB}x)|"))
        #expect(texts.contains("no-ln") && texts.contains("ln-first <&>"))
        #expect(texts.contains("growth exponent 1.00 \u{00B1} 0.00, 3 seeds"))
        #expect(texts.contains("slope 1 (linear)"))
        // Decade ticks on the x axis, 10^0 ... 10^4, drawn as 10 with a raised exponent.
        for exponent in 0...4 {
            #expect(svg.contains("10<tspan dy=\"-0.5em\" font-size=\"75%\">\(exponent)</tspan>"), "10^\(exponent)")
            #expect(texts.contains("10\(exponent)"))
        }
        // One band per variant (3 seeds each), one line per variant plus the guide.
        #expect(check.elements.filter { $0.name == "polygon" }.count == 2)
        #expect(check.elements.filter { $0.name == "polyline" }.count == 3)
    }

    @Test func singleRunHasNoBand() {
        let check = checkWellFormed(GrowthPlot(runs: [Self.runs[0]]).svg)
        #expect(check.elements.filter { $0.name == "polygon" }.isEmpty)
        #expect(!check.texts.contains { $0.contains("seeds") })
    }

    @Test func divergedAndZeroValuesDoNotBreakTheDrawing() {
        var maxima = Self.lambdas
        maxima[5] = .nan
        maxima[6] = 0
        maxima[7] = .infinity
        let check = checkWellFormed(GrowthPlot(runs: [run("diverged", 0, maxima), run("diverged", 1, Self.lambdas)]).svg)
        #expect(check.texts.contains("diverged"))
        let empty = checkWellFormed(GrowthPlot(series: []).svg)
        #expect(empty.texts.contains("no runs to show"))
    }

    @Test func narrowRangesStillGetTwoLabelledDecades() {
        let scale = AxisScale.logarithmic(covering: [1.2, 1.3])
        #expect(scale.lower == 1 && scale.upper == 10)
        let wide = AxisScale.logarithmic(covering: [1e-20, 1e20])
        #expect(wide.ticks.filter { !$0.label.isEmpty }.count <= 9)
        #expect(AxisScale.logarithmic(covering: [1, 10_000]).lower == 1)
        #expect(AxisScale.logarithmic(covering: [1, 10_000]).upper == 10_000)
    }

    @Test func linearTicksAreRoundNumbers() {
        let scale = AxisScale.linear(covering: [-10, 10])
        #expect(scale.ticks.map(\.value) == [-10, -5, 0, 5, 10])
        #expect(scale.ticks.map(\.label) == ["\u{2212}10", "\u{2212}5", "0", "5", "10"])
        let small = AxisScale.linear(covering: [0.013, 0.047])
        #expect(small.ticks.map(\.label) == ["0.01", "0.02", "0.03", "0.04", "0.05"])
        #expect(AxisScale.linear(covering: [3, 3]).ticks.count >= 2)
    }
}

@Suite struct PredictionCurvePlotTests {
    @Test func showsCurvesTrainingDataAndInterval() {
        let inputs = CurveConfig(from: -10, to: 10, points: 201).inputs
        let plot = PredictionCurvePlot(
            series: [.init(name: "no LN", inputs: inputs, predictionsPerRun: [inputs, inputs.map { 1.1 * $0 }]),
                     .init(name: "LN first", inputs: inputs, predictions: inputs.map { _ in 0.5 })],
            trainingInterval: Interval(lower: -1, upper: 1), trainingInputs: [-0.5, 0, 0.5], trainingTargets: [-1, 0, 1],
            target: .init(name: "target", inputs: inputs, predictions: inputs.map { sin($0) }))
        let check = checkWellFormed(plot.svg)
        for label in ["no LN", "LN first", "target", "training points", "training interval", "x", "prediction f(x)"] {
            #expect(check.texts.contains(label), "\(label)")
        }
        #expect(check.texts.contains("\u{2212}10") && check.texts.contains("10"))
        // Three training dots, plus one in the legend.
        #expect(check.elements.filter { $0.name == "circle" }.count == 4)
        #expect(check.elements.filter { $0.name == "polygon" }.count == 1)
    }

    @Test func bareCurveWorks() {
        let check = checkWellFormed(PredictionCurvePlot(series: [.init(name: "f", inputs: [0, 1], predictions: [2, .nan])]).svg)
        #expect(check.texts.contains("f"))
    }
}

@Suite struct KernelHeatmapTests {
    @Test func drawsCellsAxesAndColorBar() {
        let grid = (0..<12).map { -3 + 6 * Double($0) / 11 }
        let kernel = Tensor<Double>(shape: [12, 12], scalars: grid.flatMap { a in grid.map { b in 1 + a * b } })
        let heatmap = KernelHeatmap(grid: grid, kernel: kernel, title: "NTK, LN first")
        let check = checkWellFormed(heatmap.svg)
        #expect(check.texts.contains("NTK, LN first"))
        #expect(check.texts.contains("\u{0398}(x, x\u{2032})"))
        // Colour bar ticks cover the value range -8 ... 10.
        #expect(check.texts.contains("\u{2212}5") && check.texts.contains("10"))
        let cells = check.elements.filter { $0.name == "rect" && $0.attributes["shape-rendering"] == "crispEdges" }
        #expect(cells.count >= 12 + 64)
    }

    @Test func colorsAreViridisAndGreyForNaN() {
        #expect(KernelHeatmap.color(0, low: 0, high: 1) == "#440154")
        #expect(KernelHeatmap.color(1, low: 0, high: 1) == "#fde725")
        #expect(KernelHeatmap.color(5, low: 0, high: 1) == "#fde725")
        #expect(KernelHeatmap.color(.nan, low: 0, high: 1) == "#bbbbbb")
        let constant = checkWellFormed(KernelHeatmap(rowInputs: [0], columnInputs: [0, 1], values: [[2, .nan]]).svg)
        #expect(constant.problems.isEmpty)
    }

    @Test func writesThroughAtomicFile() throws {
        try withTemporaryFolder { folder in
            try KernelHeatmap(rowInputs: [0, 1], columnInputs: [0, 1], values: [[1, 0], [0, 1]]).write(to: folder + "/k.svg")
            try GrowthPlot(runs: GrowthPlotTests.runs).write(to: folder + "/g.svg")
            try PredictionCurvePlot(series: []).write(to: folder + "/c.svg")
            for name in ["k.svg", "g.svg", "c.svg"] {
                #expect(try AtomicFile.readText(folder + "/" + name).hasPrefix("<?xml"))
            }
        }
    }
}
