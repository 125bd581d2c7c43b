/// Builds an SVG document element by element. Coordinates are rounded to 0.01 px; a non-finite
/// coordinate is a bug in the caller and stops the program (plots filter non-finite data first).
struct SVGWriter {
    let width: Double
    let height: Double
    private(set) var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The document: an XML declaration, the `<svg>` root with a white background, the elements.
    func rendered(title: String) -> String {
        var lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVGWriter.number(width))\" height=\"\(SVGWriter.number(height))\" "
                + "viewBox=\"0 0 \(SVGWriter.number(width)) \(SVGWriter.number(height))\" "
                + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
            "<title>\(SVGWriter.escape(title))</title>",
            "<rect x=\"0\" y=\"0\" width=\"\(SVGWriter.number(width))\" height=\"\(SVGWriter.number(height))\" fill=\"white\"/>",
        ]
        lines += body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A coordinate or length: at most two decimals, no trailing zeros.
    static func number(_ value: Double) -> String {
        precondition(value.isFinite, "SVGWriter: non-finite coordinate \(value)")
        return fixed(value, decimals: 2)
    }

    /// Text with the five XML special characters escaped.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    mutating func raw(_ element: String) { body.append(element) }

    mutating func comment(_ text: String) {
        body.append("<!-- \(text.replacingOccurrences(of: "--", with: "- -")) -->")
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil, opacity: Double? = nil) {
        var element = "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" "
            + "stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        if let opacity { element += " stroke-opacity=\"\(Self.number(opacity))\"" }
        body.append(element + "/>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
                       fillOpacity: Double? = nil, extra: String = "") {
        var element = "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" "
            + "height=\"\(Self.number(height))\" fill=\"\(fill)\""
        if let fillOpacity { element += " fill-opacity=\"\(Self.number(fillOpacity))\"" }
        if let stroke { element += " stroke=\"\(stroke)\"" }
        if !extra.isEmpty { element += " " + extra }
        body.append(element + "/>")
    }

    mutating func circle(x: Double, y: Double, radius: Double, fill: String, stroke: String? = nil) {
        var element = "<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\" fill=\"\(fill)\""
        if let stroke { element += " stroke=\"\(stroke)\" stroke-width=\"0.8\"" }
        body.append(element + "/>")
    }

    /// A connected line through the points.
    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil) {
        guard points.count >= 2 else { return }
        let coordinates = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        var element = "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\" "
            + "stroke-linejoin=\"round\" stroke-linecap=\"round\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        body.append(element + "/>")
    }

    /// A filled closed shape.
    mutating func polygon(_ points: [(Double, Double)], fill: String, opacity: Double) {
        guard points.count >= 3 else { return }
        let coordinates = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polygon points=\"\(coordinates)\" fill=\"\(fill)\" fill-opacity=\"\(Self.number(opacity))\" stroke=\"none\"/>")
    }

    /// Text at a point. `anchor` is `start`, `middle` or `end`; `rotation` turns it about the point.
    /// `markup` is inserted as is (already escaped, e.g. with `<tspan>` superscripts).
    mutating func text(_ content: String, x: Double, y: Double, size: Double = 12, anchor: String = "start",
                       weight: String? = nil, rotation: Double? = nil, fill: String = "#222222", markup: Bool = false) {
        var element = "<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" "
            + "text-anchor=\"\(anchor)\" fill=\"\(fill)\""
        if let weight { element += " font-weight=\"\(weight)\"" }
        if let rotation {
            element += " transform=\"rotate(\(Self.number(rotation)) \(Self.number(x)) \(Self.number(y)))\""
        }
        body.append(element + ">" + (markup ? content : Self.escape(content)) + "</text>")
    }

    /// Writes the document to `path` atomically.
    static func write(_ document: String, to path: String) throws(FileError) {
        do {
            try AtomicFile.write(document, to: path)
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(path: path, problem: "\(error)")
        }
    }
}

/// Colours for lines, told apart also by readers with colour-vision deficiencies (Okabe and Ito, 2008).
let seriesColors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

func seriesColor(_ index: Int) -> String { seriesColors[index % seriesColors.count] }
