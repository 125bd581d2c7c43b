/// `kernel.svg`: the empirical NTK on the probe points against the epoch: how far it moved from
/// initialisation (kernel change), how far it is from the analytic NTK (where there is one), and
/// its alignment with the targets, on one linear axis (all three are ratios of order 1).
public struct KernelDriftPlot: Sendable {
    public var records: [KernelDriftRecord]
    public var title: String
    public var width = 860.0, height = 520.0

    public init(records: [KernelDriftRecord], title: String = "Empirical NTK on the probe points during training") {
        self.records = records
        self.title = title
    }

    /// The plot as an SVG document.
    public var svg: String {
        let epochs = records.map { Double($0.epoch) }
        var series: [(name: String, detail: String, values: [Double])] = [
            ("kernel change", "\u{2016}\u{0398}\u{209C} \u{2212} \u{0398}\u{2080}\u{2016} / \u{2016}\u{0398}\u{2080}\u{2016}", records.map(\.kernelChange)),
        ]
        if records.contains(where: { $0.distanceToAnalytic != nil }) {
            series.append(("distance to analytic NTK", "\u{2016}\u{0398}\u{209C} \u{2212} \u{0398}\u{221E}\u{2016} / \u{2016}\u{0398}\u{221E}\u{2016}",
                           records.map { $0.distanceToAnalytic ?? .nan }))
        }
        series.append(("kernel-target alignment", "y\u{1D40}\u{0398}y / (\u{2016}\u{0398}\u{2016} \u{2016}y\u{2016}\u{00B2})", records.map(\.alignment)))

        let legendEntries = series.enumerated().map { LegendEntry(label: $1.name, detail: $1.detail, swatch: .line(color: seriesColor($0), dashed: false)) }
        let legendWidth = 230.0
        let area = PlotArea(left: 90, top: 50, width: width - 90 - legendWidth - 40, height: height - 50 - 75)
        let x = AxisScale.linear(covering: epochs).placed(from: area.left, to: area.right)
        let y = AxisScale.linear(covering: series.flatMap(\.values).filter(\.isFinite) + [0]).placed(from: area.bottom, to: area.top)

        var svg = SVGWriter(width: width, height: height)
        drawAxes(&svg, area: area, x: x, y: y, title: title, xLabel: "epoch", yLabel: "ratio")
        var omitted = OmittedPoints()
        for (index, entry) in series.enumerated() {
            let points = Array(zip(epochs, entry.values))
            omitted.count(points, x: x, y: y)
            svg.comment("series \(entry.name)")
            for segment in drawableSegments(points, x: x, y: y) {
                svg.polyline(segment, stroke: seriesColor(index), width: 2.2)
                for point in segment { svg.circle(x: point.0, y: point.1, radius: 3, fill: seriesColor(index), stroke: "white") }
            }
        }
        drawLegend(&svg, entries: legendEntries, x: area.right + 20, y: area.top, width: legendWidth)
        omitted.draw(&svg, area: area, drewNothing: records.isEmpty)
        return svg.rendered(title: title)
    }

    /// Writes ``svg`` to `path` atomically.
    public func write(to path: String) throws(FileError) {
        try SVGWriter.write(svg, to: path)
    }
}
