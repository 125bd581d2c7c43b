/// An I/O failure, naming the file and what the system said: `runs/a/metrics.json: cannot create:
/// No space left on device`.
public struct FileError: Error, Sendable, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// Content that does not follow its format (JSON with a trailing comma, a CSV row with a field
/// missing, a safetensors header whose offsets overlap), naming the file, where in it when that is
/// known, and what is wrong:
/// `configs/x.json: line 2, column 26: trailing comma before '}'`,
/// `data/x.csv: row 4, "bmi" (column 3): "abc" is not a finite number`.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in the content the problem lies.
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        /// A character of a text: its 1-based line and column (columns count characters, not
        /// bytes) and its byte offset from the start of the text.
        case text(line: Int, column: Int, byteOffset: Int)
        /// A row of a table. Rows are counted as lines, the header being row 1, as a person counts
        /// them in an editor.
        case row(Int)
        /// One field of a row: the row, and the column by name and position (`"bmi" (column 3)`)
        /// or by position alone (`column 2`).
        case cell(row: Int, column: String)
        /// A column of a table as a whole.
        case column(String)

        public var description: String {
            switch self {
            case .text(let line, let column, _): "line \(line), column \(column)"
            case .row(let row): "row \(row)"
            case .cell(let row, let column): "row \(row), \(column)"
            case .column(let column): column
            }
        }
    }

    /// The file, or the label the caller gave content that came from elsewhere.
    public let path: String
    public let location: Location?
    public let problem: String

    public init(path: String, location: Location? = nil, problem: String) {
        self.path = path
        self.location = location
        self.problem = problem
    }

    /// A problem in a table, in the words of CSV files: `file`, `row` (the header is row 1) and
    /// `column` (`"bmi" (column 3)`), each where known.
    public init(file: String, row: Int? = nil, column: String? = nil, problem: String) {
        let location: Location? = switch (row, column) {
        case let (row?, column?): .cell(row: row, column: column)
        case let (row?, nil): .row(row)
        case let (nil, column?): .column(column)
        case (nil, nil): nil
        }
        self.init(path: file, location: location, problem: problem)
    }

    public var description: String {
        guard let location else { return "\(path): \(problem)" }
        return "\(path): \(location): \(problem)"
    }

    /// The 1-based line of a text location, or the row of a table location (rows are lines).
    public var line: Int? {
        switch location {
        case .text(let line, _, _): line
        case .row(let row), .cell(let row, _): row
        case .column, nil: nil
        }
    }

    /// The 1-based character column of a text location.
    public var column: Int? {
        if case .text(_, let column, _) = location { return column }
        return nil
    }

    /// The byte offset of a text location from the start of the text.
    public var byteOffset: Int? {
        if case .text(_, _, let offset) = location { return offset }
        return nil
    }
}
