import Assets
@testable import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor
import Tokenizer
import Weights
import XCTest

/// `--model` resolution against temporary directories standing in for $CLIPSCOPE_MODELS and ~.
final class ModelLocatorTests: XCTestCase {
    var root: URL!
    var models: URL!
    var home: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-locator-\(UUID().uuidString)")
        models = root.appendingPathComponent("models")
        home = root.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".cache/clip"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func touch(_ url: URL) throws { try Data("x".utf8).write(to: url) }

    func locator(modelsDirectory: Bool = true) -> ModelLocator {
        ModelLocator(environment: modelsDirectory ? ["CLIPSCOPE_MODELS": models.path] : [:], homeDirectory: home.path)
    }

    func lookupError(_ argument: String, _ locator: ModelLocator, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let location = try locator.locate(argument)
            XCTFail("expected an error, got \(location)", file: file, line: line)
            return ""
        } catch {
            XCTAssertTrue(error is ModelLookupError, "\(type(of: error))", file: file, line: line)
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), "not one line: \(message)", file: file, line: line)
            return message
        }
    }

    func testAnExistingFileIsUsedAsGiven() throws {
        let file = root.appendingPathComponent("weights.bin")
        try touch(file)
        XCTAssertEqual(try locator().locate(file.path), .file(path: file.path))
    }

    func testAMissingPathIsNamedAndNotLookedUp() {
        let message = lookupError(root.appendingPathComponent("absent/model.pt").path, locator())
        XCTAssertTrue(message.contains("absent/model.pt"), message)
        XCTAssertTrue(message.contains("no such model file"), message)
        // A bare file name with a weights extension is a path too, not a name.
        XCTAssertTrue(lookupError("RN50.safetensors", locator()).contains("RN50.safetensors: no such model file"))
    }

    func testADirectoryIsRefused() {
        XCTAssertTrue(lookupError(models.path, locator()).contains("is a directory"))
    }

    func testANameIsFoundInTheModelsDirectoryBeforeTheClipCache() throws {
        let cached = home.appendingPathComponent(".cache/clip/RN50x4.pt")
        try touch(cached)
        XCTAssertEqual(try locator(modelsDirectory: false).locate("RN50x4"), .file(path: cached.path))
        let safetensors = models.appendingPathComponent("RN50x4.safetensors")
        try touch(safetensors)
        XCTAssertEqual(try locator().locate("RN50x4"), .file(path: safetensors.path))
        // In one directory the .pt comes first.
        let torch = models.appendingPathComponent("RN50x4.pt")
        try touch(torch)
        XCTAssertEqual(try locator().locate("RN50x4"), .file(path: torch.path))
    }

    func testReleasedNamesMatchWhateverTheCase() throws {
        let file = models.appendingPathComponent("RN50x16.pt")
        try touch(file)
        XCTAssertEqual(try locator().locate("rn50x16"), .file(path: file.path))
    }

    func testOtherNamesAreLookedUpInTheModelsDirectory() throws {
        let file = models.appendingPathComponent("my-finetune.safetensors")
        try touch(file)
        XCTAssertEqual(try locator().locate("my-finetune"), .file(path: file.path))
    }

    func testANameNotFoundListsEveryPlaceSearched() {
        let message = lookupError("RN101", locator())
        for candidate in ["models/RN101.pt", "models/RN101.safetensors", "home/.cache/clip/RN101.pt"] {
            XCTAssertTrue(message.contains(candidate), "\(candidate) missing from: \(message)")
        }
        XCTAssertFalse(message.contains("known names"), "RN101 is a known name: \(message)")
        let unknown = lookupError("RN51", locator(modelsDirectory: false))
        XCTAssertTrue(unknown.contains("model 'RN51' not found"), unknown)
        XCTAssertTrue(unknown.contains("known names: toy, RN50, RN101, RN50x4, RN50x16, RN50x64"), unknown)
        XCTAssertFalse(unknown.contains("models/"), "no models directory was set: \(unknown)")
    }

    func testTheHomeDirectoryComesFromHOME() throws {
        let cached = home.appendingPathComponent(".cache/clip/RN50.pt")
        try touch(cached)
        XCTAssertEqual(try ModelLocator(environment: ["HOME": home.path]).locate("RN50"), .file(path: cached.path))
    }

    func testAnEmptyArgumentIsAnError() {
        XCTAssertThrowsError(try locator().locate("")) { error in
            XCTAssertEqual((error as? InvalidParameter)?.parameter, "model", "the command line shows it as --model")
            XCTAssertTrue("\(error)".hasPrefix("model is empty: give a path or a name"), "\(error)")
        }
    }

    func testTildeMeansTheInjectedHome() throws {
        let file = home.appendingPathComponent("weights.safetensors")
        try touch(file)
        XCTAssertEqual(try locator().locate("~/weights.safetensors"), .file(path: file.path))
    }

    func testLoadingByNameLoadsTheFileFound() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("WeightsTests/Fixtures/model.safetensors")
        try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("RN50.safetensors"), withDestinationURL: fixture)
        let model = try CLIPModel.load(model: "RN50", locator: locator())
        XCTAssertEqual(model.config.embedDim, 32)
        XCTAssertEqual(model.source, ModelSource(path: models.appendingPathComponent("RN50.safetensors").path, format: .safetensors))
    }
}
