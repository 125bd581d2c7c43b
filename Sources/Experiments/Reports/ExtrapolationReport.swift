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

/// `extrapolation.csv`: `lambda,max_abs,mean_abs` per row, then `jacobian_norm` when a run measured
/// it (the mean of ||df/dx|| over the directions; empty for a run without it), a `variant` column when runs have
/// variants and a `seed` column when there is more than one seed. Numbers are printed with the
/// fewest digits that read back to the same Double (whole numbers without `.0`).
public enum ExtrapolationCSV {
    /// The file's text, runs in the order given, with a final newline.
    public static func text(_ runs: [RunExtrapolation]) -> String {
        let withVariant = runs.contains { $0.variant != nil }
        let withSeed = Set(runs.map(\.seed)).count > 1
        let withVariance = runs.contains { $0.table.points.contains { $0.variance != nil } }
        var header = ["lambda", "max_abs", "mean_abs"]
        if withVariance { header.append("variance") }
        let withJacobian = runs.contains { $0.table.points.contains { $0.jacobianNorm != nil } }
        if withJacobian { header.append("jacobian_norm") }
        if withVariant { header.append("variant") }
        if withSeed { header.append("seed") }
        var lines = [header.joined(separator: ",")]
        for run in runs {
            for point in run.table.points {
                var fields = [csvNumber(point.lambda), csvNumber(point.maxAbs), csvNumber(point.meanAbs)]
                if withVariance { fields.append(point.variance.map(csvNumber) ?? "") }
                if withJacobian { fields.append(point.jacobianNorm.map(csvNumber) ?? "") }
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
    value.isFinite ? plainNumber(value) : nonFiniteText(value)
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

/// A number in about `digits` (1 to 17) significant digits: `0.9981`, `1.78e+04`, `1e-05`, and
/// `4.941e-324` or `1.798e+308` at the ends of the Double range; `nan`, `inf`, `-inf` for the
/// non-finite.
func compact(_ value: Double, digits: Int = 4) -> String {
    if !value.isFinite { return nonFiniteText(value) }
    if value == 0 { return "0" }
    let digits = min(max(digits, 1), 17)
    // log10 of a finite non-zero Double lies in -323.3 ... 308.3, so the conversion cannot trap.
    let magnitude = Int(log10(abs(value)).rounded(.down))
    if magnitude >= -3 && magnitude < 6 {
        return fixed(value, decimals: max(0, digits - 1 - magnitude))
    }
    let (mantissa, exponent) = scientific(value, digits: digits)
    return fixed(mantissa, decimals: digits - 1) + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "")
        + String(abs(exponent))
}

/// A finite non-zero `value` as `mantissa * 10^exponent` with 1 <= |mantissa| < 10, the mantissa
/// rounded to `digits` significant digits.
func scientific(_ value: Double, digits: Int) -> (mantissa: Double, exponent: Int) {
    var exponent = Int(log10(abs(value)).rounded(.down))
    let scale = pow(10, Double(min(max(digits, 1), 17) - 1))
    var mantissa = (timesPowerOfTen(value, -exponent) * scale).rounded() / scale
    // Rounding 9.9996 up to 10 moves the number into the next decade.
    if abs(mantissa) >= 10 {
        mantissa /= 10
        exponent += 1
    }
    return (mantissa, exponent)
}

/// `nan`, `inf` or `-inf`, as NumPy prints them.
func nonFiniteText(_ value: Double) -> String {
    value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf")
}

/// `value * 10^exponent` in steps of at most 10^300, so neither the power nor an intermediate
/// overflows or underflows when the result is representable (4.9e-324 * 10^324 is 4.9).
func timesPowerOfTen(_ value: Double, _ exponent: Int) -> Double {
    var result = value
    var remaining = exponent
    while remaining > 300 {
        result *= 1e300
        remaining -= 300
    }
    while remaining < -300 {
        result /= 1e300
        remaining += 300
    }
    return result * pow(10, Double(remaining))
}

/// `value` rounded to `decimals` places, trailing zeros (and a bare point) removed. Beyond what
/// integer arithmetic holds exactly (|value| * 10^decimals >= 2^53, e.g. 3e38), the shortest
/// digits that read back to `value` (`3e+38`); `nan`, `inf`, `-inf` for the non-finite.
func fixed(_ value: Double, decimals: Int) -> String {
    if !value.isFinite { return nonFiniteText(value) }
    let decimals = max(decimals, 0)
    let scale = pow(10, Double(decimals))
    let rounded = (abs(value) * scale).rounded()
    guard scale.isFinite, rounded < 0x1p53 else { return plainNumber(value) }
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
