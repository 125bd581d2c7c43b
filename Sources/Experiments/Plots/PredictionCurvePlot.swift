/// A 1-D network's prediction against x over an interval much wider than the training data (the
/// paper's Figure 1): one line per variant, the training interval shaded, the training points
/// as dots, and optionally the true target as a dashed line.
public struct PredictionCurvePlot: Sendable {
    /// One variant's predictions at `inputs`; with several seeds, the mean and a 95% band.
    public struct Series: Sendable {
        public var name: String
        public var inputs: [Double]
        public var predictions: [Double]
        /// The band's edges, or nil for a single run.
        public var lower: [Double]?
        public var upper: [Double]?

        /// A single run's curve.
        public init(name: String, inputs: [Double], predictions: [Double]) {
            precondition(inputs.count == predictions.count, "Series: \(inputs.count) inputs for \(predictions.count) predictions")
            self.name = name
            self.inputs = inputs
            self.predictions = predictions
        }

        /// Several runs' curves at the same inputs: their mean, with the 95% t-interval as a band.
        public init(name: String, inputs: [Double], predictionsPerRun runs: [[Double]]) {
            precondition(!runs.isEmpty && runs.allSatisfy { $0.count == inputs.count },
                         "Series: every run needs one prediction per input")
            self.name = name
            self.inputs = inputs
            let summaries = inputs.indices.map { index in MeanWithInterval(runs.map { $0[index] }) }
            predictions = summaries.map(\.mean)
            if runs.count > 1 {
                lower = summaries.map(\.lower)
                upper = summaries.map(\.upper)
            }
        }
    }

    public var series: [Series]
    /// The interval the training inputs came from, shaded.
    public var trainingInterval: Interval?
    /// Training inputs and targets, drawn as dots.
    public var trainingInputs: [Double]
    public var trainingTargets: [Double]
    /// The true function, dashed (e.g. `sin(pi x)` for synthetic data).
    public var target: Series?
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var width: Double
    public var height: Double

    /// A plot of `series`; training points are `(trainingInputs[i], trainingTargets[i])`.
    public init(series: [Series], trainingInterval: Interval? = nil, trainingInputs: [Double] = [],
                trainingTargets: [Double] = [], target: Series? = nil,
                title: String = "Predictions far from the training data", xLabel: String = "x",
                yLabel: String = "prediction f(x)", width: Double = 860, height: Double = 520) {
        precondition(trainingInputs.count == trainingTargets.count, "PredictionCurvePlot: training inputs and targets differ in count")
        self.series = series
        self.trainingInterval = trainingInterval
        self.trainingInputs = trainingInputs
        self.trainingTargets = trainingTargets
        self.target = target
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.width = width
        self.height = height
    }

    /// The plot as an SVG document.
    public var svg: String {
        var legendEntries = series.enumerated().map { index, entry in
            LegendEntry(label: entry.name, detail: nil,
                        swatch: entry.lower == nil ? .line(color: seriesColor(index), dashed: false) : .lineWithBand(color: seriesColor(index)))
        }
        if let target { legendEntries.append(LegendEntry(label: target.name, detail: nil, swatch: .line(color: "#666666", dashed: true))) }
        if !trainingInputs.isEmpty { legendEntries.append(LegendEntry(label: "training points", detail: nil, swatch: .dot(color: "#333333"))) }
        if trainingInterval != nil {
            legendEntries.append(LegendEntry(label: "training interval", detail: nil, swatch: .shadedRegion(color: "#dddddd")))
        }
        let legendWidth = max(150, (legendEntries.map { estimatedTextWidth($0.label, size: 12) }.max() ?? 0) + 60)
        let area = PlotArea(left: 90, top: 50, width: width - 90 - legendWidth - 40, height: height - 50 - 75)

        var xValues = series.flatMap(\.inputs) + trainingInputs
        var yValues = series.flatMap { $0.predictions + ($0.lower ?? []) + ($0.upper ?? []) } + trainingTargets
        if let target {
            xValues += target.inputs
            yValues += target.predictions
        }
        if let trainingInterval { xValues += [trainingInterval.lower, trainingInterval.upper] }
        let x = AxisScale.linear(covering: xValues).placed(from: area.left, to: area.right)
        let y = AxisScale.linear(covering: yValues).placed(from: area.bottom, to: area.top)

        var svg = SVGWriter(width: width, height: height)
        if let trainingInterval, x.canShow(trainingInterval.lower), x.canShow(trainingInterval.upper) {
            let (left, right) = (x.pixel(trainingInterval.lower), x.pixel(trainingInterval.upper))
            svg.rect(x: min(left, right), y: area.top, width: abs(right - left), height: area.height, fill: "#dddddd", fillOpacity: 0.6)
        }
        var omitted = OmittedPoints()
        var pointCount = trainingInputs.count
        for curve in series + (target.map { [$0] } ?? []) {
            omitted.count(zip(curve.inputs, curve.predictions), x: x, y: y)
            pointCount += curve.inputs.count
        }
        omitted.count(zip(trainingInputs, trainingTargets), x: x, y: y)
        drawAxes(&svg, area: area, x: x, y: y, title: title, xLabel: xLabel, yLabel: yLabel)
        if let target {
            for segment in drawableSegments(Array(zip(target.inputs, target.predictions)), x: x, y: y) {
                svg.polyline(segment, stroke: "#666666", width: 1.5, dash: "6 4")
            }
        }
        for (index, entry) in series.enumerated() {
            let color = seriesColor(index)
            svg.comment("series \(entry.name)")
            if let lower = entry.lower, let upper = entry.upper {
                let visible = entry.inputs.indices.filter { x.canShow(entry.inputs[$0]) && y.canShow(lower[$0]) && y.canShow(upper[$0]) }
                let upperEdge = visible.map { (x.pixel(entry.inputs[$0]), y.pixel(upper[$0])) }
                let lowerEdge = visible.map { (x.pixel(entry.inputs[$0]), y.pixel(lower[$0])) }
                svg.polygon(upperEdge + lowerEdge.reversed(), fill: color, opacity: 0.2)
            }
            for segment in drawableSegments(Array(zip(entry.inputs, entry.predictions)), x: x, y: y) {
                if segment.count == 1 {
                    // A point between two gaps (NaN predictions) would not show as a line.
                    svg.circle(x: segment[0].0, y: segment[0].1, radius: 2.5, fill: color)
                } else {
                    svg.polyline(segment, stroke: color, width: 2.2)
                }
            }
        }
        for (input, value) in zip(trainingInputs, trainingTargets) where x.canShow(input) && y.canShow(value) {
            svg.circle(x: x.pixel(input), y: y.pixel(value), radius: 2.8, fill: "#333333", stroke: "white")
        }
        drawLegend(&svg, entries: legendEntries, x: area.right + 20, y: area.top, width: legendWidth)
        omitted.draw(&svg, area: area, drewNothing: omitted.total == pointCount)
        return svg.rendered(title: title)
    }

    /// Writes ``svg`` to `path` atomically.
    public func write(to path: String) throws(FileError) {
        try SVGWriter.write(svg, to: path)
    }
}
