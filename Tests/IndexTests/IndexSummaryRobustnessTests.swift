import CLIP
import Imaging
@testable import Index
import Jobs
import Tensor
import XCTest

final class IndexSummaryRobustnessTests: XCTestCase {
    func testInfiniteAndNaNActivationsDoNotStopASummary() {
        let values: [Float] = [1, 2, .infinity, .nan, 3, -.infinity, 2.5]
        let n = values.count
        let (summary, categories) = values.withUnsafeBufferPointer { buffer in
            ActivationIndex.summarizeNeuron(buffer, ids: (0..<n).map(Int64.init), pathRank: (0..<n).map(UInt32.init),
                                            rowOfRank: Array(0..<n), codes: [Int](repeating: 0, count: n), categoryNames: ["all"])
        }
        XCTAssertEqual(categories.count, 1)
        XCTAssertEqual(categories[0].density.reduce(0, +), n - 1)
        // NaN counts in no bin; the infinities fall in the end bins.
        XCTAssertEqual(summary.bins.map(\.count).reduce(0, +), n - 1)
        XCTAssertEqual(summary.bins.first?.low, 1)
        XCTAssertEqual(summary.bins.last?.high, 3)
    }
}
