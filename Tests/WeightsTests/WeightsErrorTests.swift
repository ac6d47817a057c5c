import CZlib
import Foundation
@testable import Weights
import XCTest

/// Truncated, foreign and mismatched files are one-line errors naming the file (and key), never crashes.
final class WeightsErrorTests: XCTestCase {
    private var scratch: URL?

    private func write(_ bytes: [UInt8], named name: String) throws -> String {
        if scratch == nil { scratch = try WeightsFixtures.scratchDirectory(for: self) }
        let url = scratch!.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: WeightsFixtures.path(name))))
    }

    /// Opens the file and reads every tensor; returns the error message if any step failed.
    private func openAndReadAll(_ path: String) -> String? {
        do {
            let archive = try WeightArchive.open(path)
            for key in archive.keys { _ = try archive.floats(key) }
            return nil
        } catch let error as WeightsError {
            return error.message
        } catch {
            return "not a WeightsError: \(error)"
        }
    }

    func testTruncatedFilesAreOneLineErrors() throws {
        for name in ["model.pt", "model.safetensors", "tiny_state_dict.pt", "tiny_state_dict_zip64.pt"] {
            let bytes = try fixtureBytes(name)
            let cuts = [1, 7, 8, 9, 30, 100, 1000, bytes.count / 3, bytes.count / 2, bytes.count - 100,
                        bytes.count - 23, bytes.count - 22, bytes.count - 1]
            for cut in cuts where cut > 0 && cut < bytes.count {
                let path = try write(Array(bytes[..<cut]), named: "cut-\(cut)-\(name)")
                _ = WeightsFixtures.assertOneLineError(naming: path) {
                    let archive = try WeightArchive.open(path)
                    for key in archive.keys { _ = try archive.floats(key) }
                }
            }
        }
    }

    func testTruncatedSafetensorsDataNamesTheKey() throws {
        let bytes = try fixtureBytes("model.safetensors")
        let path = try write(Array(bytes[..<(bytes.count - 10)]), named: "short.safetensors")
        let message = WeightsFixtures.assertOneLineError(naming: path) { _ = try WeightArchive.open(path) }
        XCTAssertTrue(message?.contains("truncated") ?? false, message ?? "")
        XCTAssertTrue(message?.contains("key '") ?? false, message ?? "")
    }

    func testEmptyGarbageAndMissingFiles() throws {
        let empty = try write([], named: "empty.safetensors")
        XCTAssertTrue(WeightsFixtures.assertOneLineError(naming: empty) { _ = try WeightArchive.open(empty) }?
            .contains("empty file") ?? false)

        var generator = SystemRandomNumberGenerator()
        let garbage = try write((0 ..< 4096).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }, named: "garbage.pt")
        _ = WeightsFixtures.assertOneLineError(naming: garbage) { _ = try WeightArchive.open(garbage) }

        let text = try write(Array("hello, this is not a model\n".utf8), named: "notes.txt")
        _ = WeightsFixtures.assertOneLineError(naming: text) { _ = try WeightArchive.open(text) }

        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-no-such-\(UUID()).pt").path
        XCTAssertTrue(WeightsFixtures.assertOneLineError(naming: missing) { _ = try WeightArchive.open(missing) }?
            .contains("cannot open") ?? false)

        let directory = try WeightsFixtures.scratchDirectory(for: self).path
        _ = WeightsFixtures.assertOneLineError(naming: directory) { _ = try WeightArchive.open(directory) }
    }

    func testSafetensorsHeaderLengthBeyondTheFile() throws {
        var bytes = [UInt8](repeating: 0, count: 8) + Array("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".utf8) + [0, 0, 128, 63]
        bytes[0] = 200  // claims a 200-byte header; the file has 61 bytes after the length
        let path = try write(bytes, named: "long-header.safetensors")
        XCTAssertTrue(WeightsFixtures.assertOneLineError(naming: path) { _ = try WeightArchive.open(path) }?
            .contains("truncated") ?? false)

        bytes[0] = 0xff; bytes[7] = 0x7f  // an absurd u64
        let absurd = try write(bytes, named: "absurd-header.safetensors")
        _ = WeightsFixtures.assertOneLineError(naming: absurd) { _ = try WeightArchive.open(absurd) }
    }

    func testMalformedSafetensorsHeaders() throws {
        let headers = [
            "not json at all",
            "[1, 2, 3]",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",   // size mismatch
            "{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,4]}}",    // unknown dtype
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",  // negative dimension
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",   // reversed offsets
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4096]}}", // past the end
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", // overflow
            "{\"a\":\"F32\"}",
        ]
        for (index, header) in headers.enumerated() {
            var length = UInt64(header.utf8.count).littleEndian
            let bytes = withUnsafeBytes(of: &length) { Array($0) } + Array(header.utf8) + [0, 0, 128, 63]
            let path = try write(bytes, named: "bad-\(index).safetensors")
            _ = WeightsFixtures.assertOneLineError(naming: path) { _ = try WeightArchive.open(path) }
        }
    }

    func testZipThatIsNotTorch() throws {
        // A stored zip with one entry "readme.txt": valid zip, no data.pkl.
        let path = try write(ZipBuilder.storedZip(["readme.txt": Array("hello".utf8)]), named: "plain.zip")
        XCTAssertTrue(WeightsFixtures.assertOneLineError(naming: path) { _ = try WeightArchive.open(path) }?
            .contains("not a torch archive") ?? false)
        let noTensors = try write(ZipBuilder.storedZip(["x/data.pkl": [0x80, 0x02, 0x7d, 0x2e]]), named: "empty-dict.pt")
        XCTAssertTrue(WeightsFixtures.assertOneLineError(naming: noTensors) { _ = try WeightArchive.open(noTensors) }?
            .contains("no tensors") ?? false)
    }

    func testMissingStorageIsNamed() throws {
        let original = try fixtureBytes("tiny_state_dict.pt")
        let file = try MappedFile(path: WeightsFixtures.path("tiny_state_dict.pt"))
        let zip = try ZipArchive(bytes: file.bytes, path: file.path)
        var entries: [String: [UInt8]] = [:]
        for entry in zip.entries where entry.name != "tiny_state_dict/data/3" {
            entries[entry.name] = Array(original[entry.dataOffset ..< entry.dataOffset + entry.compressedSize])
        }
        let path = try write(ZipBuilder.storedZip(entries), named: "missing-storage.pt")
        let message = WeightsFixtures.assertOneLineError(naming: path) { _ = try WeightArchive.open(path) }
        XCTAssertTrue(message?.contains("data/3") ?? false, message ?? "")
    }

    /// The tiny state dict with one storage replaced by `zeros` zero bytes, deflated, its central directory
    /// declaring `declaredSize`. Returns the file's path and the storage's name.
    private func bombArchive(zeros: Int, declaredSize: (_ needed: Int) -> Int, named name: String) throws -> (path: String, storage: String, needed: Int) {
        let original = try fixtureBytes("tiny_state_dict.pt")
        let file = try MappedFile(path: WeightsFixtures.path("tiny_state_dict.pt"))
        let zip = try ZipArchive(bytes: file.bytes, path: file.path)
        let storage = try XCTUnwrap(zip.entries.first { $0.name.hasPrefix("tiny_state_dict/data/") && $0.uncompressedSize > 0 })
        var entries: [ZipBuilder.Entry] = []
        for entry in zip.entries {
            let data = Array(original[entry.dataOffset ..< entry.dataOffset + entry.compressedSize])
            entries.append(entry.name == storage.name
                ? .init(name: entry.name, data: ZipBuilder.deflate([UInt8](repeating: 0, count: zeros)), method: 8,
                        uncompressedSize: declaredSize(storage.uncompressedSize))
                : .init(name: entry.name, data: data, method: 0, uncompressedSize: data.count))
        }
        return (try write(ZipBuilder.zip(entries), named: name), storage.name, storage.uncompressedSize)
    }

    /// A storage declaring 64 MiB where its tensors need a few bytes is refused before anything is inflated.
    func testZipBombStorageIsRefusedUnread() throws {
        let bomb = try bombArchive(zeros: 64 << 20, declaredSize: { _ in 64 << 20 }, named: "bomb.pt")
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as? Int ?? .max, 1 << 20)
        let message = WeightsFixtures.assertOneLineError(naming: bomb.path) { _ = try WeightArchive.open(bomb.path) }
        XCTAssertTrue(message?.contains("zip entry '\(bomb.storage)' inflates to 67108864 bytes") ?? false, message ?? "")
        XCTAssertTrue(message?.contains("more than the \(bomb.needed) its tensors need") ?? false, message ?? "")
    }

    /// A storage whose directory understates its size (16 bytes declared, 64 MiB in the stream) stops inflating
    /// one byte past the declared size and is refused.
    func testInflationStopsAtTheDeclaredSize() throws {
        let lying = try bombArchive(zeros: 64 << 20, declaredSize: { $0 }, named: "lying.pt")
        let message = WeightsFixtures.assertOneLineError(naming: lying.path) { _ = try WeightArchive.open(lying.path) }
        XCTAssertTrue(message?.contains("zip entry '\(lying.storage)' inflates past its declared \(lying.needed) bytes") ?? false,
                      message ?? "")

        let stream = ZipBuilder.deflate([UInt8](repeating: 0, count: 64 << 20))
        let inflation = stream.withUnsafeBytes { ZipArchive.inflate($0, atMost: 16) }
        guard case .tooLong(let inflatedBytes) = inflation else { return XCTFail("expected tooLong, got \(inflation)") }
        XCTAssertEqual(inflatedBytes, 17, "inflation stops one byte past the limit")
        guard case .complete(let data) = stream.withUnsafeBytes({ ZipArchive.inflate($0, atMost: 64 << 20) }) else {
            return XCTFail("the whole stream inflates when the limit allows it")
        }
        XCTAssertEqual(data.count, 64 << 20)
        guard case .damaged = Array(stream.prefix(stream.count / 2)).withUnsafeBytes({ ZipArchive.inflate($0, atMost: 64 << 20) })
        else { return XCTFail("a truncated stream is damaged") }
    }

    /// Corrupting bytes of data.pkl anywhere gives an archive or an error, never a crash.
    func testCorruptedPickleNeverCrashes() throws {
        var generator = SplitMix(seed: 7)
        for (name, trials) in [("model.pt", 12), ("tiny_state_dict.pt", 200)] {
            let original = try fixtureBytes(name)
            let file = try MappedFile(path: WeightsFixtures.path(name))
            let zip = try ZipArchive(bytes: file.bytes, path: file.path)
            let root = name.replacingOccurrences(of: ".pt", with: "")
            let pickle = try XCTUnwrap(zip.entry(root == "model" ? "model/data.pkl" : "\(root)/data.pkl"))
            var failures = 0
            for trial in 0 ..< trials {
                var bytes = original
                for _ in 0 ..< (trial % 3 + 1) {
                    let position = pickle.dataOffset + Int(generator.next() % UInt64(pickle.compressedSize))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                let path = try write(bytes, named: "corrupt-\(trial)-\(name)")
                if let message = openAndReadAll(path) {
                    failures += 1
                    XCTAssertFalse(message.contains("\n"), message)
                    XCTAssertTrue(message.contains("corrupt-\(trial)-\(name)"), message)
                    XCTAssertFalse(message.hasPrefix("not a WeightsError"), message)
                }
                try FileManager.default.removeItem(atPath: path)
            }
            XCTAssertGreaterThan(failures, trials / 10, "corruptions of \(name) must be detected")
        }
    }

    /// Corrupting the zip directories or the safetensors header gives an archive or an error, never a crash.
    func testCorruptedDirectoriesAndHeadersNeverCrash() throws {
        var generator = SplitMix(seed: 11)
        // A small safetensors file: the tiny state dict, converted.
        let tinySafetensors = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("tiny.safetensors").path
        _ = try WeightConversion.convert(input: WeightsFixtures.path("tiny_state_dict.pt"), output: tinySafetensors)
        for name in ["tiny_state_dict.pt", "tiny_state_dict_zip64.pt", "tiny.safetensors"] {
            let original = name.hasSuffix(".pt") ? try fixtureBytes(name)
                : [UInt8](try Data(contentsOf: URL(fileURLWithPath: tinySafetensors)))
            // Zip: the central directory and end records sit in the last ~2 KB; safetensors: the header at the start.
            let region = name.hasSuffix(".pt") ? (original.count - 2048) ..< original.count : 0 ..< (original.count - 200)
            for trial in 0 ..< 120 {
                var bytes = original
                for _ in 0 ..< (trial % 4 + 1) {
                    let position = region.lowerBound + Int(generator.next() % UInt64(region.count))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                let path = try write(bytes, named: "damaged-\(trial)-\(name)")
                if let message = openAndReadAll(path) {
                    XCTAssertFalse(message.contains("\n"), message)
                    XCTAssertTrue(message.contains("damaged-\(trial)-\(name)"), message)
                    XCTAssertFalse(message.hasPrefix("not a WeightsError"), message)
                }
                try FileManager.default.removeItem(atPath: path)
            }
        }
    }

    func testVerifyReportsMissingUnusedAndMismatchedKeys() throws {
        let path = WeightsFixtures.path("model.safetensors")
        let archive = try WeightArchive.open(path)
        let exact = archive.infos.map { (key: $0.key, shape: $0.shape) }
        XCTAssertNoThrow(try archive.verify(expected: exact))

        var missing = exact
        missing.append((key: "visual.layer5.0.conv1.weight", shape: [1]))
        let missingMessage = WeightsFixtures.assertOneLineError(naming: path) { try archive.verify(expected: missing) }
        XCTAssertEqual(missingMessage, "\(path): missing key 'visual.layer5.0.conv1.weight'")

        let unused = exact.filter { $0.key != "ln_final.bias" }
        let unusedMessage = WeightsFixtures.assertOneLineError(naming: path) { try archive.verify(expected: unused) }
        XCTAssertEqual(unusedMessage, "\(path): unused key 'ln_final.bias' (shape [32])")

        let mismatched = exact.map { $0.key == "text_projection" ? (key: $0.key, shape: [32, 64]) : $0 }
        let mismatchMessage = WeightsFixtures.assertOneLineError(naming: path) { try archive.verify(expected: mismatched) }
        XCTAssertEqual(mismatchMessage, "\(path): key 'text_projection' has shape [32, 32], the model expects [32, 64]")

        let several = Array(mismatched.dropFirst(3))
        let severalMessage = WeightsFixtures.assertOneLineError(naming: path) { try archive.verify(expected: several) }
        XCTAssertTrue(severalMessage?.hasSuffix("(and 3 more problems)") ?? false, severalMessage ?? "")
    }
}

/// A deterministic generator for the corruption test.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Writes minimal zips (no ZIP64) for the error tests: stored entries, or deflated ones declaring any size.
enum ZipBuilder {
    struct Entry {
        let name: String
        let data: [UInt8]
        let method: Int
        let uncompressedSize: Int
    }

    static func storedZip(_ files: [String: [UInt8]]) -> [UInt8] {
        zip(files.keys.sorted().map { Entry(name: $0, data: files[$0]!, method: 0, uncompressedSize: files[$0]!.count) })
    }

    static func zip(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ value: Int, _ into: inout [UInt8]) { into += [UInt8(value & 0xff), UInt8(value >> 8 & 0xff)] }
        func u32(_ value: Int, _ into: inout [UInt8]) { for shift in stride(from: 0, to: 32, by: 8) { into.append(UInt8(value >> shift & 0xff)) } }
        for entry in entries {
            let data = entry.data, nameBytes = Array(entry.name.utf8), offset = out.count
            u32(0x0403_4b50, &out); u16(20, &out); u16(0, &out); u16(entry.method, &out); u16(0, &out); u16(0, &out)
            u32(0, &out); u32(data.count, &out); u32(entry.uncompressedSize, &out); u16(nameBytes.count, &out); u16(0, &out)
            out += nameBytes + data
            u32(0x0201_4b50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(entry.method, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(data.count, &central); u32(entry.uncompressedSize, &central)
            u16(nameBytes.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += nameBytes
        }
        let directoryOffset = out.count
        out += central
        u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(central.count, &out); u32(directoryOffset, &out); u16(0, &out)
        return out
    }

    /// Raw deflate (no zlib header), as zip stores it.
    static func deflate(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        var input = input
        let produced = input.withUnsafeMutableBytes { source in
            output.withUnsafeMutableBytes { destination in
                stream.next_in = source.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(destination.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return Int(stream.total_out)
            }
        }
        return Array(output.prefix(produced))
    }
}
