import Assets
@testable import CLIP
import Foundation
import Imaging
import Tensor
import Tokenizer
import Weights
import XCTest

/// The small random-weight CLIP of tools/reference, checked against what OpenAI's
/// PyTorch code computed from it.
final class ModelParityTests: XCTestCase {
    struct Expected: Decodable {
        struct ImageCase: Decodable {
            let file: String
            let embedding: [Float]
            let conv3_max: [Float], conv3_mean: [Float], block_max: [Float], block_mean: [Float]
            let zero_shot: [Float]
        }
        struct TextCase: Decodable { let text: String; let tokens: [Int32]; let embedding: [Float] }
        struct ZeroShot: Decodable { let template: String; let labels: [String]; let label_embeddings: [[Float]] }
        let images: [ImageCase]
        let texts: [TextCase]
        let zero_shot: ZeroShot
        let logit_scale: Float
    }

    /// The committed fixtures of the weights tests (tools/reference made them).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("WeightsTests/Fixtures")
    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    // Loaded once for the whole class.
    nonisolated(unsafe) static var cachedModel: CLIPModel?
    var model: CLIPModel {
        get throws {
            if let model = Self.cachedModel { return model }
            let model = try CLIPModel.load(path: Self.fixture("model.pt"))
            Self.cachedModel = model
            return model
        }
    }

    func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
    }

    func expectedTensors() throws -> WeightArchive { try WeightArchive.open(Self.fixture("expected.safetensors")) }

    func images(_ expected: Expected) throws -> [DecodedImage] {
        try expected.images.map { try DecodedImage.load(path: Self.fixture($0.file)) }
    }

    /// max |a - b| / max |b| <= tolerance.
    func assertClose(_ actual: [Float], _ reference: [Float], relative tolerance: Float = 1e-4, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, reference.count, "\(what): element count", file: file, line: line)
        let scale = reference.map(abs).max() ?? 0
        let error = zip(actual, reference).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(error, tolerance * max(scale, 1e-6), "\(what): max error \(error) against scale \(scale)",
                                 file: file, line: line)
    }

    func testConfigIsInferredFromTheWeights() throws {
        let config = try model.config
        XCTAssertEqual(config, CLIPConfig(embedDim: 32, imageResolution: 64, visionLayers: [1, 1, 2, 1], visionWidth: 8,
                                          contextLength: 77, vocabSize: 49408, textWidth: 32, textHeads: 1, textLayers: 2))
        XCTAssertEqual(config.visionHeads, 4)
    }

    func testBothFileFormatsLoadIdenticalWeights() throws {
        let fromTorch = try model
        let fromSafetensors = try CLIPModel.load(path: Self.fixture("model.safetensors"))
        XCTAssertEqual(fromTorch.source?.format, .torchScript)
        XCTAssertEqual(fromSafetensors.source?.format, .safetensors)
        let a = fromTorch.namedParameters, b = fromSafetensors.namedParameters
        XCTAssertEqual(a.map(\.key), b.map(\.key))
        for ((key, x), (_, y)) in zip(a, b) {
            XCTAssertEqual(x.values, y.values, "weight \(key) differs between the two files")
        }
        XCTAssertEqual(fromTorch.logitScale.scalar, try expected().logit_scale, accuracy: 1e-6)
    }

    func testPreprocessedPixelsMatchTorchvision() throws {
        let expected = try expected()
        let pixels = try model.pixels(images(expected))
        let reference = try expectedTensors().floats("pixels")
        // Within one 8-bit level after normalisation (1/255/std).
        let tolerance: Float = 1 / 255 / 0.2613 + 1e-5
        let worst = zip(pixels.values, reference).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance)
    }

    func testTapActivationsMatchPyTorch() throws {
        let expected = try expected()
        let model = try model
        let pixels = try model.pixels(images(expected))
        let references = try expectedTensors()
        for tap in NeuronTap.allCases {
            let map = model.visual.neuronMap(pixels, tap: tap)
            assertClose(map.values, try references.floats("tap.\(tap.rawValue)"), "\(tap) map")
            let trunk = model.visual.trunk(pixels, tap: tap)
            assertClose(trunk.tapped!.values, try references.floats("tap.\(tap.rawValue)"), "\(tap) map from trunk")
            let maxima = map.spatialMax(), means = map.spatialMean()
            let neurons = map.shape[1]
            for (i, image) in expected.images.enumerated() {
                let row = i * neurons..<(i + 1) * neurons
                assertClose(Array(maxima.values[row]), tap == .conv3 ? image.conv3_max : image.block_max, "\(tap) max, \(image.file)")
                assertClose(Array(means.values[row]), tap == .conv3 ? image.conv3_mean : image.block_mean, "\(tap) mean, \(image.file)")
            }
        }
    }

    func testImageEmbeddingsMatchPyTorch() throws {
        let expected = try expected()
        let model = try model
        let embeddings = model.encodeImages(try model.pixels(images(expected)))
        for (i, image) in expected.images.enumerated() {
            assertClose(Array(embeddings.values[i * 32..<(i + 1) * 32]), image.embedding, "embedding of \(image.file)")
        }
    }

    func testTextEmbeddingsMatchPyTorch() throws {
        let expected = try expected()
        let model = try model
        let tokenizer = try Tokenizer.shared()
        let rows = try expected.texts.map { try tokenizer.tokenize($0.text) }
        XCTAssertEqual(rows.map { Array($0.prefix { $0 != 0 }) }, expected.texts.map(\.tokens))
        let embeddings = model.encodeTexts(rows)
        for (i, text) in expected.texts.enumerated() {
            assertClose(Array(embeddings.values[i * 32..<(i + 1) * 32]), text.embedding, "embedding of '\(text.text)'")
        }
    }

    func testReadingOutAtEndOfTextIgnoresLaterPositions() throws {
        // Skipping positions after the last end-of-text token must not change anything.
        let model = try model
        let tokens = try Tokenizer.shared().tokenize(["a dog", "a photo of a cat on a mat"])
        let short = model.encodeTexts(tokens)
        let embedded = model.text.tokenEmbedding.gatherRows(tokens.flatMap { $0.map(Int.init) }).reshaped([2, 77, 32])
        let full = model.text.encode(embedded: embedded, endPositions: tokens.map(TextTransformer.endOfTextPosition))
        assertClose(short.values, full.values, relative: 1e-5, "short vs full context")
    }

    func testZeroShotProbabilitiesMatchPyTorch() throws {
        let expected = try expected()
        let model = try model
        let tokenizer = try Tokenizer.shared()
        let labels = try tokenizer.tokenize(expected.zero_shot.labels.map { expected.zero_shot.template.replacingOccurrences(of: "{}", with: $0) })
        let labelEmbeddings = model.encodeTexts(labels)
        for (i, row) in expected.zero_shot.label_embeddings.enumerated() {
            assertClose(Array(labelEmbeddings.values[i * 32..<(i + 1) * 32]), row, "label \(expected.zero_shot.labels[i])")
        }
        let imageEmbeddings = model.encodeImages(try model.pixels(images(expected)))
        let classifier = try ZeroShotClassifier(model: model, labels: expected.zero_shot.labels, template: expected.zero_shot.template)
        let probabilities = classifier.probabilities(imageEmbeddings)
        for (i, image) in expected.images.enumerated() {
            let row = Array(probabilities.values[i * labels.count..<(i + 1) * labels.count])
            for (p, q) in zip(row, image.zero_shot) { XCTAssertEqual(p, q, accuracy: 1e-4, image.file) }
        }
    }

    func testSavedModelLoadsBackIdentically() throws {
        let model = try model
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-save-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let f32 = directory.appendingPathComponent("model.safetensors").path
        try model.save(path: f32)
        let reloaded = try CLIPModel.load(path: f32)
        XCTAssertEqual(reloaded.config, model.config)
        for ((key, a), (_, b)) in zip(model.namedParameters, reloaded.namedParameters) {
            XCTAssertEqual(a.values, b.values, key)
        }
        let f16 = directory.appendingPathComponent("model-f16.safetensors").path
        try model.save(path: f16, halfPrecision: true)
        let half = try CLIPModel.load(path: f16)
        for ((key, a), (_, b)) in zip(model.namedParameters, half.namedParameters) {
            for (x, y) in zip(a.values, b.values) { XCTAssertEqual(x, y, accuracy: abs(x) * 1e-3 + 1e-7, key) }
        }
    }

    func testRN50x4ParameterCountsMatchOpenAI() {
        let counts = CLIPModel(config: CLIPConfig.releasedModels["RN50x4"]!).parameterCounts
        XCTAssertEqual(counts.visual, 87_137_080)
        XCTAssertEqual(counts.text, 91_163_520)
        XCTAssertEqual(counts.total, 178_300_601)
    }
}
