import XCTest
@testable import Tensor

final class BLASTests: XCTestCase {
    func testLinksOpenBLAS() {
        XCTAssertTrue(BLAS.description.hasPrefix("OpenBLAS"), BLAS.description)
    }
}
