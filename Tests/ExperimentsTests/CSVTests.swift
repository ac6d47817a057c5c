@testable import Experiments
import XCTest

/// The project's one CSV reader and writer (RFC 4180).
final class CSVTests: XCTestCase {
    func testNastyFieldsRoundTrip() throws {
        let rows: [[String]] = [
            ["a, with a comma", "a \"quoted\" word", "two\nlines", "crlf\r\ninside"],
            ["", "\"", ",", "\"\"\n,"],
            ["  leading spaces", "trailing ", "tab\there", "émoji 🐳 and ünïcode"],
            ["\"starts with a quote", "ends with a quote\"", "lone\rcr", "plain"],
        ]
        let text = CSV.document(header: ["w", "x", "y", "z"], rows: rows)
        let records = try CSV.records(text)
        XCTAssertEqual(records.map(\.fields), [["w", "x", "y", "z"]] + rows)
        XCTAssertEqual(records.map(\.line), [1, 2, 5, 7, 8], "a record's line counts the line breaks inside quotes before it")
    }

    func testByteOrderMarkCRLFAndBlankLines() throws {
        let records = try CSV.records("\u{FEFF}path,caption\r\na.png,\"one\r\ntwo\"\r\n\r\nb.png,x")
        XCTAssertEqual(records.map(\.fields), [["path", "caption"], ["a.png", "one\r\ntwo"], [""], ["b.png", "x"]])
    }

    func testAnUnclosedQuoteNamesItsLine() {
        XCTAssertThrowsError(try CSV.records("a,b\nc,\"never\nclosed\n")) { error in
            XCTAssertEqual(error as? CSV.MalformedFile, CSV.MalformedFile(line: 2, reason: "a quoted field is never closed"))
        }
    }
}
