import Formats

// Writing: the header (tensors laid out F64 first, then by name) and the data section.

extension Safetensors {
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

        // Compact JSON, keys in this order, written by the project's one JSON writer (whose string
        // escapes are serde_json's, the reference implementation's).
        var members: [JSONMember] = []
        if let metadata {
            let keys = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            members.append(JSONMember(metadataKey, .object(keys.map { JSONMember($0, .string(metadata[$0] ?? "")) })))
        }
        var offset = 0
        for entry in ordered {
            let byteCount = entry.tensor.count * scalarSize(entry.tensor)
            members.append(JSONMember(entry.name, .object([
                JSONMember("dtype", .string(entry.tensor.dtype)),
                JSONMember("shape", .array(entry.tensor.shape.map { .number($0) })),
                JSONMember("data_offsets", .array([.number(offset), .number(offset + byteCount)])),
            ])))
            offset += byteCount
        }
        var header = Array(JSONValue.object(members).rendered(style: .compact).utf8)
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
}
