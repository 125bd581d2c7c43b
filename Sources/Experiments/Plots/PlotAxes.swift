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

    /// The decades a log axis can show: 10^-323 is the smallest power of ten above 0 (a subnormal),
    /// 10^308 the largest below infinity.
    static let decadesOfDouble = -323...308

    /// A logarithmic axis covering `values` (positive finite ones), widened to whole decades so
    /// there are always at least two labelled ticks. Over many decades only every 2nd, 5th, 10th,
    /// ... decade is labelled (at most about 8 labels), and the ends are widened to labelled
    /// decades, but never past what a Double holds (the ends are then 4.9e-324 and 1.8e308).
    static func logarithmic(covering values: [Double]) -> AxisScale {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        // log10 of a positive finite Double lies in -323.3 ... 308.3: the conversions cannot trap.
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
        for exponent in lowDecade...highDecade where decadesOfDouble.contains(exponent) {
            if exponent % labelEvery == 0 {
                ticks.append(AxisTick(value: pow(10, Double(exponent)), label: powerOfTenMarkup(exponent), isMajor: true))
            } else if labelEvery == 2 {
                ticks.append(AxisTick(value: pow(10, Double(exponent)), label: "", isMajor: false))
            }
            if decades <= 6 && exponent < highDecade {
                for multiple in 2...9 where (Double(multiple) * pow(10, Double(exponent))).isFinite {
                    ticks.append(AxisTick(value: Double(multiple) * pow(10, Double(exponent)), label: "", isMajor: false))
                }
            }
        }
        // pow(10, -324) is 0 and pow(10, 309) infinite: the ends stop at the Double range.
        return AxisScale(kind: .logarithmic, lower: max(pow(10, Double(lowDecade)), .leastNonzeroMagnitude),
                         upper: min(pow(10, Double(highDecade)), .greatestFiniteMagnitude), ticks: ticks)
    }

    /// A linear axis covering `values` (finite ones), widened to round tick values (within the
    /// Double range). Equal values get a range 10% either side of them (±0.5 around 0).
    /// Labels are plain decimals (`0.25`, `−10`) for ticks from 10^-4 to 10^6, and powers of ten
    /// (`2.5×10³⁸`) beyond.
    static func linear(covering values: [Double], targetTickCount: Int = 6) -> AxisScale {
        let finite = values.filter(\.isFinite)
        let (low, high) = widenedIfEqual(finite.min() ?? 0, finite.max() ?? 1)
        let largest = Double.greatestFiniteMagnitude
        let tickCount = Double(max(targetTickCount, 2))
        let span = high - low
        // In halves when the span itself overflows (-1e308 ... 1e308).
        let step = niceStep(span.isFinite ? span / tickCount : (high / 2 - low / 2) / tickCount * 2)
        var first = (low / step).rounded(.down)
        var last = (high / step).rounded(.up)
        // A quotient that underflowed to 0 (1e-251 / 2e307) must not leave a value off the axis.
        if first * step > low { first -= 1 }
        if last * step < high { last += 1 }
        let lower = max(first * step, -largest)
        let upper = min(last * step, largest)
        let tickValues = stride(from: first, through: last + 0.5, by: 1).prefix(1_000).map { $0 * step }
            .filter { $0 >= lower && $0 <= upper }
        let label: (Double) -> String
        if step >= 1e-4 && max(abs(lower), abs(upper)) < 1e6 {
            let decimals = max(0, -Int(log10(step).rounded(.down)))
            label = { value in SVGWriter.escape(fixed(value, decimals: decimals).replacingOccurrences(of: "-", with: "\u{2212}")) }
        } else {
            // Enough digits to tell neighbouring ticks apart: the largest tick's decade down to the step's.
            let magnitude = { (value: Double) in Int(log10(abs(value)).rounded(.down)) }
            let digits = tickValues.filter { $0 != 0 }.map { magnitude($0) - magnitude(step) + 1 }.max() ?? 1
            label = { value in scientificMarkup(value, digits: digits) }
        }
        let ticks = tickValues.map { value in
            // "-0" is not a label a person writes.
            let rounded = abs(value) < step / 2 ? 0 : value
            return AxisTick(value: value, label: label(rounded), isMajor: true)
        }
        return AxisScale(kind: .linear, lower: lower, upper: upper, ticks: ticks)
    }

    /// 1, 2 or 5 times a power of ten, at least `rough` (the largest Double when that overflows,
    /// the smallest when `rough` is below it).
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0 && rough.isFinite else { return 1 }
        let exponent = Int(log10(rough).rounded(.down))
        // Multiplied in steps: 10^-324 alone is 0, but 5 * 10^-324 is the smallest subnormal.
        for multiple in [1.0, 2, 5, 10] {
            let candidate = timesPowerOfTen(multiple, exponent)
            if candidate >= rough * (1 - 1e-9) { return max(min(candidate, .greatestFiniteMagnitude), .leastNonzeroMagnitude) }
        }
        return .greatestFiniteMagnitude
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
        switch kind {
        case .linear: pixelStart + fractionAlong(value, from: lower, to: upper) * (pixelEnd - pixelStart)
        case .logarithmic: pixel(decade: log10(value))
        }
    }

    /// The pixel of the value 10^`decade` on a logarithmic axis, for positions computed in decades.
    func pixel(decade: Double) -> Double {
        pixelStart + (decade - log10(lower)) / (log10(upper) - log10(lower)) * (pixelEnd - pixelStart)
    }

    /// Whether a value can be drawn on this axis (finite, and positive on a log axis).
    func canShow(_ value: Double) -> Bool {
        value.isFinite && (kind == .linear || value > 0)
    }
}

/// `low...high`, widened when the two are (nearly) equal to 10% of their size either side (±0.5
/// around 0, at least the smallest Double), within the Double range: a range to draw in.
func widenedIfEqual(_ low: Double, _ high: Double) -> (low: Double, high: Double) {
    // `high - low` may overflow to infinity (-1e308 ... 1e308): then the range is wide, not empty.
    guard high - low <= 1e-12 * max(abs(low), abs(high)) else { return (low, high) }
    let size = max(abs(low), abs(high))
    let margin = size == 0 ? 0.5 : max(size * 0.1, .leastNonzeroMagnitude)
    return (max(low - margin, -.greatestFiniteMagnitude), min(high + margin, .greatestFiniteMagnitude))
}

/// The points a plot could not draw, counted so that a note on the plot says so: a value left
/// out is never left out silently.
struct OmittedPoints {
    /// Points with a NaN or infinite coordinate.
    var notFinite = 0
    /// Points with a zero or negative coordinate on a logarithmic axis.
    var notPositive = 0

    /// Counts the points `x` and `y` cannot show.
    mutating func count(_ points: some Sequence<(Double, Double)>, x: AxisScale, y: AxisScale) {
        for (valueX, valueY) in points where !(x.canShow(valueX) && y.canShow(valueY)) {
            if valueX.isFinite && valueY.isFinite { notPositive += 1 } else { notFinite += 1 }
        }
    }

    var total: Int { notFinite + notPositive }

    /// `Not drawn: 2 points with NaN or infinite values, 1 point at zero or below (log scale).`, or nil.
    var note: String? {
        func points(_ count: Int) -> String { count == 1 ? "1 point" : "\(count) points" }
        var parts: [String] = []
        if notFinite > 0 { parts.append(points(notFinite) + " with NaN or infinite values") }
        if notPositive > 0 { parts.append(points(notPositive) + " at zero or below (log scale)") }
        return parts.isEmpty ? nil : "Not drawn: " + parts.joined(separator: ", ") + "."
    }

    /// Writes the note under the x-axis label, and says so in the middle when nothing at all was drawn.
    func draw(_ svg: inout SVGWriter, area: PlotArea, drewNothing: Bool) {
        guard let note else { return }
        svg.text(note, x: area.left, y: area.bottom + 68, size: 10.5, fill: "#a33000")
        if drewNothing {
            svg.text("no finite values to show", x: area.left + area.width / 2, y: area.top + area.height / 2, size: 14,
                     anchor: "middle", fill: "#888888")
        }
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
    // Clear of the widest tick label (2.5×10³⁸ is wider than 10), but inside the image.
    let widestLabel = y.ticks.map { estimatedTextWidth(withoutMarkup($0.label), size: 12) }.max() ?? 0
    svg.text(yLabel, x: max(area.left - max(58, widestLabel + 26), 14), y: area.top + area.height / 2, size: 13, anchor: "middle",
             rotation: -90)
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

/// The characters of SVG text markup a reader sees: tags dropped, an entity counted as one.
func withoutMarkup(_ markup: String) -> String {
    var text = ""
    var inTag = false, inEntity = false
    for character in markup {
        switch character {
        case "<": inTag = true
        case ">": inTag = false
        case "&" where !inTag: inEntity = true; text.append("?")
        case ";" where inEntity: inEntity = false
        default: if !inTag && !inEntity { text.append(character) }
        }
    }
    return text
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

/// `value` with exactly `places` decimals (`1.00`, `-0.25`), for numbers read side by side;
/// beyond 10^15 in `places + 1` significant digits (`1.23e+20`).
func decimals(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return nonFiniteText(value) }
    if abs(value) >= 1e15 { return compact(value, digits: max(places, 0) + 1) }
    let text = fixed(value, decimals: places)
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let fraction = parts.count > 1 ? String(parts[1]) : ""
    let padded = fraction + String(repeating: "0", count: places - fraction.count)
    return places > 0 ? String(parts[0]) + "." + padded : String(parts[0])
}

/// `value` as a mantissa times a power of ten in SVG markup, `2.5×10<tspan ...>38</tspan>`
/// (`10<tspan ...>38</tspan>` for a mantissa of 1), the mantissa in `digits` significant digits
/// at most, minus signs as U+2212.
func scientificMarkup(_ value: Double, digits: Int) -> String {
    guard value.isFinite, value != 0 else { return value == 0 ? "0" : nonFiniteText(value) }
    let (mantissa, exponent) = scientific(value, digits: digits)
    let power = AxisScale.powerOfTenMarkup(exponent)
    let sign = mantissa < 0 ? "\u{2212}" : ""
    if abs(mantissa) == 1 { return sign + power }
    return sign + fixed(abs(mantissa), decimals: min(max(digits, 1), 17) - 1) + "\u{00D7}" + power
}
