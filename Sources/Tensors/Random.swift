import Glibc

/// A seeded pseudo-random generator of the project's own, so that a seed gives the same numbers
/// on every machine and Swift version: xoshiro256** (Blackman and Vigna, 2018), its state
/// filled from the seed by SplitMix64, as the authors recommend.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable, Equatable, Codable {
    /// The four 64-bit words of state; exposed so a checkpoint can save and restore it.
    public var state: (UInt64, UInt64, UInt64, UInt64) {
        get { (s0, s1, s2, s3) }
        set { (s0, s1, s2, s3) = newValue }
    }
    @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    /// The second normal of the last Box-Muller pair, not yet handed out (saved with `state`).
    public var spareNormal: Double?

    /// A generator seeded by SplitMix64 from `seed`.
    public init(seed: UInt64) {
        var splitMix = SplitMix64(seed: seed)
        s0 = splitMix.next(); s1 = splitMix.next(); s2 = splitMix.next(); s3 = splitMix.next()
    }

    /// A generator with an explicit state (not all zero).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "Xoshiro256StarStar: the all-zero state is not allowed")
        (s0, s1, s2, s3) = state
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(by: 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(by: 45)
        return result
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal by the Box-Muller transform; pairs are produced and the second kept.
    @inlinable
    public mutating func nextNormal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        // u1 in (0, 1] so log(u1) is finite.
        let u1 = 1 - nextUniform()
        let u2 = nextUniform()
        let radius = (-2 * Glibc.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spareNormal = radius * Glibc.sin(angle)
        return radius * Glibc.cos(angle)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.s0 == b.s0 && a.s1 == b.s1 && a.s2 == b.s2 && a.s3 == b.s3 && a.spareNormal == b.spareNormal
    }

    enum CodingKeys: String, CodingKey { case state, spareNormal }
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let words = try container.decode([UInt64].self, forKey: .state)
        guard words.count == 4, words != [0, 0, 0, 0] else {
            throw DecodingError.dataCorruptedError(forKey: .state, in: container,
                                                   debugDescription: "expected 4 words, not all zero")
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
        spareNormal = try container.decodeIfPresent(Double.self, forKey: .spareNormal)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode([s0, s1, s2, s3], forKey: .state)
        try container.encodeIfPresent(spareNormal, forKey: .spareNormal)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014; Vigna's `splitmix64.c`): used to seed xoshiro.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension UInt64 {
    @inlinable
    func rotatedLeft(by k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}

extension Tensor {
    /// Independent normals with the given mean and standard deviation.
    public static func randomNormal(
        _ shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1,
        using generator: inout Xoshiro256StarStar
    ) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<buffer.count {
                buffer[i] = mean + standardDeviation * Scalar(generator.nextNormal())
            }
        }
        return result
    }

    /// Independent uniforms on [low, high).
    public static func randomUniform(
        _ shape: [Int], low: Scalar = 0, high: Scalar = 1, using generator: inout Xoshiro256StarStar
    ) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<buffer.count {
                buffer[i] = low + (high - low) * Scalar(generator.nextUniform())
            }
        }
        return result
    }
}
