import Formats

// Reading: every check of the header and the data section, each failure a `SafetensorsError`
// that says what is wrong in the file's own terms.

extension Safetensors {
    /// How deeply the header's JSON may nest (a valid header nests 3 deep).
    static let maximumHeaderDepth = 64

    /// One tensor's header entry, checked against itself and the data section's length.
    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// Parses and checks the bytes of a safetensors file.
    ///
    /// Stricter than the reference implementation in two ways, each an error here: a field other
    /// than dtype, shape and data_offsets in a tensor's entry, and a key repeated anywhere in the
    /// header (names are compared as Swift strings, so two canonically equivalent spellings of one
    /// name count as the same). Offsets follow the reference: sorted by begin (then end), each
    /// tensor starts where the previous one ended and the last ends at the end of the file.
    /// Memory use is bounded by the file's size: no size read from the file is allocated before it
    /// is checked against the bytes actually there.
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - source: names the data in errors (the file's path, when it came from one).
    /// - Throws: `SafetensorsError` naming `source` and the problem.
    public static func decode(_ bytes: [UInt8], source: String = "safetensors data") throws -> SafetensorsFile {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(path: source, problem: problem) }

        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length that starts a safetensors file")
        }
        let declaredLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declaredLength <= UInt64(maximumHeaderLength) else {
            throw fail("header length \(declaredLength) exceeds the limit of \(maximumHeaderLength) bytes")
        }
        guard declaredLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(declaredLength) runs past the end of the file (\(bytes.count) bytes leave \(bytes.count - 8) for the header)")
        }
        let headerLength = Int(declaredLength)
        let header = Array(bytes[8..<(8 + headerLength)])
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart

        if String(validating: header, as: UTF8.self) == nil {
            throw fail("header is not valid UTF-8 (at byte \(firstInvalidUTF8Offset(header) ?? 0) of the header)")
        }
        let document: JSONValue
        do {
            document = try parseHeaderJSON(header, source: source)
        } catch {
            throw fail("header is not valid JSON: \(error.problem) (at byte \(error.byteOffset ?? 0) of the header)")
        }
        guard case .object(let members) = document else {
            throw fail("header is not a JSON object (found \(describe(document)))")
        }

        var metadata: [String: String]?
        var entries: [Entry] = []
        var names = Set<String>()
        for member in members {
            let name = member.key, value = member.value
            guard names.insert(name).inserted else {
                throw fail(name == metadataKey ? "'\(metadataKey)' appears twice in the header"
                                               : "tensor name \(quoted(name)) appears twice in the header")
            }
            if name == metadataKey {
                metadata = try parseMetadata(value, fail: fail)
            } else {
                entries.append(try parseEntry(name: name, value: value, dataLength: dataLength, fail: fail))
            }
        }

        // The data section must be covered exactly: sorted by offsets, each tensor starts where
        // the previous one ended, and the last ends at the end of the file (the reference's rule).
        let sorted = entries.sorted { left, right in
            if left.begin != right.begin { return left.begin < right.begin }
            if left.end != right.end { return left.end < right.end }
            return Array(left.name.utf8).lexicographicallyPrecedes(right.name.utf8)
        }
        var covered = 0
        var previous: Entry?
        for entry in sorted {
            if entry.begin < covered, let previous {
                throw fail("tensors \(quoted(previous.name)) (data_offsets [\(previous.begin), \(previous.end)]) and "
                    + "\(quoted(entry.name)) (data_offsets [\(entry.begin), \(entry.end)]) overlap in the data section")
            }
            if entry.begin > covered {
                throw fail("data section has a hole: bytes [\(covered), \(entry.begin)) belong to no tensor")
            }
            covered = entry.end
            previous = entry
        }
        if covered != dataLength {
            throw fail("data section has \(dataLength - covered) bytes after the last tensor's data "
                + "(bytes [\(covered), \(dataLength))) that belong to no tensor")
        }

        var tensors: [String: AnyTensor] = [:]
        try bytes.withUnsafeBytes { raw in
            for entry in entries {
                let start = dataStart + entry.begin
                switch entry.dtype {
                case .f32:
                    var tensor = Tensor<Float>(uninitializedShape: entry.shape)
                    tensor.withUnsafeMutableBufferPointer { scalars in
                        for i in scalars.indices {
                            let bits = raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self)
                            scalars[i] = Float(bitPattern: UInt32(littleEndian: bits))
                        }
                    }
                    tensors[entry.name] = .float(tensor)
                case .f64:
                    var tensor = Tensor<Double>(uninitializedShape: entry.shape)
                    tensor.withUnsafeMutableBufferPointer { scalars in
                        for i in scalars.indices {
                            let bits = raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self)
                            scalars[i] = Double(bitPattern: UInt64(littleEndian: bits))
                        }
                    }
                    tensors[entry.name] = .double(tensor)
                case .i64:
                    // As F64, exactly or not at all: every integer up to 2^53 in magnitude has an F64 form.
                    var tensor = Tensor<Double>(uninitializedShape: entry.shape)
                    var inexact: (index: Int, value: Int64)?
                    tensor.withUnsafeMutableBufferPointer { scalars in
                        for i in scalars.indices {
                            let value = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * i, as: Int64.self))
                            if inexact == nil && value.magnitude > 1 << 53 { inexact = (i, value) }
                            scalars[i] = Double(value)
                        }
                    }
                    if let inexact {
                        throw fail("tensor \(quoted(entry.name)): I64 value \(inexact.value) at index \(inexact.index) has no "
                            + "exact F64 form (integer tensors are read as F64, so their values must be within 2^53)")
                    }
                    tensors[entry.name] = .double(tensor)
                }
            }
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    /// The header as one JSON value followed by nothing but whitespace (the padding). Read value by
    /// value rather than with `JSONValue.parse`: repeated keys are kept, so that `decode` can say
    /// which tensor name or field is repeated, and a byte order mark is refused, as the reference
    /// implementation refuses it.
    static func parseHeaderJSON(_ header: [UInt8], source: String) throws(FormatError) -> JSONValue {
        var parser = JSONParser(utf8: header, source: source, maximumDepth: maximumHeaderDepth, duplicateKeys: .kept)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.isAtEnd else { throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value") }
        return value
    }

    /// A header value for a message: "an object", "an array", "a string", "the number 64", ...
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number(let text): "the number \(abbreviated(text))"
        case .bool(let value): "\(value)"
        case .null: "null"
        }
    }

    static func parseMetadata(_ value: JSONValue, fail: (String) -> SafetensorsError) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw fail("'\(metadataKey)' must be a JSON object of strings, found \(describe(value))")
        }
        var metadata: [String: String] = [:]
        for member in members {
            let key = member.key, value = member.value
            guard case .string(let text) = value else {
                throw fail("'\(metadataKey)': the value of \(quoted(key)) must be a string, found \(describe(value))")
            }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw fail("'\(metadataKey)': key \(quoted(key)) appears twice")
            }
        }
        return metadata
    }

    static func parseEntry(
        name: String, value: JSONValue, dataLength: Int, fail: (String) -> SafetensorsError
    ) throws -> Entry {
        let tensor = "tensor \(quoted(name))"
        guard case .object(let members) = value else {
            throw fail("\(tensor): entry must be a JSON object, found \(describe(value))")
        }
        var fields: [String: JSONValue] = [:]
        for member in members {
            let key = member.key, value = member.value
            guard ["dtype", "shape", "data_offsets"].contains(key) else {
                throw fail("\(tensor): unknown field \(quoted(key)) (expected dtype, shape, data_offsets)")
            }
            guard fields.updateValue(value, forKey: key) == nil else {
                throw fail("\(tensor): field '\(key)' appears twice")
            }
        }
        for key in ["dtype", "shape", "data_offsets"] where fields[key] == nil {
            throw fail("\(tensor): missing field '\(key)'")
        }

        guard case .string(let dtypeName) = fields["dtype"] else {
            throw fail("\(tensor): dtype must be a string, found \(fields["dtype"].map(describe) ?? "nothing")")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("\(tensor): dtype \(quoted(dtypeName)) is not supported (supported: "
                + DType.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }

        func integers(_ field: String) throws -> [Int] {
            guard case .array(let elements) = fields[field] else {
                throw fail("\(tensor): \(field) must be an array of integers, found \(fields[field].map(describe) ?? "nothing")")
            }
            return try elements.map { element in
                guard case .number(let text) = element else {
                    throw fail("\(tensor): \(field) must be an array of integers, but holds \(describe(element))")
                }
                guard let value = parseNonNegativeInteger(text) else {
                    throw fail("\(tensor): \(field) entry \(abbreviated(text)) is not a whole number from 0 to \(Int.max)")
                }
                return value
            }
        }
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")
        guard offsets.count == 2 else {
            throw fail("\(tensor): data_offsets must hold 2 integers [begin, end], found \(offsets.count)")
        }
        let begin = offsets[0], end = offsets[1]
        guard begin <= end else {
            throw fail("\(tensor): data_offsets [\(begin), \(end)] end before they begin")
        }
        guard end <= dataLength else {
            throw fail("\(tensor): data_offsets [\(begin), \(end)] run past the end of the data section (\(dataLength) bytes)")
        }
        // Multiplied in the order `Tensor` multiplies the shape, so no accepted shape overflows there.
        var elements = 1
        for extent in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw fail("\(tensor): shape \(shape) has more elements than 64 bits can count") }
            elements = product
        }
        let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("\(tensor): shape \(shape) of \(dtype.rawValue) needs more bytes than 64 bits can count") }
        guard byteCount == end - begin else {
            throw fail("\(tensor): shape \(shape) needs \(byteCount) bytes of \(dtype.rawValue) but data_offsets span \(end - begin)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// A JSON number's text as a non-negative `Int`: digits only (no sign, fraction or exponent,
    /// as the reference's integer fields), no overflow; `nil` otherwise.
    static func parseNonNegativeInteger(_ text: String) -> Int? {
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (scaled, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = scaled.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return text.isEmpty ? nil : value
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }
}
