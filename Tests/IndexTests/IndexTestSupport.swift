import CLIP
import Foundation
import Imaging
import Index
import Jobs
import Support
import Tensor
import XCTest

/// Folders of real PNG and JPEG files for index tests, and ways to compare indexes.
enum IndexFixtures {
    static let coreFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("WeightsTests/Fixtures")
    static let renderFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ImagingTests/Fixtures")
    static var model: String { coreFixtures.appendingPathComponent("model.pt").path }

    static func scratch(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A small deterministic generator (tests need reproducible pictures, not quality).
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    }

    /// A picture of coloured shapes whose palette depends on the category.
    static func picture(category: Int, seed: UInt64) -> Image {
        var random = Generator(state: seed &* 7919 &+ UInt64(category))
        let width = random.int(40...90), height = random.int(40...90)
        let base: [Color] = [Color(200, 40, 30), Color(30, 170, 60), Color(40, 60, 200), Color(230, 200, 40)]
        var image = Image(width: width, height: height, color: Color(UInt8(random.int(0...255)), UInt8(random.int(0...255)), 240))
        for _ in 0..<random.int(2...6) {
            let color = base[(category + random.int(0...1)) % base.count]
            if random.int(0...1) == 0 {
                image.fillRect(x: random.int(0...width / 2), y: random.int(0...height / 2), width: random.int(5...width / 2),
                               height: random.int(5...height / 2), color: color)
            } else {
                image.fillCircle(center: (Double(random.int(0...width)), Double(random.int(0...height))),
                                 radius: Double(random.int(4...20)), color: color)
            }
        }
        return image
    }

    static let categories = ["red", "green", "blue"]

    /// `perCategory` generated PNGs in each of red/, green/, blue/, real photos (PNG and
    /// JPEG) in photos/, and, with `corrupt`, two broken files in broken/.
    @discardableResult
    static func makeFolder(_ root: URL, perCategory: Int = 10, corrupt: Bool = true, seedOffset: UInt64 = 0) throws -> [String] {
        var paths: [String] = []
        for (c, name) in categories.enumerated() {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0..<perCategory {
                let path = folder.appendingPathComponent(String(format: "%@-%02d.png", name, Int(seedOffset) + i)).path
                try picture(category: c, seed: seedOffset + UInt64(i)).writePNG(path: path)
                paths.append(path)
            }
        }
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        let sources = [coreFixtures.appendingPathComponent("images/astronaut.png"),
                       coreFixtures.appendingPathComponent("images/coffee.png"),
                       coreFixtures.appendingPathComponent("images/camera_gray.png"),
                       coreFixtures.appendingPathComponent("images/chelsea.jpg"),
                       renderFixtures.appendingPathComponent("baseline.jpg"),
                       renderFixtures.appendingPathComponent("grayscale.jpg")]
        for source in sources where FileManager.default.fileExists(atPath: source.path) {
            let target = photos.appendingPathComponent(source.lastPathComponent)
            if !FileManager.default.fileExists(atPath: target.path) { try FileManager.default.copyItem(at: source, to: target) }
            paths.append(target.path)
        }
        if corrupt {
            let broken = root.appendingPathComponent("broken")
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            try Data("this is not a JPEG at all".utf8).write(to: broken.appendingPathComponent("garbage.jpg"))
            let png = try picture(category: 0, seed: 99).pngData()
            try png.prefix(60).write(to: broken.appendingPathComponent("truncated.png"))
        }
        return paths.map(ImageFolders.absolute)
    }

    /// Everything an index answers about a scan, with entries named by path, so that two
    /// indexes built differently (resumed, merged) can be compared exactly.
    struct Snapshot: Equatable {
        struct Entry: Equatable { let path, category, status: String; let error: String?; let activations: [Float]? }
        struct Ranked: Equatable { let path: String; let value: Float }
        struct Bin: Equatable { let low, high: Double; let count: Int; let example: String? }
        struct Neuron: Equatable {
            let stats: ActivationStats
            let top, bottom: [Ranked]
            let bins: [Bin]
            let categories: [CategorySummary]
        }
        let entries: [Entry]
        let neurons: [Neuron]
    }

    static func snapshot(_ path: String) throws -> Snapshot {
        let index = try ActivationIndex(path: path)
        let scan = try index.scan()
        let entries = try index.entries(scan: scan.id).map { entry in
            Snapshot.Entry(path: entry.path, category: entry.category, status: entry.status.rawValue, error: entry.error,
                           activations: try index.activations(scan: scan.id, path: entry.path)?.activations)
        }
        let byID = Dictionary(uniqueKeysWithValues: try index.entries(scan: scan.id).map { ($0.id, $0.path) })
        let neurons = try (0..<scan.model.neurons).map { neuron in
            let summary = try index.summary(scan: scan, neuron: neuron)
            return Snapshot.Neuron(
                stats: summary.stats,
                top: summary.top.map { Snapshot.Ranked(path: byID[$0.entry]!, value: $0.value) },
                bottom: summary.bottom.map { Snapshot.Ranked(path: byID[$0.entry]!, value: $0.value) },
                bins: summary.bins.map { Snapshot.Bin(low: $0.low, high: $0.high, count: $0.count, example: $0.example.map { byID[$0]! }) },
                categories: try index.categories(scan: scan, neuron: neuron))
        }
        return Snapshot(entries: entries, neurons: neurons)
    }

    /// Runs a scan job to the end on its compute thread.
    @discardableResult
    static func scan(_ folders: [URL], index: URL, shard: Shard? = nil, embeddings: Bool = false, batch: Int = 4) throws -> ScanJob.Result {
        let job = ScanJob(model: model, folders: folders.map(\.path), index: index.path, batchSize: batch, shard: shard,
                          storeEmbeddings: embeddings)
        return try JobRunner.run(job, sink: { _, _ in }).get()
    }
}
