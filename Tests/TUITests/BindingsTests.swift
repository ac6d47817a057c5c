import Foundation
import Index
import Jobs
@testable import TUI
import XCTest

/// The key tables drive the dispatch, the help overlay, the key hints and the README: they agree.
final class BindingsTests: XCTestCase {
    func state(rows: Int = 60, columns: Int = 160) -> AppState {
        var state = AppState(rows: rows, columns: columns, modelName: "toy", graphics: .blocks)
        _ = state.apply(.catalogLoaded(sampleCatalog()))
        return state
    }

    /// The help overlay of a screen, drawn.
    func helpText(_ screen: Screen, page: HelpPage = .keys) -> String {
        var state = state()
        state.screen = screen
        state.help = page
        let canvas = TextCanvas(rows: 60, columns: 160)
        _ = Panes.draw(state, on: canvas)
        return canvas.text
    }

    /// Whether every word of `description` is on the screen (long ones wrap over lines).
    static func shows(_ description: String, in text: String) -> Bool {
        description.split(separator: " ").allSatisfy { text.contains($0) }
    }

    func testTheHelpOverlayListsEveryBindingOfThePaneAndTheGlobalOnes() {
        for screen in Screen.allCases {
            let text = helpText(screen)
            XCTAssertTrue(text.contains("keys: \(screen.title)"), text)
            for binding in Bindings.table(for: screen).bindings + Bindings.global.bindings {
                XCTAssertTrue(text.contains(binding.label), "\(screen): \(binding.label)\n\(text)")
                XCTAssertTrue(Self.shows(binding.description, in: text), "\(screen): \(binding.description)\n\(text)")
            }
        }
    }

    func testEveryKeyThatDoesSomethingIsInATableAndNoTableNamesAKeyTwice() {
        let probes: [Key] = [.up, .down, .left, .right, .pageUp, .pageDown, .home, .end, .enter, .escape, .tab, .backTab,
                             .backspace, .delete] + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789[]/:?!".map { .character($0) }
            + "abcdefghijklmnopqrstuvwxyz".map { .control($0) }
        for screen in Screen.allCases {
            let table = Bindings.table(for: screen)
            for (i, binding) in table.bindings.enumerated() {
                for other in table.bindings[(i + 1)...] {
                    XCTAssertTrue(Set(binding.keys.map(\.name)).isDisjoint(with: other.keys.map(\.name)),
                                  "\(screen): \(binding.label) and \(other.label) share a key")
                }
            }
            // Whatever a key changes, a binding of the pane or the global table takes it.
            for key in probes {
                var state = self.state()
                _ = state.apply(.modelLoaded(name: "toy", neurons: 40))
                _ = state.openCard(3)
                _ = state.apply(.cardLoaded(CardData(neuron: 3, top: [RankedImage(path: "/a.png", category: "c", value: 1)], bottom: [],
                                                      stats: ActivationStats(values: [1]), categories: [], bins: [])))
                state.image = ImageDetails(path: "/a.png", neurons: [(1, 0.5), (2, 0.4)], zeroShot: [])
                state.lab = AttackLab(imagePath: "/a.png")
                state.screen = screen
                state.message = nil
                let before = "\(state.screen) \(state.selection) \(state.cardSelection) \(state.imageSelection) \(String(describing: state.input)) \(state.help.map { "\($0)" } ?? "") \(state.lab?.generation ?? -1) \(state.sort) \(state.filter) \(state.logFollow)"
                let effects = state.apply(.key(key))
                let after = "\(state.screen) \(state.selection) \(state.cardSelection) \(state.imageSelection) \(String(describing: state.input)) \(state.help.map { "\($0)" } ?? "") \(state.lab?.generation ?? -1) \(state.sort) \(state.filter) \(state.logFollow)"
                if !effects.isEmpty || before != after || state.message != nil {
                    XCTAssertNotNil(Bindings.binding(for: key, on: screen, in: state), "\(screen): \(key) acts but no table has it")
                }
            }
        }
    }

    func testEveryKeyOfAnOpenLineIsInTheInputLinesTable() {
        let probes: [Key] = [.up, .down, .left, .right, .pageUp, .pageDown, .home, .end, .enter, .escape, .tab, .backTab,
                             .backspace, .delete, .character("x"), .character("?"), .control("u"), .control("w")]
        for input in [Input.search("ab"), .command("sort"), .label(neuron: 1, text: "x"), .note(neuron: 1, text: "y"), .search("")] {
            for key in probes {
                var state = self.state()
                state.input = input
                state.message = nil
                let before = "\(String(describing: state.input)) \(state.query) \(state.sort)"
                let effects = state.apply(.key(key))
                let after = "\(String(describing: state.input)) \(state.query) \(state.sort)"
                if !effects.isEmpty || before != after || state.message != nil {
                    XCTAssertTrue(InputLine.keys.bindings.contains { $0.takes(key) }, "\(input): \(key) acts but the table lacks it")
                }
            }
        }
        XCTAssertTrue(Bindings.keysTable().contains("| input line |"))
    }

    func testTheColonHelpListsEveryCommandTheParserTakes() {
        let text = helpText(.neurons, page: .commands)
        for command in Commands.table {
            XCTAssertTrue(text.contains(":" + command.syntax), "\(command.syntax)\n\(text)")
            XCTAssertTrue(Self.shows(command.usage + " " + command.description, in: text), "\(command.usage)\n\(text)")
            for name in command.names { XCTAssertNotNil(Commands.command(named: name)) }
        }
        for name in ["visualize", "vis", "attack", "stroop", "gap", "atlas", "scan", "sort", "filter", "jobs", "log", "q", "q!", "help"] {
            XCTAssertNotNil(Commands.command(named: name), name)
            XCTAssertTrue(Commands.summary.contains(":" + (Commands.command(named: name)!.syntax)), name)
        }
        var state = state()
        _ = state.command("nonsense")
        XCTAssertTrue(state.message?.text.contains(Commands.summary) ?? false, "\(String(describing: state.message))")
        _ = state.command("help")
        XCTAssertEqual(state.help, .commands)
    }

    func testTheHintsLinesComeFromTheBindings() {
        XCTAssertEqual(Bindings.hints(for: .jobs), "c x: cancel, R: run again / resume, Enter: result")
        var state = state()
        state.screen = .jobs
        let info = JobInfo(id: UUID(), kind: "scan", parameters: Data("{}".utf8), unit: "images")
        _ = state.apply(.job(info.id, .started(info)))
        let canvas = TextCanvas(rows: 60, columns: 160)
        _ = Panes.draw(state, on: canvas)
        XCTAssertTrue(canvas.text.contains("(c x: cancel, R: run again / resume, Enter: result)"), canvas.text)
        XCTAssertTrue(canvas.line(0).hasSuffix(" ?:help"), canvas.line(0))
    }

    func testTheFigureViewTakesTheKeysItsHelpNames() {
        let keys = Bindings.table(for: .figure).bindings.flatMap(\.keys)
        for key in [Key.character("n"), .character("p"), .character("j"), .character("k"), .left, .right, .character("h"), .character("l")] {
            XCTAssertTrue(keys.contains(key), "\(key)")
        }
        XCTAssertTrue(Bindings.help(for: .jobs).contains { $0.0 == "c x" }, "x cancels and help says so")
    }

    /// The README's short key table and command line, and docs/keys.md's full tables, are the
    /// generated ones; after a change of the tables, `CLIPSCOPE_UPDATE_README=1 swift test
    /// --filter BindingsTests` writes them into both files.
    func testTheReadmesAndTheKeyDocsTablesAreTheGeneratedOnes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files: [(String, [(String, String)])] = [
            ("README.md", [("keys", Bindings.readmeTable()), ("commands", Bindings.readmeCommandsLine())]),
            ("docs/keys.md", [("keys", Bindings.keysTable()), ("commands", Bindings.commandsTable())]),
        ]
        for (file, generated) in files {
            let url = root.appendingPathComponent(file)
            var text = try String(contentsOf: url, encoding: .utf8)
            func section(_ name: String) -> Range<String.Index>? {
                guard let start = text.range(of: "<!-- \(name): generated -->\n"),
                      let end = text.range(of: "\n<!-- /\(name) -->", range: start.upperBound..<text.endIndex) else { return nil }
                return start.upperBound..<end.lowerBound
            }
            if ProcessInfo.processInfo.environment["CLIPSCOPE_UPDATE_README"] == "1" {
                for (name, table) in generated { if let range = section(name) { text.replaceSubrange(range, with: table) } }
                try text.write(to: url, atomically: true, encoding: .utf8)
            }
            for (name, table) in generated {
                let range = try XCTUnwrap(section(name), "\(file) has no <!-- \(name): generated --> section")
                XCTAssertEqual(String(text[range]), table, "\(file)'s \(name) table (CLIPSCOPE_UPDATE_README=1 rewrites it)")
            }
        }
        // Every binding of every pane is in the README's short table.
        let readme = Bindings.readmeTable()
        for screen in Screen.allCases {
            for binding in Bindings.table(for: screen).bindings {
                XCTAssertTrue(readme.contains("`\(Bindings.tableCell(binding.label))`"), "\(binding.label) of \(screen)")
            }
        }
    }
}
