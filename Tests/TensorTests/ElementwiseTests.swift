import XCTest
@testable import Tensor

final class ElementwiseTests: XCTestCase {
    func testBroadcastingArithmeticForward() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let row = Tensor(shape: [3], values: [10, 20, 30])
        let column = Tensor(shape: [2, 1], values: [100, 200])
        assertValues(a + row, [11, 22, 33, 14, 25, 36])
        assertValues(a - column, [-99, -98, -97, -196, -195, -194])
        assertValues(a * column, [100, 200, 300, 800, 1000, 1200])
        assertValues(row / Tensor(scalar: 10), [1, 2, 3])
        assertValues((a + row).sum(toShape: [3]), [25, 47, 69])
        let outer = column + row
        XCTAssertEqual(outer.shape, [2, 3])
        assertValues(outer, [110, 120, 130, 210, 220, 230])
    }

    func testChannelBroadcastOverNCHW() {
        let x = Tensor(shape: [2, 3, 2, 2], values: (0..<24).map(Float.init))
        let b = Tensor(shape: [1, 3, 1, 1], values: [0, 100, 200])
        let y = x + b
        XCTAssertEqual(y[1, 2, 1, 0], 22 + 200)
        XCTAssertEqual(y[0, 1, 0, 1], 5 + 100)
    }

    func testActivationsForward() {
        let x = Tensor(shape: [4], values: [-2, -0.5, 0.5, 3])
        assertValues(x.relu(), [0, 0, 0.5, 3])
        assertValues(x.sigmoid(), [0.11920292, 0.37754067, 0.62245933, 0.95257413])
        assertValues(x.quickGELU(), [-0.06434137685579186, -0.1496115633936199, 0.35038843660638014, 2.981928690292214])
        assertValues(x.clamped(-1, 1), [-1, -0.5, 0.5, 1])
        assertValues(x.abs(), [2, 0.5, 0.5, 3])
    }

    func testBinaryGradients() {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([3, 1], seed: 2)
        assertGradientsMatch([a, b]) { $0[0] + $0[1] }
        assertGradientsMatch([a, b]) { $0[0] - $0[1] }
        assertGradientsMatch([a, b]) { $0[0] * $0[1] }
        let positive = randomTensor([3, 1], seed: 3, margin: 0.5)
        assertGradientsMatch([a, positive]) { $0[0] / $0[1] }
        assertGradientsMatch([a]) { ($0[0] * 3 + 1) / 2 - 5 }
    }

    func testUnaryGradients() {
        let x = randomTensor([3, 5], seed: 4, margin: 0.1)
        let positive = randomTensor([3, 5], seed: 5).abs() + 0.5
        assertGradientsMatch([x]) { $0[0].relu() }
        assertGradientsMatch([x]) { $0[0].sigmoid() }
        assertGradientsMatch([x]) { $0[0].tanh() }
        assertGradientsMatch([x]) { $0[0].quickGELU() }
        assertGradientsMatch([x]) { $0[0].exp() }
        assertGradientsMatch([x]) { $0[0].squared() }
        assertGradientsMatch([x]) { $0[0].abs() }
        assertGradientsMatch([x]) { -$0[0] }
        assertGradientsMatch([x]) { $0[0].clamped(-0.5, 0.5) }
        assertGradientsMatch([positive]) { $0[0].log() }
        assertGradientsMatch([positive]) { $0[0].sqrt() }
        assertGradientsMatch([positive]) { $0[0].pow(1.5) }
    }

    func testGradientAccumulatesWhenAnInputIsUsedTwice() {
        let x = Tensor(shape: [2], values: [3, -1])
        x.requiresGrad = true
        (x * x + x).sum().backward()
        assertValues(x.grad!, [7, -1])
        // A second backward accumulates.
        (x * 2).sum().backward()
        assertValues(x.grad!, [9, 1])
    }

    func testUntrackedOpsRecordNothing() {
        let x = Tensor(shape: [3], values: [1, 2, 3])
        let y = (x * 2).relu().sum()
        XCTAssertNil(y.node)
        XCTAssertFalse(y.isTracked)
    }
}
