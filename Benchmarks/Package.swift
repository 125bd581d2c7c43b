// swift-tools-version:6.1
import PackageDescription

// The benchmark suites, a package of their own so the library does not pull in the benchmark
// dependency. Run from this folder: `swift package benchmark --target GEMM`.
let package = Package(
    name: "FiniteWidthBenchmarks",
    dependencies: [
        // `name:` keeps the root package's identity whatever folder the clone sits in.
        .package(name: "FiniteWidth", path: ".."),
        // Only the malloc interposer: the default traits need a package this machine lacks.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // What the suites time, built once per case: the training step and the NTK computations,
        // shared by the benchmark suites and PeerWorkloads.
        .target(
            name: "BenchmarkWorkloads",
            dependencies: [
                .product(name: "NeuralNet", package: "FiniteWidth"),
                .product(name: "TangentKernels", package: "FiniteWidth"),
            ],
            path: "BenchmarkWorkloads"
        ),
        .executableTarget(
            name: "GEMM",
            dependencies: [
                .product(name: "Tensors", package: "FiniteWidth"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "GEMM",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrainingStep",
            dependencies: [
                "BenchmarkWorkloads",
                .product(name: "NeuralNet", package: "FiniteWidth"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "TrainingStep",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "NTK",
            dependencies: [
                "BenchmarkWorkloads",
                .product(name: "TangentKernels", package: "FiniteWidth"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "NTK",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not a benchmark suite: the Swift side of `scripts/compare-peers`, which times the
        // workloads of `peers/*.py` and prints JSON (`swift run -c release PeerWorkloads --help`).
        .executableTarget(
            name: "PeerWorkloads",
            dependencies: ["BenchmarkWorkloads", .product(name: "TangentKernels", package: "FiniteWidth")],
            path: "PeerWorkloads"
        ),
    ],
    swiftLanguageModes: [.v6]
)
