/// The name JSON syntax errors had before every format's errors became one type.
public typealias JSONSyntaxError = FormatError

extension JSONValue {
    /// Parses JSON text (RFC 8259): exactly one value, surrounded by optional whitespace. A
    /// leading UTF-8 byte order mark, which editors write, is skipped.
    ///
    /// Stricter than many parsers on purpose, since a config typo should not pass silently:
    /// duplicate keys in one object, trailing commas and comments are errors. Foundation's
    /// `JSONSerialization` and `JSONDecoder` keep the last of two duplicate keys, forget the order
    /// of keys, and stop at the first error; configs need all three.
    /// - Parameters:
    ///   - source: names the text in errors (the file it came from).
    ///   - maximumDepth: how deeply lists and objects may nest before the text is refused (a
    ///     guard against stack exhaustion on hostile input).
    /// - Throws: ``FormatError`` at the line and column of the first problem.
    public static func parse(_ text: String, source: String = "JSON text", maximumDepth: Int = 200) throws(FormatError) -> JSONValue {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var parser = JSONParser(utf8: bytes, source: source, maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }
}

/// A recursive-descent parser over UTF-8 bytes that tracks where it is for error messages. Never
/// traps on any input: every index is checked and nesting is limited, so recursion cannot exhaust
/// the stack. `JSONValue.parse` reads whole documents; a format that embeds JSON (the safetensors
/// header) drives it value by value.
package struct JSONParser {
    /// What to do with a key repeated in one object.
    package enum DuplicateKeys {
        /// Refuse the text, naming the key.
        case refused
        /// Keep every member, for a caller that checks repeats itself and names what the key means.
        case kept
    }

    let bytes: [UInt8]
    let source: String
    let maximumDepth: Int
    let duplicateKeys: DuplicateKeys
    /// The byte offset of the next byte to read.
    package private(set) var position = 0
    var depth = 0

    /// - Parameter utf8: the text's bytes; strings holding invalid UTF-8 are refused.
    package init(utf8 bytes: [UInt8], source: String, maximumDepth: Int, duplicateKeys: DuplicateKeys = .refused) {
        self.bytes = bytes
        self.source = source
        self.maximumDepth = maximumDepth
        self.duplicateKeys = duplicateKeys
    }

    package var isAtEnd: Bool { position >= bytes.count }

    mutating func parseDocument() throws(FormatError) -> JSONValue {
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

    /// An error at `offset` (by default where the parser is).
    package func error(_ problem: String, at offset: Int? = nil) -> FormatError {
        let offset = offset ?? position
        let (line, column) = location(of: offset)
        return FormatError(path: source, location: .text(line: line, column: column, byteOffset: offset), problem: problem)
    }

    /// A key as JSON writes it, so a key holding a newline cannot break a message into two lines.
    func quoted(_ key: String) -> String {
        var text = ""
        JSONValue.writeQuoted(key, to: &text)
        return text
    }

    /// The next byte for a message: `'x'`, `byte 0xc3` or `end of text`.
    package func describeCurrent() -> String {
        guard position < bytes.count else { return "end of text" }
        let byte = bytes[position]
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    package mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    package mutating func parseValue() throws(FormatError) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of text, expected a value") }
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
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    mutating func expectWord(_ word: String) throws(FormatError) {
        let start = position
        for expected in word.utf8 {
            guard position < bytes.count, bytes[position] == expected else {
                throw error("unknown word; expected \(word) (JSON words are true, false and null)", at: start)
            }
            position += 1
        }
    }

    mutating func enterNesting() throws(FormatError) {
        depth += 1
        if depth > maximumDepth { throw error("nested deeper than \(maximumDepth) levels of lists and objects") }
    }

    mutating func parseObject() throws(FormatError) -> JSONValue {
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
                throw error("unexpected \(describeCurrent()), expected a key in double quotes")
            }
            let keyStart = position
            let key = try parseString()
            if duplicateKeys == .refused, !seen.insert(key).inserted {
                throw error("duplicate key \(quoted(key)) in one object", at: keyStart)
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("expected ':' after an object key, found \(describeCurrent())")
            }
            position += 1
            skipWhitespace()
            members.append(JSONMember(key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text, expected ',' or '}'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            throw error("unexpected \(describeCurrent()), expected ',' or '}'")
        }
    }

    mutating func parseArray() throws(FormatError) -> JSONValue {
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
            guard position < bytes.count else { throw error("unexpected end of text, expected ',' or ']'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            throw error("unexpected \(describeCurrent()), expected ',' or ']'")
        }
    }

    /// Reads a number, checking the grammar `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    mutating func parseNumber() throws(FormatError) -> JSONValue {
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

    /// Reads a string, decoding its escapes; refuses raw control characters, unpaired surrogates
    /// and invalid UTF-8.
    mutating func parseString() throws(FormatError) -> String {
        let start = position
        position += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = position
        // Copies the bytes since the last escape (an escape is ASCII, so it never splits a character).
        func flush(_ parser: JSONParser, upTo end: Int) throws(FormatError) {
            guard end > runStart else { return }
            guard let run = String(validating: parser.bytes[runStart..<end], as: UTF8.self) else {
                throw parser.error("invalid UTF-8 in a string", at: runStart)
            }
            scalars.append(contentsOf: run.unicodeScalars)
        }
        while true {
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                try flush(self, upTo: position)
                position += 1
                return String(scalars)
            }
            if byte < 0x20 {
                throw error("raw control character 0x\(String(byte, radix: 16)) in a string; write it as an escape like \\n")
            }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            try flush(self, upTo: position)
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
            case UInt8(ascii: "u"): scalars.append(try parseUnicodeEscape())
            default:
                position -= 1
                throw error("unknown escape in a string: '\\' followed by \(describeCurrent())", at: position - 1)
            }
            runStart = position
        }
    }

    /// The character of a `\u` escape whose `\u` has been read, joining a surrogate pair.
    mutating func parseUnicodeEscape() throws(FormatError) -> Unicode.Scalar {
        let first = try parseHexQuad()
        var value = first
        let hex = String(first, radix: 16)
        if (0xD800..<0xDC00).contains(first) {
            let unpaired = "unpaired high surrogate \\u\(hex) in a string: a lone high surrogate must be followed by "
                + "the \\u escape of a low surrogate (\\udc00 to \\udfff)"
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                  bytes[position + 1] == UInt8(ascii: "u") else { throw error(unpaired) }
            position += 2
            let second = try parseHexQuad()
            guard (0xDC00..<0xE000).contains(second) else { throw error(unpaired) }
            value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else if (0xDC00..<0xE000).contains(first) {
            throw error("unpaired low surrogate \\u\(hex) in a string: a low surrogate must follow a high one")
        }
        guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
        return scalar
    }

    mutating func parseHexQuad() throws(FormatError) -> UInt32 {
        guard position + 4 <= bytes.count,
              let value = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16),
              bytes[position..<position + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
        else { throw error("\\u must be followed by four hexadecimal digits") }
        position += 4
        return value
    }
}
