/// A JSON document held as a tree, with object members kept in the order they were written.
///
/// Numbers keep their literal text, so an integer like a 64-bit seed survives a round trip
/// exactly and an error message can quote what was written. Build numbers with the static
/// `number(_:)` functions; read them with ``doubleValue`` and ``integerValue``.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number as its JSON literal text (`-3`, `0.001`, `1e-08`); always valid JSON number syntax.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in the order they were written or built. `JSONValue.parse` refuses repeated keys;
    /// only the safetensors reader keeps them, to say itself which name is repeated.
    case object([JSONMember])
}

/// One `"key": value` pair of a JSON object.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// A JSON number from an integer.
    public static func number(_ value: some BinaryInteger) -> JSONValue { .number("\(value)") }

    /// A JSON number from a floating-point value, printed with the fewest digits that read back
    /// to the same value, and whole numbers without a fraction (`10000`, not `10000.0`). JSON has
    /// no NaN or infinity, so those become `null`.
    public static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> JSONValue {
        guard value.isFinite else { return .null }
        return .number(plainNumber(value))
    }

    /// An object from key-value pairs, in the given order.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(pairs.map { JSONMember($0.key, $0.value) })
    }

    /// The value of a number as a `Double` (infinite if the literal overflows), or nil for non-numbers.
    public var doubleValue: Double? {
        guard case .number(let literal) = self else { return nil }
        return Double(literal)
    }

    /// The value of a number that is a whole number representable as `Int` (`3`, `3.0` and `3e2`
    /// qualify; `3.5` does not), or nil.
    public var integerValue: Int? {
        guard case .number(let literal) = self else { return nil }
        if let exact = Int(literal) { return exact }
        guard let double = Double(literal), double.isFinite, double == double.rounded(),
              abs(double) <= 0x1p53 else { return nil }
        return Int(double)
    }

    /// The value of a number that is a whole number in `0...UInt64.max`, or nil.
    public var unsignedIntegerValue: UInt64? {
        guard case .number(let literal) = self else { return nil }
        if let exact = UInt64(literal) { return exact }
        guard let double = Double(literal), double.isFinite, double == double.rounded(),
              double >= 0, double <= 0x1p53 else { return nil }
        return UInt64(double)
    }

    /// The members of an object, or nil.
    public var objectMembers: [JSONMember]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The member named `key` of an object, or nil if there is none or this is not an object.
    public subscript(key: String) -> JSONValue? {
        objectMembers?.first { $0.key == key }?.value
    }

    /// A word for the kind of value, for error messages ("a number", "an object", ...).
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }

    /// The value as compact JSON, cut to about `limit` characters, for quoting in error messages.
    public func excerpt(limit: Int = 60) -> String {
        let text = rendered(style: .compact)
        guard text.count > limit else { return text }
        return String(text.prefix(limit)) + "..."
    }
}

extension JSONValue: Equatable {
    /// Structural equality; numbers compare by value (`1` equals `1.0`), objects by their
    /// members in order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)):
            if a == b { return true }
            // Exact integers first, so seeds beyond 2^53 compare exactly.
            if let x = Int(a), let y = Int(b) { return x == y }
            if let x = UInt64(a), let y = UInt64(b) { return x == y }
            guard let x = Double(a), let y = Double(b) else { return false }
            return x == y
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

// MARK: - Writing JSON text

/// How ``JSONValue/rendered(style:)`` lays out its text.
public enum JSONRenderStyle: Sendable {
    /// One line, no spaces: `{"a":[1,2]}`.
    case compact
    /// Two-space indentation, one object member a line; lists of numbers, strings and booleans
    /// are packed onto lines of at most about 100 characters.
    case pretty
}

extension JSONValue {
    /// The value as JSON text. Object members keep their order, so the same value always gives
    /// the same text. `.pretty` output ends without a newline.
    public func rendered(style: JSONRenderStyle = .pretty) -> String {
        var output = ""
        write(to: &output, style: style, indent: 0)
        return output
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    private func write(to output: inout String, style: JSONRenderStyle, indent: Int) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let literal): output += literal
        case .string(let text): JSONValue.writeQuoted(text, to: &output)
        case .array(let elements):
            writeArray(elements, to: &output, style: style, indent: indent)
        case .object(let members):
            if members.isEmpty {
                output += "{}"
                return
            }
            switch style {
            case .compact:
                output += "{"
                for (index, member) in members.enumerated() {
                    if index > 0 { output += "," }
                    JSONValue.writeQuoted(member.key, to: &output)
                    output += ":"
                    member.value.write(to: &output, style: style, indent: indent)
                }
                output += "}"
            case .pretty:
                let padding = String(repeating: " ", count: indent + 2)
                output += "{\n"
                for (index, member) in members.enumerated() {
                    output += padding
                    JSONValue.writeQuoted(member.key, to: &output)
                    output += ": "
                    member.value.write(to: &output, style: style, indent: indent + 2)
                    output += index + 1 < members.count ? ",\n" : "\n"
                }
                output += String(repeating: " ", count: indent) + "}"
            }
        }
    }

    private func writeArray(_ elements: [JSONValue], to output: inout String, style: JSONRenderStyle, indent: Int) {
        if elements.isEmpty {
            output += "[]"
            return
        }
        switch style {
        case .compact:
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.write(to: &output, style: style, indent: indent)
            }
            output += "]"
        case .pretty:
            let padding = String(repeating: " ", count: indent + 2)
            if elements.allSatisfy(\.isScalar) {
                let pieces = elements.map { $0.rendered(style: .compact) }
                let oneLine = "[" + pieces.joined(separator: ", ") + "]"
                if oneLine.count + indent <= 100 {
                    output += oneLine
                    return
                }
                // Long lists of numbers (loss curves) packed line by line, not one number a line.
                output += "[\n" + padding
                var lineLength = padding.count
                for (index, piece) in pieces.enumerated() {
                    let separator = index + 1 < pieces.count ? "," : ""
                    if lineLength > padding.count && lineLength + piece.count + 2 > 100 {
                        output += "\n" + padding
                        lineLength = padding.count
                    } else if lineLength > padding.count {
                        output += " "
                        lineLength += 1
                    }
                    output += piece + separator
                    lineLength += piece.count + separator.count
                }
                output += "\n" + String(repeating: " ", count: indent) + "]"
            } else {
                output += "[\n"
                for (index, element) in elements.enumerated() {
                    output += padding
                    element.write(to: &output, style: style, indent: indent + 2)
                    output += index + 1 < elements.count ? ",\n" : "\n"
                }
                output += String(repeating: " ", count: indent) + "]"
            }
        }
    }

    /// Writes `text` as a JSON string literal, escaping quotes, backslashes and control characters
    /// (as serde_json does, so safetensors headers come out as Python's `safetensors` writes them).
    package static func writeQuoted(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}

/// A number as a person writes it: whole numbers below 2^53 without a fraction (`3`, `-0`),
/// others with the fewest digits that read back to the same value (`0.001`, `1e-08`, `1e+300`).
package func plainNumber<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 0x1p53 {
        return value == 0 && value.sign == .minus ? "-0" : String(Int64(value))
    }
    return value.description
}
