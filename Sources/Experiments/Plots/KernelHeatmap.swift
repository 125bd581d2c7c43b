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

    /// The heatmap as an SVG document.
    public var svg: String {
        let colorBarWidth = 18.0
        let area = PlotArea(left: 90, top: 50, width: width - 90 - 130, height: height - 50 - 75)
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        var low = finite.min() ?? 0
        var high = finite.max() ?? 1
        if high - low <= 1e-300 {
            low -= 0.5
            high += 0.5
        }
        // Cell edges halfway between inputs; the outer edges half a step beyond the ends.
        func edges(_ inputs: [Double]) -> [Double] {
            guard inputs.count > 1 else { return [inputs[0] - 0.5, inputs[0] + 0.5] }
            var result = [inputs[0] - (inputs[1] - inputs[0]) / 2]
            for index in 0..<(inputs.count - 1) { result.append((inputs[index] + inputs[index + 1]) / 2) }
            result.append(inputs[inputs.count - 1] + (inputs[inputs.count - 1] - inputs[inputs.count - 2]) / 2)
            return result
        }
        let columnEdges = edges(columnInputs)
        let rowEdges = edges(rowInputs)
        let xTicks = AxisScale.linear(covering: [columnEdges.first!, columnEdges.last!])
        let yTicks = AxisScale.linear(covering: [rowEdges.first!, rowEdges.last!])
        // The cells fill the area exactly; the axes span the cell edges, not the rounded tick range.
        let x = AxisScale(kind: .linear, lower: columnEdges.first!, upper: columnEdges.last!, ticks: xTicks.ticks)
            .placed(from: area.left, to: area.right)
        let y = AxisScale(kind: .linear, lower: rowEdges.first!, upper: rowEdges.last!, ticks: yTicks.ticks)
            .placed(from: area.bottom, to: area.top)

        var svg = SVGWriter(width: width, height: height)
        svg.comment("cells: \(rowInputs.count) x \(columnInputs.count), values from \(low) to \(high)")
        for row in rowInputs.indices {
            let top = y.pixel(rowEdges[row + 1])
            let bottom = y.pixel(rowEdges[row])
            // Neighbouring cells of one colour are drawn as one rectangle, to keep the file small.
            var column = 0
            while column < columnInputs.count {
                let color = KernelHeatmap.color(values[row][column], low: low, high: high)
                var end = column + 1
                while end < columnInputs.count, KernelHeatmap.color(values[row][end], low: low, high: high) == color { end += 1 }
                let left = x.pixel(columnEdges[column])
                // A hair of overlap and crisp edges keep anti-aliasing from drawing seams between cells.
                svg.rect(x: left, y: top, width: x.pixel(columnEdges[end]) - left + 0.3, height: bottom - top + 0.3, fill: color,
                         extra: "shape-rendering=\"crispEdges\"")
                column = end
            }
        }
        drawAxes(&svg, area: area, x: x, y: y, title: title, xLabel: columnLabel, yLabel: rowLabel, gridlines: false)

        // The colour bar: 64 bands from low (bottom) to high (top), with its own ticks.
        let barLeft = area.right + 24
        let bar = AxisScale.linear(covering: [low, high], targetTickCount: 5)
        let barScale = AxisScale(kind: .linear, lower: low, upper: high, ticks: bar.ticks).placed(from: area.bottom, to: area.top)
        let bands = 64
        for band in 0..<bands {
            let bandLow = low + (high - low) * Double(band) / Double(bands)
            let bandHigh = low + (high - low) * Double(band + 1) / Double(bands)
            let top = barScale.pixel(bandHigh)
            svg.rect(x: barLeft, y: top, width: colorBarWidth, height: barScale.pixel(bandLow) - top + 0.3,
                     fill: KernelHeatmap.color((bandLow + bandHigh) / 2, low: low, high: high), extra: "shape-rendering=\"crispEdges\"")
        }
        svg.rect(x: barLeft, y: area.top, width: colorBarWidth, height: area.height, fill: "none", stroke: "#444444")
        for tick in barScale.ticks where tick.value >= low && tick.value <= high {
            let position = barScale.pixel(tick.value)
            svg.line(barLeft + colorBarWidth, position, barLeft + colorBarWidth + 5, position, stroke: "#444444")
            svg.text(tick.label, x: barLeft + colorBarWidth + 8, y: position + 4, size: 11, markup: true)
        }
        svg.text(colorBarLabel, x: barLeft + colorBarWidth / 2, y: area.top - 8, size: 12, anchor: "middle")
        return svg.rendered(title: title)
    }

    /// Viridis (matplotlib's default colour map) at `value` scaled from `low...high`, quantised to
    /// 256 levels; grey for non-finite values.
    static func color(_ value: Double, low: Double, high: Double) -> String {
        guard value.isFinite else { return "#bbbbbb" }
        let fraction = min(1, max(0, (value - low) / (high - low)))
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
