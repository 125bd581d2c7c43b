import Glibc

/// The rectangle data is drawn in, in pixels (y grows downward, as in SVG).
struct PlotArea {
    let left: Double
    let top: Double
    let width: Double
    let height: Double
    var right: Double { left + width }
    var bottom: Double { top + height }
}

/// One tick on an axis: its value, its label (SVG text markup, empty for an unlabelled tick),
/// and whether it is a major tick (gridline, longer mark).
struct AxisTick {
    let value: Double
    let label: String
    let isMajor: Bool
}

/// Maps data values on one axis to pixels, linearly or logarithmically, and chooses the ticks.
struct AxisScale {
    enum Kind { case linear, logarithmic }
    let kind: Kind
    /// The data range shown, expanded to tick positions (whole decades for a log axis).
    let lower: Double
    let upper: Double
    let ticks: [AxisTick]
    var pixelStart: Double = 0
    var pixelEnd: Double = 1

    /// A logarithmic axis covering `values` (positive finite ones), widened to whole decades so
    /// there are always at least two labelled ticks. Over many decades only every 2nd, 5th, 10th,
    /// ... decade is labelled (at most about 8 labels), and the ends are widened to labelled decades.
    static func logarithmic(covering values: [Double]) -> AxisScale {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        var lowDecade = Int((log10(positive.min() ?? 1)).rounded(.down))
        var highDecade = Int((log10(positive.max() ?? 10)).rounded(.up))
        if highDecade <= lowDecade { highDecade = lowDecade + 1 }
        // Floating-point noise must not add a whole empty decade: 10^2 * (1 + 1e-15) is still 10^2.
        if let maximum = positive.max(), highDecade - 1 > lowDecade, maximum <= pow(10, Double(highDecade - 1)) * (1 + 1e-9) {
            highDecade -= 1
        }
        if let minimum = positive.min(), lowDecade + 1 < highDecade, minimum >= pow(10, Double(lowDecade + 1)) * (1 - 1e-9) {
            lowDecade += 1
        }
        let labelEvery = [1, 2, 5, 10, 20, 50, 100].first { (highDecade - lowDecade) <= 8 * $0 } ?? 200
        if labelEvery > 1 {
            lowDecade = Int((Double(lowDecade) / Double(labelEvery)).rounded(.down)) * labelEvery
            highDecade = Int((Double(highDecade) / Double(labelEvery)).rounded(.up)) * labelEvery
        }
        let decades = highDecade - lowDecade
        var ticks: [AxisTick] = []
        for exponent in lowDecade...highDecade {
            if exponent % labelEvery == 0 {
                ticks.append(AxisTick(value: pow(10, Double(exponent)), label: powerOfTenMarkup(exponent), isMajor: true))
            } else if labelEvery == 2 {
                ticks.append(AxisTick(value: pow(10, Double(exponent)), label: "", isMajor: false))
            }
            if decades <= 6 && exponent < highDecade {
                for multiple in 2...9 {
                    ticks.append(AxisTick(value: Double(multiple) * pow(10, Double(exponent)), label: "", isMajor: false))
                }
            }
        }
        return AxisScale(kind: .logarithmic, lower: pow(10, Double(lowDecade)), upper: pow(10, Double(highDecade)), ticks: ticks)
    }

    /// A linear axis covering `values` (finite ones), widened to round tick values.
    static func linear(covering values: [Double], targetTickCount: Int = 6) -> AxisScale {
        let finite = values.filter(\.isFinite)
        var low = finite.min() ?? 0
        var high = finite.max() ?? 1
        if high - low < 1e-12 * max(1, abs(low)) {
            low -= max(0.5, abs(low) * 0.1)
            high += max(0.5, abs(high) * 0.1)
        }
        let step = niceStep((high - low) / Double(targetTickCount))
        let first = (low / step).rounded(.down)
        let last = (high / step).rounded(.up)
        let decimals = max(0, -Int(log10(step).rounded(.down)))
        var ticks: [AxisTick] = []
        var index = first
        while index <= last + 0.5 {
            let value = index * step
            // "-0" is not a label a person writes.
            let label = fixed(abs(value) < step / 2 ? 0 : value, decimals: decimals)
            ticks.append(AxisTick(value: value, label: SVGWriter.escape(label.replacingOccurrences(of: "-", with: "\u{2212}")), isMajor: true))
            index += 1
        }
        return AxisScale(kind: .linear, lower: first * step, upper: last * step, ticks: ticks)
    }

    /// 1, 2 or 5 times a power of ten, at least `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0 && rough.isFinite else { return 1 }
        let power = pow(10, log10(rough).rounded(.down))
        for multiple in [1.0, 2, 5, 10] where multiple * power >= rough * (1 - 1e-9) {
            return multiple * power
        }
        return 10 * power
    }

    /// `10` with the exponent as a raised, smaller `<tspan>`: renders as 10².
    static func powerOfTenMarkup(_ exponent: Int) -> String {
        let sign = exponent < 0 ? "\u{2212}" : ""
        return "10<tspan dy=\"-0.5em\" font-size=\"75%\">\(sign)\(abs(exponent))</tspan>"
    }

    func placed(from start: Double, to end: Double) -> AxisScale {
        var copy = self
        copy.pixelStart = start
        copy.pixelEnd = end
        return copy
    }

    /// The pixel of a data value (values outside the range map outside the area).
    func pixel(_ value: Double) -> Double {
        let fraction: Double
        switch kind {
        case .linear: fraction = (value - lower) / (upper - lower)
        case .logarithmic: fraction = (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
        }
        return pixelStart + fraction * (pixelEnd - pixelStart)
    }

    /// Whether a value can be drawn on this axis (finite, and positive on a log axis).
    func canShow(_ value: Double) -> Bool {
        value.isFinite && (kind == .linear || value > 0)
    }
}

/// How a legend entry's swatch looks.
enum LegendSwatch {
    case line(color: String, dashed: Bool)
    /// A line over a translucent band.
    case lineWithBand(color: String)
    case dot(color: String)
    case shadedRegion(color: String)
}

struct LegendEntry {
    let label: String
    /// A second, smaller line under the label (e.g. the growth exponent).
    let detail: String?
    let swatch: LegendSwatch
}

/// Frame, gridlines (unless `gridlines` is false, e.g. over a heatmap), ticks, tick labels, axis
/// labels and title around `area`.
func drawAxes(_ svg: inout SVGWriter, area: PlotArea, x: AxisScale, y: AxisScale, title: String, xLabel: String, yLabel: String,
              gridlines: Bool = true) {
    svg.text(title, x: area.left + area.width / 2, y: area.top - 18, size: 16, anchor: "middle", weight: "bold")
    for tick in x.ticks where tick.value >= x.lower && tick.value <= x.upper {
        let position = x.pixel(tick.value)
        if tick.isMajor && gridlines { svg.line(position, area.top, position, area.bottom, stroke: "#e3e3e3") }
        svg.line(position, area.bottom, position, area.bottom + (tick.isMajor ? 6 : 3), stroke: "#444444")
        if !tick.label.isEmpty {
            svg.text(tick.label, x: position, y: area.bottom + 22, size: 12, anchor: "middle", markup: true)
        }
    }
    for tick in y.ticks where tick.value >= y.lower && tick.value <= y.upper {
        let position = y.pixel(tick.value)
        if tick.isMajor && gridlines { svg.line(area.left, position, area.right, position, stroke: "#e3e3e3") }
        svg.line(area.left - (tick.isMajor ? 6 : 3), position, area.left, position, stroke: "#444444")
        if !tick.label.isEmpty {
            svg.text(tick.label, x: area.left - 10, y: position + 4, size: 12, anchor: "end", markup: true)
        }
    }
    svg.rect(x: area.left, y: area.top, width: area.width, height: area.height, fill: "none", stroke: "#444444")
    svg.text(xLabel, x: area.left + area.width / 2, y: area.bottom + 48, size: 13, anchor: "middle")
    svg.text(yLabel, x: area.left - 58, y: area.top + area.height / 2, size: 13, anchor: "middle", rotation: -90)
}

/// The legend as a boxed list starting at (`x`, `y`); returns the box's bottom edge.
@discardableResult
func drawLegend(_ svg: inout SVGWriter, entries: [LegendEntry], x: Double, y: Double, width: Double) -> Double {
    guard !entries.isEmpty else { return y }
    let rowHeight = { (entry: LegendEntry) in entry.detail == nil ? 22.0 : 36.0 }
    let height = entries.reduce(10) { $0 + rowHeight($1) }
    svg.rect(x: x, y: y, width: width, height: height, fill: "white", stroke: "#bbbbbb")
    var top = y + 8
    for entry in entries {
        let middle = top + 8
        switch entry.swatch {
        case .line(let color, let dashed):
            svg.line(x + 10, middle, x + 38, middle, stroke: color, width: 2.5, dash: dashed ? "6 4" : nil)
        case .lineWithBand(let color):
            svg.rect(x: x + 10, y: middle - 7, width: 28, height: 14, fill: color, fillOpacity: 0.2)
            svg.line(x + 10, middle, x + 38, middle, stroke: color, width: 2.5)
        case .dot(let color):
            svg.circle(x: x + 24, y: middle, radius: 4, fill: color, stroke: "white")
        case .shadedRegion(let color):
            svg.rect(x: x + 10, y: middle - 7, width: 28, height: 14, fill: color, fillOpacity: 0.6)
        }
        svg.text(entry.label, x: x + 46, y: middle + 4, size: 12)
        if let detail = entry.detail {
            svg.text(detail, x: x + 46, y: middle + 19, size: 10.5, fill: "#555555")
        }
        top += rowHeight(entry)
    }
    return y + height
}

/// A rough width of `text` in pixels at `size`, for sizing legends (DejaVu Sans averages ~0.55 em).
func estimatedTextWidth(_ text: String, size: Double) -> Double {
    Double(text.count) * size * 0.55
}

/// The points split into runs that can be drawn (a NaN or non-positive value on a log axis breaks the line).
func drawableSegments(_ points: [(Double, Double)], x: AxisScale, y: AxisScale) -> [[(Double, Double)]] {
    var segments: [[(Double, Double)]] = [[]]
    for (valueX, valueY) in points {
        if x.canShow(valueX) && y.canShow(valueY) {
            segments[segments.count - 1].append((x.pixel(valueX), y.pixel(valueY)))
        } else if !segments[segments.count - 1].isEmpty {
            segments.append([])
        }
    }
    return segments.filter { !$0.isEmpty }
}

/// `value` with exactly `places` decimals (`1.00`, `-0.25`), for numbers read side by side.
func decimals(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    let text = fixed(value, decimals: places)
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let fraction = parts.count > 1 ? String(parts[1]) : ""
    let padded = fraction + String(repeating: "0", count: places - fraction.count)
    return places > 0 ? String(parts[0]) + "." + padded : String(parts[0])
}
