import Foundation
import XCTest

/// The module graph that docs/DESIGN.md draws is the one the sources import.
final class ModuleGraphTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    /// Modules below `Sources` (one folder level, or two under Core and Render) with the
    /// project's modules and the C shims and packages each one's files import.
    static func importsByModule() throws -> [String: Set<String>] {
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default
        var folders: [URL] = []
        for name in try files.contentsOfDirectory(atPath: sources.path).sorted() {
            let folder = sources.appendingPathComponent(name)
            if name == "Core" || name == "Render" {
                folders += try files.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0) }
            } else {
                folders.append(folder)
            }
        }
        let external: Set = ["Foundation", "Dispatch", "Glibc", "Darwin", "Synchronization", "XCTest", "os"]
        var graph: [String: Set<String>] = [:]
        for folder in folders {
            guard let walker = files.enumerator(atPath: folder.path) else { continue }
            var imports = Set<String>()
            var swiftFiles = 0
            for case let path as String in walker where path.hasSuffix(".swift") {
                swiftFiles += 1
                let text = try String(contentsOf: folder.appendingPathComponent(path), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                          words[..<index].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                    let module = String(words[index + 1])
                    if !external.contains(module) { imports.insert(module) }
                }
            }
            if swiftFiles > 0 { graph[folder.lastPathComponent] = imports }
        }
        return graph
    }

    /// The "Module -> A, B, C" lines of docs/DESIGN.md's diagram.
    static func documentedGraph() throws -> [String: Set<String>] {
        let design = try String(contentsOf: root.appendingPathComponent("docs/DESIGN.md"), encoding: .utf8)
        var graph: [String: Set<String>] = [:]
        for line in design.split(separator: "\n") {
            guard let arrow = line.range(of: " -> ") else { continue }
            let name = line[..<arrow.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !name.contains(" "), !line.hasPrefix(" ") else { continue }
            // Notes after two spaces, such as "(CImageIO -> CPNG, CJPEG)", are not edges.
            let targets = line[arrow.upperBound...].components(separatedBy: "  ")[0]
            graph[name] = Set(targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && $0 != "Foundation only" })
        }
        return graph
    }

    func testDesignDocumentsTheImportsOfEverySwiftModule() throws {
        let actual = try Self.importsByModule(), documented = try Self.documentedGraph()
        XCTAssertFalse(actual.isEmpty)
        for (module, imports) in actual.sorted(by: { $0.key < $1.key }) where !module.hasPrefix("C") || module == "CLIP" {
            var expected = try XCTUnwrap(documented[module], "docs/DESIGN.md has no line for \(module) -> \(imports.sorted())")
            if module == "clipscope" { expected.insert("ArgumentParser") }
            XCTAssertEqual(imports.sorted(), expected.sorted(), "\(module)'s imports differ from docs/DESIGN.md")
        }
    }

    func testTheCoreAndRenderModulesNeverImportAFrontEnd() throws {
        let graph = try Self.importsByModule()
        for (module, imports) in graph where module != "TUI" && module != "clipscope" {
            XCTAssertTrue(imports.isDisjoint(with: ["TUI", "clipscope", "ArgumentParser", "CNCurses"]), "\(module) imports \(imports.sorted())")
        }
        for module in ["Tensor", "Imaging", "Terminal"] {
            XCTAssertTrue(try XCTUnwrap(graph[module]).isDisjoint(with: ["CLIP", "Index", "Experiments", "ToyWorld", "Workbench"]),
                          "\(module) knows nothing of CLIP")
        }
    }
}
