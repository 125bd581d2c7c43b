/// A problem with a CSV file, naming the file and, where there is one, the row (1-based, the
/// header being row 1, as a person counts lines in an editor) and the column.
public struct CSVError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let row: Int?
    /// The column's name and 1-based position, e.g. `"bmi" (column 3)`.
    public let column: String?
    public let problem: String

    public init(file: String, row: Int? = nil, column: String? = nil, problem: String) {
        self.file = file
        self.row = row
        self.column = column
        self.problem = problem
    }

    public var description: String {
        var location = file
        if let row { location += ": row \(row)" }
        if let column { location += row == nil ? ": \(column)" : ", \(column)" }
        return "\(location): \(problem)"
    }
}

/// A CSV file split into fields: a header row of column names, then data rows with exactly one
/// field per column. Fields may be quoted with `"` (a doubled `""` inside is one quote); a field
/// cannot span lines. Spaces around fields are ignored; CRLF line ends and a UTF-8 byte order
/// mark are accepted; blank lines at the end are ignored, blank lines elsewhere are errors.
public struct CSVTable: Sendable {
    public let file: String
    public let columnNames: [String]
    /// Data rows' fields, in file order.
    public let rows: [[String]]
    /// Each data row's line number in the file (the header is line 1).
    public let lineNumbers: [Int]

    /// Reads and splits a CSV file.
    public static func read(path: String) throws(CSVError) -> CSVTable {
        let text: String
        do {
            text = try AtomicFile.readText(path)
        } catch let error as FileError {
            throw CSVError(file: path, problem: error.problem)
        } catch {
            throw CSVError(file: path, problem: "\(error)")
        }
        return try CSVTable(text: text, file: path)
    }

    /// Splits CSV text; `file` names it in errors.
    public init(text: String, file: String) throws(CSVError) {
        self.file = file
        // "\r\n" is one Character in Swift, so it is a separator of its own, not "\n" after "\r".
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = first.dropFirst() }
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
        guard let headerLine = lines.first else {
            throw CSVError(file: file, problem: "the file is empty; expected a header row of column names")
        }
        let header = try CSVTable.fields(of: headerLine, lineNumber: 1, file: file)
        for (index, name) in header.enumerated() where name.isEmpty {
            throw CSVError(file: file, row: 1, column: "column \(index + 1)", problem: "empty column name in the header")
        }
        // A dictionary, not a search of the names before each one: a header of 100,000 columns
        // would take 5 * 10^9 comparisons.
        var firstColumn: [String: Int] = [:]
        for (index, name) in header.enumerated() {
            if let earlier = firstColumn[name] {
                throw CSVError(file: file, row: 1, column: "column \(index + 1)",
                               problem: "the column name \"\(name)\" is already used by column \(earlier + 1)")
            }
            firstColumn[name] = index
        }
        var rows: [[String]] = []
        var lineNumbers: [Int] = []
        for (offset, line) in lines.enumerated().dropFirst() {
            let lineNumber = offset + 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                throw CSVError(file: file, row: lineNumber, problem: "empty row")
            }
            let fields = try CSVTable.fields(of: line, lineNumber: lineNumber, file: file)
            guard fields.count == header.count else {
                throw CSVError(file: file, row: lineNumber,
                               problem: "\(fields.count) field\(fields.count == 1 ? "" : "s"), but the header has \(header.count) columns")
            }
            rows.append(fields)
            lineNumbers.append(lineNumber)
        }
        guard !rows.isEmpty else { throw CSVError(file: file, problem: "no data rows after the header") }
        columnNames = header
        self.rows = rows
        self.lineNumbers = lineNumbers
    }

    /// The fields of one line, unquoted and trimmed.
    static func fields(of line: Substring, lineNumber: Int, file: String) throws(CSVError) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var wasQuoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if inQuotes {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex, line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "," {
                fields.append(wasQuoted ? current : current.trimmingCharacters(in: " \t"))
                current = ""
                wasQuoted = false
            } else if character == "\"" && current.allSatisfy({ $0 == " " || $0 == "\t" }) {
                current = ""
                inQuotes = true
                wasQuoted = true
            } else if wasQuoted {
                if character != " " && character != "\t" {
                    throw CSVError(file: file, row: lineNumber, column: "column \(fields.count + 1)",
                                   problem: "text after a closing quote")
                }
            } else {
                current.append(character)
            }
            index = line.index(after: index)
        }
        if inQuotes {
            throw CSVError(file: file, row: lineNumber, column: "column \(fields.count + 1)",
                           problem: "unterminated quote (a field cannot span lines)")
        }
        fields.append(wasQuoted ? current : current.trimmingCharacters(in: " \t"))
        return fields
    }

    /// The 0-based index of a column; the error names the config key that asked for it.
    public func columnIndex(named name: String, requestedBy configKey: String) throws(CSVError) -> Int {
        guard let index = columnNames.firstIndex(of: name) else {
            var problem = "no column named \"\(name)\" (asked for by \(configKey))"
            if let suggestion = ConfigObject.closest(to: name, among: columnNames) {
                problem += "; did you mean \"\(suggestion)\"?"
            }
            problem += " The columns are: " + columnNames.joined(separator: ", ")
            throw CSVError(file: file, problem: problem)
        }
        return index
    }

    /// Every value of a column as a finite number.
    public func numbers(inColumn index: Int) throws(CSVError) -> [Double] {
        var values: [Double] = []
        values.reserveCapacity(rows.count)
        for (row, fields) in rows.enumerated() {
            let field = fields[index]
            guard let value = CSVTable.parseNumber(field) else {
                let problem = field.isEmpty ? "empty field; expected a number" : "\"\(field)\" is not a finite number"
                throw CSVError(file: file, row: lineNumbers[row], column: "\"\(columnNames[index])\" (column \(index + 1))",
                               problem: problem)
            }
            values.append(value)
        }
        return values
    }

    /// A decimal number (`-3`, `4.5`, `1e-3`); NaN, infinities and hexadecimal are refused.
    static func parseNumber(_ field: String) -> Double? {
        guard !field.isEmpty, field.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
              let value = Double(field), value.isFinite else { return nil }
        return value
    }
}
