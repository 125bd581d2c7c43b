import Experiments

/// Seeded choices for building fuzz cases. Every case gets its own generator from the suite's
/// seed and the case's index, so a failing case is replayed from the index its message names.
struct FuzzRandom {
    var generator: Xoshiro256StarStar

    init(seed: UInt64, case index: Int) {
        generator = Xoshiro256StarStar(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform integer in `0..<bound`.
    mutating func below(_ bound: Int) -> Int { generator.nextIndex(below: bound) }

    /// A uniform integer in `range`.
    mutating func int(in range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }

    /// True with probability `probability`.
    mutating func chance(_ probability: Double) -> Bool { generator.nextUniform() < probability }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: generator.next()) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }

    mutating func word() -> UInt64 { generator.next() }
}

/// Byte-level mutations shared by every fuzzed format.
extension FuzzRandom {
    /// Flips `1...8` random bits.
    mutating func flipBits(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [byte()] }
        var result = bytes
        for _ in 0..<int(in: 1...8) {
            result[below(result.count)] ^= UInt8(1) << UInt8(below(8))
        }
        return result
    }

    /// Cuts the bytes at a random length (possibly 0, never the whole).
    mutating func truncate(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return bytes }
        return Array(bytes[..<below(bytes.count)])
    }

    /// Overwrites, inserts or deletes a few bytes at random places; inserted bytes are often
    /// characters that matter to the format (`interesting`).
    mutating func splice(_ bytes: [UInt8], interesting: [UInt8]) -> [UInt8] {
        var result = bytes
        for _ in 0..<int(in: 1...4) {
            let position = result.isEmpty ? 0 : below(result.count + 1)
            let value = chance(0.6) ? pick(interesting) : byte()
            switch below(3) {
            case 0 where position < result.count: result[position] = value
            case 1: result.insert(value, at: position)
            default: if position < result.count { result.remove(at: position) }
            }
        }
        return result
    }
}
