import Glibc

/// A metric over two grid axes as heatmap panels sharing one colour scale (the phase diagrams of
/// Seleznova & Kutyniok 2021, Figs. 1, 3, 4): one panel per value of the other axes (and variant),
/// cells of equal size labelled by the axis values, a colour bar, a cross over each cell where a
/// run diverged, and optionally a curve (the chi_1 = 1 line) drawn over each panel.
///
/// Colours are viridis on the metric, or on its log2 when its finite values are all positive and
/// span more than two decades (the legend then says "log2 scale"). A NaN or infinite cell is grey.
public struct PhaseHeatmap: Sendable {
    /// One panel: `values[row][column]` at (`yLabels[row]`, `xLabels[column]`), rows upward.
    public struct Panel: Sendable {
        public var title: String
        public var values: [[Double]]
        /// Cells where a run diverged, marked with a cross.
        public var diverged: [[Bool]]
        /// A line in the axes' own values (x, y), drawn over the cells; empty for none.
        public var curve: [(x: Double, y: Double)]

        public init(title: String, values: [[Double]], diverged: [[Bool]], curve: [(x: Double, y: Double)] = []) {
            self.title = title
            self.values = values
            self.diverged = diverged
            self.curve = curve
        }
    }

    /// What a curve source is told about one panel: the axes, their values, and the config of a
    /// run in the panel (its variant and the panel's values of the other axes).
    public struct CurveRequest: Sendable {
        /// Dotted paths of the axes: `model.weightStd`.
        public let xAxis: String
        public let yAxis: String?
        public let xValues: [Double]
        public let yValues: [Double]
        public let config: ExperimentConfig
    }

    /// Gives the line to draw over a panel (e.g. the critical sigma_w for each sigma_b, in the axes'
    /// units: convert sigma_w^2 to `weightStd` if that is the axis), or nil for none.
    public typealias CurveSource = @Sendable (CurveRequest) -> [(x: Double, y: Double)]?

    public var title: String
    public var metric: String
    public var xLabel: String
    public var yLabel: String
    public var xLabels: [String]
    public var yLabels: [String]
    /// The axis values as numbers, to place a curve; nil for an axis of non-numbers (no curve drawn).
    public var xCoordinates: [Double]?
    public var yCoordinates: [Double]?
    public var panels: [Panel]
    public var curveLabel: String

    public init(title: String, metric: String, xLabel: String, yLabel: String, xLabels: [String], yLabels: [String],
                xCoordinates: [Double]?, yCoordinates: [Double]?, panels: [Panel], curveLabel: String = "\u{03C7}\u{2081} = 1") {
        precondition(!xLabels.isEmpty && !yLabels.isEmpty && !panels.isEmpty, "PhaseHeatmap: empty axis or no panel")
        precondition(panels.allSatisfy { $0.values.count == yLabels.count && $0.values.allSatisfy { $0.count == xLabels.count } },
                     "PhaseHeatmap: every panel needs \(yLabels.count) rows of \(xLabels.count) values")
        self.title = title
        self.metric = metric
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xLabels = xLabels
        self.yLabels = yLabels
        self.xCoordinates = xCoordinates
        self.yCoordinates = yCoordinates
        self.panels = panels
        self.curveLabel = curveLabel
    }

    /// Whether colours follow log2 of the metric: every finite value positive, spanning > 2 decades.
    public var usesLogScale: Bool {
        let finite = panels.flatMap { $0.values.flatMap { $0 } }.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max(), low > 0 else { return false }
        return high / low > 100
    }

    /// Panels per row of the figure.
    static let panelsPerRow = 3

    public var svg: String {
        let logarithmic = usesLogScale
        func colorValue(_ value: Double) -> Double { logarithmic ? log2(value) : value }
        let shown = panels.flatMap { $0.values.flatMap { $0 } }.filter(\.isFinite).map(colorValue)
        let (low, high) = widenedIfEqual(shown.min() ?? 0, shown.max() ?? 1)

        let cellWidth = min(80.0, max(26.0, 300.0 / Double(xLabels.count)))
        let cellHeight = min(60.0, max(20.0, 260.0 / Double(yLabels.count)))
        let (panelWidth, panelHeight) = (cellWidth * Double(xLabels.count), cellHeight * Double(yLabels.count))
        let columnsOfPanels = min(panels.count, PhaseHeatmap.panelsPerRow)
        let rowsOfPanels = (panels.count + PhaseHeatmap.panelsPerRow - 1) / PhaseHeatmap.panelsPerRow
        let (marginLeft, gapX, gapY, top) = (90.0, 100.0, 95.0, 80.0)
        let divergedCount = panels.reduce(0) { $0 + $1.diverged.flatMap { $0 }.filter { $0 }.count }
        var notes: [String] = []
        notes.append(logarithmic ? "colour: log2 scale (the values span more than two decades)" : "colour: linear scale")
        if divergedCount > 0 { notes.append("\u{00D7}: diverged (\(divergedCount) \(divergedCount == 1 ? "cell" : "cells"))") }
        let grey = panels.flatMap { $0.values.flatMap { $0 } }.filter { !$0.isFinite }.count
        if grey > 0 { notes.append("grey: \(grey) NaN or infinite") }
        if xCoordinates != nil && panels.contains(where: { !$0.curve.isEmpty }) { notes.append("dashed red: \(curveLabel)") }
        let note = notes.joined(separator: "; ") + "."
        // Wide enough for the panels and colour bar, the title and the note.
        let figureWidth = max(marginLeft + Double(columnsOfPanels) * panelWidth + Double(columnsOfPanels - 1) * gapX + 140,
                              estimatedTextWidth(title, size: 16) + 40, marginLeft + estimatedTextWidth(note, size: 11) + 20)
        let figureHeight = top + Double(rowsOfPanels) * panelHeight + Double(rowsOfPanels - 1) * gapY + 110

        var svg = SVGWriter(width: figureWidth, height: figureHeight)
        svg.comment("panels: \(panels.count), cells per panel: \(yLabels.count) x \(xLabels.count), diverged: \(divergedCount), "
                    + "scale: \(logarithmic ? "log2" : "linear")")
        svg.text(title, x: figureWidth / 2, y: 26, size: 16, anchor: "middle", weight: "bold")
        for (index, panel) in panels.enumerated() {
            let area = PlotArea(left: marginLeft + Double(index % PhaseHeatmap.panelsPerRow) * (panelWidth + gapX),
                                top: top + Double(index / PhaseHeatmap.panelsPerRow) * (panelHeight + gapY),
                                width: panelWidth, height: panelHeight)
            for row in yLabels.indices {
                for column in xLabels.indices {
                    let (x, y) = (area.left + Double(column) * cellWidth, area.bottom - Double(row + 1) * cellHeight)
                    let value = panel.values[row][column]
                    svg.rect(x: x, y: y, width: cellWidth + 0.3, height: cellHeight + 0.3,
                             fill: KernelHeatmap.color(value.isFinite ? colorValue(value) : .nan, low: low, high: high),
                             extra: "class=\"cell\" shape-rendering=\"crispEdges\"")
                    if panel.diverged[row][column] {
                        let inset = min(cellWidth, cellHeight) * 0.22
                        svg.line(x + inset, y + inset, x + cellWidth - inset, y + cellHeight - inset, stroke: "#ffffff", width: 2)
                        svg.line(x + inset, y + cellHeight - inset, x + cellWidth - inset, y + inset, stroke: "#ffffff", width: 2)
                    }
                }
            }
            // Ticks at cell centres, labelled with the values as written in the config.
            let xTicks = xLabels.indices.map { AxisTick(value: Double($0) + 0.5, label: SVGWriter.escape(xLabels[$0]), isMajor: true) }
            let yTicks = yLabels.indices.map { AxisTick(value: Double($0) + 0.5, label: SVGWriter.escape(yLabels[$0]), isMajor: true) }
            let xScale = AxisScale(kind: .linear, lower: 0, upper: Double(xLabels.count), ticks: xTicks).placed(from: area.left, to: area.right)
            let yScale = AxisScale(kind: .linear, lower: 0, upper: Double(yLabels.count), ticks: yTicks).placed(from: area.bottom, to: area.top)
            drawAxes(&svg, area: area, x: xScale, y: yScale, title: "", xLabel: xLabel, yLabel: yLabel, gridlines: false)
            svg.text(panel.title, x: area.left + area.width / 2, y: area.top - 10, size: 13, anchor: "middle")
            if let xCoordinates, !panel.curve.isEmpty {
                let points = panel.curve.compactMap { point -> (Double, Double)? in
                    guard let column = PhaseHeatmap.position(point.x, among: xCoordinates) else { return nil }
                    let row = yCoordinates.flatMap { PhaseHeatmap.position(point.y, among: $0) } ?? (yLabels.count == 1 ? 0.5 : nil)
                    guard let row, (0...Double(xLabels.count)).contains(column), (0...Double(yLabels.count)).contains(row) else { return nil }
                    return (xScale.pixel(column), yScale.pixel(row))
                }
                svg.polyline(points, stroke: "#ff3355", width: 2.5, dash: "7 4")
            }
        }

        // The colour bar beside the last panel of the first row.
        let barLeft = marginLeft + Double(columnsOfPanels) * panelWidth + Double(columnsOfPanels - 1) * gapX + 28
        let ticks = logarithmic ? PhaseHeatmap.powerOfTwoTicks(low: low, high: high)
            : AxisScale.linear(covering: [low, high], targetTickCount: 5).ticks
        KernelHeatmap.drawColorBar(&svg, left: barLeft, top: top, bottom: top + panelHeight, low: low, high: high, ticks: ticks,
                                   label: metric)
        svg.text(note, x: marginLeft, y: figureHeight - 16, size: 11, fill: "#444444")
        return svg.rendered(title: title)
    }

    /// Where `value` falls in cell units (0 at the first cell's left edge): linear between the
    /// centres of the cells whose values bracket it, and by the nearest step half a cell beyond the ends.
    static func position(_ value: Double, among coordinates: [Double]) -> Double? {
        guard value.isFinite, !coordinates.isEmpty else { return nil }
        guard coordinates.count > 1 else { return value == coordinates[0] ? 0.5 : nil }
        let ascending = coordinates.first! < coordinates.last!
        for index in 0..<(coordinates.count - 1) {
            let (a, b) = (coordinates[index], coordinates[index + 1])
            let isLast = index == coordinates.count - 2
            // The first and last segments extend beyond the ends.
            let inside = ascending ? ((index == 0 || value >= a) && (isLast || value <= b)) : ((index == 0 || value <= a) && (isLast || value >= b))
            if inside, a != b { return Double(index) + 0.5 + (value - a) / (b - a) }
        }
        return nil
    }

    /// Ticks at whole powers of two between `low` and `high` (log2 values), at most about six.
    static func powerOfTwoTicks(low: Double, high: Double) -> [AxisTick] {
        let (first, last) = (Int(low.rounded(.up)), Int(high.rounded(.down)))
        guard first <= last else { return [] }
        // A round step (1, 2, 5, 10, 20, ...) giving at most six ticks.
        let step = [1, 2, 5, 10, 20, 50, 100, 200, 500].first { (last - first) / $0 < 6 } ?? 1000
        let firstTick = Int((Double(first) / Double(step)).rounded(.up)) * step
        return stride(from: firstTick, through: last, by: step).map { exponent in
            let sign = exponent < 0 ? "\u{2212}" : ""
            return AxisTick(value: Double(exponent), label: "2<tspan dy=\"-0.5em\" font-size=\"75%\">\(sign)\(abs(exponent))</tspan>",
                            isMajor: true)
        }
    }

    /// Writes ``svg`` to `path` atomically.
    public func write(to path: String) throws(FileError) {
        try SVGWriter.write(svg, to: path)
    }
}

extension PhaseTable {
    /// The heatmap of a numeric column: y the grid's first axis, x its second (a single row for a
    /// one-axis grid), one panel per variant and value of the further axes. A cell shows the mean
    /// over seeds of the finite values (NaN when there is none) and is crossed when any seed diverged.
    public func heatmap(of column: PhaseColumn, curve: PhaseHeatmap.CurveSource? = nil) -> PhaseHeatmap {
        guard let number = column.number else { preconditionFailure("PhaseTable.heatmap: \(column.name) is not numeric") }
        let axes = grid.axes
        let (xAxis, yAxis): (Int, Int?) = axes.count >= 2 ? (1, 0) : (0, nil)
        let panelAxes = axes.indices.filter { $0 != xAxis && $0 != yAxis }
        struct PanelKey: Hashable { let variant: String?; let values: [Int] }
        var order: [PanelKey] = []
        var sums: [PanelKey: (values: [[[Double]]], diverged: [[Bool]], config: ExperimentConfig)] = [:]
        let (columns, rowCount) = (axes[xAxis].values.count, yAxis.map { axes[$0].values.count } ?? 1)
        for row in rows {
            guard let cell = row.run.cell else { continue }
            let key = PanelKey(variant: row.run.variantName, values: panelAxes.map { cell.valueIndices[$0] })
            if sums[key] == nil {
                order.append(key)
                sums[key] = (Array(repeating: Array(repeating: [], count: columns), count: rowCount),
                             Array(repeating: Array(repeating: false, count: columns), count: rowCount), row.run.config)
            }
            let (y, x) = (yAxis.map { cell.valueIndices[$0] } ?? 0, cell.valueIndices[xAxis])
            sums[key]!.values[y][x].append(number(row))
            if row.outcome == .diverged { sums[key]!.diverged[y][x] = true }
        }
        func coordinates(_ axis: Int?) -> [Double]? {
            guard let axis else { return [0] }
            let numbers = axes[axis].values.compactMap(\.doubleValue)
            return numbers.count == axes[axis].values.count ? numbers : nil
        }
        let (xCoordinates, yCoordinates) = (coordinates(xAxis), coordinates(yAxis))
        let panels = order.map { key -> PhaseHeatmap.Panel in
            let entry = sums[key]!
            var titleParts = key.variant.map { [$0] } ?? []
            titleParts += zip(panelAxes, key.values).map { "\(axes[$0].shortName) = \(PhaseTable.valueText(axes[$0].values[$1]))" }
            let values = entry.values.map { $0.map { seeds in mean(seeds.filter(\.isFinite)) } }
            var line: [(x: Double, y: Double)] = []
            if let curve, let xCoordinates {
                line = curve(PhaseHeatmap.CurveRequest(xAxis: axes[xAxis].path, yAxis: yAxis.map { axes[$0].path },
                                                       xValues: xCoordinates, yValues: yCoordinates ?? [], config: entry.config)) ?? []
            }
            return PhaseHeatmap.Panel(title: titleParts.joined(separator: ", "), values: values, diverged: entry.diverged, curve: line)
        }
        return PhaseHeatmap(title: "\(column.name) over \(axes[xAxis].path)" + (yAxis.map { " and \(axes[$0].path)" } ?? ""),
                            metric: column.name, xLabel: axes[xAxis].path, yLabel: yAxis.map { axes[$0].path } ?? "",
                            xLabels: axes[xAxis].values.map(PhaseTable.valueText),
                            yLabels: yAxis.map { axes[$0].values.map(PhaseTable.valueText) } ?? [""],
                            xCoordinates: xCoordinates, yCoordinates: yAxis == nil ? nil : yCoordinates, panels: panels)
    }
}
