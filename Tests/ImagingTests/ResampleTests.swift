import Foundation
@testable import Imaging
import XCTest

final class ResampleTests: XCTestCase {
    /// Image.resize in each source mode and filter, up, down and one axis at a time:
    /// bit-exact with Pillow (1 and P nearest, LA and RGBA premultiplied, I;16 at 16 bits).
    func testResizeMatchesPillowExactly() throws {
        let cases = PixelFixtures.cases("resize")
        XCTAssertGreaterThan(cases.count, 100)
        var sources: [String: DecodedImage] = [:]
        for entry in cases {
            let name = entry["file"] as! String
            if sources[name] == nil { sources[name] = try DecodedImage.load(contentsOf: PixelFixtures.url(name)) }
            let source = sources[name]!
            let filter = ResampleFilter(rawValue: entry["filter"] as! String)!
            let width = entry["width"] as! Int, height = entry["height"] as! Int
            let label = "\(name) \(filter) \(width)x\(height)"
            let resized = source.resized(width: width, height: height, filter: filter)
            XCTAssertEqual(resized.mode.rawValue, entry["mode"] as! String, label)
            XCTAssertEqual(resized.width, width, label)
            XCTAssertEqual(resized.height, height, label)
            if PixelFixtures.dtype(entry["samples"]) == "u16" {
                XCTAssertEqual(PixelFixtures.maxDifference(resized.samples16, PixelFixtures.uint16s(entry["samples"])), 0, label)
            } else {
                let actual = PixelFixtures.strided(resized.samples, entry["stride"] as? Int ?? 1)
                XCTAssertEqual(PixelFixtures.maxDifference(actual, PixelFixtures.bytes(entry["samples"])), 0, label)
            }
        }
    }

    func testSameSizeIsIdentityAndImageResizeKeepsChannels() throws {
        let rgba = try Image.load(contentsOf: PixelFixtures.url("rgba8.png"))
        XCTAssertEqual(rgba.resized(width: rgba.width, height: rgba.height), rgba)
        let small = rgba.resized(width: 10, height: 6, filter: .bilinear)
        XCTAssertEqual([small.width, small.height, small.channels], [10, 6, 4])
        // A constant image stays constant under every filter (weights sum to one).
        let flat = Image(width: 9, height: 5, fill: [200, 10, 77])
        for filter in ResampleFilter.allCases {
            XCTAssertEqual(flat.resized(width: 23, height: 3, filter: filter), Image(width: 23, height: 3, fill: [200, 10, 77]))
        }
    }

    func testCropPasteBlendAndGrayMatchPillow() throws {
        for entry in PixelFixtures.cases("ops") {
            let op = entry["op"] as! String
            let base = try Image.load(contentsOf: PixelFixtures.url(entry["file"] as! String))
            let expected = PixelFixtures.bytes(entry["result"])
            switch op {
            case "crop":
                let box = entry["box"] as! [Int]
                let crop = base.cropped(x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1])
                XCTAssertEqual(crop.pixels, expected, op)
            case "paste_masked":
                let box = entry["source_box"] as! [Int], at = entry["at"] as! [Int]
                let source = try Image.load(contentsOf: PixelFixtures.url(entry["source"] as! String))
                    .cropped(x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1])
                var canvas = base
                canvas.paste(source, x: at[0], y: at[1], mask: source)
                XCTAssertEqual(canvas.pixels, expected, op)
            case "blend_flipped":
                var flipped = base
                for y in 0..<base.height {
                    for x in 0..<base.width {
                        for c in 0..<3 { flipped[x, y, c] = base[base.width - 1 - x, y, c] }
                    }
                }
                let blended = base.blended(with: flipped, alpha: Float(entry["alpha"] as! Double))
                XCTAssertEqual(PixelFixtures.maxDifference(blended.pixels, expected), 0, op)
            case "to_gray":
                XCTAssertEqual(base.converted(toChannels: 1).pixels, expected, op)
            default:
                XCTFail("unknown op \(op)")
            }
        }
    }

    func testFlattenedCompositesOverABackground() {
        var image = Image(width: 2, height: 1, fill: [100, 0, 0, 255])
        image[1, 0, 3] = 0
        let flat = image.flattened(onto: [0, 0, 255])
        XCTAssertEqual(flat.pixels, [100, 0, 0, 0, 0, 255])
    }
}
