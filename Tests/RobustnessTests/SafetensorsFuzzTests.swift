import Experiments
import Testing
import TestSupport

/// Valid safetensors files the corruptions start from.
let safetensorsSeeds: [[UInt8]] = {
    var generator = Xoshiro256StarStar(seed: 7)
    var seeds: [[UInt8]] = []
    let mixed: [(name: String, tensor: AnyTensor)] = [
        ("0.weight", AnyTensor(Tensor<Double>.randomNormal([3, 4], using: &generator))),
        ("0.bias", AnyTensor(Tensor<Float>(shape: [5], scalars: [0, -0.0, .infinity, .nan, 1]))),
        ("scalar", AnyTensor(Tensor<Float>(shape: [], scalars: [42]))),
        ("empty", AnyTensor(Tensor<Double>.zeros([0, 3]))),
    ]
    seeds.append(try! Safetensors.encode(mixed, metadata: ["format": "pt", "note": "seed"]))
    seeds.append(try! Safetensors.encode(Array(mixed.prefix(2))))
    seeds.append(try! Safetensors.encode([]))
    // A training checkpoint, as the runner writes it.
    let trainer = tinyTrainer(Double.self)
    for _ in 0..<3 { _ = try! trainer.runEpoch() }
    try! withTemporaryFolder { folder in
        try TrainingCheckpoint.save(trainer, lossCurve: [LossRecord(epoch: 1, loss: 0.5), LossRecord(epoch: 3, loss: 0.25)],
                                    wallTimeSeconds: 1.5, to: folder + "/checkpoint.safetensors")
        seeds.append(try AtomicFile.read(folder + "/checkpoint.safetensors"))
    }
    return seeds
}()

/// Shapes and offsets that would make a careless reader allocate or index by the file's word.
let hostileExtents = ["0", "1", "2147483648", "4294967296", "4611686018427387904", "9223372036854775807",
                      "9223372036854775808", "18446744073709551615", "18446744073709551616", "-1", "1.5", "1e3", "\"3\""]

/// Metadata values that break careless parsing of a checkpoint's epoch, step, generator and curve.
let hostileMetadata = ["", "-1", "0", "9223372036854775807", "9223372036854775808", "4503599627370496", "1e3", "nan",
                       "inf", "0,0,0,0", "1,2,3", "1,2,3,4,5", "18446744073709551615,1,1,1", "x:1", "1:2:3", "5:nan,6:inf",
                       "1:0.5,", String(repeating: "1:1,", count: 2000) + "1:1"]

extension FuzzRandom {
    /// The file with its 8-byte header length replaced by a lie.
    mutating func lyingHeaderLength(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 8 else { return bytes }
        let actual = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let lie: UInt64 = pick([0, 1, 7, actual &- 1, actual &+ 1, actual &+ 8, UInt64(bytes.count - 8), UInt64(bytes.count - 7),
                                100_000_000, 100_000_001, UInt64.max, 1 << 63, word(), UInt64(below(1 << 20))])
        return (0..<8).map { UInt8(truncatingIfNeeded: lie >> (8 * $0)) } + bytes[8...]
    }

    /// The header parsed, changed in one hostile way, and written back (with its true length
    /// most of the time, so the other checks are reached).
    mutating func rewrittenHeader(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 8 else { return bytes }
        guard let length = Int(exactly: bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }),
              length <= bytes.count - 8, case .object(var members)? = try? JSONValue.parse(String(decoding: bytes[8..<(8 + length)], as: UTF8.self))
        else { return bytes }
        let data = Array(bytes[(8 + length)...])
        let tensorIndices = members.indices.filter { members[$0].key != "__metadata__" }
        let metadataIndex = members.firstIndex { $0.key == "__metadata__" }
        switch below(8) {
        case 0, 1, 2:  // a tensor's field
            guard let index = tensorIndices.isEmpty ? nil : pick(tensorIndices),
                  case .object(var fields) = members[index].value, !fields.isEmpty else { break }
            let field = below(fields.count)
            switch fields[field].key {
            case "shape":
                fields[field].value = pick([
                    .array([.number(pick(hostileExtents)), .number(pick(hostileExtents))]),
                    .array([.number("4294967296"), .number("4294967296"), .number("0")]),
                    .array([.number("0"), .number("9223372036854775807")]),
                    .array(Array(repeating: .number("1"), count: below(2_000))),
                    .array([]), .number("3"), .array([.array([.number("1")])]),
                ])
            case "data_offsets":
                fields[field].value = .array((0..<pick([2, 2, 2, 1, 3])).map { _ in .number(pick(hostileExtents)) })
            default:
                fields[field].value = pick([.string("F16"), .string("BF16"), .string("I64"), .string(""), .string("f32"),
                                            .number("5"), .null, .string("F64"), .string("F32")])
            }
            if chance(0.2) { fields.remove(at: below(fields.count)) }
            if chance(0.1) { fields.append(JSONMember("extra", .number("1"))) }
            members[index].value = .object(fields)
        case 3:  // tensors renamed: a duplicate, the reserved name, or an empty one
            guard let index = tensorIndices.isEmpty ? nil : pick(tensorIndices) else { break }
            members[index].key = pick(["__metadata__", "", members[below(members.count)].key, "model.extra", "optimizer.99.exp_avg"])
        case 4:  // metadata values, as a checkpoint's numbers and lists
            guard let metadataIndex, case .object(var entries) = members[metadataIndex].value, !entries.isEmpty else { break }
            let entry = below(entries.count)
            entries[entry].value = chance(0.9) ? .string(pick(hostileMetadata)) : pick([.number("1"), .null, .object([])])
            members[metadataIndex].value = .object(entries)
        case 5:
            if let metadataIndex { members[metadataIndex].value = pick([.array([]), .string("x"), .object([JSONMember("k", .object([]))])]) }
        case 6:  // a tensor's offsets shifted onto a neighbour's
            guard tensorIndices.count >= 2, case .object(var fields) = members[tensorIndices[0]].value,
                  let other = members[tensorIndices[1]].value["data_offsets"],
                  let position = fields.firstIndex(where: { $0.key == "data_offsets" }) else { break }
            fields[position].value = other
            members[tensorIndices[0]].value = .object(fields)
        default:
            members.shuffle(using: &generator)
        }
        var header = Array(JSONValue.object(members).rendered(style: .compact).utf8)
        if chance(0.7) { header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8) }
        let declared = chance(0.9) ? UInt64(header.count) : UInt64(length)
        var data2 = data
        if chance(0.1) { data2 = truncate(data) }
        return (0..<8).map { UInt8(truncatingIfNeeded: declared >> (8 * $0)) } + header + data2
    }

    /// One corruption of a valid file.
    mutating func corrupted(_ bytes: [UInt8]) -> [UInt8] {
        switch below(8) {
        case 0: return flipBits(bytes)
        case 1: return truncate(bytes)
        case 2: return lyingHeaderLength(bytes)
        case 3, 4, 5: return rewrittenHeader(bytes)
        case 6: return splice(bytes, interesting: Array("{}[]\":,-09eE. F".utf8))
        default:
            let random = self.bytes(below(256))
            return chance(0.5) ? random : lyingHeaderLength(Array(repeating: 0, count: 8) + random)
        }
    }
}

@Suite struct SafetensorsFuzzTests {
    static let cases = 1_000

    static func corruptedFile(_ index: Int) -> [UInt8] {
        var random = FuzzRandom(seed: 0x5AFE7E, case: index)
        var bytes = random.pick(safetensorsSeeds)
        for _ in 0..<random.int(in: 1...3) { bytes = random.corrupted(bytes) }
        return bytes
    }

    /// Every corrupted file is refused with a `SafetensorsError` naming the source and a
    /// problem, or decodes into tensors that fit in the file's own bytes (nothing allocated by the
    /// file's word) and encode back to the same bits. A trap would end the test process.
    @Test(.timeLimit(.minutes(2))) func corruptedFilesAreRefusedOrDecodeWithinTheirSize() throws {
        var decoded = 0, refused = 0
        for index in 0..<Self.cases {
            let bytes = Self.corruptedFile(index)
            let label = "fuzz/case-\(index).safetensors"
            do {
                let file = try Safetensors.decode(bytes, source: label)
                decoded += 1
                let tensorBytes = file.tensors.values.reduce(0) { $0 + $1.count * ($1.dtype == "F64" ? 8 : 4) }
                #expect(tensorBytes <= bytes.count, "case \(index)")
                let again = try Safetensors.decode(Safetensors.encode(file.tensors.map { ($0.key, $0.value) }, metadata: file.metadata))
                #expect(again.metadata == file.metadata, "case \(index)")
                #expect(sameBits(again.tensors, file.tensors), "case \(index)")
            } catch let error as SafetensorsError {
                refused += 1
                #expect(error.path == label && !error.problem.isEmpty, "case \(index): \(error)")
                #expect(error.description.hasPrefix(label + ": "), "case \(index)")
            } catch {
                Issue.record("case \(index): unexpected error \(type(of: error)): \(error)")
            }
        }
        print("safetensors fuzz: \(Self.cases) corrupted files, \(decoded) decoded within their size, \(refused) refused with a message")
        #expect(decoded > 50 && refused > 500)
    }

    /// Corrupted training checkpoints, restored into a fresh trainer: refused with a message
    /// naming the file, or restored into a state that trains on (one more epoch, which may
    /// diverge but never trap).
    @Test(.timeLimit(.minutes(2))) func corruptedCheckpointsAreRefusedOrResumable() throws {
        let checkpoint = safetensorsSeeds.last!
        var restored = 0, refused = 0
        try withTemporaryFolder { folder in
            for index in 0..<200 {
                var random = FuzzRandom(seed: 0xC4EC4, case: index)
                var bytes = checkpoint
                for _ in 0..<random.int(in: 1...2) {
                    bytes = random.chance(0.6) ? random.rewrittenHeader(bytes) : random.corrupted(bytes)
                }
                let path = folder + "/case-\(index).safetensors"
                try AtomicFile.write(bytes, to: path)
                let trainer = tinyTrainer(Double.self)
                do {
                    _ = try TrainingCheckpoint.restore(trainer, from: path)
                    restored += 1
                    do { try trainer.runEpoch() } catch is DivergenceError {}
                } catch {
                    refused += 1
                    #expect("\(error)".hasPrefix(path + ": ") && "\(error)".count > path.count + 2, "case \(index): \(error)")
                }
            }
        }
        print("checkpoint fuzz: 200 corrupted training checkpoints, \(restored) restored, \(refused) refused with a message")
        #expect(refused > 100)
    }

    /// Every metadata field of a training checkpoint at every hostile value (epochs and steps at
    /// the edge of `Int`, malformed generator states and loss curves), restored and trained on.
    @Test(.timeLimit(.minutes(1))) func hostileCheckpointMetadataIsRefusedOrResumable() throws {
        let original = try Safetensors.decode(safetensorsSeeds.last!)
        let metadata = try #require(original.metadata)
        var restored = 0, refused = 0
        try withTemporaryFolder { folder in
            for key in metadata.keys.sorted() + ["generatorSpareNormal"] {
                for value in hostileMetadata {
                    var changed = metadata
                    changed[key] = value
                    let path = folder + "/\(key).safetensors"
                    try Safetensors.write(original.tensors, metadata: changed, to: path)
                    let trainer = tinyTrainer(Double.self)
                    do {
                        _ = try TrainingCheckpoint.restore(trainer, from: path)
                        restored += 1
                        do { try trainer.runEpoch() } catch is DivergenceError {}
                    } catch {
                        refused += 1
                        #expect("\(error)".hasPrefix(path + ": ") && "\(error)".count > path.count + 2, "\(key) = \(value): \(error)")
                    }
                }
            }
        }
        print("checkpoint fuzz: \((metadata.count + 1) * hostileMetadata.count) hostile metadata values, \(restored) restored, \(refused) refused with a message")
    }
}

/// Same names, dtypes, shapes and bit patterns (so NaN payloads and signed zeros count).
func sameBits(_ a: [String: AnyTensor], _ b: [String: AnyTensor]) -> Bool {
    func bits(_ tensor: AnyTensor) -> [UInt64] {
        switch tensor {
        case .float(let t): t.scalars.map { UInt64($0.bitPattern) }
        case .double(let t): t.scalars.map(\.bitPattern)
        }
    }
    return a.count == b.count && a.allSatisfy { name, tensor in
        guard let other = b[name] else { return false }
        return tensor.dtype == other.dtype && tensor.shape == other.shape && bits(tensor) == bits(other)
    }
}
