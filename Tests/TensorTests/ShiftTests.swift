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
