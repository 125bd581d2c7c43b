extension SyntheticDataConfig {
    /// `trainSize` inputs drawn independently and uniformly from `domain^inputDim` (from the run
    /// seed's ``RandomStream/data`` stream) with their exact targets; no noise.
    public func makeDataset<Scalar: BLASScalar>(seed: UInt64, as type: Scalar.Type = Scalar.self) -> Dataset<Scalar> {
        var generator = Xoshiro256StarStar(seed: seed, stream: .data)
        let inputs = (0..<(trainSize * inputDim)).map { _ in
            Scalar(interpolate(from: domain.lower, to: domain.upper, fraction: generator.nextUniform()))
        }
        // Targets of the inputs as stored, so Float data is exactly consistent too.
        let targets = (0..<trainSize).map { row in
            Scalar(target.value(at: inputs[(row * inputDim)..<((row + 1) * inputDim)].map { Double($0) }))
        }
        return Dataset(inputs: Tensor(shape: [trainSize, inputDim], scalars: inputs),
                       targets: Tensor(shape: [trainSize, 1], scalars: targets))
    }
}
