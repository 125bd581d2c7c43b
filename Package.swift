// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "FiniteWidth",
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "TangentKernels", targets: ["TangentKernels"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .executable(name: "train", targets: ["train"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "Tensors", dependencies: ["COpenBLAS"]),
        // C loops that use AVX where the CPU has it (Swift compiles for the SSE2 baseline).
        .target(name: "CKernels"),
        .target(name: "NeuralNet", dependencies: ["Tensors", "CKernels"]),
        .target(name: "TangentKernels", dependencies: ["NeuralNet", "Tensors"]),
        .target(name: "Experiments", dependencies: ["TangentKernels", "NeuralNet", "Tensors"]),
        .executableTarget(
            name: "train",
            dependencies: ["Experiments", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "CustomOperationExamples"], resources: [.copy("Resources")]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments"]),
        .testTarget(name: "TangentKernelsTests", dependencies: ["TangentKernels", "CustomOperationExamples"], resources: [.copy("Resources")]),
        // Custom ops written against the public API, for the two test targets above.
        .target(name: "CustomOperationExamples", dependencies: ["NeuralNet"], path: "Tests/CustomOperationExamples"),
        // Plays a library user: only the public API (no @testable, no @_spi), a residual block and
        // an op of its own, checked against PyTorch (Resources: scripts/reference/generate_user_extension.py).
        .testTarget(name: "UserExtensionTests", dependencies: ["NeuralNet", "TangentKernels"], resources: [.copy("Resources")]),
        // Runs `train` as a child process and makes temporary folders, for the two test targets below.
        .target(name: "TrainProcessSupport", dependencies: ["Tensors"], path: "Tests/TrainProcessSupport"),
        // Runs the built `train` executable as a child process; the dependency makes SwiftPM build it first.
        .testTarget(name: "TrainCommandTests", dependencies: ["train", "Experiments", "TrainProcessSupport"]),
        // Fuzzed inputs, crash and resume, determinism, divergence, output-folder failures. Depends
        // on `train` so the command is built: some tests run it as a child process.
        .testTarget(name: "RobustnessTests", dependencies: ["Experiments", "train", "TrainProcessSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
