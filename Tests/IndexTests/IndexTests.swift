import CLIP
import Foundation
import Imaging
import Index
import Jobs
import Support
import Tensor
import XCTest

/// The activation index on generated folders of real PNG/JPEG files and the reference model.
final class IndexTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws { scratch = try IndexFixtures.scratch("index") }
    override func tearDownWithError() throws { if let scratch { try? FileManager.default.removeItem(at: scratch) } }

    /// Each readable file's activations computed directly, one image at a time.
    func bruteForce(_ paths: [String], tap: NeuronTap = .conv3, reduce: ActivationReduce = .max) throws -> [String: [Float]] {
        let model = try CLIPModel.load(path: IndexFixtures.model)
        var result: [String: [Float]] = [:]
        for path in paths {
            guard let image = try? DecodedImage.load(path: path) else { continue }
            let map = model.visual.neuronMap(model.pixels([image]), tap: tap)
            result[path] = (reduce == .max ? map.spatialMax() : map.spatialMean()).values
        }
        return result
    }

    /// binary16 keeps 11 significant bits; batching may move the last float bits.
    func tolerance(_ value: Float) -> Float { 2e-3 * max(1, abs(value)) }

    func testTopKEqualsBruteForceRanking() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder)
        let indexURL = scratch.appendingPathComponent("a.index")
        let result = try IndexFixtures.scan([folder], index: indexURL)
        let expected = try bruteForce(paths)
        XCTAssertEqual(result.scanned, expected.count)
        XCTAssertEqual(result.images, expected.count)

        let index = try ActivationIndex(path: indexURL.path)
        let scan = try index.scan()
        XCTAssertEqual(scan.imageCount, expected.count)
        XCTAssertFalse(scan.stale)
        let ids = Dictionary(uniqueKeysWithValues: try index.entries(scan: scan.id).map { ($0.id, $0.path) })
        for neuron in [0, 7, 89, 128, 255] {
            let summary = try index.summary(scan: scan, neuron: neuron)
            let truth = expected.map { (path: $0.key, value: $0.value[neuron]) }.sorted { $0.value > $1.value }
            let k = 10
            XCTAssertEqual(summary.top.count, min(NeuronSummary.rankedCount, expected.count))
            for rank in 0..<k {
                let entry = summary.top[rank]
                let path = try XCTUnwrap(ids[entry.entry])
                // Same value at each rank, and the image there really has that value.
                XCTAssertEqual(entry.value, truth[rank].value, accuracy: tolerance(truth[rank].value), "neuron \(neuron) rank \(rank)")
                XCTAssertEqual(expected[path]![neuron], entry.value, accuracy: tolerance(entry.value), "neuron \(neuron) \(path)")
            }
            let ascending = truth.reversed().map(\.value)
            for rank in 0..<k {
                XCTAssertEqual(summary.bottom[rank].value, ascending[rank], accuracy: tolerance(ascending[rank]))
            }
            XCTAssertEqual(summary.stats.count, expected.count)
            XCTAssertEqual(summary.stats.max, Double(truth.first!.value), accuracy: Double(tolerance(truth.first!.value)))
            XCTAssertEqual(summary.stats.min, Double(truth.last!.value), accuracy: Double(tolerance(truth.last!.value)))
            XCTAssertEqual(summary.bins.map(\.count).reduce(0, +), expected.count)
            for bin in summary.bins where bin.count > 0 {
                let example = try XCTUnwrap(bin.example.flatMap { ids[$0] })
                let value = Double(expected[example]![neuron])
                XCTAssertTrue(value >= bin.low - 2e-3 && value <= bin.high + 2e-3, "bin example \(value) outside [\(bin.low), \(bin.high)]")
            }
        }
    }

    func testRankingsLongerThanTheStoredListsComeFromAllRows() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder, perCategory: 40, corrupt: false)
        let indexURL = scratch.appendingPathComponent("a.index")
        try IndexFixtures.scan([folder], index: indexURL, batch: 16)
        let expected = try bruteForce(paths)
        let index = try ActivationIndex(path: indexURL.path)
        let scan = try index.scan()
        XCTAssertGreaterThan(scan.imageCount, NeuronSummary.rankedCount)
        for bottom in [false, true] {
            let neuron = 17
            let long = try index.ranking(scan: scan, neuron: neuron, k: scan.imageCount + 5, bottom: bottom)
            XCTAssertEqual(long.count, scan.imageCount)
            XCTAssertEqual(Set(long.map(\.entry.path)), Set(expected.keys))
            let truth = expected.values.map { $0[neuron] }.sorted(by: bottom ? (<) : (>))
            for (rank, item) in long.enumerated() {
                XCTAssertEqual(item.value, truth[rank], accuracy: tolerance(truth[rank]))
                XCTAssertEqual(expected[item.entry.path]![neuron], item.value, accuracy: tolerance(item.value))
            }
            // The stored list and the full pass agree, ties included.
            let short = try index.ranking(scan: scan, neuron: neuron, k: NeuronSummary.rankedCount, bottom: bottom)
            XCTAssertEqual(short.map(\.entry.path), long.prefix(NeuronSummary.rankedCount).map(\.entry.path))
            XCTAssertEqual(short.map(\.value), long.prefix(NeuronSummary.rankedCount).map(\.value))
        }
    }

    func testCategoryStatsEqualDirectComputation() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder)
        let indexURL = scratch.appendingPathComponent("a.index")
        try IndexFixtures.scan([folder], index: indexURL, batch: 5)
        let expected = try bruteForce(paths)
        let index = try ActivationIndex(path: indexURL.path)
        let scan = try index.scan()
        for neuron in [3, 42, 200] {
            let categories = try index.categories(scan: scan, neuron: neuron)
            XCTAssertEqual(categories.map(\.name), ["blue", "green", "photos", "red"])
            for category in categories {
                let values = expected.filter { URL(fileURLWithPath: $0.key).deletingLastPathComponent().lastPathComponent == category.name }
                    .map { Double($0.value[neuron]) }.sorted()
                XCTAssertEqual(category.stats.count, values.count, category.name)
                let mean = values.reduce(0, +) / Double(values.count)
                let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
                let scale = max(1, values.map(abs).max()!)
                XCTAssertEqual(category.stats.mean, mean, accuracy: 2e-3 * scale, category.name)
                XCTAssertEqual(category.stats.std, std, accuracy: 2e-3 * scale, category.name)
                XCTAssertEqual(category.stats.max, values.last!, accuracy: 2e-3 * scale)
                XCTAssertEqual(category.stats.min, values.first!, accuracy: 2e-3 * scale)
                for (level, quantile) in zip(ActivationStats.quantileLevels, category.stats.quantiles) {
                    let position = level * Double(values.count - 1)
                    let below = Int(position), above = min(values.count - 1, below + 1)
                    let direct = values[below] + (values[above] - values[below]) * (position - Double(below))
                    XCTAssertEqual(quantile, direct, accuracy: 2e-3 * scale, "\(category.name) q\(level)")
                }
                XCTAssertEqual(category.density.reduce(0, +), values.count)
            }
        }
    }

    func testCorruptFilesAreSkippedAndListed() throws {
        let folder = scratch.appendingPathComponent("images")
        try IndexFixtures.makeFolder(folder, perCategory: 3)
        let indexURL = scratch.appendingPathComponent("a.index")
        let result = try IndexFixtures.scan([folder], index: indexURL)
        XCTAssertEqual(result.skipped.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["garbage.jpg", "truncated.png"])
        for skipped in result.skipped {
            XCTAssertFalse(skipped.error.isEmpty)
            XCTAssertFalse(skipped.error.contains("\n"))
            XCTAssertFalse(skipped.error.hasPrefix(skipped.path), "the reason does not repeat the path")
        }
        let index = try ActivationIndex(path: indexURL.path)
        let scan = try index.scan()
        XCTAssertEqual(scan.skippedCount, 2)
        let broken = try XCTUnwrap(index.activations(scan: scan.id, path: result.skipped[0].path))
        XCTAssertEqual(broken.entry.status, .skipped)
        XCTAssertNil(broken.activations)
        // A rescan does not retry unchanged broken files, and still lists them.
        let again = try IndexFixtures.scan([folder], index: indexURL)
        XCTAssertEqual(again.scanned, 0)
        XCTAssertEqual(again.skipped, result.skipped)
    }

    func testAFolderGivenAsALinkIsWalkedAndLinksThatLeadNowhereOrBackAreListedAsSkipped() throws {
        let real = scratch.appendingPathComponent("real"), elsewhere = scratch.appendingPathComponent("elsewhere")
        for folder in [real.appendingPathComponent("red"), elsewhere] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        try IndexFixtures.picture(category: 0, seed: 1).writePNG(path: real.appendingPathComponent("red/a.png").path)
        try IndexFixtures.picture(category: 2, seed: 2).writePNG(path: elsewhere.appendingPathComponent("b.png").path)
        let files = FileManager.default
        try files.createSymbolicLink(atPath: real.appendingPathComponent("blue").path, withDestinationPath: elsewhere.path)
        try files.createSymbolicLink(atPath: real.appendingPathComponent("gone.png").path, withDestinationPath: "/nonexistent/gone.png")
        try files.createSymbolicLink(atPath: real.appendingPathComponent("red/up").path, withDestinationPath: "..")
        try files.createSymbolicLink(atPath: real.appendingPathComponent("self").path, withDestinationPath: "self")
        let link = scratch.appendingPathComponent("L")
        try files.createSymbolicLink(atPath: link.path, withDestinationPath: real.path)

        let walk = try ImageFolders.walk([link.path])
        let root = ImageFolders.absolute(link.path)
        XCTAssertEqual(walk.files.map(\.path), [root + "/blue/b.png", root + "/red/a.png"])
        XCTAssertEqual(walk.files.map(\.category), ["blue", "red"])
        XCTAssertEqual(walk.skipped.map(\.path), [root + "/gone.png", root + "/red/up", root + "/self"])
        XCTAssertTrue(walk.skipped[0].error.contains("dangling"), walk.skipped[0].error)
        XCTAssertTrue(walk.skipped[1].error.contains("loop") && walk.skipped[2].error.contains("loop"), "\(walk.skipped)")

        let result = try IndexFixtures.scan([link], index: scratch.appendingPathComponent("a.index"))
        XCTAssertEqual(result.images, 2)
        XCTAssertEqual(result.skipped.map(\.path), walk.skipped.map(\.path))
    }

    func testGrownFolderAddsOnlyNewAndChangedFiles() throws {
        let folder = scratch.appendingPathComponent("images")
        try IndexFixtures.makeFolder(folder, perCategory: 6, corrupt: false)
        let indexURL = scratch.appendingPathComponent("a.index")
        let first = try IndexFixtures.scan([folder], index: indexURL)
        // Three new files, one rewritten with other content, one deleted.
        try IndexFixtures.makeFolder(folder, perCategory: 1, corrupt: false, seedOffset: 50)
        let changed = folder.appendingPathComponent("red/red-00.png")
        try IndexFixtures.picture(category: 2, seed: 1234).writePNG(path: changed.path)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("green/green-01.png"))
        let second = try IndexFixtures.scan([folder], index: indexURL)
        XCTAssertEqual(second.scanned, 4)
        XCTAssertEqual(second.removed, 1)
        XCTAssertEqual(second.unchanged, first.images - 2)
        XCTAssertEqual(second.images, first.images + 2)
        // The same as scanning the final folder from scratch.
        let fresh = scratch.appendingPathComponent("fresh.index")
        try IndexFixtures.scan([folder], index: fresh)
        XCTAssertEqual(try IndexFixtures.snapshot(indexURL.path), try IndexFixtures.snapshot(fresh.path))
        let third = try IndexFixtures.scan([folder], index: indexURL)
        XCTAssertEqual(third.scanned, 0)
        XCTAssertEqual(third.removed, 0)
    }

    func testMergedShardsEqualOneScan() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder, perCategory: 8)
        let whole = scratch.appendingPathComponent("whole.index")
        try IndexFixtures.scan([folder], index: whole)
        var shardFiles: [String] = []
        var seen = 0
        for k in 0..<3 {
            let url = scratch.appendingPathComponent("shard\(k).index")
            let result = try IndexFixtures.scan([folder], index: url, shard: try Shard(index: k, count: 3))
            seen += result.images + result.skipped.count
            shardFiles.append(url.path)
        }
        XCTAssertEqual(seen, paths.count + 2, "the shards partition the files")
        let merged = scratch.appendingPathComponent("merged.index").path
        let report = try ActivationIndex.merge(inputs: shardFiles, output: merged)
        XCTAssertEqual(report.scans.count, 1)
        XCTAssertEqual(try IndexFixtures.snapshot(merged), try IndexFixtures.snapshot(whole.path))
        // Merging never overwrites.
        XCTAssertThrowsError(try ActivationIndex.merge(inputs: shardFiles, output: merged)) {
            XCTAssertTrue("\($0)".contains("already exists"), "\($0)")
        }
    }

    func testSeveralScansInOneIndexAndSelection() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder, perCategory: 2, corrupt: false)
        let indexURL = scratch.appendingPathComponent("a.index")
        try IndexFixtures.scan([folder], index: indexURL)
        let job = ScanJob(model: IndexFixtures.model, folders: [folder.path], index: indexURL.path, tap: .block, reduce: .mean)
        try JobRunner.run(job, sink: { _, _ in }).get()
        let index = try ActivationIndex(path: indexURL.path)
        XCTAssertEqual(try index.scans().count, 2)
        let block = try index.scan("block")
        XCTAssertEqual(block.tap, .block)
        XCTAssertEqual(block.reduce, .mean)
        XCTAssertEqual(try index.scan("conv3 max").tap, .conv3)
        XCTAssertEqual(try index.scan("2").id, block.id)
        XCTAssertEqual(try index.scan().id, block.id, "the latest by default")
        XCTAssertThrowsError(try index.scan("model")) { XCTAssertTrue("\($0)".contains("matches 2 scans"), "\($0)") }
        XCTAssertThrowsError(try index.scan("9")) { XCTAssertTrue("\($0)".contains("no scan #9"), "\($0)") }
        // The block/mean scan holds the block tap's spatial means.
        let expected = try bruteForce([paths[0]], tap: .block, reduce: .mean)[paths[0]]!
        let stored = try XCTUnwrap(index.activations(scan: block.id, path: paths[0])?.activations)
        for n in stride(from: 0, to: expected.count, by: 17) { XCTAssertEqual(stored[n], expected[n], accuracy: tolerance(expected[n])) }
    }

    func testBadInputGivesOneLineErrors() throws {
        let empty = scratch.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: empty.appendingPathComponent("sub/readme.txt"))
        let indexURL = scratch.appendingPathComponent("a.index")
        XCTAssertThrowsError(try IndexFixtures.scan([empty], index: indexURL)) {
            XCTAssertEqual("\($0)", "\(empty.path): no images (.jpg, .jpeg, .png) found")
        }
        XCTAssertThrowsError(try IndexFixtures.scan([scratch.appendingPathComponent("missing")], index: indexURL)) {
            XCTAssertTrue("\($0)".hasSuffix("missing: no such folder"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: indexURL.path), "a failed scan leaves no index behind")

        let notIndex = scratch.appendingPathComponent("other.sqlite").path
        try Data("not sqlite at all, just some text that is long enough to look like a header....".utf8).write(to: URL(fileURLWithPath: notIndex))
        XCTAssertThrowsError(try ActivationIndex(path: notIndex)) { XCTAssertTrue("\($0)".contains("not a clipscope index"), "\($0)") }
        XCTAssertThrowsError(try ActivationIndex(path: scratch.appendingPathComponent("none.index").path)) {
            XCTAssertTrue("\($0)".contains("no such index"), "\($0)")
        }

        let folder = scratch.appendingPathComponent("images")
        try IndexFixtures.makeFolder(folder, perCategory: 1, corrupt: false)
        try IndexFixtures.scan([folder], index: indexURL)
        let index = try ActivationIndex(path: indexURL.path)
        let scan = try index.scan()
        XCTAssertThrowsError(try index.summary(scan: scan, neuron: 256)) {
            XCTAssertEqual("\($0)", "neuron 256 is out of range: model has neurons 0...255")
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "neuron", "the command line shows it as --neuron")
        }
        // A scan interrupted between batches answers with a clear error until finished.
        try index.commit(scan: scan.id, records: [EntryRecord(path: "/x.png", category: "x", size: 1, mtimeNanoseconds: 1,
                                                              activations: [Float](repeating: 1, count: 256))])
        XCTAssertThrowsError(try index.summary(scan: try index.scan(), neuron: 0)) {
            XCTAssertTrue("\($0)".contains("was interrupted"), "\($0)")
        }
    }

    func testStoredEmbeddingsMatchTheModelAndLabelsPreferPeople() throws {
        let folder = scratch.appendingPathComponent("images")
        let paths = try IndexFixtures.makeFolder(folder, perCategory: 3, corrupt: false)
        let withEmbeddings = scratch.appendingPathComponent("e.index")
        let without = scratch.appendingPathComponent("n.index")
        try IndexFixtures.scan([folder], index: withEmbeddings, embeddings: true)
        try IndexFixtures.scan([folder], index: without)
        let model = try CLIPModel.load(path: IndexFixtures.model)

        let stored = try ActivationIndex(path: withEmbeddings.path)
        let storedScan = try stored.scan()
        XCTAssertEqual(storedScan.embeddingCount, paths.count)
        // Activations do not depend on whether embeddings were stored.
        XCTAssertEqual(try IndexFixtures.snapshot(withEmbeddings.path), try IndexFixtures.snapshot(without.path))

        let entries = try stored.entries(scan: storedScan.id)
        let fromStore = try NeuronLabeler(model: model, index: stored, scan: storedScan).imageEmbeddings(entries)
        let plain = try ActivationIndex(path: without.path)
        let plainEntries = try plain.entries(scan: try plain.scan().id)
        let recomputed = try NeuronLabeler(model: model, index: plain, scan: try plain.scan()).imageEmbeddings(plainEntries)
        XCTAssertEqual(fromStore.count, paths.count)
        XCTAssertEqual(recomputed.count, paths.count)
        let recomputedByPath = Dictionary(uniqueKeysWithValues: plainEntries.map { ($0.path, recomputed[$0.id]!) })
        for entry in entries {
            let a = fromStore[entry.id]!, b = recomputedByPath[entry.path]!
            let cosine = zip(a, b).map { $0 * $1 }.reduce(0, +)
            XCTAssertGreaterThan(cosine, 0.999, entry.path)
        }

        let words = ["red", "green", "blue", "yellow", "a cat", "an astronaut", "coffee", "a camera"]
        let labeler = try NeuronLabeler(model: model, index: stored, scan: storedScan)
        let proposals = try labeler.propose(neurons: [0, 1, 2, 3], words: words, topK: 5)
        XCTAssertEqual(proposals.map(\.neuron), [0, 1, 2, 3])
        let texts = try ZeroShotClassifier(model: model, labels: words, template: "a photo of {}.").classEmbeddings.rows()
        for proposal in proposals {
            XCTAssertTrue(words.contains(proposal.label))
            // The proposal is the best word for the centroid of the top 5 images.
            let top = try stored.summary(scan: storedScan, neuron: proposal.neuron).top.prefix(5)
            var centroid = [Float](repeating: 0, count: model.config.embedDim)
            for item in top { for (i, v) in fromStore[item.entry]!.enumerated() { centroid[i] += v } }
            let norm = centroid.map { $0 * $0 }.reduce(0, +).squareRoot()
            let scores = texts.map { text in zip(centroid, text).map { $0 * $1 }.reduce(0, +) / norm }
            XCTAssertEqual(proposal.score, Double(scores.max()!), accuracy: 1e-4)
            XCTAssertEqual(proposal.label, words[scores.firstIndex(of: scores.max()!)!])
        }
        try stored.setUserLabel(fingerprint: storedScan.model.fingerprint, neuron: 1, label: "my label", note: "seen on stripes")
        let labels = try stored.labels(scan: storedScan)
        XCTAssertEqual(labels.map(\.neuron), [0, 1, 2, 3])
        XCTAssertEqual(labels[1], NeuronLabel(neuron: 1, label: "my label", score: nil, source: "user", note: "seen on stripes"))
        XCTAssertEqual(labels[0].source, "proposed")

        // Another model's index is refused.
        let other = CLIPModel(config: model.config, randomSeed: 3)
        XCTAssertThrowsError(try NeuronLabeler(model: other, index: stored, scan: storedScan)) {
            XCTAssertTrue("\($0)".contains("another model"), "\($0)")
        }
    }

    func testHalfFloatRoundsLikeFloat16() {
        var values: [Float] = [0, -0, 1, -1, 0.1, 65504, 65520, 1e-8, 6e-8, 3e-5, -2.5e-7, .infinity, -.infinity, 1.0009765625, 1.00048828125]
        var random = IndexFixtures.Generator(state: 5)
        for _ in 0..<20000 {
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: random.next() << 1 | random.next() & 1)))
        }
        for value in values where !value.isNaN {
            let bits = HalfFloat.bits(value)
            #if !(os(macOS) && arch(x86_64))
            XCTAssertEqual(bits, Float16(value).bitPattern, "\(value)")
            XCTAssertEqual(HalfFloat.value(bits), Float(Float16(bitPattern: bits)), "\(value)")
            #endif
        }
        XCTAssertTrue(HalfFloat.value(HalfFloat.bits(.nan)).isNaN)
        XCTAssertEqual(HalfFloat.decode(HalfFloat.encode([1.5, -2, 0.25])), [1.5, -2, 0.25])
    }
}
