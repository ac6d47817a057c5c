import Assets
@testable import CLIP
import Foundation
import Imaging
import Tensor
import Tokenizer
import Weights
import XCTest

final class EmbeddedAssetsTests: XCTestCase {
    func testImageNetLabelsAreTheThousandClassesInOrder() {
        let labels = EmbeddedAssets.imageNetLabels
        XCTAssertEqual(labels.count, 1000)
        XCTAssertEqual(labels.first, "tench")
        XCTAssertEqual(labels.last, "toilet paper")
    }

    func testVocabIsTheGzipOpenAIShips() {
        let data = EmbeddedAssets.bpeVocabGzip
        XCTAssertEqual(data.count, 1_356_917)
        XCTAssertEqual(Array(data.prefix(2)), [0x1f, 0x8b], "gzip magic")
    }
}
