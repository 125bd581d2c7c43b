/// A syntax error in JSON text, at a 1-based line and column (columns count characters).
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let problem: String
    public var description: String { "line \(line), column \(column): \(problem)" }
}

extension JSONValue {
    /// Parses JSON text (RFC 8259): exactly one value, surrounded by optional whitespace.
    ///
    /// Stricter than many parsers on purpose, since a config typo should not pass silently:
    /// duplicate keys in one object, trailing commas and comments are errors.
    /// - Parameter maximumDepth: how deeply lists and objects may nest before the text is
    ///   refused (a guard against stack exhaustion on hostile input).
    /// - Throws: ``JSONSyntaxError`` naming the line and column of the first problem.
    public static func parse(_ text: String, maximumDepth: Int = 200) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8), maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }
}

/// A recursive-descent parser over UTF-8 bytes that tracks where it is for error messages.
struct JSONParser {
    let bytes: [UInt8]
    let maximumDepth: Int
    var position = 0
    var depth = 0

    init(bytes: [UInt8], maximumDepth: Int) {
        // A UTF-8 byte order mark is not JSON, but editors write it; skip it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            self.bytes = Array(bytes.dropFirst(3))
        } else {
            self.bytes = bytes
        }
        self.maximumDepth = maximumDepth
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw error("the text is empty; expected a JSON value") }
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else {
            throw error("unexpected \(describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    /// The line and column of a byte offset, counting characters (not bytes) within the line.
    func location(of offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        // Continuation bytes (10xxxxxx) do not start a character.
        let characters = bytes[lineStart..<min(offset, bytes.count)].filter { $0 & 0xC0 != 0x80 }.count
        return (line, characters + 1)
    }

    func error(_ problem: String, at offset: Int? = nil) -> JSONSyntaxError {
        let (line, column) = location(of: offset ?? position)
        return JSONSyntaxError(line: line, column: column, problem: problem)
    }

    /// A key as JSON writes it, so a key holding a newline cannot break a message into two lines.
    func quoted(_ key: String) -> String {
        var text = ""
        JSONValue.writeQuoted(key, to: &text)
        return text
    }

    func describeCurrent() -> String {
        guard position < bytes.count else { return "end of text" }
        let byte = bytes[position]
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of text; expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case UInt8(ascii: "/"): throw error("comments are not allowed in JSON")
        case UInt8(ascii: "'"): throw error("strings need double quotes (\"...\"), not single quotes")
        default: throw error("unexpected \(describeCurrent()); expected a value")
        }
    }

    mutating func expectWord(_ word: String) throws(JSONSyntaxError) {
        let start = position
        for expected in word.utf8 {
            guard position < bytes.count, bytes[position] == expected else {
                throw error("unknown word; expected \(word) (JSON words are true, false and null)", at: start)
            }
            position += 1
        }
    }

    mutating func enterNesting() throws(JSONSyntaxError) {
        depth += 1
        if depth > maximumDepth { throw error("lists and objects nest more than \(maximumDepth) deep") }
    }

    mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        try enterNesting()
        defer { depth -= 1 }
        position += 1  // "{"
        var members: [JSONMember] = []
        var seen: Set<String> = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    throw error("trailing comma before '}'")
                }
                throw error("unexpected \(describeCurrent()); expected a key in double quotes")
            }
            let keyStart = position
            let key = try parseString()
            guard seen.insert(key).inserted else { throw error("duplicate key \(quoted(key)) in one object", at: keyStart) }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()); expected ':' after the key \(quoted(key))")
            }
            position += 1
            skipWhitespace()
            members.append(JSONMember(key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text; expected ',' or '}'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            throw error("unexpected \(describeCurrent()); expected ',' or '}'")
        }
    }

    mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        try enterNesting()
        defer { depth -= 1 }
        position += 1  // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { throw error("trailing comma before ']'") }
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text; expected ',' or ']'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            throw error("unexpected \(describeCurrent()); expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        func isDigit(_ index: Int) -> Bool {
            index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard isDigit(position) else { throw error("a number needs a digit after '-'", at: start) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if isDigit(position) { throw error("numbers may not have leading zeros", at: start) }
        } else {
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { throw error("a number needs digits after its decimal point", at: start) }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard isDigit(position) else { throw error("a number needs digits in its exponent", at: start) }
            while isDigit(position) { position += 1 }
        }
        return .number(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = position
        position += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = position
        // Copies the bytes since the last escape; they are valid UTF-8 if the whole text is a String.
        func flush(_ parser: JSONParser, upTo end: Int) {
            if end > runStart {
                scalars.append(contentsOf: String(decoding: parser.bytes[runStart..<end], as: UTF8.self).unicodeScalars)
            }
        }
        while true {
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                flush(self, upTo: position)
                position += 1
                return String(scalars)
            }
            if byte < 0x20 {
                throw error("control character (byte 0x\(String(byte, radix: 16))) inside a string; write it as an escape like \\n")
            }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flush(self, upTo: position)
            position += 1
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let first = try parseHexQuad()
                var value = first
                if (0xD800..<0xDC00).contains(first) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                          bytes[position + 1] == UInt8(ascii: "u") else {
                        throw error("\\u escape with a lone high surrogate")
                    }
                    position += 2
                    let second = try parseHexQuad()
                    guard (0xDC00..<0xE000).contains(second) else { throw error("\\u escape with a lone high surrogate") }
                    value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else if (0xDC00..<0xE000).contains(first) {
                    throw error("\\u escape with a lone low surrogate")
                }
                guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
                scalars.append(scalar)
            default:
                position -= 1
                throw error("unknown escape in a string: '\\' followed by \(describeCurrent())", at: position - 1)
            }
            runStart = position
        }
    }

    mutating func parseHexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard position + 4 <= bytes.count,
              let value = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16),
              bytes[position..<position + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
        else { throw error("\\u must be followed by four hexadecimal digits") }
        position += 4
        return value
    }
}
