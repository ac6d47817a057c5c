import Imaging
@testable import Terminal
import XCTest

final class LibraryTests: XCTestCase {
    func testLinksLibsixel() {
        XCTAssertTrue(TerminalLibraries.sixelVersion.first?.isNumber == true, TerminalLibraries.sixelVersion)
    }
}
