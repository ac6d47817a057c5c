import Foundation
@testable import Weights
import XCTest

/// Checkpoints carry a checksum of their tensors; a damaged one is named and passed over.
final class CheckpointTests: XCTestCase {
    func checkpoint(_ value: Float) -> [SafetensorsWriter.Tensor] {
        [.init(key: "pixels", shape: [64], floats: [Float](repeating: value, count: 64)),
         .init(key: "moments", shape: [2, 32], floats: (0..<64).map { Float($0) * value })]
    }

    /// Overwrites bytes in the middle of the tensor data with garbage: the same size, a valid header.
    func damage(_ path: String) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let middle = bytes.count - 300
        for i in 0..<16 { bytes[middle + i] = 0xFF }
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    func testADamagedCheckpointIsNamedAndTheOneBeforeItIsUsed() throws {
        let path = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("checkpoint.safetensors").path
        try Checkpoint.write(checkpoint(1), to: path, metadata: ["step": "4"])
        try Checkpoint.write(checkpoint(2), to: path, metadata: ["step": "8"])
        XCTAssertEqual(Checkpoint.previousPath(path), (path as NSString).deletingLastPathComponent + "/checkpoint.previous.safetensors")
        var messages: [String] = []
        XCTAssertEqual(Checkpoint.open(path) { messages.append($0) }?.metadata["step"], "8")
        XCTAssertEqual(messages, [])

        try damage(path)
        XCTAssertEqual(try WeightArchive.open(path).floats("pixels").count, 64, "the damage passes for a safetensors file")
        let archive = Checkpoint.open(path) { messages.append($0) }
        XCTAssertEqual(archive?.metadata["step"], "4")
        XCTAssertEqual(try archive?.floats("pixels"), [Float](repeating: 1, count: 64))
        XCTAssertEqual(messages.count, 1)
        XCTAssertTrue(messages[0].hasPrefix("\(path) is damaged and was not used (its tensors' CRC-32 is "), messages[0])
        XCTAssertTrue(messages[0].hasSuffix("; resuming from the checkpoint before it"), messages[0])

        messages = []
        try damage(Checkpoint.previousPath(path))
        XCTAssertNil(Checkpoint.open(path) { messages.append($0) })
        XCTAssertEqual(messages.count, 2)
        XCTAssertTrue(messages[1].hasSuffix("; starting again from the beginning"), messages[1])

        Checkpoint.remove(path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: Checkpoint.previousPath(path)))
        XCTAssertNil(Checkpoint.open(path) { messages.append($0) }, "none at all")
        XCTAssertEqual(messages.count, 2)
    }

    func testACheckpointFromBeforeTheChecksumStillLoads() throws {
        let path = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("old.safetensors").path
        try SafetensorsWriter.write(checkpoint(3), to: path, metadata: ["step": "5"])
        XCTAssertEqual(Checkpoint.open(path) { XCTFail($0) }?.metadata["step"], "5")
        // A truncated file is damaged too.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        var messages: [String] = []
        XCTAssertNil(Checkpoint.open(path) { messages.append($0) })
        XCTAssertTrue(messages.first?.contains("truncated") ?? false, "\(messages)")
    }
}
