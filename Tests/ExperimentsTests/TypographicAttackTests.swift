import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import Synchronization
import XCTest

final class TypographicAttackTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "clipscope-attack-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    /// The bounding box of the pixels that differ between two images (nil when none do).
    func changedBox(_ a: Image, _ b: Image) -> (minX: Int, minY: Int, maxX: Int, maxY: Int)? {
        var box: (minX: Int, minY: Int, maxX: Int, maxY: Int)?
        for y in 0..<a.height {
            for x in 0..<a.width where a.color(x: x, y: y) != b.color(x: x, y: y) {
                box = box.map { (min($0.minX, x), min($0.minY, y), max($0.maxX, x), max($0.maxY, y)) } ?? (x, y, x, y)
            }
        }
        return box
    }

    func testTextLandsAtItsOriginAndCentredAndAtThePapersEightScaledOrigins() throws {
        let painter = AttackPainter(font: try Font.standard())
        let clean = Image(width: 500, height: 375, color: Color(90, 140, 200))
        let style = AttackStyle(placement: .origin(x: 120, y: 200), size: 30)
        let attacked = try painter.attack(clean, text: "iPod", style: style)
        let place = try XCTUnwrap(painter.boxes("iPod", style: style, width: 500, height: 375).first)
        let changed = try XCTUnwrap(changedBox(clean, attacked))
        XCTAssertGreaterThanOrEqual(changed.minX, place.x)
        XCTAssertGreaterThanOrEqual(changed.minY, place.y)
        XCTAssertLessThan(changed.maxX, place.x + place.box.width)
        XCTAssertLessThan(changed.maxY, place.y + place.box.height)
        XCTAssertLessThanOrEqual(abs(changed.minX - 120), 4, "the text starts at its origin's x")
        XCTAssertLessThanOrEqual(place.y + place.box.baseline, 200, "the baseline is at the origin's y")
        XCTAssertGreaterThan(changed.maxY, 200 - 2, "glyphs sit on the baseline (the outline reaches it)")

        let centred = try painter.attack(clean, text: "iPod", style: AttackStyle(placement: .centered, size: 30))
        let middle = try XCTUnwrap(changedBox(clean, centred))
        XCTAssertLessThanOrEqual(abs((middle.minX + middle.maxX) / 2 - 250), 3)
        XCTAssertLessThanOrEqual(abs((middle.minY + middle.maxY) / 2 - 187), 6)

        // The paper's frame is 500x375: its origins are used as they are there, scaled elsewhere.
        let paperStyle = AttackStyle(placement: .paper, size: 18)
        let paper = try painter.attack(clean, text: "x", style: paperStyle)
        for origin in AttackPlacement.paperOrigins {
            var found = false
            for y in max(0, origin.y - 14)...min(374, origin.y) {
                for x in origin.x..<min(500, origin.x + 12) where paper.color(x: x, y: y) != clean.color(x: x, y: y) { found = true }
            }
            XCTAssertTrue(found, "text near the paper's origin \(origin)")
        }
        let doubled = try painter.boxes("x", style: paperStyle, width: 1000, height: 750)
        let single = try painter.boxes("x", style: paperStyle, width: 500, height: 375)
        XCTAssertEqual(doubled.map(\.x), single.map { $0.x * 2 })
    }

    func testCoverageEqualsADirectCountOfChangedValuesAndPixels() throws {
        let painter = AttackPainter(font: try Font.standard())
        let clean = Image.testCard(width: 160, height: 120, seed: 3)
        let attacked = try painter.attack(clean, text: "tram", style: AttackStyle(placement: .centered, size: 28, fill: "yellow"))
        var values = 0, pixels = 0
        for y in 0..<clean.height {
            for x in 0..<clean.width {
                let (a, b) = (clean.color(x: x, y: y), attacked.color(x: x, y: y))
                let differing = [a.r != b.r, a.g != b.g, a.b != b.b].filter { $0 }.count
                values += differing
                pixels += differing > 0 ? 1 : 0
            }
        }
        let coverage = AttackCoverage(clean: clean, attacked: attacked)
        XCTAssertGreaterThan(pixels, 50)
        XCTAssertEqual(coverage.coverage, Double(values) / Double(160 * 120), accuracy: 1e-12)
        XCTAssertEqual(coverage.changedPixels, Double(pixels) / Double(160 * 120), accuracy: 1e-12)
        XCTAssertGreaterThan(coverage.coverage, coverage.changedPixels, "the paper's measure counts channels")
    }

    func testBadStylesAndTextsAreRefusedNamingTheOption() throws {
        let painter = AttackPainter(font: try Font.standard())
        XCTAssertThrowsError(try AttackStyle(fill: "blurple").validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "fill") }
        XCTAssertThrowsError(try AttackStyle(outline: "#12345").validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "outline") }
        XCTAssertThrowsError(try AttackPlacement(parsing: "left")) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "position") }
        XCTAssertEqual(try AttackPlacement(parsing: "12, 40"), .origin(x: 12, y: 40))
        XCTAssertThrowsError(try painter.check("a very long attack text", style: AttackStyle(size: 40), width: 96, height: 96)) {
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "text")
        }
        XCTAssertThrowsError(try painter.check("  ", style: AttackStyle(), width: 96, height: 96))
        XCTAssertNoThrow(try painter.check("dog", style: AttackStyle(size: 20), width: 96, height: 96))
        XCTAssertEqual(Color(named: "Orange"), Color(255, 165, 0))
        XCTAssertEqual(Color(named: "#0a0B0c"), Color(10, 11, 12))
    }

    /// A few small images with one that cannot be read.
    func makeFolder(count: Int) throws -> String {
        let images = path("images")
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<count {
            try Image.testCard(width: 80 + 8 * i, height: 72, seed: UInt64(i + 1)).writePNG(path: (images as NSString).appendingPathComponent("card\(i).png"))
        }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: (images as NSString).appendingPathComponent("broken.png")))
        return images
    }

    func batch(_ images: String, output: String, shard: Shard? = nil) -> AttackBatchJob {
        AttackBatchJob(model: Fixture.modelPath, folders: [images], labels: ["dog", "cat", "car", "tree"], template: "a photo of a {}",
                       attacks: [AttackPair(target: "cat", text: "cat"), AttackPair(target: "car", text: "car")],
                       style: AttackStyle(placement: .centered, size: 16), shard: shard, batchSize: 2, output: output)
    }

    func testTheBatchSuccessRateEqualsABruteForceRecomputationAndUnreadableImagesAreListed() throws {
        let images = try makeFolder(count: 5)
        let result = try JobRunner.run(batch(images, output: path("run"))) { _, _ in }.get()
        XCTAssertEqual(result.images, 5)
        XCTAssertEqual(result.skipped.map(\.file), ["broken.png"])

        let model = try Fixture.model()
        let scorer = try AttackScorer(model: model, labels: ["dog", "cat", "car", "tree"], template: "a photo of a {}")
        let painter = AttackPainter(font: try Font.standard())
        for row in result.attacks {
            var successes = 0, coverage = 0.0
            for i in 0..<5 {
                let clean = try DecodedImage.load(path: (images as NSString).appendingPathComponent("card\(i).png")).convertedToRGB()
                let attacked = try painter.attack(clean, text: row.text, style: AttackStyle(placement: .centered, size: 16))
                let top = scorer.probabilities([clean, attacked]).map { scorer.classifier.labels[ZeroShotClassifier.topClass($0)] }
                if top[0] != row.target && top[1] == row.target { successes += 1 }
                coverage += AttackCoverage(clean: clean, attacked: attacked).coverage
            }
            XCTAssertEqual(row.successRate, Double(successes) / 5, accuracy: 1e-12, row.text)
            XCTAssertEqual(row.coverage, coverage / 5, accuracy: 1e-9, row.text)
        }
        XCTAssertTrue(result.attacks.map(\.successRate) == result.attacks.map(\.successRate).sorted(by: >), "sorted like Table II")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("run/table.csv")))
    }

    func testAKilledBatchResumesWithoutRedoingFinishedImagesAndShardsMergeToTheWhole() throws {
        let images = try makeFolder(count: 6)
        let whole = try JobRunner.run(batch(images, output: path("whole"))) { _, _ in }.get()

        let token = CancellationToken()
        let cut = JobRunner.run(batch(images, output: path("cut")), token: token) { _, event in
            if case let .progress(progress) = event, progress.step >= 3 { token.cancel() }
        }
        guard case .cancelled = cut else { return XCTFail("expected a cancelled batch, got \(cut)") }
        let linesBefore = try String(contentsOfFile: path("cut/results.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(linesBefore.count, 3)
        // A kill in the middle of a line leaves a torn last line, which the resume drops.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path("cut/results.jsonl")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"file\":\"card".utf8))
        try handle.close()
        let logs = Mutex<[String]>([])
        let resumed = try JobRunner.run(batch(images, output: path("cut"))) { _, event in
            if case let .log(_, text) = event { logs.withLock { $0.append(text) } }
        }.get()
        XCTAssertTrue(logs.withLock { $0.contains("resuming: 3 of 7 images done") }, "\(logs.withLock { $0 })")
        let lines = try String(contentsOfFile: path("cut/results.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 7, "each image once")
        XCTAssertEqual(Array(lines.prefix(3)), linesBefore, "finished images kept as they were")
        XCTAssertEqual(resumed.attacks, whole.attacks)

        for k in 0..<2 { _ = try JobRunner.run(batch(images, output: path("shard\(k)"), shard: try Shard(index: k, count: 2))) { _, _ in }.get() }
        let merged = try AttackBatchJob.merge(runs: [path("shard0"), path("shard1")])
        XCTAssertEqual(merged.attacks, whole.attacks)
        XCTAssertEqual(merged.skipped, whole.skipped)
        XCTAssertThrowsError(try AttackBatchJob.merge(runs: [path("shard0"), folder]))
    }

    func testBadBatchesFailBeforeWork() throws {
        let empty = path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        var job = batch(empty, output: path("run"))
        XCTAssertThrowsError(try JobRunner.run(job) { _, _ in }.get()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "dir", "\($0)") }
        job.labels = []
        XCTAssertThrowsError(try job.validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "labels") }
        job.labels = ["dog"]
        XCTAssertThrowsError(try job.validate()) { XCTAssertTrue("\($0)".contains("'cat' is not one of the labels")) }
        XCTAssertThrowsError(try AttackPair(parsing: "=x"))
        XCTAssertEqual(try AttackPair(parsing: "great white shark=shark"), AttackPair(target: "great white shark", text: "shark"))
    }

    func testOneAttackReportsDeltasAgainstTheCleanImageAndSavesIt() throws {
        let image = path("card.png")
        try Image.testCard(width: 120, height: 90, seed: 9).writePNG(path: image)
        let job = AttackJob(model: Fixture.modelPath, image: image, text: "car", style: AttackStyle(placement: .centered, size: 20),
                            labels: ["dog", "cat", "car", "tree"], template: "a photo of a {}", top: 4, output: path("one"))
        let result = try JobRunner.run(job) { _, _ in }.get()
        XCTAssertEqual(result.before.count, 4)
        for score in result.after {
            let before = try XCTUnwrap(result.before.first { $0.label == score.label })
            XCTAssertEqual(try XCTUnwrap(score.delta), score.probability - before.probability, accuracy: 1e-6)
        }
        XCTAssertEqual(result.before.map(\.probability).reduce(0, +), 1, accuracy: 1e-4)
        let saved = try DecodedImage.load(path: try XCTUnwrap(result.image))
        XCTAssertEqual(saved.width, 120)
        XCTAssertGreaterThan(result.changedPixels, 0)
    }
}

final class StroopTests: XCTestCase {
    func testThePapersImagesHaveTheExactInksAndSize() throws {
        let font = try Font.standard()
        let settings = StroopSettings.paper
        XCTAssertEqual(settings.cards.count, 8 * 8 + 8 * settings.neutralWords.count)
        let inks: [String: Color] = ["red": Color(255, 0, 0), "blue": Color(0, 0, 255), "green": Color(0, 255, 0),
                                     "yellow": Color(255, 255, 0), "orange": Color(255, 165, 0), "purple": Color(128, 0, 128),
                                     "black": Color(0, 0, 0), "pink": Color(255, 192, 203)]
        XCTAssertEqual(Set(settings.colours.map(\.name)), Set(inks.keys))
        for card in settings.cards where card.word == "green" || card.neutral {
            let image = settings.render(card, font: font)
            XCTAssertEqual([image.width, image.height, image.channels], [400, 200, 3])
            var counts: [Color: Int] = [:]
            for y in 0..<200 { for x in 0..<400 { counts[image.color(x: x, y: y), default: 0] += 1 } }
            XCTAssertEqual(counts.max { $0.value < $1.value }?.key, .white, "a white canvas")
            let ink = counts.filter { $0.key != .white }.max { $0.value < $1.value }?.key
            XCTAssertEqual(ink, inks[card.ink], "\(card.word) in \(card.ink): solid glyph pixels are the exact ink")
            XCTAssertEqual(image.color(x: 0, y: 0), .white)
        }
    }

    func testRatesCountTheConflictingImagesOnly() {
        func scored(_ word: String, _ ink: String, _ top: String, neutral: Bool = false) -> StroopJob.Scored {
            StroopJob.Scored(word: word, ink: ink, neutral: neutral, top: [LabelScore(label: top, probability: 0.9)])
        }
        let result = StroopJob.measure([
            scored("red", "red", "red"), scored("red", "blue", "red"), scored("red", "green", "green"),
            scored("blue", "red", "pink"), scored("table", "red", "red", neutral: true), scored("table", "blue", "red", neutral: true),
        ])
        XCTAssertEqual(result.inkAccuracy, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(result.wordWins, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(result.neutralInkAccuracy, 0.5, accuracy: 1e-12)
    }

    func testAStroopRunWritesItsFigureAndRefusesBadSettings() throws {
        let folder = NSTemporaryDirectory() + "clipscope-stroop-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var settings = StroopSettings.paper
        settings.colours = Array(settings.colours.prefix(3))
        let result = try JobRunner.run(StroopJob(model: Fixture.modelPath, settings: settings, output: folder)) { _, _ in }.get()
        XCTAssertEqual(result.images.count, 3 * 3 + 3)
        XCTAssertTrue(result.images.allSatisfy { $0.top.count == 3 })
        let figure = try DecodedImage.load(path: try XCTUnwrap(result.figure))
        XCTAssertGreaterThan(figure.height, 200)
        settings.fontSize = 400
        XCTAssertThrowsError(try JobRunner.run(StroopJob(model: Fixture.modelPath, settings: settings)) { _, _ in }.get()) {
            XCTAssertTrue("\($0)".contains("does not fit"), "\($0)")
        }
        settings.template = "no placeholder"
        XCTAssertThrowsError(try settings.validate())
    }
}
