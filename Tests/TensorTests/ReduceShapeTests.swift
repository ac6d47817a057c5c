import XCTest
@testable import Tensor

final class ReduceShapeTests: XCTestCase {
    func testReductionsForward() {
        let x = Tensor(shape: [2, 3], values: [1, 5, 3, 4, 2, 6])
        XCTAssertEqual(x.sum().scalar, 21)
        XCTAssertEqual(x.mean().scalar, 3.5)
        assertValues(x.sum(axis: 0), [5, 7, 9])
        assertValues(x.mean(axis: 1), [3, 4])
        assertValues(x.max(axis: 1), [5, 6])
        assertValues(x.max(axis: 0), [4, 5, 6])
        XCTAssertEqual(x.sum(axis: 1, keepingDimension: true).shape, [2, 1])
        let map = Tensor(shape: [1, 2, 2, 2], values: [1, 9, 3, 4, -1, -2, -3, -4])
        assertValues(map.spatialMax(), [9, -1])
        assertValues(map.spatialMean(), [4.25, -2.5])
    }

    func testReductionGradients() {
        let x = randomTensor([3, 4, 5], seed: 10)
        // Maxima need values further apart than the finite-difference step.
        let distinct = distinctTensor([3, 4, 5], seed: 10)
        assertGradientsMatch([x]) { $0[0].sum() }
        assertGradientsMatch([x]) { $0[0].mean() }
        assertGradientsMatch([x]) { $0[0].sum(axis: 1) }
        assertGradientsMatch([x]) { $0[0].mean(axis: -1, keepingDimension: true) }
        assertGradientsMatch([distinct]) { $0[0].max(axis: 0) }
        assertGradientsMatch([distinct]) { $0[0].max(axis: 2) }
        let map = randomTensor([2, 3, 4, 4], seed: 11)
        assertGradientsMatch([distinctTensor([2, 3, 4, 4], seed: 11)]) { $0[0].spatialMax() }
        assertGradientsMatch([map]) { $0[0].spatialMean() }
    }

    func testShapeOpsForward() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        assertValues(x.transposed(), [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(x.reshaped([3, -1]).shape, [3, 2])
        let y = Tensor(shape: [2, 3, 2], values: (0..<12).map(Float.init))
        let p = y.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [2, 2, 3])
        XCTAssertEqual(p[1, 1, 2], y[1, 2, 1])
        assertValues(Tensor.concatenate([x, Tensor(shape: [2, 1], values: [7, 8])], axis: 1), [1, 2, 3, 7, 4, 5, 6, 8])
        assertValues(Tensor.concatenate([x, x], axis: 0), [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6])
        assertValues(x.sliced(axis: 1, 1..<3), [2, 3, 5, 6])
        assertValues(x.sliced(axis: 0, 1..<2), [4, 5, 6])
        let table = Tensor(shape: [3, 2], values: [0, 1, 10, 11, 20, 21])
        assertValues(table.gatherRows([2, 0, 2]), [20, 21, 0, 1, 20, 21])
        assertValues(Tensor(shape: [2, 1], values: [1, 2]).broadcast(to: [2, 3]), [1, 1, 1, 2, 2, 2])
    }

    func testShapeGradients() {
        let x = randomTensor([2, 3, 4], seed: 12)
        assertGradientsMatch([x]) { $0[0].reshaped([4, 6]) }
        assertGradientsMatch([x]) { $0[0].permuted([1, 2, 0]) }
        assertGradientsMatch([x]) { $0[0].transposed(0, 2) }
        assertGradientsMatch([x]) { $0[0].sliced(axis: 1, 1..<3) }
        assertGradientsMatch([x]) { $0[0].sliced(axis: 0, 1..<2) }
        let y = randomTensor([2, 2, 4], seed: 13)
        assertGradientsMatch([x, y]) { Tensor.concatenate([$0[0], $0[1]], axis: 1) }
        let table = randomTensor([5, 3], seed: 14)
        assertGradientsMatch([table]) { $0[0].gatherRows([4, 1, 4, 0]) }
        let column = randomTensor([3, 1], seed: 15)
        assertGradientsMatch([column]) { $0[0].broadcast(to: [2, 3, 4]) }
        assertGradientsMatch([x]) { $0[0].sum(toShape: [3, 1]) }
    }
}
