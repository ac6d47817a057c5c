import CLIP
@testable import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Tensor
import Weights
import XCTest

/// Random bytes and mutated valid files fed to every loader, in process (a crash fails the run):
/// each must load or throw an error whose message names the file, one line. Deterministic per
/// seed (`CLIPSCOPE_FUZZ_SEED`, default 31); the whole class stays under 20 seconds.
final class FuzzTests: XCTestCase {
    private var scratch: URL!
    private static let deadline = Date().addingTimeInterval(20)
    private static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["CLIPSCOPE_FUZZ_SEED"] ?? "") ?? 31 }
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// The project's seeded generator: the same cases for the same seed on every machine.
    struct Generator {
        var base: SeededGenerator
        init(state: UInt64) { base = SeededGenerator(seed: state) }
        mutating func next() -> UInt64 { base.next() }
        mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
        mutating func bytes(_ count: Int) -> [UInt8] { (0 ..< count).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    /// A damaged copy of `valid`: flipped bytes, a cut, inserted or overwritten runs, a repeated slice; or noise
    /// behind the format's first bytes.
    static func mutate(_ valid: [UInt8], _ random: inout Generator) -> [UInt8] {
        var bytes = valid
        switch random.below(6) {
        case 0:
            for _ in 0 ... random.below(8) where !bytes.isEmpty { bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
        case 1:
            bytes = Array(bytes.prefix(random.below(bytes.count)))
        case 2:
            bytes.insert(contentsOf: random.bytes(1 + random.below(64)), at: random.below(bytes.count + 1))
        case 3:
            let start = random.below(bytes.count), length = min(bytes.count - start, 1 + random.below(256))
            let fill: UInt8 = [0x00, 0xff, UInt8(truncatingIfNeeded: random.next())][random.below(3)]
            bytes.replaceSubrange(start ..< start + length, with: repeatElement(fill, count: length))
        case 4:
            let start = random.below(bytes.count), length = min(bytes.count - start, 1 + random.below(512))
            bytes.insert(contentsOf: bytes[start ..< start + length], at: random.below(bytes.count + 1))
        default:
            bytes = Array(valid.prefix(random.below(16))) + random.bytes(random.below(2048))
        }
        return bytes
    }

    /// Writes `count` cases made from `valid` (and pure noise), runs `load` on each and checks that a failure
    /// is an error naming the file in one line. Returns how many failed (so a test can see corruption noticed).
    @discardableResult
    func fuzz(_ format: String, valid: [UInt8], count: Int, salt: UInt64,
              write: ((String, [UInt8]) throws -> String)? = nil, load: (String) throws -> Void) throws -> Int {
        var random = Generator(state: Self.seed &* 0x1000 &+ salt)
        var failures = 0
        for trial in 0 ..< count {
            guard Date() < Self.deadline else { break }
            let bytes = trial % 10 == 9 ? random.bytes(random.below(4096)) : Self.mutate(valid, &random)
            let name = "fuzz-\(Self.seed)-\(trial)-\(format)"
            let path: String
            if let write { path = try write(name, bytes) } else {
                path = scratch.appendingPathComponent(name).path
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
            do { try load(path) } catch {
                failures += 1
                let message = "\(error)"
                XCTAssertTrue(message.contains(name), "seed \(Self.seed) case \(trial) (\(format)): the error does not name the file: \(message)")
                XCTAssertFalse(message.contains("\n"), "seed \(Self.seed) case \(trial) (\(format)): not one line: \(message)")
            }
        }
        return failures
    }

    private func fixture(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(relative)))
    }

    func testImagesNeverCrashTheDecoder() throws {
        for (salt, (name, relative)) in [("png", "ImagingTests/Fixtures/gray8.png"), ("jpg", "ImagingTests/Fixtures/baseline.jpg"),
                                         ("interlaced.png", "ImagingTests/Fixtures/interlaced_rgb8.png")].enumerated() {
            let failures = try fuzz(name, valid: try fixture(relative), count: 300, salt: UInt64(salt)) { path in
                _ = try Image.load(path: path)
            }
            XCTAssertGreaterThan(failures, 30, "\(name): damage must be noticed")
        }
    }

    func testWeightsNeverCrashTheReaders() throws {
        let safetensors = scratch.appendingPathComponent("tiny.safetensors").path
        _ = try WeightConversion.convert(input: Self.fixtures.appendingPathComponent("WeightsTests/Fixtures/tiny_state_dict.pt").path,
                                         output: safetensors)
        let cases: [(String, [UInt8])] = [
            ("pt", try fixture("WeightsTests/Fixtures/tiny_state_dict.pt")),
            ("zip64.pt", try fixture("WeightsTests/Fixtures/tiny_state_dict_zip64.pt")),
            ("scripted.pt", try fixture("WeightsTests/Fixtures/tiny_scripted.pt")),
            ("safetensors", [UInt8](try Data(contentsOf: URL(fileURLWithPath: safetensors)))),
        ]
        for (salt, (name, valid)) in cases.enumerated() {
            let failures = try fuzz(name, valid: valid, count: 300, salt: 10 + UInt64(salt)) { path in
                let archive = try WeightArchive.open(path)
                for key in archive.keys { _ = try archive.floats(key) }
            }
            XCTAssertGreaterThan(failures, 30, "\(name): damage must be noticed")
        }
    }

    func testIndexesNeverCrashTheQueries() throws {
        let images = scratch.appendingPathComponent("images").path
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0 ..< 2 {
            try Image.testCard(width: 40, height: 40, seed: UInt64(i)).writePNG(path: images + "/card\(i).png")
        }
        let valid = scratch.appendingPathComponent("valid.index").path
        _ = try JobRunner.run(ScanJob(model: Fixture.modelPath, folders: [images], index: valid)) { _, _ in }.get()
        let failures = try fuzz("index", valid: fixtureFile(valid), count: 60, salt: 20) { path in
            let index = try ActivationIndex(path: path, readOnly: true)
            let scan = try index.scan()
            _ = try index.labels(scan: scan)
            _ = try index.values(scan: scan, neuron: 0)
            _ = try index.summary(scan: scan, neuron: 0)
            _ = try ActivationIndex(path: path)
        }
        XCTAssertGreaterThan(failures, 6, "damage must be noticed")
    }

    func testRunRecordsNeverCrashTheReader() throws {
        let folder = RunFolder(path: scratch.appendingPathComponent("valid-run").path)
        let info = JobInfo(id: UUID(), kind: "visualize", parameters: Data("{\"neurons\":[1,2]}".utf8), unit: "step")
        try folder.write(RunRecord(state: JobState(info: info), folder: folder.path, started: Date(timeIntervalSince1970: 0)))
        let failures = try fuzz("run", valid: try fixtureFile(folder.recordPath), count: 300, salt: 30, write: { name, bytes in
            let run = self.scratch.appendingPathComponent(name).path
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: run + "/run.json"))
            return run
        }) { path in
            _ = try RunFolder(path: path).read()
        }
        XCTAssertGreaterThan(failures, 30, "damage must be noticed")
    }

    func testGapCSVsNeverCrashTheReader() throws {
        let valid = Array("\u{FEFF}path,caption\r\na.png,\"a caption, with a comma\"\r\nb.png,\"two\nlines and \"\"quotes\"\"\"\nc.png,plain\n".utf8)
        let failures = try fuzz("csv", valid: valid, count: 300, salt: 40) { path in
            _ = try GapJob.csvPairs(path)
        }
        XCTAssertGreaterThan(failures, 10, "damage must be noticed")
    }

    private func fixtureFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
