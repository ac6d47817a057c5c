import XCTest
@testable import TUI

final class LibraryTests: XCTestCase {
    func testLinksWideNcurses() {
        XCTAssertTrue(TUILibraries.ncursesVersion.hasPrefix("ncurses 6"), TUILibraries.ncursesVersion)
    }
}
