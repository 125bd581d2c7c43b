/// A kernel matrix `K(x_i, x'_j)` over two 1-D grids as a heatmap (viridis colours) with a colour
/// bar: rows are `rowInputs` (upward), columns `columnInputs` (rightward). Cells are centred on
/// their inputs, so the grids should be evenly spaced and ascending. NaN or infinite entries are grey.
public struct KernelHeatmap: Sendable {
    public var rowInputs: [Double]
    public var columnInputs: [Double]
    /// `values[i][j]` is the kernel at `(rowInputs[i], columnInputs[j])`.
    public var values: [[Double]]
    public var title: String
    public var rowLabel: String
    public var columnLabel: String
    public var colorBarLabel: String
    public var width: Double
    public var height: Double

    /// A heatmap of `values` (`rowInputs.count` rows of `columnInputs.count`).
    public init(rowInputs: [Double], columnInputs: [Double], values: [[Double]], title: String = "Neural tangent kernel",
                rowLabel: String = "x", columnLabel: String = "x\u{2032}", colorBarLabel: String = "\u{0398}(x, x\u{2032})",
                width: Double = 700, height: Double = 600) {
        precondition(!rowInputs.isEmpty && !columnInputs.isEmpty, "KernelHeatmap: empty grid")
        precondition(values.count == rowInputs.count && values.allSatisfy { $0.count == columnInputs.count },
                     "KernelHeatmap: values must be \(rowInputs.count) rows of \(columnInputs.count)")
        self.rowInputs = rowInputs
        self.columnInputs = columnInputs
        self.values = values
        self.title = title
        self.rowLabel = rowLabel
        self.columnLabel = columnLabel
        self.colorBarLabel = colorBarLabel
        self.width = width
        self.height = height
    }

    /// A square kernel over one grid, `K(x_i, x_j)`, from a row-major `[n, n]` tensor.
    public init<Scalar: BLASScalar>(grid: [Double], kernel: Tensor<Scalar>, title: String = "Neural tangent kernel") {
        precondition(kernel.shape == [grid.count, grid.count], "KernelHeatmap: kernel \(kernel.shape) for a grid of \(grid.count)")
        self.init(rowInputs: grid, columnInputs: grid, values: kernel.array2D.map { $0.map(Double.init) }, title: title)
    }

    /// The heatmap as an SVG document. Rows or columns at a NaN or infinite input cannot be
    /// placed and are left out; a note under the plot says how many, and how many cells are grey.
    public var svg: String {
        let area = PlotArea(left: 90, top: 50, width: width - 90 - 130, height: height - 50 - 75)
        let rows = rowInputs.indices.filter { rowInputs[$0].isFinite }
        let columns = columnInputs.indices.filter { columnInputs[$0].isFinite }
        let shown = rows.flatMap { row in columns.map { values[row][$0] } }
        let (low, high) = KernelHeatmap.colorRange(shown)
        // Cell edges halfway between inputs; the outer edges half a step beyond the ends, clamped to
        // the Double range so inputs near ±1e308 do not overflow.
        func edges(_ inputs: [Double]) -> [Double] {
            let largest = Double.greatestFiniteMagnitude
            guard inputs.count > 1 else { return [max(inputs[0] - 0.5, -largest), min(inputs[0] + 0.5, largest)] }
            let first = inputs[0] - (midpoint(inputs[0], inputs[1]) - inputs[0])
            let last = inputs[inputs.count - 1] + (inputs[inputs.count - 1] - midpoint(inputs[inputs.count - 2], inputs[inputs.count - 1]))
            var result = [min(max(first, -largest), largest)]
            for index in 0..<(inputs.count - 1) { result.append(midpoint(inputs[index], inputs[index + 1])) }
            result.append(min(max(last, -largest), largest))
            return result
        }
        let columnEdges = edges(columns.isEmpty ? [0] : columns.map { columnInputs[$0] })
        let rowEdges = edges(rows.isEmpty ? [0] : rows.map { rowInputs[$0] })
        let x = KernelHeatmap.axis(edges: columnEdges).placed(from: area.left, to: area.right)
        let y = KernelHeatmap.axis(edges: rowEdges).placed(from: area.bottom, to: area.top)

        var svg = SVGWriter(width: width, height: height)
        svg.comment("cells: \(rows.count) x \(columns.count), values from \(low) to \(high)")
        for (rowPosition, row) in rows.enumerated() {
            let (edgeA, edgeB) = (y.pixel(rowEdges[rowPosition + 1]), y.pixel(rowEdges[rowPosition]))
            let (top, bottom) = (min(edgeA, edgeB), max(edgeA, edgeB))
            // Neighbouring cells of one colour are drawn as one rectangle, to keep the file small.
            var position = 0
            while position < columns.count {
                let color = KernelHeatmap.color(values[row][columns[position]], low: low, high: high)
                var end = position + 1
                while end < columns.count, KernelHeatmap.color(values[row][columns[end]], low: low, high: high) == color { end += 1 }
                let (edgeLeft, edgeRight) = (x.pixel(columnEdges[position]), x.pixel(columnEdges[end]))
                // A hair of overlap and crisp edges keep anti-aliasing from drawing seams between cells.
                svg.rect(x: min(edgeLeft, edgeRight), y: top, width: abs(edgeRight - edgeLeft) + 0.3, height: bottom - top + 0.3,
                         fill: color, extra: "shape-rendering=\"crispEdges\"")
                position = end
            }
        }
        drawAxes(&svg, area: area, x: x, y: y, title: title, xLabel: columnLabel, yLabel: rowLabel, gridlines: false)

        let bar = AxisScale.linear(covering: [low, high], targetTickCount: 5)
        KernelHeatmap.drawColorBar(&svg, left: area.right + 24, top: area.top, bottom: area.bottom, low: low, high: high,
                                   ticks: bar.ticks, label: colorBarLabel)
        var notes: [String] = []
        let grey = shown.filter { !$0.isFinite }.count
        if grey > 0 { notes.append("grey: \(grey) \(grey == 1 ? "cell" : "cells") NaN or infinite") }
        let leftOut = (rowInputs.count - rows.count, columnInputs.count - columns.count)
        if leftOut.0 > 0 { notes.append("\(leftOut.0) \(leftOut.0 == 1 ? "row" : "rows") at a NaN or infinite input not drawn") }
        if leftOut.1 > 0 { notes.append("\(leftOut.1) \(leftOut.1 == 1 ? "column" : "columns") at a NaN or infinite input not drawn") }
        if !notes.isEmpty {
            svg.text(notes.joined(separator: "; ") + ".", x: area.left, y: area.bottom + 68, size: 10.5, fill: "#a33000")
        }
        return svg.rendered(title: title)
    }

    /// The colour bar: 64 bands from `low` (at `bottom`) to `high` (at `top`), framed, with `ticks`
    /// (values on the bar's scale, SVG markup labels) and `label` above it.
    static func drawColorBar(_ svg: inout SVGWriter, left barLeft: Double, top: Double, bottom: Double, low: Double, high: Double,
                             ticks: [AxisTick], label: String) {
        let colorBarWidth = 18.0
        let barScale = AxisScale(kind: .linear, lower: low, upper: high, ticks: ticks).placed(from: bottom, to: top)
        let bands = 64
        // low * (1 - t) + high * t never overflows, where low + (high - low) * t may.
        func level(_ band: Int) -> Double { low * (1 - Double(band) / Double(bands)) + high * (Double(band) / Double(bands)) }
        for band in 0..<bands {
            let bandTop = barScale.pixel(level(band + 1))
            svg.rect(x: barLeft, y: bandTop, width: colorBarWidth, height: max(barScale.pixel(level(band)) - bandTop, 0) + 0.3,
                     fill: KernelHeatmap.color(level(band) / 2 + level(band + 1) / 2, low: low, high: high),
                     extra: "shape-rendering=\"crispEdges\"")
        }
        svg.rect(x: barLeft, y: top, width: colorBarWidth, height: bottom - top, fill: "none", stroke: "#444444")
        for tick in barScale.ticks where tick.value >= low && tick.value <= high {
            let position = barScale.pixel(tick.value)
            svg.line(barLeft + colorBarWidth, position, barLeft + colorBarWidth + 5, position, stroke: "#444444")
            svg.text(tick.label, x: barLeft + colorBarWidth + 8, y: position + 4, size: 11, markup: true)
        }
        svg.text(label, x: barLeft + colorBarWidth / 2, y: top - 8, size: 12, anchor: "middle")
    }

    /// The colour scale's ends: the finite values' least and greatest, 10% either side of them
    /// when they are equal (±0.5 around 0), within the Double range.
    static func colorRange(_ values: [Double]) -> (low: Double, high: Double) {
        let finite = values.filter(\.isFinite)
        return widenedIfEqual(finite.min() ?? 0, finite.max() ?? 1)
    }

    /// A linear axis spanning the cell edges exactly (the cells fill the area), with ticks at round values.
    static func axis(edges: [Double]) -> AxisScale {
        let (lower, upper) = (edges.min()!, edges.max()!)
        let ticks = AxisScale.linear(covering: [lower, upper]).ticks
        guard upper > lower else { return AxisScale.linear(covering: [lower, upper]) }
        return AxisScale(kind: .linear, lower: lower, upper: upper, ticks: ticks)
    }

    /// Viridis (matplotlib's default colour map) at `value` scaled from `low...high`, quantised to
    /// 256 levels; grey for non-finite values.
    static func color(_ value: Double, low: Double, high: Double) -> String {
        guard value.isFinite else { return "#bbbbbb" }
        // NaN (an empty range) is the low end.
        let scaled = fractionAlong(value, from: low, to: high)
        let fraction = scaled.isNaN ? 0 : min(1, max(0, scaled))
        let level = (fraction * 255).rounded() / 255
        let position = level * Double(viridisAnchors.count - 1)
        let index = min(Int(position), viridisAnchors.count - 2)
        let blend = position - Double(index)
        let (a, b) = (viridisAnchors[index], viridisAnchors[index + 1])
        func channel(_ first: Int, _ second: Int) -> String {
            let value = Int((Double(first) + (Double(second) - Double(first)) * blend).rounded())
            let hex = String(value, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }
        return "#" + channel(a.0, b.0) + channel(a.1, b.1) + channel(a.2, b.2)
    }

    /// Viridis sampled at 0, 1/8, ..., 1.
    static let viridisAnchors: [(Int, Int, Int)] = [
        (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
    ]

    /// Writes ``svg`` to `path` atomically.
    public func write(to path: String) throws(FileError) {
        try SVGWriter.write(svg, to: path)
    }
}
