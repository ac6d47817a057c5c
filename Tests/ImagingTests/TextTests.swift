import Foundation
import Imaging
import XCTest

final class TextTests: XCTestCase {
    var font: Font!

    override func setUpWithError() throws {
        font = try Font.standard()
    }

    func testStandardFontIsDejaVuSans() {
        XCTAssertEqual(font.familyName, "DejaVu Sans")
        XCTAssertEqual(font.path, Font.defaultPath)
    }

    func testMissingFontThrowsOneLineNamingTheFile() {
        XCTAssertThrowsError(try Font(path: "/nonexistent/Missing.ttf")) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("/nonexistent/Missing.ttf"), message)
            XCTAssertFalse(message.contains("\n"))
        }
    }

    func testFileThatIsNotAFontThrows() {
        XCTAssertThrowsError(try Font(path: #filePath)) { error in
            XCTAssertTrue(String(describing: error).contains("not a font"), String(describing: error))
        }
    }

    func testLoadFallsBackToDejaVuWithAWarning() throws {
        let (fallback, warning) = try Font.load(path: "/nonexistent/Missing.ttf")
        XCTAssertEqual(fallback.familyName, "DejaVu Sans")
        XCTAssertTrue(warning?.contains("/nonexistent/Missing.ttf") ?? false)
        let (other, none) = try Font.load(path: "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
        XCTAssertEqual(other.familyName, "DejaVu Serif")
        XCTAssertNil(none)
    }

    func testMeasureMatchesRenderedBoxAndScalesWithSize() {
        let small = TextStyle(size: 24)
        let box = font.measure("Hello, world", style: small)
        XCTAssertEqual(font.masks("Hello, world", style: small).box, box)
        XCTAssertEqual(font.measure("Hello, world", style: small), box, "measuring twice differs")
        XCTAssertGreaterThan(font.measure("Hello, world!!", style: small).width, box.width)
        // DejaVu Sans: line height is about 1.16 em; the box covers ascender to descender.
        XCTAssertEqual(Double(box.height), 24 * 1.16, accuracy: 3)
        let large = font.measure("Hello, world", style: TextStyle(size: 48))
        XCTAssertEqual(Double(large.width) / Double(box.width), 2, accuracy: 0.1)
        XCTAssertEqual(Double(large.height) / Double(box.height), 2, accuracy: 0.1)
    }

    func testDrawnGlyphsLandInsideTheMeasuredBox() {
        let background = Color(40, 40, 40)
        for (text, style) in [("Typographic", TextStyle(size: 30, color: .white)),
                              ("iPod jQ_|", TextStyle.outlined(size: 40)),
                              ("Ωμέγα Привет", TextStyle(size: 22, color: Color(255, 0, 0)))] {
            var canvas = Image(width: 600, height: 120, color: background)
            let box = canvas.draw(text: text, x: 17, y: 23, font: font, style: style)
            XCTAssertEqual(box, font.measure(text, style: style))
            guard let ink = SyntheticImages.inkBounds(canvas, background: background) else {
                return XCTFail("\(text): nothing drawn")
            }
            XCTAssertGreaterThanOrEqual(ink.x0, 17, text)
            XCTAssertGreaterThanOrEqual(ink.y0, 23, text)
            XCTAssertLessThanOrEqual(ink.x1, 17 + box.width, text)
            XCTAssertLessThanOrEqual(ink.y1, 23 + box.height, text)
            // The box is tight horizontally: ink reaches within a side bearing of both sides.
            XCTAssertLessThanOrEqual(ink.x0 - 17, 6, text)
            XCTAssertLessThanOrEqual(17 + box.width - ink.x1, 6, text)
        }
    }

    func testOutlineSurroundsWhiteFillWithBlack() {
        let gray = Color(128, 128, 128)
        var canvas = Image(width: 300, height: 100, color: gray)
        let style = TextStyle(size: 60, color: .white, outline: 3, outlineColor: .black)
        canvas.draw(text: "HI", x: 10, y: 10, font: font, style: style)
        var white = 0, black = 0
        for y in 0..<canvas.height {
            for x in 0..<canvas.width {
                let c = canvas.color(x: x, y: y)
                if c.r > 240 && c.g > 240 && c.b > 240 { white += 1 }
                if c.r < 15 && c.g < 15 && c.b < 15 { black += 1 }
            }
        }
        XCTAssertGreaterThan(white, 500)
        XCTAssertGreaterThan(black, 300)
        // Scanning a row through the middle of "H": gray, black edge, white stroke, black edge.
        let plain = font.measure("HI", style: TextStyle(size: 60))
        let outlined = font.measure("HI", style: style)
        XCTAssertEqual(outlined.width - plain.width, 6, accuracy: 2)
        let row = 10 + outlined.baseline - 20
        var sequence: [Character] = []
        for x in 0..<canvas.width {
            let c = canvas.color(x: x, y: row)
            let kind: Character = c == gray ? "g" : c.r > 240 ? "w" : c.r < 15 ? "b" : "~"
            if kind != "~", kind != sequence.last { sequence.append(kind) }
        }
        XCTAssertEqual(String(sequence.prefix(4)), "gbwb")
    }

    func testTextColourIsApplied() {
        var canvas = Image(width: 200, height: 60, color: .white)
        canvas.draw(text: "red", x: 5, y: 5, font: font, style: TextStyle(size: 40, color: Color(220, 0, 0)))
        var solid = 0
        for y in 0..<canvas.height {
            for x in 0..<canvas.width where canvas.color(x: x, y: y) == Color(220, 0, 0) { solid += 1 }
        }
        XCTAssertGreaterThan(solid, 100)
    }

    func testNonLatinLettersDrawAndMissingOnesAreReported() {
        XCTAssertTrue(font.hasGlyphs(for: "Привет Ωμέγα שלום"))
        XCTAssertFalse(font.hasGlyphs(for: "漢字"))
        var canvas = Image(width: 200, height: 50, color: .white)
        canvas.draw(text: "Жж", x: 0, y: 0, font: font, style: TextStyle(size: 30))
        XCTAssertNotNil(SyntheticImages.inkBounds(canvas, background: .white))
    }

    func testFallbackFaceDrawsWhatTheMainFaceLacks() throws {
        let fallbackPath = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
        guard FileManager.default.isReadableFile(atPath: fallbackPath) else {
            throw XCTSkip("fonts-droid-fallback not installed")
        }
        let plain = try Font(path: Font.defaultPath)
        XCTAssertFalse(plain.canDraw("漢字"))
        XCTAssertThrowsError(try plain.addFallback(path: "/nonexistent/cjk.ttf"))
        try plain.addFallback(path: fallbackPath)
        XCTAssertTrue(plain.canDraw("漢字 and Latin"))
        XCTAssertFalse(plain.hasGlyphs(for: "漢字"), "the main face still lacks them")
        let style = TextStyle(size: 30)
        var canvas = Image(width: 200, height: 60, color: .white)
        let box = canvas.draw(text: "漢字", x: 4, y: 4, font: plain, style: style)
        let ink = try XCTUnwrap(SyntheticImages.inkBounds(canvas, background: .white))
        XCTAssertGreaterThan(ink.x1 - ink.x0, 50, "two em-wide ideographs, not narrow missing-glyph boxes")
        XCTAssertLessThanOrEqual(ink.x1, 4 + box.width)
        XCTAssertLessThanOrEqual(ink.y1, 4 + box.height)
    }

    func testMultilineTextStacksLines() {
        let style = TextStyle(size: 20)
        let one = font.measure("line", style: style)
        let two = font.measure("line\nline two", style: style)
        XCTAssertEqual(two.height, one.height + one.lineHeight)
        XCTAssertEqual(two.width, font.measure("line two", style: style).width)
    }

    func testOutlinedLabelOnAPhotoStaysReadable() throws {
        // The paper's look: white letters, black outline, on top of a busy photo.
        var photo = SyntheticImages.photo(width: 288, height: 288)
        let style = TextStyle.outlined(size: 36)
        let box = font.measure("iPod", style: style)
        let origin = photo.draw(text: "iPod", centerX: 144, centerY: 200, font: font, style: style)
        XCTAssertEqual(origin.x, 144 - box.width / 2)
        // Inside the box there is pure white (fill) and pure black (outline).
        var white = 0, black = 0
        for y in origin.y..<origin.y + box.height {
            for x in origin.x..<origin.x + box.width {
                let c = photo.color(x: x, y: y)
                if c == .white { white += 1 }
                if c == .black { black += 1 }
            }
        }
        XCTAssertGreaterThan(white, 150)
        XCTAssertGreaterThan(black, 150)
        if let directory = ProcessInfo.processInfo.environment["CLIPSCOPE_GALLERY"] {
            var sample = photo
            sample.draw(text: "Ωμέγα Привет 3.21", x: 8, y: 8, font: font, style: TextStyle(size: 20, color: Color(20, 20, 20)))
            try sample.writePNG(path: "\(directory)/text.png")
        }
    }

    func testDrawsOntoGrayAndRGBAImages() {
        var gray = Image(width: 80, height: 40, fill: [255])
        gray.draw(text: "A", x: 2, y: 2, font: font, style: TextStyle(size: 30))
        XCTAssertTrue(gray.pixels.contains(0))
        var rgba = Image(width: 80, height: 40, fill: [0, 0, 0, 0])
        rgba.draw(text: "A", x: 2, y: 2, font: font, style: TextStyle(size: 30, color: .white))
        XCTAssertTrue(stride(from: 3, to: rgba.pixels.count, by: 4).contains { rgba.pixels[$0] == 255 })
    }
}
