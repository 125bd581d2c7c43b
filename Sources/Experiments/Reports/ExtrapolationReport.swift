import Glibc

/// One run's extrapolation measurement, labelled for reports that gather many runs.
public struct RunExtrapolation: Sendable {
    /// The variant's name, or nil for a config without variants.
    public var variant: String?
    public var seed: UInt64
    public var table: ExtrapolationTable

    public init(variant: String?, seed: UInt64, table: ExtrapolationTable) {
        self.variant = variant
        self.seed = seed
        self.table = table
    }
}

/// `extrapolation.csv`: `lambda,max_abs,mean_abs` per row, then a `variant` column when runs have
/// variants and a `seed` column when there is more than one seed. Numbers are printed with the
/// fewest digits that read back to the same Double (whole numbers without `.0`).
public enum ExtrapolationCSV {
    /// The file's text, runs in the order given, with a final newline.
    public static func text(_ runs: [RunExtrapolation]) -> String {
        let withVariant = runs.contains { $0.variant != nil }
        let withSeed = Set(runs.map(\.seed)).count > 1
        var header = ["lambda", "max_abs", "mean_abs"]
        if withVariant { header.append("variant") }
        if withSeed { header.append("seed") }
        var lines = [header.joined(separator: ",")]
        for run in runs {
            for point in run.table.points {
                var fields = [csvNumber(point.lambda), csvNumber(point.maxAbs), csvNumber(point.meanAbs)]
                if withVariant { fields.append(csvField(run.variant ?? "")) }
                if withSeed { fields.append("\(run.seed)") }
                lines.append(fields.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes ``text(_:)`` to `path` atomically.
    public static func write(_ runs: [RunExtrapolation], to path: String) throws(FileError) {
        do {
            try AtomicFile.write(text(runs), to: path)
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(path: path, problem: "\(error)")
        }
    }
}

/// A number for CSV: shortest round-trip digits; `nan`, `inf`, `-inf` for the non-finite (as
/// NumPy and pandas read them).
func csvNumber(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    return plainNumber(value)
}

/// A text field for CSV, quoted when it holds a comma, quote or line break.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

extension String {
    /// The string with every occurrence of `target` replaced (no Foundation here).
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension ExtrapolationTable {
    /// The table for the terminal: aligned columns and the growth exponent underneath.
    /// ```
    ///      lambda       max |f|      mean |f|
    ///           1        0.9981        0.6312
    ///        1.78         1.204        0.7010
    /// growth exponent over the last decade: 0.01 (bounded)
    /// ```
    public var terminalText: String {
        var lines = [pad("lambda", 12) + pad("max |f|", 14) + pad("mean |f|", 14)]
        for point in points {
            lines.append(pad(compact(point.lambda), 12) + pad(compact(point.maxAbs), 14) + pad(compact(point.meanAbs), 14))
        }
        let exponent = growthExponent
        lines.append("growth exponent over the last decade: \(compact(exponent, digits: 3)) (\(ExtrapolationTable.verdict(exponent)))")
        return lines.joined(separator: "\n")
    }

    /// A plain-words reading of a growth exponent.
    public static func verdict(_ exponent: Double) -> String {
        if exponent.isNaN { return "not finite: the network diverged" }
        if abs(exponent) < 0.1 { return "bounded" }
        if abs(exponent - 1) < 0.1 { return "linear growth" }
        return exponent > 0 ? "grows like lambda^\(compact(exponent, digits: 2))" : "decays"
    }
}

/// Right-aligns `text` in `width` characters.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}

/// A number in about `digits` significant digits: `0.9981`, `1.78e+04`, `1e-05`.
func compact(_ value: Double, digits: Int = 4) -> String {
    if !value.isFinite { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    if value == 0 { return "0" }
    var magnitude = Int(log10(abs(value)).rounded(.down))
    if magnitude >= -3 && magnitude < 6 {
        return fixed(value, decimals: max(0, digits - 1 - magnitude))
    }
    let scale = pow(10, Double(digits - 1))
    var mantissa = (value / pow(10, Double(magnitude)) * scale).rounded() / scale
    // Rounding 9.9996 up to 10 moves the number into the next decade.
    if abs(mantissa) >= 10 {
        mantissa /= 10
        magnitude += 1
    }
    return fixed(mantissa, decimals: digits - 1) + "e" + (magnitude < 0 ? "-" : "+") + (abs(magnitude) < 10 ? "0" : "")
        + String(abs(magnitude))
}

/// `value` rounded to `decimals` places, trailing zeros (and a bare point) removed.
func fixed(_ value: Double, decimals: Int) -> String {
    let scale = pow(10, Double(decimals))
    let rounded = (abs(value) * scale).rounded()
    let integerPart = (rounded / scale).rounded(.down)
    let fraction = Int(rounded - integerPart * scale)
    var text = (value < 0 && rounded > 0 ? "-" : "") + String(Int(integerPart))
    if decimals > 0 && fraction > 0 {
        var fractionDigits = String(fraction)
        fractionDigits = String(repeating: "0", count: decimals - fractionDigits.count) + fractionDigits
        while fractionDigits.hasSuffix("0") { fractionDigits.removeLast() }
        text += "." + fractionDigits
    }
    return text
}
