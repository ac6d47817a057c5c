import Foundation
@testable import Weights
import XCTest

/// Paths into the committed fixtures (see tools/reference/README.md) and scratch files for weights tests.
enum WeightsFixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static var expected: [String: Any] {
        get throws {
            let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
    }

    /// A fresh scratch directory, removed when the test ends.
    static func scratchDirectory(for test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("clipscope-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Asserts `body` throws a WeightsError whose message is one line naming the file.
    static func assertOneLineError(naming path: String, _ body: () throws -> Void,
                                   file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            try body()
            XCTFail("expected an error for \(path)", file: file, line: line)
            return nil
        } catch let error as WeightsError {
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)", file: file, line: line)
            XCTAssertTrue(error.message.contains((path as NSString).lastPathComponent),
                          "names the file: \(error.message)", file: file, line: line)
            return error.message
        } catch {
            XCTFail("not a WeightsError: \(error)", file: file, line: line)
            return nil
        }
    }
}
