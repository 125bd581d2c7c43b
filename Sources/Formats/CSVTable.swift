/// The name CSV errors had before every format's errors became one type.
public typealias CSVError = FormatError

/// One line of a CSV text. Fields may be quoted with `"` (a doubled `""` inside is one quote); a
/// field cannot span lines. Every CSV reader in FiniteWidth splits text with ``lines(of:)`` and
/// lines with ``fields(file:)``, then applies its own rules (a header or not, blank lines allowed
/// or not).
public struct CSVLine: Sendable {
    /// The 1-based line number, as a person counts lines in an editor.
    public let number: Int
    /// The line as written, without its line end, for quoting in messages.
    public let text: Substring

    /// The lines of a CSV text: split at `\n` and `\r\n`, a leading UTF-8 byte order mark dropped.
    public static func lines(of text: String) -> [CSVLine] {
        // "\r\n" is one Character in Swift, so it is a separator of its own, not "\n" after "\r".
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = first.dropFirst() }
        return lines.enumerated().map { CSVLine(number: $0.offset + 1, text: $0.element) }
    }

    /// Whether the line holds nothing but spaces and tabs.
    public var isBlank: Bool { text.allSatisfy { $0 == " " || $0 == "\t" } }

    /// The line's fields, unquoted; spaces and tabs around unquoted fields are dropped.
    /// - Parameter file: names the file in errors.
    /// - Throws: ``FormatError`` for text after a closing quote or an unterminated quote.
    public func fields(file: String) throws(FormatError) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var wasQuoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if inQuotes {
                if character == "\"" {
                    let next = text.index(after: index)
                    if next < text.endIndex, text[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "," {
                fields.append(wasQuoted ? current : Self.trimmed(current))
                current = ""
                wasQuoted = false
            } else if character == "\"" && current.allSatisfy({ $0 == " " || $0 == "\t" }) {
                current = ""
                inQuotes = true
                wasQuoted = true
            } else if wasQuoted {
                if character != " " && character != "\t" {
                    throw FormatError(file: file, row: number, column: "column \(fields.count + 1)", problem: "text after a closing quote")
                }
            } else {
                current.append(character)
            }
            index = text.index(after: index)
        }
        if inQuotes {
            throw FormatError(file: file, row: number, column: "column \(fields.count + 1)",
                              problem: "unterminated quote (a field cannot span lines)")
        }
        fields.append(wasQuoted ? current : Self.trimmed(current))
        return fields
    }

    static func trimmed(_ field: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = field.firstIndex(where: { !isSpace($0) }), let last = field.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(field[first...last])
    }

    /// A field as a finite decimal number (`-3`, `4.5`, `1e-3`); nil for anything else, NaN,
    /// infinities and hexadecimal included.
    public static func finiteNumber(_ field: String) -> Double? {
        guard !field.isEmpty, field.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
              let value = Double(field), value.isFinite else { return nil }
        return value
    }
}

/// A CSV file split into fields: a header row of column names, then data rows with exactly one
/// field per column. Quoting as ``CSVLine``; CRLF line ends and a UTF-8 byte order mark are
/// accepted; blank lines at the end are ignored, blank lines elsewhere are errors.
public struct CSVTable: Sendable {
    public let file: String
    public let columnNames: [String]
    /// Data rows' fields, in file order.
    public let rows: [[String]]
    /// Each data row's line number in the file (the header is line 1).
    public let lineNumbers: [Int]

    /// Reads and splits a CSV file.
    /// - Throws: ``FormatError`` naming the file, for a file that cannot be read as well as for
    ///   malformed content, so that one error says why a data set did not load.
    public static func read(path: String) throws(FormatError) -> CSVTable {
        let text: String
        do {
            text = try AtomicFile.readText(path)
        } catch let error as FileError {
            throw FormatError(path: path, problem: error.problem)
        } catch {
            throw FormatError(path: path, problem: "\(error)")
        }
        return try CSVTable(text: text, file: path)
    }

    /// Splits CSV text; `file` names it in errors.
    public init(text: String, file: String) throws(FormatError) {
        self.file = file
        var lines = CSVLine.lines(of: text)
        while let last = lines.last, last.isBlank { lines.removeLast() }
        guard let headerLine = lines.first else {
            throw FormatError(path: file, problem: "the file is empty; expected a header row of column names")
        }
        let header = try headerLine.fields(file: file)
        for (index, name) in header.enumerated() where name.isEmpty {
            throw FormatError(file: file, row: 1, column: "column \(index + 1)", problem: "empty column name in the header")
        }
        // A dictionary, not a search of the names before each one: a header of 100,000 columns
        // would take 5 * 10^9 comparisons.
        var firstColumn: [String: Int] = [:]
        for (index, name) in header.enumerated() {
            if let earlier = firstColumn[name] {
                throw FormatError(file: file, row: 1, column: "column \(index + 1)",
                                  problem: "the column name \"\(name)\" is already used by column \(earlier + 1)")
            }
            firstColumn[name] = index
        }
        var rows: [[String]] = []
        var lineNumbers: [Int] = []
        for line in lines.dropFirst() {
            if line.isBlank { throw FormatError(file: file, row: line.number, problem: "empty row") }
            let fields = try line.fields(file: file)
            guard fields.count == header.count else {
                throw FormatError(file: file, row: line.number,
                                  problem: "\(fields.count) field\(fields.count == 1 ? "" : "s"), but the header has \(header.count) columns")
            }
            rows.append(fields)
            lineNumbers.append(line.number)
        }
        guard !rows.isEmpty else { throw FormatError(path: file, problem: "no data rows after the header") }
        columnNames = header
        self.rows = rows
        self.lineNumbers = lineNumbers
    }

    /// Every value of a column as a finite number.
    public func numbers(inColumn index: Int) throws(FormatError) -> [Double] {
        var values: [Double] = []
        values.reserveCapacity(rows.count)
        for (row, fields) in rows.enumerated() {
            let field = fields[index]
            guard let value = CSVLine.finiteNumber(field) else {
                let problem = field.isEmpty ? "empty field; expected a number" : "\"\(field)\" is not a finite number"
                throw FormatError(file: file, row: lineNumbers[row], column: "\"\(columnNames[index])\" (column \(index + 1))",
                                  problem: problem)
            }
            values.append(value)
        }
        return values
    }
}
