import XCTest
@testable import Render

final class LibraryTests: XCTestCase {
    func testLinksEveryImageLibrary() {
        let names = RenderLibraries.versions.map(\.name)
        XCTAssertEqual(names, ["libpng", "libjpeg", "libsixel", "freetype", "zlib"])
        XCTAssertFalse(RenderLibraries.versions.contains { $0.version == "unavailable" })
    }
}
