import CLIP
import Index
import Foundation
import Imaging
import XCTest

/// `clipscope scan` and the index queries, run as the built binary on generated folders
/// of real PNG/JPEG files and the small reference model.
final class IndexCLITests: XCTestCase {
    static let coreFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("WeightsTests/Fixtures")
    static let model = coreFixtures.appendingPathComponent("model.pt").path

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CLIPSCOPE_BINARY"] { return URL(fileURLWithPath: path) }
        return Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("clipscope")
    }

    struct SetupError: Error, CustomStringConvertible { let description: String }

    var scratch: URL!

    override func setUpWithError() throws {
        _ = QueueIsolation.folder
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetupError(description: "no clipscope binary at \(Self.binary.path): build the product first or set CLIPSCOPE_BINARY")
        }
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-index-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// `count` generated PNGs in each of three categories, a real JPEG and PNG in photos/,
    /// and one corrupt file.
    func makeFolder(count: Int = 8) throws -> URL {
        let root = scratch.appendingPathComponent("images")
        let colours = [("red", Color(210, 40, 40)), ("green", Color(40, 180, 60)), ("blue", Color(40, 60, 210))]
        for (c, (name, colour)) in colours.enumerated() {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0..<count {
                var image = Image(width: 40 + 5 * i, height: 70 - 3 * i, color: Color(UInt8(20 * i), 230, UInt8(30 * c)))
                image.fillRect(x: 3 * i, y: 2 * i + c, width: 12 + 2 * i, height: 20, color: colour)
                image.fillCircle(center: (Double(35 - 2 * i), Double(10 + 3 * i)), radius: Double(4 + i), color: colour)
                try image.writePNG(path: folder.appendingPathComponent("\(name)-\(i).png").path)
            }
        }
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        for name in ["chelsea.jpg", "astronaut.png", "coffee.png"] {
            try FileManager.default.copyItem(at: Self.coreFixtures.appendingPathComponent("images/\(name)"),
                                             to: photos.appendingPathComponent(name))
        }
        try Data("definitely not a png".utf8).write(to: photos.appendingPathComponent("corrupt.png"))
        return root
    }

    struct Result {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    func start(_ arguments: [String]) throws -> (Process, URL, URL) {
        try startClipscope(arguments, scratch: scratch)
    }

    func clipscope(_ arguments: [String]) throws -> Result {
        let (process, out, err) = try start(arguments)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: out),
                      stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    func json(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try clipscope(arguments + ["--json"])
        XCTAssertEqual(result.status, 0, "clipscope \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], result.text, file: file, line: line)
    }

    func failure(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try clipscope(arguments)
        XCTAssertNotEqual(result.status, 0, "should fail: \(arguments)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(result.stderr)", file: file, line: line)
        return String(lines.first ?? "")
    }

    /// Every entry's activations and every neuron's summary, by path.
    func contents(_ path: String) throws -> [String] {
        let index = try ActivationIndex(path: path)
        let scan = try index.scan()
        XCTAssertFalse(scan.stale)
        let entries = try index.entries(scan: scan.id)
        let paths = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0.path) })
        var lines: [String] = []
        for entry in entries {
            let values = try index.activations(scan: scan.id, path: entry.path)?.activations
            lines.append("\(entry.path) \(entry.category) \(entry.status) \(entry.error ?? "") \(values ?? [])")
        }
        for neuron in 0..<scan.model.neurons {
            let summary = try index.summary(scan: scan, neuron: neuron)
            lines.append("\(neuron) \(summary.stats) \(summary.top.map { "\(paths[$0.entry]!)=\($0.value)" }) "
                         + "\(summary.bottom.map { "\(paths[$0.entry]!)=\($0.value)" }) \(summary.bins.map { "\($0.count)/\($0.example.map { paths[$0]! } ?? "")" })")
            lines.append("\(try index.categories(scan: scan, neuron: neuron))")
        }
        return lines
    }

    func testKilledScanResumesToTheSameIndex() throws {
        let folder = try makeFolder()
        let full = scratch.appendingPathComponent("full.index").path
        let whole = try json(["scan", "--model", Self.model, folder.path, "--index", full, "--batch-size", "4"])
        XCTAssertEqual(whole["scanned"] as? Int, 27)

        // Pause after each batch so that the kill lands between commits, after the first.
        let killed = scratch.appendingPathComponent("killed.index").path
        let (process, _, _) = try start(["scan", "--model", Self.model, folder.path, "--index", killed, "--batch-size", "4",
                                         "--pause-after-batch-ms", "2000"])
        var committed = 0
        for _ in 0..<1200 where committed < 4 {
            Thread.sleep(forTimeInterval: 0.05)
            if FileManager.default.fileExists(atPath: killed), let index = try? ActivationIndex(path: killed),
               let scan = try? index.scans().first {
                committed = scan.imageCount
            }
        }
        XCTAssertGreaterThanOrEqual(committed, 4, "the first batch committed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        let interrupted = try ActivationIndex(path: killed).scan()
        XCTAssertTrue(interrupted.stale, "killed before its summaries")
        XCTAssertLessThan(interrupted.imageCount, 27, "killed mid-way")
        let stopped = interrupted.imageCount
        // Queries say what to do rather than answering from a half scan.
        XCTAssertTrue(try failure(["top", "--index", killed, "--neuron", "1"]).contains("interrupted"))

        let resumed = try json(["scan", "--model", Self.model, folder.path, "--index", killed, "--batch-size", "4"])
        XCTAssertEqual(resumed["scanned"] as? Int, 27 - stopped, "committed images are not computed again")
        XCTAssertEqual(try contents(killed), try contents(full))
    }

    func testQueriesAnswerInTheContractShapes() throws {
        let folder = try makeFolder(count: 5)
        let index = scratch.appendingPathComponent("a.index").path
        let scan = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        XCTAssertEqual(scan["index"] as? String, index)
        XCTAssertEqual(scan["scanned"] as? Int, 18)
        XCTAssertNotNil(scan["images_per_second"] as? Double)
        let skipped = try XCTUnwrap(scan["skipped"] as? [[String: Any]])
        XCTAssertEqual(skipped.count, 1)
        XCTAssertEqual(skipped.first?["path"] as? String, folder.appendingPathComponent("photos/corrupt.png").path)
        XCTAssertNotNil(skipped.first?["error"] as? String)

        let grid = scratch.appendingPathComponent("grid.png").path
        let top = try json(["top", "--index", index, "--neuron", "89", "--k", "6", "-o", grid])
        XCTAssertEqual(top["neuron"] as? Int, 89)
        let images = try XCTUnwrap(top["images"] as? [[String: Any]])
        XCTAssertEqual(images.count, 6)
        let activations = images.compactMap { $0["activation"] as? Double }
        XCTAssertEqual(activations, activations.sorted(by: >))
        XCTAssertTrue(images.allSatisfy { $0["path"] is String && $0["category"] is String })
        XCTAssertNoThrow(try Image.load(path: grid))
        let bottom = try json(["top", "--index", index, "--neuron", "89", "--k", "18", "--bottom"])
        let lowest = try XCTUnwrap(bottom["images"] as? [[String: Any]]).compactMap { $0["activation"] as? Double }
        XCTAssertEqual(lowest, lowest.sorted())
        XCTAssertEqual(lowest.last, activations.first)

        let plot = scratch.appendingPathComponent("plot.png").path
        let categories = try json(["categories", "--index", index, "--neuron", "89", "-o", plot])
        let rows = try XCTUnwrap(categories["categories"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["name"] as? String }, ["blue", "green", "photos", "red"])
        XCTAssertEqual(rows.compactMap { $0["count"] as? Int }, [5, 5, 3, 5])
        XCTAssertTrue(rows.allSatisfy { $0["mean"] is Double && $0["max"] is Double })
        XCTAssertEqual(try XCTUnwrap(rows.compactMap { $0["max"] as? Double }.max()), try XCTUnwrap(activations.first), accuracy: 1e-6)
        XCTAssertNoThrow(try Image.load(path: plot))

        let histogram = try json(["histogram", "--index", index, "--neuron", "89"])
        let bins = try XCTUnwrap(histogram["bins"] as? [[String: Any]])
        XCTAssertEqual(bins.compactMap { $0["count"] as? Int }.reduce(0, +), 18)
        for bin in bins where (bin["count"] as? Int ?? 0) > 0 { XCTAssertTrue(bin["example"] is String) }

        let photo = folder.appendingPathComponent("photos/chelsea.jpg").path
        let neurons = try json(["neurons", "--index", index, "--image", photo, "--k", "5"])
        XCTAssertEqual(neurons["image"] as? String, photo)
        let excited = try XCTUnwrap(neurons["neurons"] as? [[String: Any]])
        XCTAssertEqual(excited.count, 5)
        let values = excited.compactMap { $0["activation"] as? Double }
        XCTAssertEqual(values, values.sorted(by: >))
        // An image outside the index is computed with the scan's model, with the same numbers.
        let outside = scratch.appendingPathComponent("outside.jpg").path
        try FileManager.default.copyItem(atPath: photo, toPath: outside)
        let computed = try json(["neurons", "--index", index, "--image", outside, "--k", "5", "--model", Self.model])
        let computedValues = try XCTUnwrap(computed["neurons"] as? [[String: Any]])
        XCTAssertEqual(computedValues.compactMap { $0["neuron"] as? Int }, excited.compactMap { $0["neuron"] as? Int })
        for (a, b) in zip(computedValues.compactMap { $0["activation"] as? Double }, values) { XCTAssertEqual(a, b, accuracy: 2e-3 * max(1, abs(b))) }
        XCTAssertTrue(try failure(["neurons", "--index", index, "--image", outside]).contains("give --model"))

        let words = scratch.appendingPathComponent("words.txt").path
        try "# colours\nred\ngreen\nblue\n\na cat\n".write(toFile: words, atomically: true, encoding: .utf8)
        let labels = try json(["label", "--index", index, "--model", Self.model, "--words", words, "--neurons", "0-3"])
        let proposed = try XCTUnwrap(labels["labels"] as? [[String: Any]])
        XCTAssertEqual(proposed.compactMap { $0["neuron"] as? Int }, [0, 1, 2, 3])
        XCTAssertTrue(proposed.allSatisfy { ["red", "green", "blue", "a cat"].contains($0["label"] as? String ?? "") && $0["score"] is Double })
        XCTAssertEqual(try clipscope(["label", "--index", index, "--set", "2", "two's my label", "--note", "checked"]).status, 0)
        let after = try XCTUnwrap(try json(["label", "--index", index])["labels"] as? [[String: Any]])
        XCTAssertEqual(after[2]["label"] as? String, "two's my label")
        XCTAssertEqual(after[2]["source"] as? String, "user")
        XCTAssertEqual(after[2]["note"] as? String, "checked")
        XCTAssertEqual(after[1]["source"] as? String, "proposed")
    }

    func testShardsMergeIntoTheSameIndexAsOneScan() throws {
        let folder = try makeFolder(count: 4)
        let whole = scratch.appendingPathComponent("whole.index").path
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", whole])
        var shards: [String] = []
        var total = 0
        for k in 0..<2 {
            let shard = scratch.appendingPathComponent("shard\(k).index").path
            let result = try json(["scan", "--model", Self.model, folder.path, "--index", shard, "--shard", "\(k)/2"])
            total += (result["scanned"] as? Int ?? 0) + (result["skipped"] as? [Any] ?? []).count
            shards.append(shard)
        }
        XCTAssertEqual(total, 16)
        let merged = scratch.appendingPathComponent("merged.index").path
        XCTAssertEqual(try clipscope(["index", "merge"] + shards + ["-o", merged]).status, 0)
        XCTAssertEqual(try contents(merged), try contents(whole))
        XCTAssertTrue(try failure(["index", "merge"] + shards + ["-o", merged]).contains("already exists"))
    }

    func testBadInputFailsWithOneLine() throws {
        let empty = scratch.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let index = scratch.appendingPathComponent("a.index").path
        XCTAssertEqual(try failure(["scan", "--model", Self.model, empty.path, "--index", index]),
                       "clipscope: \(empty.path): no images (.jpg, .jpeg, .png) found")
        XCTAssertTrue(try failure(["scan", "--model", Self.model, empty.path, "--shard", "2/2"]).contains("--shard"))
        XCTAssertTrue(try failure(["top", "--index", index, "--neuron", "1"]).contains("no such index"))
        let folder = try makeFolder(count: 1)
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        XCTAssertEqual(try failure(["top", "--index", index, "--neuron", "999"]),
                       "clipscope: --neuron 999 is out of range: model has neurons 0...255")
        XCTAssertTrue(try failure(["top", "--index", index, "--neuron", "1", "--scan", "block"]).contains("no scan matches"))
        XCTAssertTrue(try failure(["top", "--index", Self.model, "--neuron", "1"]).contains("not a clipscope index"))
    }

    func testScanRefusesADamagedIndexAndSaysHowToRecover() throws {
        let folder = try makeFolder(count: 2)
        let index = scratch.appendingPathComponent("damaged.index").path
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        // 20 pages of the middle of a good index overwritten, as a failing disk would.
        let page = 4096
        var bytes = try Data(contentsOf: URL(fileURLWithPath: index))
        let pages = bytes.count / page
        XCTAssertGreaterThanOrEqual(pages, 24, "an index large enough to damage its middle")
        let first = max(1, pages / 2 - 10)
        for offset in first * page..<min(bytes.count, (first + 20) * page) { bytes[offset] = UInt8(truncatingIfNeeded: offset &* 131 &+ 7) }
        try bytes.write(to: URL(fileURLWithPath: index))

        let rescan = try failure(["scan", "--model", Self.model, folder.path, "--index", index])
        XCTAssertTrue(rescan.hasPrefix("clipscope: \(index): the index is damaged ("), rescan)
        XCTAssertTrue(rescan.hasSuffix("move it aside and scan again to rebuild it"), rescan)
        // Moved aside, a scan makes a whole index again.
        try FileManager.default.moveItem(atPath: index, toPath: index + ".damaged")
        XCTAssertEqual(try json(["scan", "--model", Self.model, folder.path, "--index", index])["scanned"] as? Int, 9)
    }

    func testQueriesNeverWriteTheIndexAndRefuseAFileThatIsNotOne() throws {
        let empty = scratch.appendingPathComponent("empty.index").path
        FileManager.default.createFile(atPath: empty, contents: nil)
        for query in [["top", "--index", empty, "--neuron", "1"], ["label", "--index", empty], ["index", "list", empty]] {
            XCTAssertTrue(try failure(query).hasSuffix("\(empty): not a clipscope index"), "\(query)")
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: empty)[.size] as? Int, 0, "\(query) left the file as it was")
        }

        let folder = try makeFolder(count: 1)
        let index = scratch.appendingPathComponent("good.index").path
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        _ = try clipscope(["label", "--index", index, "--set", "3", "a label"])
        let before = try Data(contentsOf: URL(fileURLWithPath: index))
        for query in [["top", "--index", index, "--neuron", "1"], ["categories", "--index", index, "--neuron", "1"],
                      ["histogram", "--index", index, "--neuron", "1"], ["label", "--index", index], ["index", "list", index]] {
            XCTAssertEqual(try clipscope(query).status, 0, "\(query)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: index)), before, "queries read the index only")
        // SQLite's read-only readers of a WAL file may leave its -wal beside it: empty.
        let wal = index + "-wal"
        if FileManager.default.fileExists(atPath: wal) {
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int, 0)
        }
    }

    func testLabelsAndNotesHaveAMaximumLengthAndTheListingHasNoTrailingSpaces() throws {
        let folder = try makeFolder(count: 1)
        let index = scratch.appendingPathComponent("labels.index").path
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        let longest = String(repeating: "w", count: NeuronLabel.maximumLabelLength)
        XCTAssertEqual(try failure(["label", "--index", index, "--set", "1", longest + "w"]),
                       "clipscope: a label is at most \(NeuronLabel.maximumLabelLength) characters; this one has \(NeuronLabel.maximumLabelLength + 1)")
        let note = String(repeating: "n", count: NeuronLabel.maximumNoteLength + 1)
        XCTAssertEqual(try failure(["label", "--index", index, "--set", "1", "short", "--note", note]),
                       "clipscope: a note is at most \(NeuronLabel.maximumNoteLength) characters; this one has \(NeuronLabel.maximumNoteLength + 1)")
        XCTAssertEqual(try clipscope(["label", "--index", index, "--set", "1", longest]).status, 0)
        XCTAssertEqual(try clipscope(["label", "--index", index, "--set", "2", "short", "--note", "a note"]).status, 0)
        XCTAssertEqual(try clipscope(["label", "--index", index, "--set", "3", "mid"]).status, 0)

        let listing = try clipscope(["label", "--index", index])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        let lines = listing.text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, listing.text)
        XCTAssertTrue(lines[0].hasPrefix("1  \(longest)  (yours)"), lines[0])
        XCTAssertEqual(lines[1], "2  short" + String(repeating: " ", count: longest.count - 5) + "  (yours)  a note")
        XCTAssertEqual(lines[2], "3  mid" + String(repeating: " ", count: longest.count - 3) + "  (yours)", "no trailing spaces")
    }

    /// A label, a path and an error message holding escape sequences are printed in caret notation,
    /// never as escapes the terminal would obey; JSON keeps the label as it is (escaped by the encoder).
    func testControlCharactersInLabelsPathsAndErrorsAreShownNotObeyed() throws {
        let folder = try makeFolder(count: 1)
        let index = scratch.appendingPathComponent("escapes.index").path
        _ = try json(["scan", "--model", Self.model, folder.path, "--index", index])
        let hostile = "\u{1B}[31mred\u{1B}]0;pwned\u{07}\u{9B}2J\u{7F}"
        let shown = "^[[31mred^[]0;pwned^GM-^[2J^?"

        let set = try clipscope(["label", "--index", index, "--set", "1", hostile])
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertEqual(set.text, "neuron 1: \(shown)\n")
        let listing = try clipscope(["label", "--index", index])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        XCTAssertTrue(listing.text.contains("1  \(shown)  (yours)"), listing.text)
        for output in [set.text, listing.text] {
            XCTAssertFalse(output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x9B || $0.value == 0x07 }, output)
        }
        let document = try json(["label", "--index", index])
        XCTAssertTrue("\(document)".contains("pwned"))
        XCTAssertEqual((document["labels"] as? [[String: Any]])?.first?["label"] as? String, hostile, "JSON keeps the label as set")

        let message = try failure(["top", "--index", "/nonexistent/\u{1B}[2J.index", "--neuron", "0"])
        XCTAssertTrue(message.contains("/nonexistent/^[[2J.index"), message)
        XCTAssertFalse(message.unicodeScalars.contains { $0.value == 0x1B }, message)
    }
}
