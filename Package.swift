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
        .target(name: "Render", dependencies: ["CImageIO", "CPNG", "CSixel", "CJPEG", "CFreeType", "CZlib"]),
        // The files of Assets/, embedded into the binary with .incbin.
        .target(name: "CAssets"),
        .target(name: "Core", dependencies: ["Tensor", "Render", "CAssets", "CZlib",
                                            .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "TUI", dependencies: ["Core", "Render", "CNCurses"]),
        .executableTarget(name: "clipscope", dependencies: [
            "Core", "Render", "TUI", "Tensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "RenderTests", dependencies: ["Render"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CoreTests", dependencies: ["Core"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TUITests", dependencies: ["TUI"]),
        // Runs the built clipscope binary as a subprocess (it depends on the executable only so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["clipscope"], resources: [.copy("Fixtures")]),
    ]
)
