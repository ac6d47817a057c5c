import XCTest
@testable import Tensor

final class KernelsTests: XCTestCase {
    func testReductionsAgreeWithPlainLoopsForEveryTailLength() {
        for n in [1, 5, 15, 16, 17, 31, 32, 33, 100] {
            let a = randomTensor([n], seed: UInt64(n)), b = randomTensor([n], seed: UInt64(n + 100))
            let (x, y) = (a.values, b.values)
            let mean = x.reduce(0, +) / Float(n)
            XCTAssertEqual(Kernels.sum(a.data, n), x.reduce(0, +), accuracy: 1e-5, "sum \(n)")
            XCTAssertEqual(Kernels.dot(a.data, b.data, n), zip(x, y).map(*).reduce(0, +), accuracy: 1e-5, "dot \(n)")
            XCTAssertEqual(Kernels.sumOfSquaredDeviations(a.data, n, from: mean),
                           x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +), accuracy: 1e-5, "deviations \(n)")
            XCTAssertEqual(Kernels.maximum(a.data, n), x.max()!, "max \(n)")
        }
    }
}
