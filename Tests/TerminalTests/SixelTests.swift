import Foundation
import Imaging
import Terminal
import XCTest

final class SixelTests: XCTestCase {
    func testPhotoRoundTripsThroughLibsixelDecoder() throws {
        let photo = Image.testCard(width: 288, height: 288, seed: 1)
        let bytes = try Sixel.encode(photo)
        XCTAssertEqual(Array(bytes.prefix(2)), [0x1B, UInt8(ascii: "P")], "starts with DCS")
        XCTAssertEqual(Array(bytes.suffix(2)), [0x1B, UInt8(ascii: "\\")], "ends with ST")
        XCTAssertFalse(bytes.contains { $0 >= 0x80 }, "7-bit output only")
        let decoded = try Sixel.decode(bytes)
        XCTAssertEqual(decoded.width, 288)
        XCTAssertEqual(decoded.height, 288)
        let difference = photo.meanAbsoluteDifference(to: decoded)
        XCTAssertLessThan(difference, 6, "mean absolute error per channel")
        // Blurring both removes the dither pattern: the local colour must match closely.
        let smallPhoto = photo.resized(width: 36, height: 36, filter: .box)
        let smallDecoded = decoded.resized(width: 36, height: 36, filter: .box)
        XCTAssertLessThan(smallPhoto.meanAbsoluteDifference(to: smallDecoded), 3)
    }

    func testFlatColoursSurviveExactly() throws {
        var image = Image(width: 40, height: 13, color: Color(255, 0, 0))
        image.fillRect(x: 20, y: 0, width: 20, height: 13, color: Color(0, 0, 255))
        let decoded = try Sixel.decode(try Sixel.encode(image, diffusion: .none))
        XCTAssertEqual(decoded.width, 40)
        XCTAssertEqual(decoded.height, 13)
        XCTAssertEqual(decoded.color(x: 3, y: 12), Color(255, 0, 0))
        XCTAssertEqual(decoded.color(x: 30, y: 5), Color(0, 0, 255))
    }

    func testImagesWithFewColoursKeepThemWithinPalettePrecision() throws {
        // 200 distinct grays: within the 256-entry limit, so the palette is the exact set;
        // sixel palettes are in percent, so values come back within about 1.3 levels.
        var pixels: [UInt8] = []
        for _ in 0..<12 { for x in 0..<200 { let v = UInt8(x + 30); pixels += [v, v, v] } }
        let ramp = Image(width: 200, height: 12, channels: 3, pixels: pixels)
        let decoded = try Sixel.decode(try Sixel.encode(ramp))
        var worst = 0
        for i in 0..<ramp.pixels.count { worst = max(worst, abs(Int(ramp.pixels[i]) - Int(decoded.pixels[i]))) }
        XCTAssertLessThanOrEqual(worst, 2)
    }

    /// A card's thumbnail: 128 colours, Atkinson's diffusion and libsixel's smallest output
    /// cost well under the 256-colour Floyd-Steinberg bytes, within a dB of their fidelity;
    /// a thumbnail of 200 colours still keeps them exactly.
    func testThumbnailsCostFewerBytesForTheSamePicture() throws {
        func psnr(_ a: Image, _ b: Image) -> Double {
            var sum = 0.0
            for i in 0..<a.pixels.count { let d = Double(a.pixels[i]) - Double(b.pixels[i]); sum += d * d }
            return 10 * log10(255 * 255 / max(sum / Double(a.pixels.count), 1e-9))
        }
        let capabilities = TerminalCapabilities(graphics: .sixel, cellSize: CellSize(width: 10, height: 20), columns: 120, rows: 40)
        let thumbnail = Image.testCard(width: 400, height: 300, seed: 3).resizedForDisplay(width: 150, height: 112)
        let before = try Sixel.encode(thumbnail)
        let now = try TerminalImage.sixel(thumbnail, capabilities: capabilities)
        XCTAssertLessThan(Double(now.count), 0.75 * Double(before.count), "\(now.count) vs \(before.count) bytes")
        XCTAssertGreaterThan(psnr(thumbnail, try Sixel.decode(now)), psnr(thumbnail, try Sixel.decode(before)) - 2.5)
        var pixels: [UInt8] = []
        for _ in 0..<12 { for x in 0..<200 { let v = UInt8(x + 30); pixels += [v, v, v] } }
        let ramp = Image(width: 200, height: 12, channels: 3, pixels: pixels)
        let decoded = try Sixel.decode(try TerminalImage.sixel(ramp, capabilities: capabilities))
        XCTAssertLessThanOrEqual(zip(ramp.pixels, decoded.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0, 2, "exact colours")
    }

    func testPhotoOnWhiteKeepsItsWhiteBackground() throws {
        // More than 256 colours, so the median-cut path; the white margin must stay white.
        var canvas = Image(width: 200, height: 120, color: .white)
        canvas.paste(Image.testCard(width: 100, height: 80, seed: 1), x: 50, y: 20)
        let decoded = try Sixel.decode(try Sixel.encode(canvas))
        XCTAssertEqual(decoded.color(x: 5, y: 5), .white)
        XCTAssertEqual(decoded.color(x: 190, y: 110), .white)
    }

    func testAlphaIsCompositedOverTheBackground() throws {
        let transparent = Image(width: 8, height: 6, fill: [255, 255, 255, 0])
        let decoded = try Sixel.decode(try Sixel.encode(transparent, diffusion: .none, background: Color(0, 255, 0)))
        XCTAssertEqual(decoded.color(x: 4, y: 3), Color(0, 255, 0))
    }

    func testSixel2PNGToolDecodesOurOutput() throws {
        let tool = "/usr/bin/sixel2png"
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("libsixel-bin not installed") }
        let photo = Image.testCard(width: 120, height: 90, seed: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sixel-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("in.six"), output = directory.appendingPathComponent("out.png")
        try Data(try Sixel.encode(photo)).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-i", input.path, "-o", output.path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let decoded = try Image.load(contentsOf: output)
        XCTAssertEqual(decoded.width, 120)
        XCTAssertEqual(decoded.height, 90)
        XCTAssertLessThan(photo.meanAbsoluteDifference(to: decoded), 6)
    }

    func testEmptyImageIsAnError() {
        XCTAssertThrowsError(try Sixel.encode(Image(width: 0, height: 0, channels: 3, pixels: [])))
    }
}
