import Glibc

/// The log-log plot of max |f(lambda x)| against lambda (`extrapolation.svg`): one line per
/// variant through the geometric mean over its seeds, a shaded 95% band when there are several
/// seeds, ticks at every decade, and a legend giving each variant's growth exponent.
public struct GrowthPlot: Sendable {
    /// One variant's curve.
    public struct Series: Sendable {
        public var name: String
        public var summary: GrowthCurveSummary
        public init(name: String, summary: GrowthCurveSummary) {
            self.name = name
            self.summary = summary
        }
    }

    public var series: [Series]
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// Draw a dashed grey line of slope 1 (linear growth) for comparison.
    public var showLinearGuide: Bool
    public var width: Double
    public var height: Double

    /// A plot of already summarised series, drawn in the order given.
    public init(series: [Series], title: String = "Growth of the output along rays x \u{2192} \u{03BB}x",
                xLabel: String = "\u{03BB} (scale of the input)", yLabel: String = "max |f(\u{03BB}x)|",
                showLinearGuide: Bool = true, width: Double = 860, height: Double = 520) {
        self.series = series
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.showLinearGuide = showLinearGuide
        self.width = width
        self.height = height
    }

    /// Groups runs by variant (in first-seen order) and summarises each over its seeds.
    public init(runs: [RunExtrapolation], title: String = "Growth of the output along rays x \u{2192} \u{03BB}x") {
        var order: [String] = []
        var tables: [String: [ExtrapolationTable]] = [:]
        for run in runs {
            let name = run.variant ?? "network"
            if tables[name] == nil { order.append(name) }
            tables[name, default: []].append(run.table)
        }
        self.init(series: order.map { Series(name: $0, summary: GrowthCurveSummary(tables[$0]!)) }, title: title)
    }

    /// The plot as an SVG document.
    public var svg: String {
        let legendEntries = series.enumerated().map { index, entry in
            let exponent = entry.summary.growthExponent
            var detail = "growth exponent " + decimals(exponent.mean, places: 2)
            if entry.summary.runCount > 1 {
                detail += " \u{00B1} " + decimals((exponent.upper - exponent.lower) / 2, places: 2) + ", \(entry.summary.runCount) seeds"
            }
            return LegendEntry(label: entry.name, detail: detail,
                               swatch: entry.summary.runCount > 1 ? .lineWithBand(color: seriesColor(index)) : .line(color: seriesColor(index), dashed: false))
        } + (showLinearGuide ? [LegendEntry(label: "slope 1 (linear)", detail: nil, swatch: .line(color: "#999999", dashed: true))] : [])
        let legendWidth = max(150, (legendEntries.map { max(estimatedTextWidth($0.label, size: 12), estimatedTextWidth($0.detail ?? "", size: 10.5)) }.max() ?? 0) + 60)
        let area = PlotArea(left: 90, top: 50, width: width - 90 - legendWidth - 40, height: height - 50 - 75)

        let lambdas = series.flatMap(\.summary.lambdas)
        let values = series.flatMap { $0.summary.center + ($0.summary.runCount > 1 ? $0.summary.lower + $0.summary.upper : []) }
        let x = AxisScale.logarithmic(covering: lambdas).placed(from: area.left, to: area.right)
        let y = AxisScale.logarithmic(covering: values).placed(from: area.bottom, to: area.top)

        var svg = SVGWriter(width: width, height: height)
        drawAxes(&svg, area: area, x: x, y: y, title: title, xLabel: xLabel, yLabel: yLabel)
        if showLinearGuide, let guide = linearGuide(x: x, y: y) {
            svg.polyline(guide, stroke: "#999999", width: 1.5, dash: "6 4")
        }
        var omitted = OmittedPoints()
        for (index, entry) in series.enumerated() {
            let color = seriesColor(index)
            let summary = entry.summary
            omitted.count(zip(summary.lambdas, summary.center), x: x, y: y)
            svg.comment("series \(entry.name)")
            if summary.runCount > 1 {
                let visible = summary.lambdas.indices.filter {
                    x.canShow(summary.lambdas[$0]) && y.canShow(summary.lower[$0]) && y.canShow(summary.upper[$0])
                }
                let upperEdge = visible.map { (x.pixel(summary.lambdas[$0]), y.pixel(summary.upper[$0])) }
                let lowerEdge = visible.map { (x.pixel(summary.lambdas[$0]), y.pixel(summary.lower[$0])) }
                svg.polygon(upperEdge + lowerEdge.reversed(), fill: color, opacity: 0.2)
            }
            for segment in drawableSegments(Array(zip(summary.lambdas, summary.center)), x: x, y: y) {
                svg.polyline(segment, stroke: color, width: 2.2)
                for point in segment { svg.circle(x: point.0, y: point.1, radius: 3, fill: color, stroke: "white") }
            }
        }
        let legendBottom = drawLegend(&svg, entries: legendEntries, x: area.right + 20, y: area.top, width: legendWidth)
        if series.contains(where: { $0.summary.runCount > 1 }) {
            // Say what line and band mean; a reader cannot guess "geometric mean" from the picture.
            svg.text("Lines: geometric mean over seeds.", x: area.right + 20, y: legendBottom + 18, size: 10.5, fill: "#555555")
            svg.text("Bands: 95% confidence interval.", x: area.right + 20, y: legendBottom + 32, size: 10.5, fill: "#555555")
        }
        if series.isEmpty {
            svg.text("no runs to show", x: area.left + area.width / 2, y: area.top + area.height / 2, size: 14, anchor: "middle", fill: "#888888")
        }
        omitted.draw(&svg, area: area, drewNothing: omitted.total == series.reduce(0) { $0 + $1.summary.lambdas.count })
        return svg.rendered(title: title)
    }

    /// A slope-1 line through the middle of the plot, clipped to the plot area.
    func linearGuide(x: AxisScale, y: AxisScale) -> [(Double, Double)]? {
        // Anchored where the first series starts, so it reads as "what linear growth from here looks like".
        guard let first = series.first, let lambda = first.summary.lambdas.first, let value = first.summary.center.first,
              x.canShow(lambda), y.canShow(value) else { return nil }
        // In decades: the axes may span more than a Double's range of ratios (1e-300 ... 1e300).
        let (lowX, highX) = (log10(x.lower), log10(x.upper))
        let (lowY, highY) = (log10(y.lower), log10(y.upper))
        var points: [(Double, Double)] = []
        for step in 0...100 {
            let scale = lowX + (highX - lowX) * Double(step) / 100
            let guideValue = log10(value) + scale - log10(lambda)
            if guideValue >= lowY && guideValue <= highY {
                points.append((x.pixel(decade: scale), y.pixel(decade: guideValue)))
            }
        }
        return points.count >= 2 ? [points.first!, points.last!] : nil
    }

    /// Writes ``svg`` to `path` atomically.
    public func write(to path: String) throws(FileError) {
        try SVGWriter.write(svg, to: path)
    }
}
