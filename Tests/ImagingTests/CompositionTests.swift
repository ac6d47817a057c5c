import Foundation
import Imaging
import XCTest

final class CompositionTests: XCTestCase {
    var font: Font!

    override func setUpWithError() throws { font = try Font.standard() }

    /// Writes the image under $CLIPSCOPE_GALLERY when set, to look at by eye.
    func keep(_ image: Image, _ name: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["CLIPSCOPE_GALLERY"] else { return }
        try image.writePNG(path: "\(directory)/\(name).png")
    }

    func count(_ image: Image, x: Int, y: Int, width: Int, height: Int, where predicate: (Color) -> Bool) -> Int {
        var n = 0
        for yy in max(0, y)..<min(image.height, y + height) {
            for xx in max(0, x)..<min(image.width, x + width) where predicate(image.color(x: xx, y: yy)) { n += 1 }
        }
        return n
    }

    func testMontagePlacesImagesAndCaptions() throws {
        let colors = [Color(200, 30, 30), Color(30, 160, 40), Color(40, 60, 200), Color(230, 200, 20),
                      Color(120, 40, 160), Color(20, 180, 180), Color(250, 120, 10)]
        let tiles = colors.enumerated().map { index, color in
            Montage.Tile(Image(width: 64 + 16 * index, height: 64, color: color),
                         caption: "n\(89 + index)\n\(String(format: "%.2f", 3.5 - Double(index) * 0.4))")
        }
        let montage = Montage(columns: 3, cellSize: 96, gap: 6, title: "neuron 89: top images")
        let image = montage.render(tiles, font: font)
        let layout = montage.layout(count: tiles.count, captionLines: 2, font: font)
        XCTAssertEqual(image.width, 6 + 3 * (96 + 6))
        XCTAssertEqual(image.width, layout.width)
        XCTAssertEqual(image.height, layout.height)
        XCTAssertEqual(layout.imageRects.count, 7)
        XCTAssertEqual(layout.imageRects[3].y, layout.imageRects[0].y + 96 + layout.captionRects[0].height + 6)
        for (index, color) in colors.enumerated() {
            let cell = layout.imageRects[index]
            // Centre of the square is the picture's colour (aspect kept, so wide ones leave bands).
            XCTAssertEqual(image.color(x: cell.x + 48, y: cell.y + 48), color, "tile \(index)")
            let caption = layout.captionRects[index]
            XCTAssertGreaterThan(caption.height, 20)
            let dark = count(image, x: caption.x, y: caption.y, width: caption.width, height: caption.height) {
                $0.r < 128 && $0.g < 128 && $0.b < 128
            }
            XCTAssertGreaterThan(dark, 20, "caption \(index) drawn")
        }
        // A wide tile (176x64 into 96x96) is letterboxed: background above the picture.
        XCTAssertEqual(image.color(x: layout.imageRects[6].x + 48, y: layout.imageRects[6].y + 5), .white)
        // The title strip has ink above the first cell.
        XCTAssertGreaterThan(count(image, x: 0, y: 0, width: image.width, height: layout.imageRects[0].y) { $0 != .white }, 50)
        try keep(image, "montage")
    }

    func testVerticalBarHeightsAreProportional() throws {
        let red = Color(200, 40, 40)
        let bars = [Chart.Bar("cats", 1), Chart.Bar("dogs", 2), Chart.Bar("birds", 4), Chart.Bar("fish", 3)]
        var style = ChartStyle(width: 500, height: 320)
        style.palette = [red]
        let image = Chart.bars(bars, labels: ChartLabels(title: "mean activation", y: "activation"), style: style, font: font)
        XCTAssertEqual(image.width, 500)
        // Measure each bar: runs of columns holding the bar colour, tallest column per run.
        var heights: [Int] = []
        var inBar = false
        for x in 0..<image.width {
            let h = count(image, x: x, y: 0, width: 1, height: image.height) { $0 == red }
            if h > 0 {
                if !inBar { heights.append(0); inBar = true }
                heights[heights.count - 1] = max(heights[heights.count - 1], h)
            } else {
                inBar = false
            }
        }
        XCTAssertEqual(heights.count, 4)
        guard heights.count == 4 else { return }
        XCTAssertGreaterThan(heights[0], 20)
        XCTAssertEqual(Double(heights[1]) / Double(heights[0]), 2, accuracy: 0.1)
        XCTAssertEqual(Double(heights[2]) / Double(heights[0]), 4, accuracy: 0.15)
        XCTAssertEqual(Double(heights[3]) / Double(heights[0]), 3, accuracy: 0.12)
        try keep(image, "bars-vertical")
    }

    func testHorizontalBarLengthsAreProportionalAndNegativeGoLeft() throws {
        let colors = [Color(30, 120, 200), Color(230, 120, 20), Color(40, 170, 60)]
        let bars = [Chart.Bar("positive", 3, color: colors[0]), Chart.Bar("small", 1, color: colors[1]),
                    Chart.Bar("negative", -2, color: colors[2])]
        let image = Chart.bars(bars, orientation: .horizontal, labels: ChartLabels(x: "activation"),
                               style: ChartStyle(width: 600, height: 300), font: font)
        func extent(_ color: Color) -> (Int, Int) {
            var lo = Int.max, hi = -1
            for y in 0..<image.height { for x in 0..<image.width where image.color(x: x, y: y) == color { lo = min(lo, x); hi = max(hi, x) } }
            return (lo, hi + 1)
        }
        let (p0, p1) = extent(colors[0]), (s0, s1) = extent(colors[1]), (n0, n1) = extent(colors[2])
        XCTAssertEqual(Double(p1 - p0) / Double(s1 - s0), 3, accuracy: 0.15)
        XCTAssertEqual(Double(n1 - n0) / Double(s1 - s0), 2, accuracy: 0.12)
        XCTAssertEqual(p0, s0, "positive bars start at zero")
        XCTAssertEqual(n1, p0, accuracy: 1, "the negative bar ends at zero")
        try keep(image, "bars-horizontal")
    }

    func testKernelDensityIntegratesToOne() {
        let values = (0..<400).map { sin(Double($0) * 12.9898) * 43758.5453 }.map { $0 - $0.rounded(.down) }  // uniform-ish
        let grid = stride(from: -1.0, through: 2.0, by: 0.005).map { $0 }
        let density = Chart.kernelDensity(values, at: grid)
        let integral = density.reduce(0, +) * 0.005
        XCTAssertEqual(integral, 1, accuracy: 0.01)
        XCTAssertEqual(Chart.kernelDensity([2, 2, 2], at: [2]).count, 1)
        XCTAssertTrue(Chart.kernelDensity([2, 2, 2], at: [2])[0].isFinite, "constant samples still have a bandwidth")
    }

    func testHistogramOfOneGroupPeaksInTheMiddle() throws {
        // A triangular distribution from the sum of two uniforms.
        var state: UInt64 = 7
        func uniform() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53) }
        let values = (0..<2000).map { _ in uniform() + uniform() }
        var style = ChartStyle(width: 600, height: 360)
        style.palette = [Color(30, 100, 200)]
        let image = Chart.distributions([Chart.Group("all", values)], bins: 20,
                                        labels: ChartLabels(title: "activations", x: "activation"), style: style, font: font)
        // Bars are the palette colour at alpha 150 over white.
        let barColor = Color(UInt8((30 * 150 + 255 * 105) / 255), UInt8((100 * 150 + 255 * 105) / 255), UInt8((200 * 150 + 255 * 105) / 255))
        func columnHeight(_ x: Int) -> Int {
            count(image, x: x, y: 0, width: 1, height: image.height) {
                abs(Int($0.r) - Int(barColor.r)) <= 2 && abs(Int($0.g) - Int(barColor.g)) <= 2 && abs(Int($0.b) - Int(barColor.b)) <= 2
            }
        }
        let middle = (280...320).map(columnHeight).max() ?? 0
        let side = (90...120).map(columnHeight).max() ?? 0
        XCTAssertGreaterThan(middle, 100)
        XCTAssertGreaterThan(middle, 2 * side)
        try keep(image, "histogram")
    }

    func testDensityCurvesPerGroupUseTheirColours() throws {
        let groups = [Chart.Group("dogs", (0..<300).map { 2 + sin(Double($0)) }),
                      Chart.Group("cats", (0..<300).map { 5 + 0.5 * cos(Double($0) * 1.7) })]
        let style = ChartStyle(width: 600, height: 360)
        let image = Chart.distributions(groups, labels: ChartLabels(title: "by category", x: "activation"), style: style, font: font)
        for index in 0..<2 {
            let c = style.palette[index]
            XCTAssertGreaterThan(count(image, x: 0, y: 0, width: image.width, height: image.height) { $0 == c }, 100, "group \(index)")
        }
        try keep(image, "densities")
    }

    func testRidgesGiveEachOfManyGroupsItsOwnRowWithItsMeanWhereItsDataIs() throws {
        // 22 groups (as a real clip-art collection has), group k centred at k.
        let groups = (0..<22).map { k in
            Chart.Group("category number \(k) with a long name", (0..<60).map { Double(k) + 0.3 * sin(Double($0) * 1.3) })
        }
        var style = ChartStyle(width: 720, height: 300)
        style.palette = [Color(40, 90, 160)]
        let image = Chart.ridges(groups, labels: ChartLabels(title: "by category", x: "activation"), rowHeight: 24, style: style, font: font)
        XCTAssertGreaterThanOrEqual(image.height, 22 * 24, "the chart grows to give every group a row")
        // Each group's mean marker (pure red) sits further right than the one of the row above.
        let red = Color(200, 40, 40)
        var markers: [(x: Int, y: Int)] = []
        var inMarker = false
        for y in 0..<image.height {
            let x = (0..<image.width).first { image.color(x: $0, y: y) == red }
            if let x, !inMarker { markers.append((x, y)) }
            inMarker = x != nil
        }
        XCTAssertEqual(markers.count, 22, "one mean marker per group")
        XCTAssertTrue(zip(markers, markers.dropFirst()).allSatisfy { $0.x < $1.x && $0.y < $1.y }, "\(markers)")
        // Names are whole: the plot starts right of the longest name, which fits in half the width.
        let name = font.measure(groups[0].name, style: TextStyle(size: style.fontSize, color: style.foreground))
        XCTAssertLessThan(name.width, image.width / 2)
        XCTAssertGreaterThan(markers[0].x, name.width, "nothing is drawn over the names")
        try keep(image, "ridges")
    }

    func testHistogramBarsStandOnTheirRanges() throws {
        var style = ChartStyle(width: 400, height: 240)
        style.palette = [Color(20, 140, 60)]
        let image = Chart.histogram([(0, 1, 2), (1, 2, 10), (2, 3, 5)], style: style, font: font)
        func height(column x: Int) -> Int { count(image, x: x, y: 0, width: 1, height: image.height) { $0 == Color(20, 140, 60) } }
        let columns = (0..<image.width).filter { height(column: $0) > 0 }
        XCTAssertFalse(columns.isEmpty)
        let third = (columns.last! - columns.first!) / 3
        let first = height(column: columns.first! + third / 2), second = height(column: columns.first! + third + third / 2)
        let last = height(column: columns.first! + 2 * third + third / 2)
        XCTAssertEqual(Double(second) / Double(first), 5, accuracy: 0.3)
        XCTAssertEqual(Double(last) / Double(first), 2.5, accuracy: 0.2)
        try keep(image, "histogram-bins")
    }

    func testLineChartFollowsTheData() throws {
        let loss = (0..<200).map { 5 * exp(-Double($0) / 40) + 0.2 }
        var style = ChartStyle(width: 500, height: 300)
        style.palette = [Color(220, 40, 40)]
        let image = Chart.lines([Chart.Series("loss", values: loss)], labels: ChartLabels(title: "loss", x: "step", y: "loss"),
                                style: style, font: font)
        func lineY(atColumn x: Int) -> Int? {
            (0..<image.height).first { image.color(x: x, y: $0) == Color(220, 40, 40) }
        }
        let left = try XCTUnwrap((80..<140).lazy.compactMap(lineY).first)
        let right = try XCTUnwrap((400..<470).lazy.compactMap(lineY).first)
        XCTAssertLessThan(left, right - 100, "a falling loss starts high on the image")
        try keep(image, "lines")
    }

    func testScatterDrawsBothGroupsAndPairLines() throws {
        var points: [Chart.Point] = [], pairs: [(Int, Int)] = []
        for i in 0..<20 {
            let angle = Double(i) * 0.3
            points.append(Chart.Point(x: cos(angle), y: sin(angle), group: 0))
            points.append(Chart.Point(x: cos(angle) + 3, y: sin(angle) + 0.5, group: 1))
            pairs.append((2 * i, 2 * i + 1))
        }
        let style = ChartStyle(width: 600, height: 400)
        let image = Chart.scatter(points, groups: ["image", "text"], pairs: pairs,
                                  labels: ChartLabels(title: "modality gap"), equalAspect: true, style: style, font: font)
        for index in 0..<2 {
            let c = style.palette[index]
            XCTAssertGreaterThan(count(image, x: 0, y: 0, width: image.width, height: image.height) { $0 == c }, 300)
        }
        let gray = count(image, x: 0, y: 0, width: image.width, height: image.height) {
            $0.r == $0.g && $0.g == $0.b && $0.r > 120 && $0.r < 215
        }
        XCTAssertGreaterThan(gray, 500, "pair lines")
        try keep(image, "scatter")
    }

    func testChartsWriteAsPNGAndReadBack() throws {
        let image = Chart.lines([Chart.Series("a", values: [1, 3, 2]), Chart.Series("b", values: [2, 1, 3])], style: ChartStyle(width: 300, height: 200), font: font)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(getpid()).png")
        defer { try? FileManager.default.removeItem(at: url) }
        try image.writePNG(to: url)
        XCTAssertEqual(try Image.load(contentsOf: url), image)
    }

    func testDrawingPrimitives() {
        var image = Image(width: 40, height: 40, color: .white)
        image.drawLine(from: (5.5, 20.5), to: (34.5, 20.5), color: .black, thickness: 1)
        XCTAssertEqual(image.color(x: 20, y: 20), .black)
        XCTAssertEqual(image.color(x: 20, y: 18), .white)
        image.fillCircle(center: (10, 10), radius: 4, color: Color(255, 0, 0))
        XCTAssertEqual(image.color(x: 10, y: 10), Color(255, 0, 0))
        XCTAssertEqual(image.color(x: 10, y: 16), .white)
        image.fillRect(x: 30, y: 30, width: 20, height: 20, color: Color(0, 0, 255, 128))  // clipped, half blended
        XCTAssertEqual(image.color(x: 39, y: 39), Color(127, 127, 255))
        image.fillPolygon([(0, 30), (10, 30), (0, 40)], color: Color(0, 200, 0))
        XCTAssertEqual(image.color(x: 2, y: 32), Color(0, 200, 0))
        XCTAssertEqual(image.color(x: 9, y: 39), .white)
    }
}
