// The safetensors checkpoint format (https://github.com/huggingface/safetensors), read and written.
//
// A file is, in order:
//   8 bytes    N, the header length, a little-endian UInt64
//   N bytes    the header: a UTF-8 JSON object mapping each tensor name to
//              {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, plus an optional
//              "__metadata__" object of string to string; padded with spaces so the data starts at
//              a multiple of 8 bytes
//   the rest   the data section: each tensor's scalars, row-major, little-endian, at
//              [begin, end) counted from the start of the data section
// Only F32 and F64 are supported. Reading checks everything the reference implementation checks
// (and a little more), and throws a `SafetensorsError` naming the file and the problem.

/// A tensor of either precision, so that one checkpoint can hold both.
///
/// `==` compares shapes and values as `Tensor` does (so `NaN != NaN` and `0 == -0`); a tensor of
/// one precision never equals one of the other.
public enum AnyTensor: Equatable, Sendable {
    case float(Tensor<Float>)
    case double(Tensor<Double>)

    /// Wraps a `Tensor<Float>` or `Tensor<Double>`.
    ///
    /// Traps for any other `BLASScalar` type: the safetensors codec knows only F32 and F64.
    public init<Scalar: BLASScalar>(_ tensor: Tensor<Scalar>) {
        if let tensor = tensor as? Tensor<Float> {
            self = .float(tensor)
        } else if let tensor = tensor as? Tensor<Double> {
            self = .double(tensor)
        } else {
            preconditionFailure("AnyTensor: only Float and Double tensors are supported, got \(Scalar.self)")
        }
    }

    /// The extent of each axis.
    public var shape: [Int] {
        switch self {
        case .float(let tensor): tensor.shape
        case .double(let tensor): tensor.shape
        }
    }

    /// The number of scalars.
    public var count: Int {
        switch self {
        case .float(let tensor): tensor.count
        case .double(let tensor): tensor.count
        }
    }

    /// The safetensors dtype name: "F32" or "F64".
    public var dtype: String {
        switch self {
        case .float: Float.safetensorsDType
        case .double: Double.safetensorsDType
        }
    }

    /// The tensor itself, if it holds `Scalar`s; never converts.
    ///
    /// A checkpoint of one precision loaded into a model of the other is usually a mistake (F64 to
    /// F32 loses digits silently), so this throws; call `converted(to:)` to change precision on
    /// purpose.
    /// - Throws: `DTypeMismatchError` when the tensor holds the other precision.
    public func tensor<Scalar: BLASScalar>(as type: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        switch self {
        case .float(let tensor): if let tensor = tensor as? Tensor<Scalar> { return tensor }
        case .double(let tensor): if let tensor = tensor as? Tensor<Scalar> { return tensor }
        }
        throw DTypeMismatchError(expected: Scalar.safetensorsDType, found: dtype, shape: shape)
    }

    /// The tensor in `Scalar` precision: itself if it already is (storage shared), else converted
    /// scalar by scalar (F64 to F32 rounds to nearest).
    public func converted<Scalar: BLASScalar>(to type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        switch self {
        case .float(let tensor): (tensor as? Tensor<Scalar>) ?? tensor.converted(to: Scalar.self)
        case .double(let tensor): (tensor as? Tensor<Scalar>) ?? tensor.converted(to: Scalar.self)
        }
    }
}

/// Thrown by `AnyTensor.tensor(as:)` when the tensor holds the other precision.
public struct DTypeMismatchError: Error, CustomStringConvertible, Equatable {
    /// The dtype asked for.
    public let expected: String
    /// The dtype the tensor holds.
    public let found: String
    public let shape: [Int]
    public var description: String {
        "expected an \(expected) tensor, found \(found) of shape \(shape); use converted(to:) to change precision"
    }
}

/// A safetensors file that cannot be written or read, naming the file and the problem, e.g.
/// `ckpt.safetensors: tensor '0.weight': shape [5, 3] needs 120 bytes of F64 but data_offsets span 112`.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file (for `Safetensors.decode`, the label the caller gave).
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// The contents of a safetensors file.
public struct SafetensorsFile: Equatable, Sendable {
    /// The tensors by name.
    public var tensors: [String: AnyTensor]
    /// The header's `__metadata__` (string to string); `nil` when the header has none.
    public var metadata: [String: String]?

    public init(tensors: [String: AnyTensor], metadata: [String: String]? = nil) {
        self.tensors = tensors
        self.metadata = metadata
    }
}

/// Writes and reads the safetensors checkpoint format, F32 and F64 tensors.
///
/// The bytes written depend only on the tensors and metadata, never on the order they are given
/// in: as the reference implementation does, tensors are laid out F64 before F32 (so every
/// tensor's data is aligned to its scalar size), then by name (byte order). The header is compact
/// JSON with `__metadata__` first (its keys sorted by bytes), then one entry per tensor in data
/// order with the keys `dtype`, `shape`, `data_offsets`. For inputs without metadata the bytes are
/// the ones Python's `safetensors` writes.
public enum Safetensors {
    /// The largest header accepted when reading, as in the reference implementation (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// Writes `tensors` (and `metadata`, if any) to `path` atomically, through `AtomicFile.write`.
    /// - Parameters:
    ///   - tensors: name and tensor pairs; names must be distinct and not `__metadata__`.
    ///   - metadata: the header's `__metadata__`; `nil` writes none.
    ///   - path: the file to write (replaced if it exists).
    /// - Throws: `SafetensorsError` for a bad name, `FileError` if the file cannot be written.
    public static func write(
        _ tensors: [(name: String, tensor: AnyTensor)], metadata: [String: String]? = nil, to path: String
    ) throws {
        let bytes = try encode(tensors, metadata: metadata, source: path)
        try AtomicFile.write(bytes, to: path)
    }

    /// Writes tensors given by name; see `write(_:metadata:to:)`.
    public static func write(_ tensors: [String: AnyTensor], metadata: [String: String]? = nil, to path: String) throws {
        try write(tensors.map { (name: $0.key, tensor: $0.value) }, metadata: metadata, to: path)
    }

    /// Reads and checks a whole safetensors file.
    /// - Throws: `FileError` if the file cannot be read, `SafetensorsError` naming the file and the
    ///   problem if it is not a valid safetensors file of F32 and F64 tensors.
    public static func read(_ path: String) throws -> SafetensorsFile {
        try decode(AtomicFile.read(path), source: path)
    }

    /// The bytes of a safetensors file holding `tensors` and `metadata`; see `write(_:metadata:to:)`.
    /// - Throws: `SafetensorsError` (labelled `source`) for a repeated name or the name `__metadata__`.
    public static func encode(
        _ tensors: [(name: String, tensor: AnyTensor)], metadata: [String: String]? = nil,
        source: String = "safetensors data"
    ) throws -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in tensors {
            if name == metadataKey {
                throw SafetensorsError(path: source, problem: "'\(metadataKey)' is reserved for the metadata and cannot name a tensor")
            }
            if !seen.insert(name).inserted {
                throw SafetensorsError(path: source, problem: "tensor name \(quoted(name)) appears twice")
            }
        }
        let ordered = tensors.sorted { left, right in
            let leftSize = scalarSize(left.tensor), rightSize = scalarSize(right.tensor)
            if leftSize != rightSize { return leftSize > rightSize }
            return Array(left.name.utf8).lexicographicallyPrecedes(right.name.utf8)
        }

        var header: [UInt8] = []
        header.append(UInt8(ascii: "{"))
        if let metadata {
            appendJSONString(metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            let keys = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for (index, entry) in ordered.enumerated() {
            if index > 0 || metadata != nil { header.append(UInt8(ascii: ",")) }
            let byteCount = entry.tensor.count * scalarSize(entry.tensor)
            appendJSONString(entry.name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":".utf8))
            appendJSONString(entry.tensor.dtype, to: &header)
            header.append(contentsOf: Array(",\"shape\":[".utf8))
            header.append(contentsOf: Array(entry.tensor.shape.map(String.init).joined(separator: ",").utf8))
            header.append(contentsOf: Array("],\"data_offsets\":[\(offset),\(offset + byteCount)]}".utf8))
            offset += byteCount
        }
        header.append(UInt8(ascii: "}"))
        // Pad with spaces so the data section starts at a multiple of 8, as the reference does.
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        let dataStart = 8 + header.count
        var bytes = [UInt8](repeating: 0, count: dataStart + offset)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(header.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            header.withUnsafeBytes { raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            var position = dataStart
            for entry in ordered {
                switch entry.tensor {
                case .float(let tensor):
                    tensor.withUnsafeBufferPointer { scalars in
                        for scalar in scalars {
                            raw.storeBytes(of: scalar.bitPattern.littleEndian, toByteOffset: position, as: UInt32.self)
                            position += 4
                        }
                    }
                case .double(let tensor):
                    tensor.withUnsafeBufferPointer { scalars in
                        for scalar in scalars {
                            raw.storeBytes(of: scalar.bitPattern.littleEndian, toByteOffset: position, as: UInt64.self)
                            position += 8
                        }
                    }
                }
            }
        }
        return bytes
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
        var parser = JSONParser(bytes: header)
        let document: JSONValue
        do {
            document = try parser.parseDocument()
        } catch let error as JSONSyntaxError {
            throw fail("header is not valid JSON: \(error.message) (at byte \(error.offset) of the header)")
        }
        guard case .object(let members) = document else {
            throw fail("header is not a JSON object (found \(document.kindDescription))")
        }

        var metadata: [String: String]?
        var entries: [Entry] = []
        var names = Set<String>()
        for (name, value) in members {
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
        bytes.withUnsafeBytes { raw in
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
                }
            }
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    // MARK: - Header entries

    static let metadataKey = "__metadata__"

    enum DType: String, CaseIterable {
        case f32 = "F32"
        case f64 = "F64"
        var byteSize: Int {
            switch self {
            case .f32: 4
            case .f64: 8
            }
        }
    }

    /// One tensor's header entry, checked against itself and the data section's length.
    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    static func scalarSize(_ tensor: AnyTensor) -> Int {
        switch tensor {
        case .float: 4
        case .double: 8
        }
    }

    static func parseMetadata(_ value: JSONValue, fail: (String) -> SafetensorsError) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw fail("'\(metadataKey)' must be a JSON object of strings, found \(value.kindDescription)")
        }
        var metadata: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else {
                throw fail("'\(metadataKey)': the value of \(quoted(key)) must be a string, found \(value.kindDescription)")
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
            throw fail("\(tensor): entry must be a JSON object, found \(value.kindDescription)")
        }
        var fields: [String: JSONValue] = [:]
        for (key, value) in members {
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
            throw fail("\(tensor): dtype must be a string, found \(fields["dtype"]?.kindDescription ?? "nothing")")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("\(tensor): dtype \(quoted(dtypeName)) is not supported (supported: "
                + DType.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }

        func integers(_ field: String) throws -> [Int] {
            guard case .array(let elements) = fields[field] else {
                throw fail("\(tensor): \(field) must be an array of integers, found \(fields[field]?.kindDescription ?? "nothing")")
            }
            return try elements.map { element in
                guard case .number(let text) = element else {
                    throw fail("\(tensor): \(field) must be an array of integers, but holds \(element.kindDescription)")
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

    // MARK: - Text helpers

    /// `text` cut to 64 characters, for echoing file content in a message.
    static func abbreviated(_ text: String) -> String {
        text.count > 64 ? String(text.prefix(64)) + "..." : text
    }

    /// A name from a file, quoted for a message: single quotes, control characters escaped, cut
    /// to 64 characters.
    static func quoted(_ name: String) -> String {
        var result = "'"
        for (index, scalar) in name.unicodeScalars.enumerated() {
            if index == 64 {
                result += "..."
                break
            }
            switch scalar {
            case "'": result += "\\'"
            case "\\": result += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "'"
    }

    /// Appends `text` as a JSON string, escaped as serde_json (the reference's JSON writer) does.
    static func appendJSONString(_ text: String, to output: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0xF)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
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

// MARK: - A minimal strict JSON parser (RFC 8259) for the header

/// A parsed JSON value. Objects keep their members in order, repeated keys included, so the
/// caller can reject repeats with a message that says where; numbers keep their text, so the
/// caller decides what an integer is without a lossy trip through `Double`.
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// "a string", "an array", ... for messages.
    var kindDescription: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number(let text): "the number \(Safetensors.abbreviated(text))"
        case .bool(let value): "\(value)"
        case .null: "null"
        }
    }
}

struct JSONSyntaxError: Error {
    let message: String
    /// Byte offset into the parsed text.
    let offset: Int
}

/// Parses one JSON document from UTF-8 bytes. Never traps on any input: nesting is limited to
/// `maximumDepth` levels (so recursion cannot exhaust the stack), and every index is checked.
struct JSONParser {
    static let maximumDepth = 64
    let bytes: [UInt8]
    var position = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if position < bytes.count { throw error("unexpected \(describeCurrent()) after the JSON value") }
        return value
    }

    func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: position) }

    func describeCurrent() -> String {
        guard position < bytes.count else { return "end of text" }
        let byte = bytes[position]
        if byte >= 0x21, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ character: UInt8, _ context: String) throws {
        guard position < bytes.count, bytes[position] == character else {
            throw error("expected '\(Character(Unicode.Scalar(character)))' \(context), found \(describeCurrent())")
        }
        position += 1
    }

    mutating func parseValue() throws -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of text, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    mutating func enterContainer() throws {
        depth += 1
        if depth > Self.maximumDepth { throw error("nested deeper than \(Self.maximumDepth) levels") }
        position += 1
    }

    mutating func parseObject() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key in an object, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "after an object key")
            skipWhitespace()
            members.append((key: key, value: try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text in an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}' in an object, found \(describeCurrent())")
            }
        }
    }

    mutating func parseArray() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text in an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']' in an array, found \(describeCurrent())")
            }
        }
    }

    mutating func parseLiteral(_ word: String) throws {
        let expected = Array(word.utf8)
        guard position + expected.count <= bytes.count, Array(bytes[position..<(position + expected.count)]) == expected else {
            throw error("unexpected \(describeCurrent()), expected a value")
        }
        position += expected.count
    }

    /// Reads a number's text, checking the JSON grammar `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    mutating func parseNumber() throws -> String {
        let start = position
        func isDigit(_ index: Int) -> Bool {
            index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard isDigit(position) else { throw error("expected a digit in a number, found \(describeCurrent())") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { throw error("expected a digit after '.' in a number, found \(describeCurrent())") }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard isDigit(position) else { throw error("expected a digit in a number's exponent, found \(describeCurrent())") }
            while isDigit(position) { position += 1 }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Reads a string, decoding its escapes; rejects raw control characters and unpaired surrogates.
    mutating func parseString() throws -> String {
        position += 1  // the opening quote
        var utf8: [UInt8] = []
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated string") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var value = try parseHexQuad()
                    if (0xD800..<0xDC00).contains(value) {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                              bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired high surrogate \\u\(String(value, radix: 16)) in a string")
                        }
                        position += 2
                        let low = try parseHexQuad()
                        guard (0xDC00..<0xE000).contains(low) else {
                            throw error("high surrogate \\u\(String(value, radix: 16)) not followed by a low surrogate")
                        }
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(value) {
                        throw error("unpaired low surrogate \\u\(String(value, radix: 16)) in a string")
                    }
                    guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
                    utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    position -= 1
                    throw error("invalid escape in a string: \\ followed by \(describeCurrent())")
                }
            case 0..<0x20:
                throw error("raw control character 0x\(String(byte, radix: 16, uppercase: true)) in a string (must be escaped)")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    mutating func parseHexQuad() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count else { throw error("unterminated \\u escape") }
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("expected 4 hex digits after \\u, found \(describeCurrent())")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
