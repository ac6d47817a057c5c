import Imaging
import Terminal
import XCTest

final class BlocksTests: XCTestCase {
    let red = Color(255, 0, 0), blue = Color(0, 0, 255), green = Color(0, 255, 0)

    func testHalfBlocksTakeTopAsForegroundAndBottomAsBackground() {
        // 2 columns x 4 pixel rows: column 0 red over blue, then green over green; column 1 all blue.
        var image = Image(width: 2, height: 4, color: blue)
        image.fillRect(x: 0, y: 0, width: 1, height: 1, color: red)
        image.fillRect(x: 0, y: 2, width: 1, height: 2, color: green)
        let grid = Blocks.cells(image)
        XCTAssertEqual(grid.columns, 2)
        XCTAssertEqual(grid.rows, 2)
        XCTAssertEqual(grid[0, 0], Blocks.Cell("▀", foreground: red, background: blue))
        XCTAssertEqual(grid[1, 0], Blocks.Cell(" ", foreground: blue, background: blue))
        XCTAssertEqual(grid[0, 1], Blocks.Cell(" ", foreground: green, background: green))
        XCTAssertEqual(grid[1, 1].background, blue)
    }

    func testOddHeightPadsTheLastRowWithBlack() {
        let grid = Blocks.cells(Image(width: 1, height: 3, color: red))
        XCTAssertEqual(grid.rows, 2)
        XCTAssertEqual(grid[0, 1], Blocks.Cell("▀", foreground: red, background: .black))
    }

    func testTranslucentPixelsAreShownOverBlack() {
        let half = Image(width: 1, height: 2, fill: [200, 100, 50, 128])
        XCTAssertEqual(Blocks.cells(half)[0, 0].background, Color(100, 50, 25))
        let gray = Image(width: 1, height: 2, fill: [90])
        XCTAssertEqual(Blocks.cells(gray)[0, 0], Blocks.Cell(" ", foreground: Color(90, 90, 90), background: Color(90, 90, 90)))
    }

    func testTruecolorEncodingIsExact() {
        var image = Image(width: 2, height: 2, color: blue)
        image.fillRect(x: 0, y: 0, width: 1, height: 1, color: red)
        let text = String(decoding: Blocks.encode(Blocks.cells(image), palette: .truecolor), as: UTF8.self)
        XCTAssertEqual(text, "\u{1B}[48;2;0;0;255m\u{1B}[38;2;255;0;0m▀ \u{1B}[0m")
    }

    func testRowsAreSeparatedOrPlacedAtTheOrigin() {
        let image = Image(width: 1, height: 4, color: green)
        let inline = String(decoding: Blocks.encode(Blocks.cells(image)), as: UTF8.self)
        XCTAssertEqual(inline, "\u{1B}[48;2;0;255;0m \u{1B}[0m\r\n\u{1B}[48;2;0;255;0m \u{1B}[0m")
        let placed = String(decoding: Blocks.encode(Blocks.cells(image), origin: (row: 5, column: 9)), as: UTF8.self)
        XCTAssertTrue(placed.hasPrefix("\u{1B}[5;9H"))
        XCTAssertTrue(placed.contains("\u{1B}[6;9H"))
        XCTAssertFalse(placed.contains("\r\n"))
    }

    func testXterm256Mapping() {
        XCTAssertEqual(Blocks.xterm256Index(Color(255, 0, 0)), 196)
        XCTAssertEqual(Blocks.xterm256Index(Color(0, 0, 0)), 16)
        XCTAssertEqual(Blocks.xterm256Index(Color(255, 255, 255)), 231)
        XCTAssertEqual(Blocks.xterm256Index(Color(128, 128, 128)), 244)
        XCTAssertEqual(Blocks.xterm256Index(Color(95, 135, 175)), 16 + 36 + 12 + 3)
        for index in 16..<256 {
            let color = Blocks.xterm256Color(index)
            XCTAssertEqual(Blocks.xterm256Color(Blocks.xterm256Index(color)), color, "index \(index)")
        }
        var image = Image(width: 1, height: 2, color: red)
        image.fillRect(x: 0, y: 1, width: 1, height: 1, color: Color(0, 0, 250))
        let text = String(decoding: Blocks.encode(Blocks.cells(image), palette: .xterm256), as: UTF8.self)
        XCTAssertEqual(text, "\u{1B}[48;5;21m\u{1B}[38;5;196m▀\u{1B}[0m")
        // Two near reds quantise to one index: a plain space on that background.
        var near = Image(width: 1, height: 2, color: Color(250, 0, 0))
        near.fillRect(x: 0, y: 1, width: 1, height: 1, color: Color(240, 5, 0))
        let nearText = String(decoding: Blocks.encode(Blocks.cells(near), palette: .xterm256), as: UTF8.self)
        XCTAssertEqual(nearText, "\u{1B}[48;5;196m \u{1B}[0m")
    }

    func testDitheringTo256ColoursKeepsTheAverageColour() {
        // (40, 40, 160) lies between palette colours; dithered, the mean stays close to it.
        let flat = Image(width: 32, height: 32, color: Color(40, 40, 160))
        let dithered = Blocks.ditheredToXterm256(flat, strength: 1)
        var sums = [0, 0, 0]
        for y in 0..<32 {
            for x in 0..<32 {
                let c = dithered.color(x: x, y: y)
                XCTAssertEqual(Blocks.xterm256Color(Blocks.xterm256Index(c)), c, "a palette colour")
                sums[0] += Int(c.r); sums[1] += Int(c.g); sums[2] += Int(c.b)
            }
        }
        XCTAssertEqual(Double(sums[0]) / 1024, 40, accuracy: 3)
        XCTAssertEqual(Double(sums[1]) / 1024, 40, accuracy: 3)
        XCTAssertEqual(Double(sums[2]) / 1024, 160, accuracy: 3)
        let nearest = Blocks.xterm256Color(Blocks.xterm256Index(Color(40, 40, 160)))
        XCTAssertNotEqual(nearest, Color(40, 40, 160), "the test colour is not in the palette")
    }

    func testQuadrantsPickTheBestSplit() {
        var image = Image(width: 4, height: 2, color: blue)
        image.fillRect(x: 0, y: 0, width: 1, height: 1, color: red)  // top-left of cell 0
        image.fillRect(x: 2, y: 0, width: 1, height: 2, color: red)  // left half of cell 1
        let grid = Blocks.cells(image, shape: .quadrants)
        XCTAssertEqual(grid.columns, 2)
        XCTAssertEqual(grid.rows, 1)
        XCTAssertEqual(grid[0, 0], Blocks.Cell("▘", foreground: red, background: blue))
        XCTAssertEqual(grid[1, 0], Blocks.Cell("▌", foreground: red, background: blue))
        let uniform = Blocks.cells(Image(width: 2, height: 2, color: green), shape: .quadrants)
        XCTAssertEqual(uniform[0, 0].character, " ")
    }

    func testBlockPixelsFollowTheCellAspect() {
        // A square image in 40x20 cells of 10x20 pixels fills 20 cells' height: 20 columns, 40 pixel rows.
        let square = Image(width: 100, height: 100, color: red)
        let pixels = TerminalImage.blockPixels(square, columns: 40, rows: 20, cell: CellSize(width: 10, height: 20),
                                               shape: .halfBlocks)
        XCTAssertEqual(pixels.width, 40)
        XCTAssertEqual(pixels.height, 40)
        let wide = TerminalImage.blockPixels(Image(width: 200, height: 50, color: red), columns: 40, rows: 20,
                                             cell: CellSize(width: 10, height: 20), shape: .quadrants)
        // 400x100 on screen; a quadrant pixel is 5x10 on screen.
        XCTAssertEqual(wide.width, 80)
        XCTAssertEqual(wide.height, 10)
    }

    func testRenderedPhotoHasOneCellPerColumnAndRow() throws {
        let caps = TerminalCapabilities(graphics: .blocks, cellSize: CellSize(width: 8, height: 16), truecolor: true)
        let bytes = try TerminalImage.render(Image.testCard(width: 64, height: 64, seed: 1), columns: 16, rows: 8,
                                             capabilities: caps)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "\r\n").count, 8)
        XCTAssertTrue(text.contains("▀"))
    }
}
