import XCTest
@testable import Tensor

final class ShiftTests: XCTestCase {
    func testShiftMovesEachItemByItsOwnOffsetWithZerosOrWrapping() {
        // Two items of one 3x4 channel: 0...11 and 100...111.
        let x = Tensor(shape: [2, 1, 3, 4], values: (0..<12).map(Float.init) + (0..<12).map { Float($0 + 100) })
        let shifted = x.shifted(rows: [1, 0], columns: [0, -1]).values
        XCTAssertEqual(Array(shifted[0..<12]), [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7], "item 0 moved down a row")
        XCTAssertEqual(Array(shifted[12..<24]), [101, 102, 103, 0, 105, 106, 107, 0, 109, 110, 111, 0], "item 1 moved left")
        let rolled = x.shifted(rows: [-1, 0], columns: [1, 5], circular: true).values
        XCTAssertEqual(Array(rolled[0..<12]), [7, 4, 5, 6, 11, 8, 9, 10, 3, 0, 1, 2], "up a row and right one, wrapping")
        XCTAssertEqual(Array(rolled[12..<24]), [103, 100, 101, 102, 107, 104, 105, 106, 111, 108, 109, 110], "5 mod 4 = 1")
        XCTAssertEqual(x.shifted(rows: [3, 0], columns: [0, 4]).values, [Float](repeating: 0, count: 24), "moved out entirely")
    }

    func testShiftGradientsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 3)
        let x = Tensor.randomNormal([2, 3, 5, 6], generator: &generator)
        assertGradientsMatch([x]) { $0[0].shifted(rows: [2, -1], columns: [-3, 1]).squared() }
        assertGradientsMatch([x]) { $0[0].shifted(rows: [-4, 7], columns: [2, -13], circular: true).squared() }
    }
}

final class WarpTests: XCTestCase {
    func testIdentityAndWholePixelMovesEqualTheShift() {
        var generator = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal([2, 3, 6, 7], generator: &generator)
        XCTAssertEqual(x.warped([ImageWarp(), ImageWarp()], fill: [0, 0, 0]).values, x.values)
        let moved = x.warped([ImageWarp(translation: (2, -1)), ImageWarp(translation: (-3, 4))], fill: [0, 0, 0])
        XCTAssertEqual(moved.values, x.shifted(rows: [2, -3], columns: [-1, 4]).values)
    }

    func testQuarterTurnAndHalfScaleLandWhereExpected() {
        // One 5x5 channel 0...24; a quarter turn (pi/2) about the centre is an exact permutation.
        let x = Tensor(shape: [1, 1, 5, 5], values: (0..<25).map(Float.init))
        let turned = x.warped([ImageWarp(angle: Double.pi / 2)], fill: [-1]).values
        for y in 0..<5 {
            for column in 0..<5 {
                // Output (y, x) reads input (4 - x, y): the picture turns clockwise on screen (bottom-left to top-left).
                let sourceRow = 4 - column, sourceColumn = y
                XCTAssertEqual(turned[y * 5 + column], Float(sourceRow * 5 + sourceColumn), accuracy: 1e-4, "(\(y), \(column))")
            }
        }
        // Doubling the picture: the centre stays, a pixel one step from the centre reads half a step away.
        let doubled = x.warped([ImageWarp(scale: 2)], fill: [-1]).values
        XCTAssertEqual(doubled[12], 12, accuracy: 1e-5)
        XCTAssertEqual(doubled[13], 12.5, accuracy: 1e-5)
        // Halving it: the corners read outside the input, i.e. the fill.
        let halved = x.warped([ImageWarp(scale: 0.5)], fill: [-1]).values
        XCTAssertEqual(halved[0], -1, accuracy: 1e-5)
        XCTAssertEqual(halved[12], 12, accuracy: 1e-5)
        XCTAssertEqual(halved[13], 14, accuracy: 1e-5)
    }

    func testWarpGradientsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 8)
        let x = Tensor.randomNormal([2, 3, 9, 8], generator: &generator)
        let warps = [ImageWarp(scale: 1.13, angle: 0.2, translation: (1.5, -2)), ImageWarp(scale: 0.9, angle: -0.35, translation: (-3, 0.25))]
        assertGradientsMatch([x]) { $0[0].warped(warps, fill: [0.5, -0.25, 0.1]).squared() }
    }
}
