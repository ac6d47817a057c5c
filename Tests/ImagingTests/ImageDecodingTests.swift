import Foundation
@testable import Imaging
import XCTest

final class ImageDecodingTests: XCTestCase {
    /// Every PNG variant decodes to exactly Pillow's samples, in Pillow's mode; JPEGs too
    /// (same libjpeg-turbo islow IDCT and fancy upsampling).
    func testDecodesEveryVariantLikePillow() throws {
        let cases = PixelFixtures.cases("decode")
        XCTAssertGreaterThan(cases.count, 30)
        for entry in cases {
            let name = entry["file"] as! String
            let decoded = try DecodedImage.load(contentsOf: PixelFixtures.url(name))
            XCTAssertEqual(decoded.mode.rawValue, entry["mode"] as! String, name)
            XCTAssertEqual(decoded.width, entry["width"] as! Int, name)
            XCTAssertEqual(decoded.height, entry["height"] as! Int, name)
            XCTAssertEqual(decoded.format, name.hasSuffix(".png") ? .png : .jpeg, name)
            let stride = entry["stride"] as! Int
            if PixelFixtures.dtype(entry["samples"]) == "u16" {
                XCTAssertEqual(decoded.samples16, PixelFixtures.uint16s(entry["samples"]), name)
            } else {
                let expected = PixelFixtures.bytes(entry["samples"])
                let actual = PixelFixtures.strided(decoded.samples, stride)
                XCTAssertEqual(PixelFixtures.maxDifference(actual, expected), 0, name)
            }
            if entry["rgb"] != nil {
                XCTAssertEqual(decoded.convertedToRGB().pixels, PixelFixtures.bytes(entry["rgb"]), "\(name) RGB")
            }
            if let palette = entry["palette"] as? [Int] {
                XCTAssertEqual(decoded.palette.prefix(palette.count).map(Int.init), palette, "\(name) palette")
                XCTAssertEqual(!decoded.paletteAlpha.isEmpty, entry["has_transparency"] as! Bool, name)
            }
        }
    }

    func testPaletteWithTransparencyLoadsAsRGBA() throws {
        let image = try Image.load(contentsOf: PixelFixtures.url("palette8_trns.png"))
        XCTAssertEqual(image.channels, 4)
        let decoded = try DecodedImage.load(path: PixelFixtures.url("palette8_trns.png").path)
        for i in [0, 7, 300] {
            let index = Int(decoded.samples[i])
            XCTAssertEqual(image.pixels[4 * i + 3], decoded.paletteAlpha[index])
            XCTAssertEqual(image.pixels[4 * i], decoded.palette[3 * index])
        }
        let opaque = try Image.load(contentsOf: PixelFixtures.url("palette8.png"))
        XCTAssertEqual(opaque.channels, 3)
    }

    func testLoadGivesDisplayChannels() throws {
        let expected: [String: Int] = ["gray1.png": 1, "gray16.png": 1, "gray_alpha8.png": 2, "rgb16.png": 3,
                                       "rgba8.png": 4, "cmyk.jpg": 3, "grayscale.jpg": 1, "baseline.jpg": 3]
        for (name, channels) in expected {
            XCTAssertEqual(try Image.load(contentsOf: PixelFixtures.url(name)).channels, channels, name)
        }
        let gray1 = try Image.decode(PixelFixtures.data("gray1.png"), name: "gray1.png")
        XCTAssertTrue(gray1.pixels.allSatisfy { $0 == 0 || $0 == 255 })
        XCTAssertTrue(gray1.pixels.contains(0) && gray1.pixels.contains(255))
    }

    func testPNGRoundTripsEveryChannelCount() throws {
        var generator = SystemRandomNumberGenerator()
        for channels in 1...4 {
            for (width, height) in [(1, 1), (13, 7), (64, 33)] {
                let pixels = (0..<(width * height * channels)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let image = Image(width: width, height: height, channels: channels, pixels: pixels)
                let data = try image.pngData()
                XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
                XCTAssertEqual(try Image.decode(data, name: "memory"), image, "\(channels) channels \(width)x\(height)")
            }
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-roundtrip-\(getpid()).png")
        defer { try? FileManager.default.removeItem(at: url) }
        let photo = try Image.load(contentsOf: PixelFixtures.url("portrait_chelsea.jpg"))
        try photo.writePNG(to: url)
        XCTAssertEqual(try Image.load(contentsOf: url), photo)
        let decoded = try DecodedImage.load(contentsOf: url)
        XCTAssertEqual(decoded.mode, .rgb)
    }

    func testWritingToAMissingDirectoryFailsWithTheName() {
        let image = Image(width: 2, height: 2, fill: [1, 2, 3])
        XCTAssertThrowsError(try image.writePNG(path: "/nonexistent-dir/x.png")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent-dir/x.png: cannot write PNG"), "\(error)")
        }
        XCTAssertThrowsError(try Image(width: 0, height: 0, channels: 3, pixels: []).pngData())
    }

    private func assertFails(_ name: String, with fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let path = PixelFixtures.url(name).path
        XCTAssertThrowsError(try DecodedImage.load(path: path), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(path + ": "), "\(message)", file: file, line: line)
            XCTAssertTrue(message.contains(fragment), "\(message)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), file: file, line: line)
        }
    }

    /// Random byte corruption never crashes: each damaged file decodes or throws ImageError.
    func testCorruptedBytesNeverCrash() throws {
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for name in ["palette8_trns.png", "interlaced_rgba16.png", "gray2.png", "baseline.jpg", "progressive.jpg", "cmyk.jpg"] {
            let original = try PixelFixtures.data(name)
            var failures = 0
            for _ in 0..<150 {
                var damaged = original
                for _ in 0..<(1 + next() % 4) {
                    damaged[next() % damaged.count] = UInt8(truncatingIfNeeded: next())
                }
                do {
                    let image = try DecodedImage.decode(damaged, name: name)
                    XCTAssertGreaterThan(image.width * image.height, 0)
                } catch let error as ImageError {
                    XCTAssertTrue(error.message.hasPrefix("\(name): "), error.message)
                    failures += 1
                }
            }
            XCTAssertGreaterThan(failures, 0, name)
        }
    }

    func testRefusesDecompressionBombsFromTheHeader() {
        assertFails("bomb.png", with: "20000x20000 image (400.0 megapixels) exceeds the 100 megapixel limit")
        assertFails("bomb.jpg", with: "12000x12000 image (144.0 megapixels) exceeds the 100 megapixel limit")
    }

    func testBadFilesGiveOneLineErrorsNamingTheFile() throws {
        assertFails("truncated.png", with: "cannot decode PNG: file is truncated")
        assertFails("truncated.jpg", with: "cannot decode JPEG: file is truncated")
        assertFails("garbage.png", with: "cannot decode PNG")
        assertFails("not_an_image.jpg", with: "not a PNG or JPEG file")
        assertFails("empty.png", with: "empty file")
        assertFails("no-such-file.png", with: "no such file")
        assertFails("", with: "is a directory")
        // Every prefix of a valid file fails cleanly (never a crash, never a partial image).
        for name in ["interlaced_rgba16.png", "progressive.jpg", "cmyk.jpg"] {
            let data = try PixelFixtures.data(name)
            // (A PNG that only lacks its final IEND chunk still decodes, as in Pillow.)
            let end = name.hasSuffix(".png") ? data.count - 12 : data.count - 1
            for cut in stride(from: 1, to: end, by: max(1, data.count / 40)) {
                XCTAssertThrowsError(try DecodedImage.decode(data.prefix(cut), name: "\(name)[..<\(cut)]")) { error in
                    XCTAssertTrue("\(error)".hasPrefix("\(name)[..<\(cut)]: "), "\(error)")
                }
            }
        }
        // Corrupted bytes inside a PNG: a CRC error, reported.
        var corrupt = try PixelFixtures.data("rgb8.png")
        corrupt[corrupt.count / 2] ^= 0x55
        XCTAssertThrowsError(try DecodedImage.decode(corrupt, name: "corrupt.png")) { error in
            XCTAssertTrue("\(error)".hasPrefix("corrupt.png: cannot decode PNG: "), "\(error)")
        }
    }
}
