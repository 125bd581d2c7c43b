// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "FiniteWidth",
    products: [
        .library(name: "Formats", targets: ["Formats"]),
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
        // Files and their formats: atomic writes, JSON, CSV, the errors they throw. No BLAS.
        .target(name: "Formats"),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "Formats"]),
        // C loops that use AVX where the CPU has it (Swift compiles for the SSE2 baseline).
        .target(name: "CKernels"),
        .target(name: "NeuralNet", dependencies: ["Tensors", "CKernels"]),
        .target(name: "TangentKernels", dependencies: ["NeuralNet", "Tensors"]),
        .target(name: "Experiments", dependencies: ["TangentKernels", "NeuralNet", "Tensors", "Formats"]),
        .executableTarget(
            name: "train",
            dependencies: ["Experiments", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What the test targets share: temporary folders, the project's files and fixtures, relative
        // errors, file and SVG checks, and running `train` as a child process.
        .target(name: "TestSupport", dependencies: ["Formats", "Tensors"], path: "Tests/TestSupport"),
        // Custom ops written against the public API, for the NeuralNet and TangentKernels tests.
        .target(name: "CustomOperationExamples", dependencies: ["NeuralNet"], path: "Tests/CustomOperationExamples"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "CKernels", "TestSupport", "CustomOperationExamples"],
                    resources: [.copy("Resources")]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "TestSupport"]),
        .testTarget(name: "TangentKernelsTests", dependencies: ["TangentKernels", "TestSupport", "CustomOperationExamples"],
                    resources: [.copy("Resources")]),
        // Plays a library user: only the public API (no @testable, no @_spi), a residual block and
        // an op of its own, checked against PyTorch (Resources: scripts/reference/generate_user_extension.py).
        .testTarget(name: "UserExtensionTests", dependencies: ["NeuralNet", "TangentKernels", "TestSupport"],
                    resources: [.copy("Resources")]),
        // Runs the built `train` executable as a child process; the dependency makes SwiftPM build it first.
        // Its Resources are read from the source tree (the `train` child process is given their paths), not bundled.
        .testTarget(name: "TrainCommandTests", dependencies: ["train", "Experiments", "TestSupport"],
                    exclude: ["Resources"]),
        // Fuzzed inputs, crash and resume, determinism, divergence, output-folder failures. Depends
        // on `train` so the command is built: some tests run it as a child process.
        .testTarget(name: "RobustnessTests", dependencies: ["Experiments", "train", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
