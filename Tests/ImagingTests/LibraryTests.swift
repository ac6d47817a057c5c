@testable import Imaging
import XCTest

final class LibraryTests: XCTestCase {
    func testLinksEveryImageLibrary() {
        let names = ImagingLibraries.versions.map(\.name)
        XCTAssertEqual(names, ["libpng", "libjpeg", "freetype", "zlib"])
        XCTAssertFalse(ImagingLibraries.versions.contains { $0.version == "unavailable" })
    }
}
