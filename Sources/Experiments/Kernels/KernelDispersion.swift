/// How random the NTK is at initialisation: over K independent initialisations of the same
/// network, per probe point x the ratio `R(x) = E[Theta_0(x,x)^2] / E[Theta_0(x,x)]^2` (1 for a
/// deterministic kernel, the infinite-width limit; Seleznova & Kutyniok's Figs. 1-2), with a
/// bootstrap 95% interval. Only the kernel's diagonal is needed, so each initialisation costs one
/// forward and one backward pass over the probe points (``Layer/empiricalTangentKernelDiagonal(_:)``),
/// not the N x N kernel.
public struct KernelDispersion: Sendable, Equatable {
    /// Resamples of the K initialisations for the intervals.
    public static let bootstrapResamples = 1000

    /// One probe point's ratio and its bootstrap 95% interval (percentiles 2.5 and 97.5).
    public struct PointRatio: Sendable, Equatable {
        public var ratio: Double
        public var low: Double
        public var high: Double
    }

    public var initializations: Int
    /// One entry per probe point, in the order of the points.
    public var points: [PointRatio]
    /// The mean of the points' ratios, and the bootstrap 95% interval of that mean (each resample
    /// draws initialisations, the same for every point, and averages the points' ratios).
    public var mean: PointRatio

    /// R per point from a K x N matrix of diagonals (row k: initialisation k's Theta_0(x_i, x_i)).
    /// - Parameter generator: draws the bootstrap resamples (seeded: the intervals are reproducible).
    public init(diagonals: [[Double]], generator: inout Xoshiro256StarStar) {
        let count = diagonals.count
        let pointCount = diagonals.first?.count ?? 0
        precondition(count >= 2 && diagonals.allSatisfy { $0.count == pointCount },
                     "KernelDispersion: needs at least 2 initialisations with one value per point each")
        // R = (sum t^2 / K) / (sum t / K)^2 = K sum t^2 / (sum t)^2, from the initialisations `picks`.
        func ratios(_ picks: [Int]) -> [Double] {
            (0..<pointCount).map { point in
                var (sum, sumOfSquares) = (0.0, 0.0)
                for k in picks { let value = diagonals[k][point]; sum += value; sumOfSquares += value * value }
                return Double(picks.count) * sumOfSquares / (sum * sum)
            }
        }
        let estimates = ratios(Array(0..<count))
        var resampled = [[Double]](repeating: [], count: pointCount)
        var resampledMeans: [Double] = []
        var picks = [Int](repeating: 0, count: count)
        for _ in 0..<Self.bootstrapResamples {
            for slot in 0..<count { picks[slot] = generator.nextIndex(below: count) }
            let sample = ratios(picks)
            for point in 0..<pointCount { resampled[point].append(sample[point]) }
            resampledMeans.append(sample.reduce(0, +) / Double(pointCount))
        }
        initializations = count
        points = (0..<pointCount).map { point in
            let (low, high) = percentileInterval(resampled[point])
            return PointRatio(ratio: estimates[point], low: low, high: high)
        }
        let (meanLow, meanHigh) = percentileInterval(resampledMeans)
        mean = PointRatio(ratio: estimates.reduce(0, +) / Double(pointCount), low: meanLow, high: meanHigh)
    }

    /// Draws `initializations` independent initialisations of `description`'s network from
    /// `generator` and measures the diagonal of each one's NTK on `probeInputs`.
    /// - Parameter bootstrap: draws the intervals' resamples.
    public static func measure<Scalar: BLASScalar>(
        _ description: MLPDescription, probeInputs: Tensor<Scalar>, initializations: Int,
        generator: inout Xoshiro256StarStar, bootstrap: inout Xoshiro256StarStar
    ) throws -> KernelDispersion {
        var diagonals: [[Double]] = []
        diagonals.reserveCapacity(initializations)
        for _ in 0..<initializations {
            let network: Sequential<Scalar> = description.build(generator: &generator)
            diagonals.append(try network.empiricalTangentKernelDiagonal(probeInputs))
        }
        return KernelDispersion(diagonals: diagonals, generator: &bootstrap)
    }

    /// `kernel-dispersion.csv`: `point,ratio,ratio_low,ratio_high`, one row per probe point (0-based, the training row).
    public var csv: String {
        (["point,ratio,ratio_low,ratio_high"] + points.enumerated().map {
            "\($0.offset)," + csvNumber($0.element.ratio) + "," + csvNumber($0.element.low) + "," + csvNumber($0.element.high)
        }).joined(separator: "\n") + "\n"
    }
}

/// The 2.5th and 97.5th percentiles (linear interpolation between order statistics, NumPy's default).
func percentileInterval(_ values: [Double]) -> (low: Double, high: Double) {
    let sorted = values.sorted()
    func percentile(_ p: Double) -> Double {
        let position = p * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
    }
    return (percentile(0.025), percentile(0.975))
}
