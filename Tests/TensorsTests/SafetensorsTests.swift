import Foundation
import Testing
@testable import Tensors
import TestSupport

// MARK: - Helpers

/// Every scalar's bit pattern, widened to 64 bits, so comparisons see NaN payloads and signed zeros.
func bitPatterns(_ tensor: AnyTensor) -> [UInt64] {
    switch tensor {
    case .float(let t): t.scalars.map { UInt64($0.bitPattern) }
    case .double(let t): t.scalars.map(\.bitPattern)
    }
}

/// True when two sets of tensors have the same names, dtypes, shapes and bits.
func identicalBits(_ a: [String: AnyTensor], _ b: [String: AnyTensor]) -> Bool {
    a.count == b.count && a.allSatisfy { name, tensor in
        guard let other = b[name] else { return false }
        return tensor.dtype == other.dtype && tensor.shape == other.shape && bitPatterns(tensor) == bitPatterns(other)
    }
}

/// A safetensors file from a header text and data bytes; the declared header length defaults to
/// the true one. No padding: the reader must not require it.
func rawFile(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    rawFile(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
}

func rawFile(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let length = declaredLength ?? UInt64(headerBytes.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + headerBytes + data
}

/// Values that a careless codec loses: signed zero, infinities, NaNs with payloads, subnormals, extremes.
let specialFloats: [Float] = [
    0, -0.0, 1, -2.5, .infinity, -.infinity, .nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFFA0_0001),
    .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, .pi,
]
let specialDoubles: [Double] = [
    0, -0.0, 1, -2.5, .infinity, -.infinity, .nan, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF),
    Double(bitPattern: 0xFFF4_0000_0000_0001), .leastNonzeroMagnitude, -.leastNormalMagnitude,
    .greatestFiniteMagnitude, .pi,
]

// MARK: - Round trips and layout

@Suite struct SafetensorsRoundTripTests {
    static func floatTensors() -> [(name: String, tensor: AnyTensor)] {
        var generator = Xoshiro256StarStar(seed: 1)
        return [
            ("0.weight", AnyTensor(Tensor<Float>.randomNormal([3, 4], using: &generator))),
            ("0.bias", AnyTensor(Tensor<Float>(shape: [specialFloats.count], scalars: specialFloats))),
            ("scalar", AnyTensor(Tensor<Float>(shape: [], scalars: [42]))),
            ("empty", AnyTensor(Tensor<Float>.zeros([0, 5]))),
            ("cube", AnyTensor(Tensor<Float>.randomUniform([2, 1, 3], low: -1, high: 1, using: &generator))),
        ]
    }

    static func doubleTensors() -> [(name: String, tensor: AnyTensor)] {
        var generator = Xoshiro256StarStar(seed: 2)
        return [
            ("1.weight", AnyTensor(Tensor<Double>.randomNormal([5, 3], using: &generator))),
            ("1.bias", AnyTensor(Tensor<Double>(shape: [specialDoubles.count], scalars: specialDoubles))),
            ("d.scalar", AnyTensor(Tensor<Double>(shape: [], scalars: [-7]))),
            ("d.empty", AnyTensor(Tensor<Double>.zeros([4, 0, 2]))),
        ]
    }

    func roundTrip(_ tensors: [(name: String, tensor: AnyTensor)], metadata: [String: String]?) throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/model.safetensors"
            try Safetensors.write(tensors, metadata: metadata, to: path)
            let file = try Safetensors.read(path)
            let expected = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
            #expect(identicalBits(file.tensors, expected))
            #expect(file.metadata == metadata)
            #expect(try listing(folder) == ["model.safetensors"])
        }
    }

    @Test func float32BitForBit() throws { try roundTrip(Self.floatTensors(), metadata: nil) }
    @Test func float64BitForBit() throws { try roundTrip(Self.doubleTensors(), metadata: [:]) }
    @Test func mixedPrecisionWithMetadata() throws {
        try roundTrip(Self.floatTensors() + Self.doubleTensors(),
                      metadata: ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t bell \u{7} é 漢"])
    }

    @Test func awkwardNamesSurvive() throws {
        let names = ["", " ", "a\"b", "back\\slash", "line\nbreak", "control\u{1}\u{1F}", "é", "漢字", "emoji 🧪", "/slash"]
        let tensors = names.enumerated().map { index, name in
            (name: name, tensor: AnyTensor(Tensor<Double>(shape: [1], scalars: [Double(index)])))
        }
        try roundTrip(tensors, metadata: ["__metadata__": "a key may be anything", "": ""])
    }

    @Test func bytesDoNotDependOnInputOrder() throws {
        let tensors = Self.floatTensors() + Self.doubleTensors()
        let metadata = ["b": "2", "a": "1", "c": "3"]
        let forward = try Safetensors.encode(tensors, metadata: metadata)
        let backward = try Safetensors.encode(tensors.reversed(), metadata: metadata)
        let shuffled = try Safetensors.encode([tensors[3], tensors[7], tensors[0]] + tensors.enumerated()
            .filter { ![3, 7, 0].contains($0.offset) }.map(\.element), metadata: metadata)
        #expect(forward == backward)
        #expect(forward == shuffled)
        // The dictionary overload writes the same bytes.
        try withTemporaryFolder { folder throws in
            try Safetensors.write(Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) }),
                                  metadata: metadata, to: folder + "/a.safetensors")
            #expect(try AtomicFile.read(folder + "/a.safetensors") == forward)
        }
    }

    @Test func everyTensorIsAlignedToItsScalarSize() throws {
        let tensors = [
            (name: "a", tensor: AnyTensor(Tensor<Float>.zeros([3]))),  // 12 bytes, would misalign what follows
            (name: "b", tensor: AnyTensor(Tensor<Double>.zeros([2]))),
            (name: "c", tensor: AnyTensor(Tensor<Float>.zeros([1]))),
            (name: "d", tensor: AnyTensor(Tensor<Double>.zeros([3]))),
        ]
        let bytes = try Safetensors.encode(tensors, metadata: ["k": "v"])
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(headerLength % 8 == 0)
        let header = try #require(String(validating: bytes[8..<(8 + headerLength)], as: UTF8.self))
        // F64 first (b, d), then F32 (a, c): every F64 starts at a multiple of 8, every F32 of 4.
        #expect(header.trimmingCharacters(in: .whitespaces) == #"{"__metadata__":{"k":"v"},"#
            + #""b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
            + #""d":{"dtype":"F64","shape":[3],"data_offsets":[16,40]},"#
            + #""a":{"dtype":"F32","shape":[3],"data_offsets":[40,52]},"#
            + #""c":{"dtype":"F32","shape":[1],"data_offsets":[52,56]}}"#)
        #expect(bytes.count == 8 + headerLength + 56)
    }

    /// The format's bytes computed by hand, an independent truth for the writer and the reader.
    @Test func tinyFileMatchesHandComputedBytes() throws {
        // One F32 tensor "a" = [1, -2]. The header is 54 bytes; 2 spaces pad it to 56 = 0x38, so
        // the data starts at byte 64. 1.0f is 0x3F800000 and -2.0f is 0xC0000000, little-endian.
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(header.utf8.count == 54)
        let expected: [UInt8] = [0x38, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [0x20, 0x20]
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        let tensors = [(name: "a", tensor: AnyTensor(Tensor<Float>(shape: [2], scalars: [1, -2])))]
        #expect(try Safetensors.encode(tensors) == expected)
        let file = try Safetensors.decode(expected)
        #expect(file.tensors == ["a": AnyTensor(Tensor<Float>(shape: [2], scalars: [1, -2]))])
        #expect(file.metadata == nil)
    }

    @Test func mixedFileWithMetadataMatchesHandComputedBytes() throws {
        // Metadata first, then F64 before F32 whatever the given order. The header is
        // 1 + 14 + 1 + 15 + 1 = 32 bytes up to the metadata's comma, then the "w" entry
        // 4 + 15 + 12 + 20 + 1 = 52, a comma, the "b" entry 4 + 15 + 12 + 21 + 1 = 53, and "}":
        // 139 bytes, padded with 5 spaces to 144 = 0x90. 0.5 is 0x3FE0000000000000.
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        #expect(header.utf8.count == 139)
        let expected: [UInt8] = [0x90, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + Array(repeating: 0x20, count: 5)
            + [0, 0, 0, 0, 0, 0, 0xE0, 0x3F] + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        #expect(expected.count == 168)
        let tensors = [
            (name: "b", tensor: AnyTensor(Tensor<Float>(shape: [2], scalars: [1, -2]))),
            (name: "w", tensor: AnyTensor(Tensor<Double>(shape: [1], scalars: [0.5]))),
        ]
        #expect(try Safetensors.encode(tensors, metadata: ["format": "pt"]) == expected)
        let file = try Safetensors.decode(expected)
        #expect(file.tensors == Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) }))
        #expect(file.metadata == ["format": "pt"])
    }

    /// Another writer's header: any key order, whitespace, escapes, metadata last, no padding,
    /// empty tensors (one sharing its offset with a non-empty one).
    @Test func readsHeadersWrittenDifferently() throws {
        let header = """
             { "b\\u00e9\\/x" : { "shape" : [ 1 ], "data_offsets" : [ 8 , 12 ], "dtype" : "F32" },
               "a" : {"data_offsets":[0,8],"dtype":"F64","shape":[]},
               "e" : {"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[12,12]},
               "z" : {"dtype":"F64","shape":[3,0],"data_offsets":[0,0]},
               "__metadata__" : { "x" : "\\ud83e\\uddea" } }\t\r\n
            """
        let data: [UInt8] = [0, 0, 0, 0, 0, 0, 0xF0, 0xBF] + [0x00, 0x00, 0x40, 0x40]
        let file = try Safetensors.decode(rawFile(header: header, data: data))
        #expect(file.tensors["bé/x"] == AnyTensor(Tensor<Float>(shape: [1], scalars: [3])))
        #expect(file.tensors["a"] == AnyTensor(Tensor<Double>(shape: [], scalars: [-1])))
        #expect(file.tensors["e"]?.shape == [0, Int.max])
        #expect(file.tensors["z"] == AnyTensor(Tensor<Double>.zeros([3, 0])))  // empty, at the same offset as "a"
        #expect(file.metadata == ["x": "🧪"])
    }

    /// PyTorch's integer buffers (BatchNorm's num_batches_tracked) come as I64: read as F64,
    /// exactly, up to 2^53 in magnitude; a larger value is an error naming the tensor and the value.
    @Test func int64TensorsAreReadAsExactDoubles() throws {
        func littleEndian(_ values: [Int64]) -> [UInt8] { values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } } }
        let limit: Int64 = 1 << 53
        let header = #"{"n":{"dtype":"I64","shape":[4],"data_offsets":[0,32]},"w":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}}"#
        let file = try Safetensors.decode(rawFile(header: header, data: littleEndian([7, -3, limit, -limit]) + [0, 0, 0x40, 0x40]))
        #expect(file.tensors["n"] == AnyTensor(Tensor<Double>(shape: [4], scalars: [7, -3, 9_007_199_254_740_992, -9_007_199_254_740_992])))
        #expect(file.tensors["w"] == AnyTensor(Tensor<Float>(shape: [1], scalars: [3])))
        let tooLarge = rawFile(header: #"{"steps":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#,
                               data: littleEndian([1, limit + 1]))
        #expect(throws: SafetensorsError(path: "x.safetensors", problem: "tensor 'steps': I64 value 9007199254740993 at index 1 has "
                                             + "no exact F64 form (integer tensors are read as F64, so their values must be within 2^53)")) {
            try Safetensors.decode(tooLarge, source: "x.safetensors")
        }
        #expect(throws: SafetensorsError.self) {
            try Safetensors.decode(rawFile(header: #"{"m":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: littleEndian([Int64.min])))
        }
    }

    @Test func emptyFileOfNoTensors() throws {
        let bytes = try Safetensors.encode([])
        #expect(bytes == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        #expect(try Safetensors.decode(bytes) == SafetensorsFile(tensors: [:]))
    }

    @Test func writerRejectsRepeatedAndReservedNames() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/x.safetensors"
            let t = AnyTensor(Tensor<Float>.zeros([1]))
            let repeated = #expect(throws: SafetensorsError.self) {
                try Safetensors.write([(name: "a", tensor: t), (name: "a", tensor: t)], to: path)
            }
            #expect(repeated?.description == "\(path): tensor name 'a' appears twice")
            let reserved = #expect(throws: SafetensorsError.self) {
                try Safetensors.write([(name: "__metadata__", tensor: t)], to: path)
            }
            #expect(reserved?.description.contains("reserved") == true)
            #expect(try listing(folder) == [])
        }
    }
}

// MARK: - AnyTensor

@Suite struct AnyTensorTests {
    @Test func wrapsAndReportsDTypeAndShape() throws {
        let f = AnyTensor(Tensor<Float>.ones([2, 3]))
        let d = AnyTensor(Tensor<Double>.ones([4]))
        #expect(f.dtype == "F32" && f.shape == [2, 3] && f.count == 6)
        #expect(d.dtype == "F64" && d.shape == [4] && d.count == 4)
        #expect(try f.tensor(as: Float.self) == Tensor<Float>.ones([2, 3]))
        #expect(f != AnyTensor(Tensor<Double>.ones([2, 3])))
    }

    @Test func askingForTheOtherPrecisionThrowsButConvertingWorks() throws {
        let d = AnyTensor(Tensor<Double>(shape: [3], scalars: [0.1, 2, -3]))
        let error = #expect(throws: DTypeMismatchError.self) { try d.tensor(as: Float.self) }
        #expect(error?.description == "expected an F32 tensor, found F64 of shape [3]; use converted(to:) to change precision")
        #expect(d.converted(to: Float.self) == Tensor<Float>(shape: [3], scalars: [0.1, 2, -3]))
        #expect(d.converted(to: Double.self) == Tensor<Double>(shape: [3], scalars: [0.1, 2, -3]))
    }
}

// MARK: - Malformed files

struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// A phrase the error's description must contain.
    let problem: String
    var testDescription: String { name }
}

let twoDoubles = [UInt8](repeating: 0, count: 16)

let malformedCases: [MalformedCase] = [
    MalformedCase(name: "empty file", bytes: [], problem: "file is 0 bytes, shorter than the 8-byte header length"),
    MalformedCase(name: "truncated length", bytes: [1, 0, 0], problem: "file is 3 bytes, shorter than the 8-byte"),
    MalformedCase(name: "header length past the end",
                  bytes: rawFile(header: "{}", declaredLength: 1000),
                  problem: "header length 1000 runs past the end of the file (10 bytes leave 2 for the header)"),
    MalformedCase(name: "absurd header length",
                  bytes: rawFile(header: "{}", declaredLength: .max),
                  problem: "header length 18446744073709551615 exceeds the limit of 100000000 bytes"),
    MalformedCase(name: "truncated data",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#, data: Array(twoDoubles[..<12])),
                  problem: "tensor 'a': data_offsets [0, 16] run past the end of the data section (12 bytes)"),
    MalformedCase(name: "offsets out of range",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[16,32]}}"#, data: twoDoubles),
                  problem: "tensor 'a': data_offsets [16, 32] run past the end of the data section (16 bytes)"),
    MalformedCase(name: "offsets reversed",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[16,0]}}"#, data: twoDoubles),
                  problem: "tensor 'a': data_offsets [16, 0] end before they begin"),
    MalformedCase(name: "overlapping offsets",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
                                  + #""b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}"#,
                                  data: twoDoubles + Array(twoDoubles[..<8])),
                  problem: "tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [8, 24]) overlap in the data section"),
    MalformedCase(name: "same offsets twice",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
                                  + #""b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "overlap in the data section"),
    MalformedCase(name: "hole in the data section",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
                                  + #""b":{"dtype":"F64","shape":[1],"data_offsets":[24,32]}}"#, data: twoDoubles + twoDoubles),
                  problem: "data section has a hole: bytes [16, 24) belong to no tensor"),
    MalformedCase(name: "bytes after the last tensor",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#, data: twoDoubles + [1, 2, 3]),
                  problem: "data section has 3 bytes after the last tensor's data (bytes [16, 19)) that belong to no tensor"),
    MalformedCase(name: "unknown dtype",
                  bytes: rawFile(header: #"{"a":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': dtype 'BF16' is not supported (supported: F32, F64, I64)"),
    MalformedCase(name: "byte count not matching the shape",
                  bytes: rawFile(header: #"{"0.weight":{"dtype":"F64","shape":[5,3],"data_offsets":[0,112]}}"#,
                                 data: [UInt8](repeating: 0, count: 112)),
                  problem: "tensor '0.weight': shape [5, 3] needs 120 bytes of F64 but data_offsets span 112"),
    MalformedCase(name: "F32 data labelled F64",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[4],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': shape [4] needs 32 bytes of F64 but data_offsets span 16"),
    MalformedCase(name: "invalid JSON",
                  bytes: rawFile(header: #"{"a": }"#),
                  problem: "header is not valid JSON: unexpected '}', expected a value (at byte 6 of the header)"),
    MalformedCase(name: "unterminated JSON",
                  bytes: rawFile(header: #"{"a":{"dtype""#),
                  problem: "header is not valid JSON: expected ':' after an object key, found end of text"),
    MalformedCase(name: "text after the JSON",
                  bytes: rawFile(header: "{} x"),
                  problem: "header is not valid JSON: unexpected 'x' after the JSON value (at byte 3 of the header)"),
    MalformedCase(name: "empty header", bytes: rawFile(header: ""), problem: "header is not valid JSON: unexpected end of text"),
    MalformedCase(name: "byte order mark before the header",
                  bytes: rawFile(headerBytes: [0xEF, 0xBB, 0xBF] + Array("{}".utf8)),
                  problem: "header is not valid JSON: unexpected byte 0xef, expected a value (at byte 0 of the header)"),
    MalformedCase(name: "invalid UTF-8",
                  bytes: rawFile(headerBytes: Array(#"{"a"#.utf8) + [0xFF] + Array(#"":{}}"#.utf8)),
                  problem: "header is not valid UTF-8 (at byte 3 of the header)"),
    MalformedCase(name: "overlong UTF-8",
                  bytes: rawFile(headerBytes: Array(#"{""#.utf8) + [0xC0, 0xA2] + Array(#"":{}}"#.utf8)),
                  problem: "header is not valid UTF-8 (at byte 2 of the header)"),
    MalformedCase(name: "UTF-8 surrogate",
                  bytes: rawFile(headerBytes: Array(#"{""#.utf8) + [0xED, 0xA0, 0x80] + Array(#"":{}}"#.utf8)),
                  problem: "header is not valid UTF-8"),
    MalformedCase(name: "JSON lone surrogate escape",
                  bytes: rawFile(header: #"{"\ud800":{}}"#),
                  problem: "header is not valid JSON: unpaired high surrogate"),
    MalformedCase(name: "raw control character in a name",
                  bytes: rawFile(header: "{\"a\u{1}\":{}}"),
                  problem: "header is not valid JSON: raw control character 0x1 in a string"),
    MalformedCase(name: "header not an object", bytes: rawFile(header: "[1, 2]"), problem: "header is not a JSON object (found an array)"),
    MalformedCase(name: "entry not an object", bytes: rawFile(header: #"{"a":[0,0]}"#),
                  problem: "tensor 'a': entry must be a JSON object, found an array"),
    MalformedCase(name: "missing dtype",
                  bytes: rawFile(header: #"{"a":{"shape":[2],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': missing field 'dtype'"),
    MalformedCase(name: "missing data_offsets",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2]}}"#, data: twoDoubles),
                  problem: "tensor 'a': missing field 'data_offsets'"),
    MalformedCase(name: "dtype not a string",
                  bytes: rawFile(header: #"{"a":{"dtype":64,"shape":[2],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': dtype must be a string, found the number 64"),
    MalformedCase(name: "shape not an array",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":"2","data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': shape must be an array of integers, found a string"),
    MalformedCase(name: "shape holding a string",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":["2"],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': shape must be an array of integers, but holds a string"),
    MalformedCase(name: "negative extent",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[-2],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': shape entry -2 is not a whole number from 0 to"),
    MalformedCase(name: "fractional extent",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2.5],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': shape entry 2.5 is not a whole number from 0 to"),
    MalformedCase(name: "exponent in an offset",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,1.6e1]}}"#, data: twoDoubles),
                  problem: "tensor 'a': data_offsets entry 1.6e1 is not a whole number from 0 to"),
    MalformedCase(name: "offset past 64 bits",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,99999999999999999999]}}"#, data: twoDoubles),
                  problem: "tensor 'a': data_offsets entry 99999999999999999999 is not a whole number from 0 to 9223372036854775807"),
    MalformedCase(name: "three offsets",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': data_offsets must hold 2 integers [begin, end], found 3"),
    MalformedCase(name: "element count overflow",
                  bytes: rawFile(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#),
                  problem: "tensor 'a': shape [4294967296, 4294967296, 0] has more elements than 64 bits can count"),
    MalformedCase(name: "byte count overflow",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#),
                  problem: "tensor 'a': shape [2305843009213693952] of F64 needs more bytes than 64 bits can count"),
    MalformedCase(name: "repeated tensor name",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
                                  + #""\u0061":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#, data: twoDoubles),
                  problem: "tensor name 'a' appears twice in the header"),
    MalformedCase(name: "repeated field",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: twoDoubles),
                  problem: "tensor 'a': field 'dtype' appears twice"),
    MalformedCase(name: "unknown field",
                  bytes: rawFile(header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16],"extra":1}}"#, data: twoDoubles),
                  problem: "tensor 'a': unknown field 'extra' (expected dtype, shape, data_offsets)"),
    MalformedCase(name: "metadata not an object", bytes: rawFile(header: #"{"__metadata__":"x"}"#),
                  problem: "'__metadata__' must be a JSON object of strings, found a string"),
    MalformedCase(name: "metadata value not a string", bytes: rawFile(header: #"{"__metadata__":{"k":1}}"#),
                  problem: "'__metadata__': the value of 'k' must be a string, found the number 1"),
    MalformedCase(name: "repeated metadata key", bytes: rawFile(header: #"{"__metadata__":{"k":"1","k":"2"}}"#),
                  problem: "'__metadata__': key 'k' appears twice"),
    MalformedCase(name: "repeated metadata", bytes: rawFile(header: #"{"__metadata__":{},"__metadata__":{}}"#),
                  problem: "'__metadata__' appears twice in the header"),
    MalformedCase(name: "deep nesting",
                  bytes: rawFile(header: #"{"__metadata__":"# + String(repeating: "[", count: 100_000)),
                  problem: "header is not valid JSON: nested deeper than 64 levels"),
    MalformedCase(name: "name with control characters is quoted safely",
                  bytes: rawFile(header: #"{"a\n'b":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
                  problem: #"tensor 'a\u{a}\'b': dtype 'I8' is not supported"#),
]

@Suite struct SafetensorsMalformedTests {
    @Test(arguments: malformedCases) func throwsNamingFileAndProblem(_ malformed: MalformedCase) throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/ckpt.safetensors"
            try AtomicFile.write(malformed.bytes, to: path)
            let error = #expect(throws: SafetensorsError.self) { try Safetensors.read(path) }
            guard let error else { return }
            #expect(error.path == path)
            #expect(error.description.hasPrefix(path + ": "))
            #expect(error.description.contains(malformed.problem), "got: \(error.description)")
        }
    }

    @Test func missingFileThrowsFileError() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/absent.safetensors"
            let error = #expect(throws: FileError.self) { try Safetensors.read(path) }
            #expect(error?.path == path)
        }
    }

    /// Every truncation and many single-byte corruptions of a valid file either decode or throw:
    /// none may trap (a trap would end the test process).
    @Test func corruptionsNeverTrap() throws {
        let tensors = [
            (name: "w", tensor: AnyTensor(Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4]))),
            (name: "b", tensor: AnyTensor(Tensor<Float>(shape: [3], scalars: [5, 6, 7]))),
        ]
        let valid = try Safetensors.encode(tensors, metadata: ["k": "v"])
        var outcomes = (decoded: 0, thrown: 0)
        func attempt(_ bytes: [UInt8]) {
            do {
                _ = try Safetensors.decode(bytes)
                outcomes.decoded += 1
            } catch is SafetensorsError {
                outcomes.thrown += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        for length in 0..<valid.count { attempt(Array(valid[..<length])) }
        let replacements: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "["),
                                     UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "\\"), UInt8(ascii: ",")]
        for position in valid.indices {
            for replacement in replacements where valid[position] != replacement {
                var corrupted = valid
                corrupted[position] = replacement
                attempt(corrupted)
            }
        }
        #expect(outcomes.thrown > 0 && outcomes.decoded > 0)  // data-byte corruptions still decode
    }
}

// MARK: - A second process reads the file

@Suite struct SafetensorsSecondProcessTests {
    /// Python's standard library only (struct and json): an independent reader of the format.
    static let pythonReader = #"""
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n].decode("utf-8"))
start = 8 + n
report = {"headerLength": n, "dataLength": len(data) - start,
          "metadata": header.pop("__metadata__", None), "tensors": {}}
for name, info in header.items():
    begin, end = info["data_offsets"]
    code = {"F32": "I", "F64": "Q"}[info["dtype"]]
    raw = data[start + begin:start + end]
    bits = struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw)
    report["tensors"][name] = {"dtype": info["dtype"], "shape": info["shape"], "begin": begin,
                               "bits": ["%x" % b for b in bits]}
print(json.dumps(report))
"""#

    struct Report: Decodable {
        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let begin: Int
            let bits: [String]
        }
        let headerLength: Int
        let dataLength: Int
        let metadata: [String: String]?
        let tensors: [String: Entry]
    }

    @Test func pythonStandardLibraryReadsIdenticalBits() throws {
        let tensors = SafetensorsRoundTripTests.floatTensors() + SafetensorsRoundTripTests.doubleTensors()
        let metadata = ["format": "pt", "créé": "par FiniteWidth"]
        try withTemporaryFolder { folder throws in
            let path = folder + "/model.safetensors"
            try Safetensors.write(tensors, metadata: metadata, to: path)

            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", Self.pythonReader, path]
            let output = Pipe()
            process.standardOutput = output
            let errorPath = folder + "/stderr.txt"
            #expect(FileManager.default.createFile(atPath: errorPath, contents: nil))
            process.standardError = FileHandle(forWritingAtPath: errorPath)
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let errors = (try? AtomicFile.readText(errorPath)) ?? ""
            try #require(process.terminationStatus == 0, "python3 failed (is python3 on the PATH?): \(errors)")

            let report = try JSONDecoder().decode(Report.self, from: data)
            #expect((8 + report.headerLength) % 8 == 0)
            #expect(report.metadata == metadata)
            #expect(Set(report.tensors.keys) == Set(tensors.map(\.name)))
            var dataBytes = 0
            for (name, tensor) in tensors {
                guard let entry = report.tensors[name] else { continue }
                #expect(entry.dtype == tensor.dtype, "\(name)")
                #expect(entry.shape == tensor.shape, "\(name)")
                #expect(entry.bits == bitPatterns(tensor).map { String($0, radix: 16) }, "\(name)")
                #expect(entry.begin % (tensor.dtype == "F64" ? 8 : 4) == 0, "\(name) is misaligned")
                dataBytes += tensor.count * (tensor.dtype == "F64" ? 8 : 4)
            }
            #expect(report.dataLength == dataBytes)
        }
    }
}
