// swift-tools-version:6.1
import PackageDescription

// Coverage-guided fuzz targets (libFuzzer), a package of their own so `swift build` and
// `swift test` of the library never build them: they link only with `-sanitize=fuzzer`, which
// provides `main`. Run them with `scripts/fuzz <target> <seconds>` from the project's root.
let package = Package(
    name: "FiniteWidthFuzz",
    dependencies: [
        // `name:` keeps the root package's identity whatever folder the clone sits in.
        .package(name: "FiniteWidth", path: ".."),
    ],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzDriver", .product(name: "Tensors", package: "FiniteWidth")]),
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzDriver", .product(name: "Experiments", package: "FiniteWidth")]),
        .executableTarget(name: "FuzzCSV", dependencies: ["FuzzDriver", .product(name: "Experiments", package: "FiniteWidth")]),
        .executableTarget(name: "FuzzPlots", dependencies: ["FuzzDriver", .product(name: "Experiments", package: "FiniteWidth")]),
    ],
    swiftLanguageModes: [.v6]
)
