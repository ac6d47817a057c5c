import Foundation
@testable import Imaging
import XCTest

/// The fixtures written by tools/reference/make_pixel_fixtures.py: test images, and
/// Pillow's expected arrays in expected.bin described by manifest.json.
enum PixelFixtures {
    static let directory: URL = {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }()

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    nonisolated(unsafe) static let manifest: [String: Any] = {
        let data = try! Data(contentsOf: url("manifest.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static let blob: Data = try! Data(contentsOf: url("expected.bin"))

    static func cases(_ section: String) -> [[String: Any]] {
        manifest[section] as! [[String: Any]]
    }

    /// An array of expected.bin given its {offset, count, dtype} entry.
    static func bytes(_ entry: Any?) -> [UInt8] {
        let e = entry as! [String: Any]
        precondition(e["dtype"] as! String == "u8")
        let offset = e["offset"] as! Int, count = e["count"] as! Int
        return [UInt8](blob[offset..<(offset + count)])
    }

    static func uint16s(_ entry: Any?) -> [UInt16] {
        let e = entry as! [String: Any]
        precondition(e["dtype"] as! String == "u16")
        let offset = e["offset"] as! Int, count = e["count"] as! Int
        return (0..<count).map { UInt16(blob[offset + 2 * $0]) | UInt16(blob[offset + 2 * $0 + 1]) << 8 }
    }

    static func floats(_ entry: Any?) -> [Float] {
        let e = entry as! [String: Any]
        precondition(e["dtype"] as! String == "f32")
        let offset = e["offset"] as! Int, count = e["count"] as! Int
        return (0..<count).map { i in
            let b = (0..<4).map { UInt32(blob[offset + 4 * i + $0]) << (8 * UInt32($0)) }
            return Float(bitPattern: b[0] | b[1] | b[2] | b[3])
        }
    }

    static func dtype(_ entry: Any?) -> String { (entry as! [String: Any])["dtype"] as! String }

    /// Largest absolute difference between two equally long byte arrays (Int.max if lengths differ).
    static func maxDifference<T: BinaryInteger>(_ a: [T], _ b: [T]) -> Int {
        guard a.count == b.count else { return Int.max }
        var worst = 0
        for i in a.indices { worst = max(worst, abs(Int(a[i]) - Int(b[i]))) }
        return worst
    }

    static func strided<T>(_ values: [T], _ stride: Int) -> [T] {
        stride == 1 ? values : Swift.stride(from: 0, to: values.count, by: stride).map { values[$0] }
    }
}
