// swift-tools-version:6.0
import PackageDescription

/// A thin module map over a system library found through pkg-config.
func shim(_ name: String, pkgConfig: String?, apt: [String]) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt(apt)])
}

let package = Package(
    name: "clipscope",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "clipscope", targets: ["clipscope"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        shim("CBLAS", pkgConfig: "openblas", apt: ["libopenblas-dev"]),
        shim("CNCurses", pkgConfig: "ncursesw", apt: ["libncurses-dev"]),
        shim("CPNG", pkgConfig: "libpng16", apt: ["libpng-dev"]),
        shim("CSixel", pkgConfig: "libsixel", apt: ["libsixel-dev"]),
        shim("CJPEG", pkgConfig: "libjpeg", apt: ["libjpeg62-turbo-dev"]),
        shim("CFreeType", pkgConfig: "freetype2", apt: ["libfreetype-dev"]),
        shim("CZlib", pkgConfig: "zlib", apt: ["zlib1g-dev"]),

        .target(name: "Tensor", dependencies: ["CBLAS"]),
        // setjmp-guarded calls into libpng and libjpeg (Swift cannot catch their longjmp).
        .target(name: "CImageIO", dependencies: ["CPNG", "CJPEG"]),
        // Pixels: codecs, resampling, preprocessing, text, drawing, montage, charts.
        .target(name: "Imaging", dependencies: ["CImageIO", "CPNG", "CJPEG", "CFreeType", "CZlib"]),
        // Terminal output: capabilities and queries, sixel, Unicode blocks.
        .target(name: "Terminal", dependencies: ["Imaging", "CSixel"]),
        // The files of Assets/, embedded into the binary with .incbin.
        .target(name: "CAssets"),
        .target(name: "Assets", dependencies: ["CAssets"]),
        .target(name: "Weights", dependencies: ["CZlib"]),
        .target(name: "Tokenizer", dependencies: ["Assets", "CZlib"]),
        // Job specs, events, runner, state and the compute executor: Foundation only.
        .target(name: "Jobs"),
        .target(name: "CLIP", dependencies: ["Tensor", "Imaging", "Weights", "Tokenizer", "Assets", "Jobs"]),
        .target(name: "Index", dependencies: ["CLIP", "Jobs", "Tensor", "Imaging", "Assets", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Experiments", dependencies: ["CLIP", "Index", "Jobs", "Tensor", "Imaging", "Weights", "Tokenizer"]),
        .target(name: "ToyWorld", dependencies: ["CLIP", "Index", "Experiments", "Jobs", "Tensor", "Imaging", "Weights", "Tokenizer"]),
        .target(name: "TUI", dependencies: ["CLIP", "Index", "Jobs", "Terminal", "Imaging", "ToyWorld", "Experiments", "CNCurses"]),
        .executableTarget(name: "clipscope", dependencies: [
            "Tensor", "Imaging", "Terminal", "Weights", "Tokenizer", "Assets", "Jobs", "CLIP", "Index", "Experiments",
            "ToyWorld", "TUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal"]),
        .testTarget(name: "WeightsTests", dependencies: ["Weights"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs"]),
        // Fixtures are read through #filePath, not bundled.
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "CLIP", "Index", "Jobs", "Tensor", "Imaging", "Weights"], exclude: ["Fixtures"]),
        .testTarget(name: "IndexTests", dependencies: ["Index"]),
        .testTarget(name: "ToyWorldTests", dependencies: ["ToyWorld"]),
        .testTarget(name: "TUITests", dependencies: ["TUI", "Index", "CLIP", "Jobs", "Experiments", "Imaging", "ToyWorld"]),
        // Runs the built clipscope binary as a subprocess (it depends on the executable only so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["clipscope"], resources: [.copy("Fixtures")]),
    ]
)
