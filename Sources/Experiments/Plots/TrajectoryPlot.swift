/// `trajectory.svg`: Elkabetz & Cohen's two panels. Left, the training loss against time t for the
/// configured step, each eta / r and gradient flow. Right, for each smaller step and the flow,
/// the distance between it and the configured run, ||theta_eta(t) - theta_other(t)||, against
/// the configured run's distance from initialisation ||theta_eta(t) - theta_0|| (both linear):
/// curves near the floor mean the runs follow one trajectory. With the Hessian measured, a third
/// panel: its largest and smallest eigenvalues against t, with 2 / eta (gradient descent's
/// stability threshold for a quadratic) marked.
enum TrajectoryPlot {
    static func svg(_ table: TrajectoryTable, learningRate: Double) -> String {
        let (panelWidth, height) = (560.0, 460.0)
        let legendWidth = 190.0
        let panels = table.hessianLargest == nil ? 2.0 : 3.0
        var svg = SVGWriter(width: panels * panelWidth + legendWidth + 40, height: height)
        var names = ["\u{03B7} = " + scientific(learningRate)]
        var losses = [table.loss]
        var distances: [[Double]] = []
        for (index, r) in table.stepRatios.enumerated() {
            names.append("\u{03B7} / \(r)")
            losses.append(table.ratioLoss[index])
            distances.append(table.ratioDistance[index])
        }
        if let flowLoss = table.flowLoss, let flowDistance = table.flowDistance {
            names.append("gradient flow")
            losses.append(flowLoss)
            distances.append(flowDistance)
        }
        var omitted = OmittedPoints()
        // Left: loss against time.
        let left = PlotArea(left: 90, top: 50, width: panelWidth - 120, height: height - 125)
        let time = AxisScale.linear(covering: table.times).placed(from: left.left, to: left.right)
        let loss = AxisScale.linear(covering: losses.flatMap { $0 }.filter(\.isFinite)).placed(from: left.bottom, to: left.top)
        drawAxes(&svg, area: left, x: time, y: loss, title: "Training loss", xLabel: "time t = steps \u{00D7} step size", yLabel: "loss")
        for (index, series) in losses.enumerated() {
            omitted.count(zip(table.times, series), x: time, y: loss)
            for segment in drawableSegments(Array(zip(table.times, series)), x: time, y: loss) {
                svg.polyline(segment, stroke: seriesColor(index), width: 2, dash: index == 0 ? nil : "6 3")
            }
        }
        // Right: distance between runs against distance from initialisation.
        let right = PlotArea(left: panelWidth + 90, top: 50, width: panelWidth - 120, height: height - 125)
        let travelled = AxisScale.linear(covering: table.distanceFromInit).placed(from: right.left, to: right.right)
        // The same scale on both axes would flatten the curves; the diagonal is drawn where it fits.
        let between = AxisScale.linear(covering: distances.flatMap { $0 }.filter(\.isFinite) + [0]).placed(from: right.bottom, to: right.top)
        drawAxes(&svg, area: right, x: travelled, y: between, title: "Distance between runs",
                 xLabel: "\u{2016}\u{03B8}(t) \u{2212} \u{03B8}\u{2080}\u{2016} (step \u{03B7})", yLabel: "\u{2016}\u{03B8}\u{03B7}(t) \u{2212} \u{03B8}other(t)\u{2016}")
        for (index, series) in distances.enumerated() {
            omitted.count(zip(table.distanceFromInit, series), x: travelled, y: between)
            for segment in drawableSegments(Array(zip(table.distanceFromInit, series)), x: travelled, y: between) {
                svg.polyline(segment, stroke: seriesColor(index + 1), width: 2, dash: "6 3")
            }
        }
        var entries = names.enumerated().map {
            LegendEntry(label: $0.element, detail: nil, swatch: .line(color: seriesColor($0.offset), dashed: $0.offset > 0))
        }
        if let largest = table.hessianLargest, let smallest = table.hessianSmallest {
            let third = PlotArea(left: 2 * panelWidth + 90, top: 50, width: panelWidth - 120, height: height - 125)
            let threshold = 2 / learningRate
            let hessianTime = AxisScale.linear(covering: table.times).placed(from: third.left, to: third.right)
            let eigenvalue = AxisScale.linear(covering: (largest + smallest + [threshold, 0]).filter(\.isFinite))
                .placed(from: third.bottom, to: third.top)
            drawAxes(&svg, area: third, x: hessianTime, y: eigenvalue, title: "Hessian along the path",
                     xLabel: "time t", yLabel: "eigenvalue")
            svg.polyline([(third.left, eigenvalue.pixel(threshold)), (third.right, eigenvalue.pixel(threshold))],
                         stroke: "#999999", width: 1.5, dash: "6 4")
            svg.text("2/\u{03B7}", x: third.right - 4, y: eigenvalue.pixel(threshold) - 5, size: 11, anchor: "end", fill: "#555555")
            for (series, color) in [(largest, "#d62728"), (smallest, "#1f77b4")] {
                omitted.count(zip(table.times, series), x: hessianTime, y: eigenvalue)
                for segment in drawableSegments(Array(zip(table.times, series)), x: hessianTime, y: eigenvalue) {
                    svg.polyline(segment, stroke: color, width: 2)
                }
            }
            entries += [LegendEntry(label: "\u{03BB}max (Hessian)", detail: nil, swatch: .line(color: "#d62728", dashed: false)),
                        LegendEntry(label: "\u{03BB}min (Hessian)", detail: nil, swatch: .line(color: "#1f77b4", dashed: false))]
        }
        drawLegend(&svg, entries: entries, x: panels * panelWidth + 20, y: 50, width: legendWidth)
        omitted.draw(&svg, area: right, drewNothing: false)
        return svg.rendered(title: "Gradient descent against gradient flow")
    }

    static func scientific(_ value: Double) -> String { withoutMarkup(scientificMarkup(value, digits: 2)) }
}
