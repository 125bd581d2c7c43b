// swift-tools-version:6.1
// A package of a FiniteWidth user: a residual block and a softplus op of its own (Sources/UserLayers),
// and a program that checks, trains and takes the NTK of a network with both (Sources/UserExample).
// Build and run it from this folder: swift run -c release UserExample
import PackageDescription

let package = Package(
    name: "UserPackage",
    dependencies: [
        // `name:` matters: without it the dependency is named after its folder.
        // From GitHub instead: .package(url: "https://github.com/<owner>/FiniteWidth", branch: "main")
        .package(name: "FiniteWidth", path: "../.."),
    ],
    targets: [
        .target(name: "UserLayers", dependencies: [.product(name: "NeuralNet", package: "FiniteWidth")]),
        .executableTarget(
            name: "UserExample",
            dependencies: ["UserLayers", .product(name: "TangentKernels", package: "FiniteWidth")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
