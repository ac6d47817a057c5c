import Foundation
@testable import Tokenizer
import XCTest

/// Parity with OpenAI's SimpleTokenizer on Fixtures/tokens.json
/// (tools/reference/make_token_fixtures.py).
final class TokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let decoded: String
        let fits: Bool
        let fixed: String?
    }
    struct Truncated: Decodable {
        let text: String
        let input: [Int32]
    }
    struct DecodeCase: Decodable {
        let ids: [Int]
        let text: String
    }
    struct Fixture: Decodable {
        let cases: [Case]
        let random: [Case]
        let mojibake: [Case]
        let truncated: [Truncated]
        let decode: [DecodeCase]
        let vocabulary: [String: String]
    }

    nonisolated(unsafe) static var sharedFixture: Fixture?

    var tokenizer: Tokenizer { get throws { try Tokenizer.shared() } }

    func fixture() throws -> Fixture {
        if let fixture = Self.sharedFixture { return fixture }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokens.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        Self.sharedFixture = fixture
        return fixture
    }

    func testSpecChecks() throws {
        let tokenizer = try tokenizer
        XCTAssertEqual(try tokenizer.tokenize("A photo of clouds").prefix(7), [49406, 320, 1125, 539, 6244, 49407, 0])
        XCTAssertEqual(tokenizer.encode("This is a sentence"), [589, 533, 320, 12737])
        XCTAssertEqual(tokenizer.encode("Donald Trump"), [4335, 1797])
    }

    func testVocabularyLayout() throws {
        let tokenizer = try tokenizer
        XCTAssertEqual(tokenizer.vocabularySize, 49408)
        for (id, token) in try fixture().vocabulary {
            XCTAssertEqual(tokenizer.vocabulary[Int(id)!], token, "token \(id)")
            XCTAssertEqual(tokenizer.id(ofToken: token), Int(id)!)
        }
    }

    func testHandPickedStringsMatchPython() throws {
        try assertParity(try fixture().cases)
    }

    func testRandomStringsMatchPython() throws {
        try assertParity(try fixture().random)
    }

    func testMojibakeMatchesPython() throws {
        let cases = try fixture().mojibake
        try assertParity(cases)
        for item in cases {
            // Code point equality: Swift's String == would hide normalization differences.
            let fixed = FTFY.fixText(TextCleaning.scalars(item.text))
            XCTAssertEqual(fixed, TextCleaning.scalars(item.fixed ?? ""), "ftfy.fix_text(\(item.text.debugDescription))")
        }
    }

    private func assertParity(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try tokenizer
        XCTAssertFalse(cases.isEmpty)
        var failures = 0
        for item in cases {
            let ids = tokenizer.encode(item.text)
            if ids != item.ids {
                failures += 1
                XCTFail("\(item.text.debugDescription): \(ids) != python \(item.ids)", file: file, line: line)
                continue
            }
            XCTAssertEqual(try tokenizer.decode(ids), item.decoded, item.text.debugDescription, file: file, line: line)
            if item.fits {
                let input = try tokenizer.tokenize(item.text)
                XCTAssertEqual(input.count, 77)
                XCTAssertEqual(Array(input.prefix(ids.count + 2)), [49406] + ids.map { Int32($0) } + [49407])
            } else {
                XCTAssertThrowsError(try tokenizer.tokenize(item.text))
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) strings differ", file: file, line: line)
    }

    func testTruncationMatchesClipTokenize() throws {
        let tokenizer = try tokenizer
        for item in try fixture().truncated {
            XCTAssertEqual(try tokenizer.tokenize(item.text, truncate: true), item.input)
            XCTAssertEqual(item.input.last, 49407, "truncated inputs end with <|endoftext|>")
        }
    }

    func testTooLongTextIsAnErrorNamingTheText() throws {
        let tokenizer = try tokenizer
        let text = Array(repeating: "photograph", count: 100).joined(separator: " ")
        XCTAssertThrowsError(try tokenizer.tokenize(text)) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("photograph photograph"), message)
            XCTAssertTrue(message.contains("77"), message)
        }
        // 75 words fit exactly (with start and end tokens), 76 do not.
        XCTAssertNoThrow(try tokenizer.tokenize(Array(repeating: "dog", count: 75).joined(separator: " ")))
        XCTAssertThrowsError(try tokenizer.tokenize(Array(repeating: "dog", count: 76).joined(separator: " ")))
        XCTAssertEqual(try tokenizer.tokenize("dog", contextLength: 3), [49406, 1929, 49407])
    }

    func testDecodeMatchesPython() throws {
        let tokenizer = try tokenizer
        for item in try fixture().decode {
            XCTAssertEqual(try tokenizer.decode(item.ids), item.text, "\(item.ids)")
        }
        XCTAssertThrowsError(try tokenizer.decode([49408]))
        XCTAssertThrowsError(try tokenizer.decode([-1]))
    }

    func testDecodeRoundTripsCleanText() throws {
        let tokenizer = try tokenizer
        // Every word token ends in "</w>", which decodes to a space.
        XCTAssertEqual(try tokenizer.decode(tokenizer.encode("A photo of  Clouds")), "a photo of clouds ")
        XCTAssertEqual(try tokenizer.decode(tokenizer.encode("it's 3.14")), "it 's 3 . 1 4 ")
        for text in ["a photo of clouds", "it's 3.14 o'clock", "café 日本語 😀 👨‍👩‍👧", "<|endoftext|>", "&amp; ﬁ"] {
            let decoded = try tokenizer.decode(tokenizer.encode(text))
            XCTAssertEqual(tokenizer.encode(decoded), tokenizer.encode(text), text)
        }
    }

    func testCorruptVocabularyIsAnError() {
        XCTAssertThrowsError(try Tokenizer(gzippedMerges: Data([0x1f, 0x8b, 1, 2, 3]), name: "broken.gz")) { error in
            XCTAssertTrue(String(describing: error).contains("broken.gz"))
        }
        XCTAssertThrowsError(try Tokenizer(merges: Array("header\na b\n".utf8), name: "short.txt")) { error in
            XCTAssertTrue(String(describing: error).contains("short.txt"))
        }
    }

    func testLoadingIsFast() throws {
        let start = Date()
        _ = try Tokenizer()
        let seconds = Date().timeIntervalSince(start)
        // Generous for debug builds; release loads in well under 150 ms.
        XCTAssertLessThan(seconds, 3)
        XCTAssertTrue(try Tokenizer.shared() === Tokenizer.shared(), "shared() loads once")
    }
}
