import Formats

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
// F32 and F64 are read and written. I64 is read, as F64 (PyTorch keeps integer buffers such as
// BatchNorm's num_batches_tracked as int64), when every value is exact in F64 (|v| <= 2^53).
// Reading checks everything the reference implementation checks (and a little more), and throws
// a `SafetensorsError` naming the file and the problem.


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

/// A safetensors file that cannot be read or written, naming the file and the problem, e.g.
/// `ckpt.safetensors: tensor '0.weight': shape [5, 3] needs 120 bytes of F64 but data_offsets span 112`.
/// (Malformed content of every format is a `FormatError`; this is its name for safetensors.)
public typealias SafetensorsError = FormatError

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

/// Writes and reads the safetensors checkpoint format, F32 and F64 tensors (and reads I64 ones, as
/// F64: the integer buffers PyTorch writes, such as BatchNorm's `num_batches_tracked`).
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
    ///   problem if it is not a valid safetensors file of F32, F64 and I64 tensors (I64 read as F64,
    ///   each value within 2^53 in magnitude).
    public static func read(_ path: String) throws -> SafetensorsFile {
        try decode(AtomicFile.read(path), source: path)
    }

    /// The key of the header's metadata object.
    static let metadataKey = "__metadata__"

    enum DType: String, CaseIterable {
        case f32 = "F32"
        case f64 = "F64"
        /// Read only, into an F64 tensor.
        case i64 = "I64"
        var byteSize: Int {
            switch self {
            case .f32: 4
            case .f64, .i64: 8
            }
        }
    }

    static func scalarSize(_ tensor: AnyTensor) -> Int {
        switch tensor {
        case .float: 4
        case .double: 8
        }
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
}
