// swift-tools-version:6.0
import PackageDescription

/// A thin module map over a system library found through pkg-config.
func shim(_ name: String, pkgConfig: String?, apt: [String]) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt(apt)])
}

/// A module of the core: tensors, weights, the model, jobs, the index, the experiments.
func core(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/Core/\(name)")
}

/// A module that turns pixels into files and terminal output; knows nothing of CLIP.
func render(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/Render/\(name)")
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

        // Foundation-only utilities that several modules share: parameter errors, the compute
        // executor, a bounded queue, FNV-1a, walking image folders and shards.
        core("Support"),
        core("Tensor", ["CBLAS"]),
        // setjmp-guarded calls into libpng and libjpeg (Swift cannot catch their longjmp).
        .target(name: "CImageIO", dependencies: ["CPNG", "CJPEG"]),
        // Pixels: codecs, resampling, preprocessing, text, drawing, montage, charts.
        render("Imaging", ["CImageIO", "CPNG", "CJPEG", "CFreeType", "CZlib"]),
        // Terminal output: capabilities and queries, sixel, Unicode blocks.
        render("Terminal", ["Imaging", "CSixel"]),
        // The files of Assets/, embedded into the binary with .incbin.
        .target(name: "CAssets"),
        core("Assets", ["CAssets"]),
        core("Weights", ["CZlib"]),
        core("Tokenizer", ["Assets", "CZlib"]),
        // Job specs, events, runner, state and run folders: Foundation only.
        core("Jobs", ["Support"]),
        core("CLIP", ["Tensor", "Imaging", "Weights", "Tokenizer", "Assets", "Support"]),
        core("Index", ["CLIP", "Jobs", "Support", "Tensor", "Imaging", "Assets", .product(name: "GRDB", package: "GRDB.swift")]),
        core("Experiments", ["CLIP", "Jobs", "Support", "Tensor", "Imaging", "Weights", "Tokenizer"]),
        core("ToyWorld", ["CLIP", "Index", "Experiments", "Jobs", "Support", "Tensor", "Imaging", "Weights", "Tokenizer"]),
        // What both front ends ask for, decided once: the model's profile (toy or ImageNet
        // presets), the job catalog and request builders, run-folder names, the benchmarks.
        core("Workbench", ["CLIP", "Index", "Experiments", "ToyWorld", "Jobs", "Support", "Tensor", "Imaging", "Assets"]),
        .target(name: "TUI", dependencies: ["CLIP", "Index", "Jobs", "Support", "Terminal", "Imaging", "ToyWorld", "Experiments", "Workbench", "CNCurses"]),
        .executableTarget(name: "clipscope", dependencies: [
            "Support", "Tensor", "Imaging", "Terminal", "Weights", "Tokenizer", "Assets", "Jobs", "CLIP", "Index", "Experiments",
            "ToyWorld", "Workbench", "TUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal"]),
        .testTarget(name: "WeightsTests", dependencies: ["Weights"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Support"]),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Support"]),
        // Fixtures are read through #filePath, not bundled.
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "CLIP", "Index", "Jobs", "Support", "Tensor", "Imaging", "Weights"], exclude: ["Fixtures"]),
        .testTarget(name: "IndexTests", dependencies: ["Index", "Support", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ToyWorldTests", dependencies: ["ToyWorld", "Support"]),
        .testTarget(name: "WorkbenchTests", dependencies: ["Workbench", "Experiments", "Index", "Jobs", "Support", "ToyWorld", "CLIP"]),
        .testTarget(name: "TUITests", dependencies: ["TUI", "Index", "CLIP", "Jobs", "Experiments", "Imaging", "ToyWorld", "Workbench"]),
        // Runs the built clipscope binary as a subprocess (it depends on the executable only so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["clipscope", "Workbench", "Jobs"], resources: [.copy("Fixtures")]),
    ]
)
