/// The purposes a run draws random numbers for. Each gets its own generator derived from the
/// run's seed, so, for example, changing the batch order leaves the training data unchanged, and
/// two variants on one seed train on the same data.
public enum RandomStream: UInt64, Sendable, CaseIterable {
    /// Synthetic inputs.
    case data = 1
    /// Initial weights and biases.
    case initialization = 2
    /// The order of minibatches.
    case batchOrder = 3
    /// Random extrapolation directions.
    case directions = 4
    /// Which in-distribution rows of a CSV file are the validation set.
    case split = 5
    /// The independent initialisations of the NTK's dispersion (`evaluation.kernel.initializations`).
    case kernelDispersion = 6
    /// The bootstrap resamples of the dispersion's intervals.
    case bootstrap = 7
}

extension Xoshiro256StarStar {
    /// A generator for one purpose of a run with seed `seed`. Streams are decorrelated by hashing
    /// the seed and the stream number through SplitMix64, not by offsetting the seed.
    public init(seed: UInt64, stream: RandomStream) {
        var seedMixer = SplitMix64(seed: seed)
        var streamMixer = SplitMix64(seed: seedMixer.next() ^ stream.rawValue)
        self.init(seed: streamMixer.next())
    }

    /// A uniform integer in `0..<bound`, without modulo bias; our own so results do not depend on
    /// the standard library's algorithm, which may change between Swift versions.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "nextIndex(below:): bound must be positive, got \(bound)")
        let limit = UInt64(bound)
        // Values below 2^64 mod bound would make small results slightly more likely; skip them.
        let threshold = (0 &- limit) % limit
        while true {
            let value = next()
            if value >= threshold { return Int(value % limit) }
        }
    }

    /// A uniformly random permutation of `0..<count` (Fisher-Yates).
    public mutating func permutation(of count: Int) -> [Int] {
        var indices = Array(0..<count)
        var index = count - 1
        while index > 0 {
            indices.swapAt(index, nextIndex(below: index + 1))
            index -= 1
        }
        return indices
    }
}
