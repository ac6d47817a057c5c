import Support
import XCTest

final class InvalidParameterTests: XCTestCase {
    func testAMentionedParameterIsShownByEachFrontEndsName() {
        let error = InvalidParameter("text", "'star' does not fit; use a smaller \(InvalidParameter.mention("size")) or \(InvalidParameter.mention("fontFile"))")
        XCTAssertEqual(error.detail, "'star' does not fit; use a smaller size or fontFile")
        XCTAssertEqual(error.description, "text 'star' does not fit; use a smaller size or fontFile")
        XCTAssertEqual(error.detail(naming: { "--" + $0 }), "'star' does not fit; use a smaller --size or --fontFile")
        XCTAssertEqual(InvalidParameter("steps", "must be at least 1").detail(naming: { "<\($0)>" }), "must be at least 1")
    }
}
