import Foundation
import CLIP
import Imaging
import Jobs
import ToyWorld
import XCTest

/// End-to-end tests of the built `clipscope` binary on the small reference CLIP of
/// tools/reference (the WeightsTests fixtures) and its PyTorch numbers.
final class CLITests: XCTestCase {
    // MARK: - Running the binary

    /// The WeightsTests fixtures: model.pt, model.safetensors, expected.json, images/.
    static let coreFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("WeightsTests/Fixtures")
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func core(_ name: String) -> String { coreFixtures.appendingPathComponent(name).path }
    static func own(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static let modelPT = core("model.pt")
    static let modelSafetensors = core("model.safetensors")
    static let broken = own("broken.png")

    /// The product sits next to this test target's resource bundle in the build folder
    /// ($CLIPSCOPE_BINARY overrides).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CLIPSCOPE_BINARY"] { return URL(fileURLWithPath: path) }
        return Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("clipscope")
    }

    struct Result {
        let status: Int32
        let stdout: Data
        let stderr: String
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    struct SetupError: Error, CustomStringConvertible { let description: String }

    var scratch: URL!

    override func setUpWithError() throws {
        _ = QueueIsolation.folder
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetupError(description: "no clipscope binary at \(Self.binary.path): build the product first "
                + "(swift build --product clipscope, or --build-tests) or set CLIPSCOPE_BINARY")
        }
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// Runs clipscope with `arguments`; stdout and stderr go through files, so large outputs cannot block.
    func clipscope(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CLIPSCOPE_MODELS"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = scratch.appendingPathComponent("stdout-\(UUID().uuidString)")
        let err = scratch.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: out),
                      stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    /// Runs a command that must succeed with --json, and returns its document.
    func json(_ arguments: [String], environment: [String: String] = [:],
              file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try clipscope(arguments + ["--json"], environment: environment)
        XCTAssertEqual(result.status, 0, "clipscope \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: result.stdout)
        return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(result.stdoutText)", file: file, line: line)
    }

    /// A command that must fail with exactly one line on stderr; returns that line.
    func failure(_ arguments: [String], environment: [String: String] = [:],
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try clipscope(arguments, environment: environment)
        XCTAssertNotEqual(result.status, 0, "should fail: \(arguments)", file: file, line: line)
        XCTAssertEqual(result.stderrLines.count, 1, "one line expected on stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stdout.isEmpty, "nothing on stdout expected: \(result.stdoutText)", file: file, line: line)
        let message = result.stderrLines.first ?? ""
        XCTAssertTrue(message.hasPrefix("clipscope: "), message, file: file, line: line)
        return message
    }

    // MARK: - Reference numbers

    struct Expected: Decodable {
        struct ImageCase: Decodable {
            let file: String
            let embedding: [Float]
            let conv3_max: [Float], conv3_mean: [Float], block_max: [Float], block_mean: [Float]
            let zero_shot: [Float]
        }
        struct TextCase: Decodable { let text: String; let embedding: [Float] }
        struct ZeroShot: Decodable { let template: String; let labels: [String] }
        struct Weight: Decodable { let dtype: String }
        let config: [String: JSONValue]
        let images: [ImageCase]
        let texts: [TextCase]
        let zero_shot: ZeroShot
        let weights: [String: Weight]
    }

    /// An int or an int array from the config object.
    enum JSONValue: Decodable, Equatable {
        case int(Int), ints([Int])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) { self = .int(value) } else { self = .ints(try container.decode([Int].self)) }
        }
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: coreFixtures.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()
    var expected: Expected { Self.expected }
    var imagePaths: [String] { expected.images.map { Self.core($0.file) } }

    /// max |a - b| <= tolerance * max |b|.
    func assertClose(_ actual: [Float], _ reference: [Float], relative tolerance: Float = 1e-4, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, reference.count, "\(what): element count", file: file, line: line)
        let scale = reference.map(abs).max() ?? 0
        let error = zip(actual, reference).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(error, tolerance * max(scale, 1e-6), "\(what): max error \(error) against scale \(scale)",
                                 file: file, line: line)
    }

    func floats(_ value: Any?) -> [Float] { (value as? [NSNumber] ?? []).map(\.floatValue) }
    func objects(_ value: Any?) -> [[String: Any]] { value as? [[String: Any]] ?? [] }

    // MARK: - info

    func testInfoReportsFormatConfigParametersAndDTypes() throws {
        for (path, format) in [(Self.modelPT, "torchscript"), (Self.modelSafetensors, "safetensors")] {
            let document = try json(["info", "--model", path])
            XCTAssertEqual(document["format"] as? String, format)
            XCTAssertEqual(document["path"] as? String, path)
            let config = try XCTUnwrap(document["config"] as? [String: Any])
            for (key, value) in expected.config {
                switch value {
                case let .int(n): XCTAssertEqual(config[key] as? Int, n, key)
                case let .ints(list): XCTAssertEqual(config[key] as? [Int], list, key)
                }
            }
            XCTAssertEqual(config["neurons"] as? Int, 256)
            let parameters = try XCTUnwrap(document["parameters"] as? [String: Int])
            XCTAssertEqual(Set(parameters.keys), ["visual", "text", "total"])
            // visual + text + logit_scale; the text tower alone has token_embedding's 49408 x 32.
            XCTAssertEqual(parameters["total"], parameters["visual"]! + parameters["text"]! + 1)
            XCTAssertGreaterThan(parameters["text"]!, 49408 * 32)
            var dtypeCounts: [String: Int] = [:]
            for weight in expected.weights.values {
                dtypeCounts[["float16": "F16", "float32": "F32", "int64": "I64"][weight.dtype] ?? weight.dtype, default: 0] += 1
            }
            XCTAssertEqual(document["dtypes"] as? [String: Int], dtypeCounts, format)
        }
    }

    // MARK: - embed

    func testEmbedMatchesPyTorchForImagesAndTexts() throws {
        var arguments = ["embed", "--model", Self.modelPT]
        for path in imagePaths { arguments += ["--image", path] }
        for text in expected.texts { arguments += ["--text", text.text] }
        let document = try json(arguments)
        XCTAssertEqual(Set(document.keys), ["images", "texts", "skipped"])
        let images = objects(document["images"]), texts = objects(document["texts"])
        XCTAssertEqual(images.map { $0["path"] as? String }, imagePaths)
        XCTAssertEqual(texts.map { $0["text"] as? String }, expected.texts.map(\.text))
        for (entry, reference) in zip(images, expected.images) {
            assertClose(floats(entry["embedding"]), reference.embedding, "embedding of \(reference.file)")
        }
        for (entry, reference) in zip(texts, expected.texts) {
            assertClose(floats(entry["embedding"]), reference.embedding, "embedding of '\(reference.text)'")
        }
        XCTAssertEqual(objects(document["skipped"]).count, 0)
    }

    func testEmbedNormalizeGivesUnitVectorsAlongTheRawOnes() throws {
        let raw = try json(["embed", "--model", Self.modelSafetensors, "--image", imagePaths[1], "--text", "a dog"])
        let unit = try json(["embed", "--model", Self.modelSafetensors, "--image", imagePaths[1], "--text", "a dog", "--normalize"])
        for kind in ["images", "texts"] {
            let r = floats(objects(raw[kind]).first?["embedding"]), u = floats(objects(unit[kind]).first?["embedding"])
            let norm = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertGreaterThan(norm, 1.5, "raw \(kind) output is not normalised")
            XCTAssertEqual(u.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1, accuracy: 1e-5, kind)
            assertClose(u, r.map { $0 / norm }, relative: 1e-5, kind)
        }
    }

    func testATextTooLongFailsUnlessTruncated() throws {
        let long = Array(repeating: "word", count: 100).joined(separator: " ")
        let message = try failure(["embed", "--model", Self.modelPT, "--text", long])
        XCTAssertTrue(message.contains("--truncate"), message)
        let document = try json(["embed", "--model", Self.modelPT, "--text", long, "--truncate"])
        XCTAssertEqual(floats(objects(document["texts"]).first?["embedding"]).count, 32)
    }

    // MARK: - Batches

    func testBatchedResultsEqualOneImageAtATime() throws {
        var embed = ["embed", "--model", Self.modelPT]
        for path in imagePaths { embed += ["--image", path] }
        let activations = ["activations", "--model", Self.modelPT, "--neurons", "0-255", "--tap", "block"] + imagePaths
        for (arguments, kind, field) in [(embed, "images", "embedding"), (activations, "images", "activations")] {
            let single = objects(try json(arguments + ["--batch-size", "1"])[kind])
            for batchSize in ["3", "8"] {
                let batched = objects(try json(arguments + ["--batch-size", batchSize])[kind])
                XCTAssertEqual(batched.map { $0["path"] as? String }, imagePaths)
                for (a, b) in zip(batched, single) {
                    if field == "embedding" {
                        assertClose(floats(a[field]), floats(b[field]), relative: 1e-6, "batch \(batchSize) vs 1: \(a["path"]!)")
                    } else {
                        let x = a[field] as? [String: NSNumber] ?? [:], y = b[field] as? [String: NSNumber] ?? [:]
                        XCTAssertEqual(x.count, 256)
                        let keys = x.keys.sorted()
                        assertClose(keys.map { x[$0]!.floatValue }, keys.map { y[$0]?.floatValue ?? .nan }, relative: 1e-6,
                                    "batch \(batchSize) vs 1: \(a["path"]!)")
                    }
                }
            }
        }
    }

    // MARK: - activations

    func testActivationsMatchPyTorchForEveryTapAndReduction() throws {
        let neurons = [0, 7, 89, 128, 255]
        for tap in ["conv3", "block"] {
            for reduce in ["max", "mean"] {
                let document = try json(["activations", "--model", Self.modelPT, "--neurons", neurons.map(String.init).joined(separator: ","),
                                         "--tap", tap, "--reduce", reduce] + imagePaths)
                XCTAssertEqual(Set(document.keys), ["tap", "reduce", "images", "skipped"])
                XCTAssertEqual(document["tap"] as? String, tap)
                XCTAssertEqual(document["reduce"] as? String, reduce)
                let images = objects(document["images"])
                XCTAssertEqual(images.map { $0["path"] as? String }, imagePaths)
                for (entry, reference) in zip(images, expected.images) {
                    let values = try XCTUnwrap(entry["activations"] as? [String: NSNumber])
                    XCTAssertEqual(Set(values.keys), Set(neurons.map(String.init)))
                    let full = switch (tap, reduce) {
                    case ("conv3", "max"): reference.conv3_max
                    case ("conv3", _): reference.conv3_mean
                    case (_, "max"): reference.block_max
                    default: reference.block_mean
                    }
                    assertClose(neurons.map { values[String($0)]!.floatValue }, neurons.map { full[$0] }, relative: 1e-4,
                                "\(tap) \(reduce) of \(reference.file)")
                }
            }
        }
    }

    func testActivationsDefaultToConv3Max() throws {
        let document = try json(["activations", "--model", Self.modelSafetensors, "--neurons", "89", imagePaths[0]])
        XCTAssertEqual(document["tap"] as? String, "conv3")
        XCTAssertEqual(document["reduce"] as? String, "max")
        let value = (objects(document["images"]).first?["activations"] as? [String: NSNumber])?["89"]?.floatValue
        let reference = expected.images[0].conv3_max
        XCTAssertEqual(try XCTUnwrap(value), reference[89], accuracy: 1e-4 * reference.map(abs).max()!)
    }

    func testANeuronOutOfRangeNamesTheIdAndTheNeuronCount() throws {
        let message = try failure(["activations", "--model", Self.modelPT, "--neurons", "89,2191", imagePaths[0]])
        XCTAssertTrue(message.contains("neuron 2191"), message)
        XCTAssertTrue(message.contains("256 neurons"), message)
        let syntax = try clipscope(["activations", "--model", Self.modelPT, "--neurons", "8x", imagePaths[0]])
        XCTAssertNotEqual(syntax.status, 0)
        // One parser for every --neurons: it names the value and the part that is wrong.
        XCTAssertTrue(syntax.stderr.hasPrefix("clipscope: --neurons 8x: '8x' is not a neuron id"), syntax.stderr)
    }

    // MARK: - classify

    func testClassifyRanksLabelsAsPyTorchsZeroShot() throws {
        let labels = expected.zero_shot.labels
        let document = try json(["classify", "--model", Self.modelPT, "--labels", labels.joined(separator: ","),
                                 "--template", expected.zero_shot.template] + imagePaths)
        let images = objects(document["images"])
        XCTAssertEqual(images.map { $0["path"] as? String }, imagePaths)
        for (entry, reference) in zip(images, expected.images) {
            let top = objects(entry["top"])
            XCTAssertEqual(top.count, 5, "--top defaults to 5")
            let probabilities = top.map { ($0["probability"] as? NSNumber)?.floatValue ?? .nan }
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5, "all five labels shown: they sum to 1")
            let order = reference.zero_shot.indices.sorted { reference.zero_shot[$0] > reference.zero_shot[$1] }
            XCTAssertEqual(top.map { $0["label"] as? String }, order.map { labels[$0] }, reference.file)
            for (p, i) in zip(probabilities, order) { XCTAssertEqual(p, reference.zero_shot[i], accuracy: 1e-4, reference.file) }
        }
    }

    func testClassifyReadsLabelFilesAndTheEmbeddedImageNetClasses() throws {
        let template = expected.zero_shot.template
        let fromList = try json(["classify", "--model", Self.modelPT, "--labels", expected.zero_shot.labels.joined(separator: ","),
                                 "--template", template, "--top", "2", imagePaths[0]])
        for file in ["labels.txt", "labels.json"] {
            let fromFile = try json(["classify", "--model", Self.modelPT, "--labels", Self.own(file),
                                     "--template", template, "--top", "2", imagePaths[0]])
            XCTAssertEqual(objects(objects(fromFile["images"]).first?["top"]).map { $0["label"] as? String },
                           objects(objects(fromList["images"]).first?["top"]).map { $0["label"] as? String }, file)
            XCTAssertEqual(objects(objects(fromFile["images"]).first?["top"]).count, 2)
        }
        let imagenet = try json(["classify", "--model", Self.modelPT, "--labels", "imagenet", "--top", "3", imagePaths[2]])
        let top = objects(objects(imagenet["images"]).first?["top"])
        XCTAssertEqual(top.count, 3)
        let probabilities = top.map { ($0["probability"] as? NSNumber)?.floatValue ?? .nan }
        XCTAssertEqual(probabilities, probabilities.sorted(by: >))
        // Over 1000 classes the three best of a random model hold far less than everything.
        XCTAssertLessThan(probabilities.reduce(0, +), 0.99)
        XCTAssertTrue(top.allSatisfy { !($0["label"] as? String ?? "").isEmpty })
    }

    func testClassifyRefusesBadLabels() throws {
        XCTAssertTrue(try failure(["classify", "--model", Self.modelPT, "--labels", "dog", imagePaths[0]]).contains("no such file"))
        XCTAssertTrue(try failure(["classify", "--model", Self.modelPT, "--labels", "dog,", imagePaths[0]]).contains("at least two"))
        let bad = scratch.appendingPathComponent("labels.json")
        try Data("[1, 2]".utf8).write(to: bad)
        XCTAssertTrue(try failure(["classify", "--model", Self.modelPT, "--labels", bad.path, imagePaths[0]]).contains("JSON array of strings"))
    }

    /// The documented commands behind the embedded model still make exactly the settings
    /// it and the towers it started from were trained with (so they reproduce it).
    func testToyTrainsDocumentedCommandsMakeTheEmbeddedTowersSettings() throws {
        let archive = try XCTUnwrap(try CLIPModel.load(model: "toy").source).openArchive()
        let concepts = try clipscope(["toy", "train", "-o", "run", "--start", "toy-merged.safetensors", "--dry-run"])
        XCTAssertEqual(concepts.status, 0, concepts.stderr)
        var plannedConcepts = try JSONDecoder().decode(ToyTrainJob.self, from: concepts.stdout)
        var recordedConcepts = try ToyTrainJob.decode(settings: try XCTUnwrap(archive.metadata["clipscope.image_tower"]))
        (plannedConcepts.output, recordedConcepts.output, plannedConcepts.start, recordedConcepts.start) = ("", "", nil, nil)
        XCTAssertEqual(plannedConcepts, recordedConcepts, "the concept phase")
        XCTAssertEqual(archive.metadata["clipscope.image_tower_weight"], "0.8")
        for (arguments, tower) in [(["--seed", "1"], "clipscope.image_tower.start.text_tower"),
                                   (["--seed", "1", "--web-steps", "3000"], "clipscope.image_tower.start.image_tower")] {
            let result = try clipscope(["toy", "train", "-o", "run"] + arguments + ["--dry-run"])
            XCTAssertEqual(result.status, 0, result.stderr)
            var planned = try JSONDecoder().decode(ToyTrainJob.self, from: result.stdout)
            var recorded = try ToyTrainJob.decode(settings: try XCTUnwrap(archive.metadata[tower]))
            (planned.output, recorded.output) = ("", "")
            XCTAssertEqual(planned, recorded, tower)
        }
        // The first part of the recipe, without a web phase, is the run both towers continue.
        let first = try clipscope(["toy", "train", "-o", "run", "--seed", "1", "--web-steps", "0", "--dry-run"])
        let firstJob = try JSONDecoder().decode(ToyTrainJob.self, from: first.stdout)
        let text = try ToyTrainJob.decode(settings: try XCTUnwrap(archive.metadata["clipscope.image_tower.start.text_tower"]))
        XCTAssertTrue(text.continues(firstJob, at: 5000))
    }

    func testToyTrainRefusesBadWebPhaseAndTemperatureSettings() throws {
        let out = scratch.appendingPathComponent("toy-run").path
        for (arguments, named) in [(["--web-steps=-1"], "--web-steps cannot be negative"),
                                   (["--web-learning-rate", "0"], "--web-learning-rate must be positive"),
                                   (["--web-ink-twins=-1"], "--web-ink-twins cannot be negative"),
                                   (["--batch-size", "8", "--web-ink-twins", "3", "--web-colour-twins", "2"],
                                    "--web-ink-twins and --web-colour-twins: 5 pairs do not fit a batch of 8"),
                                   (["--locked-text-steps=-1"], "--locked-text-steps cannot be negative"),
                                   (["--locked-text-learning-rate", "0"], "--locked-text-learning-rate must be positive"),
                                   (["--temperature-learning-rate-scale=-2"], "--temperature-learning-rate-scale must be positive")] {
            let result = try clipscope(["toy", "train", "-o", out] + arguments)
            XCTAssertEqual(result.status, 1, "\(arguments)")
            let message = result.stderrLines.first ?? ""
            XCTAssertTrue(message.hasPrefix("clipscope: \(named)"), message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written for refused settings")
    }

    func testToyMergeNamesAMissingModel() throws {
        let missing = scratch.appendingPathComponent("missing.safetensors").path
        let out = scratch.appendingPathComponent("merged.safetensors").path
        let message = try failure(["toy", "merge", "--image-tower", missing, "--text-tower", missing, "-o", out])
        XCTAssertTrue(message.contains("\(missing): no such file"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    // MARK: - Bad inputs

    func testABadImageIsSkippedWhileTheOthersComplete() throws {
        let missing = scratch.appendingPathComponent("missing.png").path
        let inputs = [imagePaths[0], Self.broken, imagePaths[1], missing]
        let commands: [[String]] = [
            ["embed", "--model", Self.modelPT] + inputs.flatMap { ["--image", $0] },
            ["activations", "--model", Self.modelPT, "--neurons", "1,2"] + inputs,
            ["classify", "--model", Self.modelPT, "--labels", "cat,dog"] + inputs,
        ]
        for arguments in commands {
            for batchSize in ["1", "8"] {
                let result = try clipscope(arguments + ["--json", "--batch-size", batchSize])
                XCTAssertEqual(result.status, 0, result.stderr)
                let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
                XCTAssertEqual(objects(document["images"]).map { $0["path"] as? String }, [imagePaths[0], imagePaths[1]], arguments[0])
                let skipped = objects(document["skipped"])
                XCTAssertEqual(skipped.map { $0["path"] as? String }, [Self.broken, missing], arguments[0])
                for entry in skipped {
                    let error = entry["error"] as? String ?? ""
                    XCTAssertFalse(error.isEmpty)
                    XCTAssertFalse(error.contains(entry["path"] as! String), "the path is not repeated in the error: \(error)")
                }
                XCTAssertEqual(result.stderrLines.count, 2, result.stderr)
                XCTAssertTrue(result.stderrLines[0].hasPrefix("clipscope: skipped \(Self.broken): "), result.stderr)
                XCTAssertEqual(result.stderrLines[1], "clipscope: skipped \(missing): no such file")
            }
        }
    }

    func testNothingReadableIsAFailure() throws {
        let result = try clipscope(["activations", "--model", Self.modelPT, "--neurons", "1", Self.broken, "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stdout.isEmpty)
        XCTAssertEqual(result.stderrLines.last, "clipscope: the image could not be read")
    }

    func testAMissingOrCorruptModelIsOneLineNamingIt() throws {
        let missing = scratch.appendingPathComponent("absent/RN50x4.pt").path
        for command in [["info"], ["embed", "--text", "a dog"], ["activations", "--neurons", "1", imagePaths[0]],
                        ["classify", "--labels", "a,b", imagePaths[0]]] {
            let message = try failure(command + ["--model", missing])
            XCTAssertEqual(message, "clipscope: \(missing): no such model file")
        }
        let corrupt = scratch.appendingPathComponent("corrupt.safetensors")
        try Data(repeating: 7, count: 100).write(to: corrupt)
        XCTAssertTrue(try failure(["info", "--model", corrupt.path]).contains(corrupt.path))
        let truncated = scratch.appendingPathComponent("truncated.pt")
        try Data(contentsOf: URL(fileURLWithPath: Self.modelPT)).prefix(100_000).write(to: truncated)
        XCTAssertTrue(try failure(["embed", "--model", truncated.path, "--text", "a"]).contains(truncated.path))
    }

    func testModelNamesAreLookedUpInCLIPSCOPE_MODELSThenTheClipCache() throws {
        let models = scratch.appendingPathComponent("models"), home = scratch.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".cache/clip"), withIntermediateDirectories: true)
        let environment = ["CLIPSCOPE_MODELS": models.path, "HOME": home.path]
        let inModels = models.appendingPathComponent("RN50x4.safetensors")
        try FileManager.default.createSymbolicLink(at: inModels, withDestinationURL: URL(fileURLWithPath: Self.modelSafetensors))
        let found = try json(["info", "--model", "RN50x4"], environment: environment)
        XCTAssertEqual(found["path"] as? String, inModels.path)
        XCTAssertEqual(found["format"] as? String, "safetensors")

        let cached = home.appendingPathComponent(".cache/clip/RN101.pt")
        try FileManager.default.createSymbolicLink(at: cached, withDestinationURL: URL(fileURLWithPath: Self.modelPT))
        XCTAssertEqual(try json(["info", "--model", "RN101"], environment: environment)["path"] as? String, cached.path)

        let message = try failure(["info", "--model", "RN50"], environment: environment)
        XCTAssertTrue(message.contains("model 'RN50' not found"), message)
        for place in [models.appendingPathComponent("RN50.pt").path, models.appendingPathComponent("RN50.safetensors").path,
                      home.appendingPathComponent(".cache/clip/RN50.pt").path] {
            XCTAssertTrue(message.contains(place), "\(place) not in: \(message)")
        }
    }

    // MARK: - Human output

    func testHumanOutputIsATable() throws {
        let info = try clipscope(["info", "--model", Self.modelPT])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdoutText.contains("torchscript"))
        XCTAssertTrue(info.stdoutText.contains("neurons       256"), info.stdoutText)
        let activations = try clipscope(["activations", "--model", Self.modelPT, "--neurons", "89,3"] + imagePaths)
        XCTAssertEqual(activations.status, 0, activations.stderr)
        let lines = activations.stdoutText.split(separator: "\n")
        XCTAssertEqual(lines.count, 2 + imagePaths.count, activations.stdoutText)
        XCTAssertTrue(lines[1].hasPrefix("image") && lines[1].contains("#89") && lines[1].contains("#3"))
        XCTAssertTrue(lines[2].hasPrefix(imagePaths[0]))
        let classify = try clipscope(["classify", "--model", Self.modelPT, "--labels", "cat,dog", imagePaths[0]])
        XCTAssertEqual(classify.status, 0, classify.stderr)
        XCTAssertEqual(classify.stdoutText.split(separator: "\n").count, 3, classify.stdoutText)
        let embed = try clipscope(["embed", "--model", Self.modelPT, "--image", imagePaths[0], "--text", "a cat"])
        XCTAssertEqual(embed.status, 0, embed.stderr)
        XCTAssertTrue(embed.stdoutText.contains("\"a cat\""), embed.stdoutText)
    }

    // MARK: - The embedded toy model and the tour

    func testTheEmbeddedToyModelIsTheDefault() throws {
        let info = try json(["info"])
        XCTAssertEqual(info["path"] as? String, "toy")
        XCTAssertEqual(info["format"] as? String, "safetensors")
        let config = try XCTUnwrap(info["config"] as? [String: Any])
        XCTAssertEqual(config["image_resolution"] as? Int, 96, "\(config)")
        let human = try clipscope(["info", "--model", "toy"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdoutText.contains("toy (embedded in clipscope)"), human.stdoutText)
    }

    func testToyPurityMeasuresTheDemoAndAFolderOfNamedScenes() throws {
        // A folder of named scenes (any renderer may name its files so), plus a file whose name says nothing.
        let folder = scratch.appendingPathComponent("scenes")
        XCTAssertEqual(try clipscope(["toy", "gallery", "-o", folder.path, "--count", "40", "--seed", "3"]).status, 0)
        try FileManager.default.copyItem(at: folder.appendingPathComponent("shapes").appendingPathComponent(
            try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("shapes").path).first)),
                                         to: folder.appendingPathComponent("holiday.png"))
        let sheet = scratch.appendingPathComponent("sheet.png")
        // A small demo gallery (--count) keeps this quick in debug builds.
        let result = try clipscope(["toy", "purity", "--count", "40", "--folder", folder.path, "--visualize", "--tweaks", "steps=2",
                                    "--sheet", sheet.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("1 file(s) skipped") && result.stderr.contains("holiday.png"), result.stderr)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        let purity = try XCTUnwrap(document["purity"] as? [String: Any])
        XCTAssertEqual(purity["images"] as? Int, 40)
        let concepts = try XCTUnwrap(purity["concepts"] as? [[String: Any]])
        XCTAssertEqual(concepts.map { $0["concept"] as? String }, ToyWorld.Shape.allCases.map(\.rawValue))
        for concept in concepts {
            let showing = try XCTUnwrap(concept["showing"] as? Int), drawn = try XCTUnwrap(concept["only_drawn"] as? Int)
            XCTAssertTrue((0...20).contains(showing) && drawn <= showing, "\(concept)")
        }
        XCTAssertEqual((document["demo_neurons"] as? [[String: Any]])?.count, 12, "the demo's neurons over the folder")
        let named = try XCTUnwrap((document["visualizations"] as? [String: Any])?["items"] as? [[String: Any]])
        XCTAssertFalse(named.isEmpty)
        XCTAssertTrue(named.allSatisfy { ToyWorld.Shape(rawValue: $0["named"] as? String ?? "") != nil }, "\(named)")
        XCTAssertEqual(Array(try Data(contentsOf: sheet).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // The human table; bad input named.
        let human = try clipscope(["toy", "purity", "--count", "40"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdoutText.hasPrefix("clean concept neurons"), human.stdoutText)
        XCTAssertEqual(human.stdoutText.split(separator: "\n").count, 13, human.stdoutText)
        XCTAssertTrue(try failure(["toy", "purity", "--visualize", "--tweaks", "bogus=1"]).contains("--tweaks: 'bogus=1'"))
        XCTAssertTrue(try failure(["toy", "purity", "--sheet", "x.png"]).contains("need --visualize"))
        let few = scratch.appendingPathComponent("few")
        XCTAssertEqual(try clipscope(["toy", "gallery", "-o", few.path, "--count", "8"]).status, 0)
        XCTAssertTrue(try failure(["toy", "purity", "--count", "40", "--folder", few.path]).contains("8 named scene(s), fewer than the top 20"))
    }

    func testTheTourBuildsTheDemoOnceAndShowsTheToyWorld() throws {
        let demo = scratch.appendingPathComponent("demo")
        let first = try clipscope(["tour", "--graphics", "none"], environment: ["CLIPSCOPE_DEMO": demo.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        let text = first.stdoutText
        for expected in ["shape accuracy", "reading accuracy", "clean concept neurons", "First use: generating 2400 scenes",
                         "scanned 2400 image(s)", "A typographic attack"] {
            XCTAssertTrue(text.contains(expected), "'\(expected)' missing from:\n\(text)")
        }
        // The pictures were written as files (no terminal graphics here) and are real PNGs.
        let pictures = try FileManager.default.contentsOfDirectory(atPath: demo.path).filter { $0.hasSuffix(".png") }
        XCTAssertTrue(pictures.contains("tour-attack.png"), "\(pictures)")
        XCTAssertTrue(pictures.contains { $0.hasPrefix("tour-neuron-") }, "\(pictures)")
        for picture in pictures {
            let bytes = try Data(contentsOf: demo.appendingPathComponent(picture))
            XCTAssertEqual(Array(bytes.prefix(4)), [0x89, 0x50, 0x4E, 0x47], picture)
        }
        for category in ["shapes", "words", "both", "attacks"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: demo.appendingPathComponent("gallery/\(category)").path)
            XCTAssertEqual(files.count, 600, category)
        }
        // The second time the demo is reused: nothing generated, nothing rescanned.
        let second = try clipscope(["tour", "--graphics", "none"], environment: ["CLIPSCOPE_DEMO": demo.path])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stdoutText.contains("First use"), second.stdoutText)
        XCTAssertFalse(second.stdoutText.contains("scanned "), second.stdoutText)
        XCTAssertTrue(second.stdoutText.contains("over the 2400 scenes"), second.stdoutText)
    }

    // MARK: - Feature visualization

    func testVisualizeWritesARunFolderAndAnswersInTheDocumentedShape() throws {
        let run = scratch.appendingPathComponent("vis").path
        let answer = try json(["visualize", "--model", Self.modelPT, "--neuron", "17", "--steps", "6", "-o", run])
        XCTAssertEqual(answer["run"] as? String, run)
        XCTAssertEqual(answer["image"] as? String, run + "/neuron-17.png")
        XCTAssertEqual((answer["losses"] as? [Double])?.count, 6)
        XCTAssertNotNil(answer["seconds_per_step"] as? Double)
        XCTAssertNoThrow(try Image.load(path: run + "/neuron-17.png"))
        // A sweep of one shard of two: every other neuron of the list.
        let sweep = scratch.appendingPathComponent("sweep").path
        let shard = try json(["visualize", "--model", Self.modelPT, "--neurons", "10-13", "--shard", "1/2", "--steps", "2",
                              "--batch-size", "2", "-o", sweep])
        XCTAssertEqual(objects(shard["images"]).compactMap { $0["neuron"] as? Int }, [11, 13])
        // Both shards and an atlas make the sheet one run over all four makes, byte for byte.
        let other = scratch.appendingPathComponent("sweep0").path
        _ = try json(["visualize", "--model", Self.modelPT, "--neurons", "10-13", "--shard", "0/2", "--steps", "2",
                      "--batch-size", "2", "-o", other])
        let whole = scratch.appendingPathComponent("whole").path
        _ = try json(["visualize", "--model", Self.modelPT, "--neurons", "10-13", "--steps", "2", "--batch-size", "2", "-o", whole])
        let atlases = [scratch.appendingPathComponent("shards.png").path, scratch.appendingPathComponent("whole.png").path]
        let sheet = try json(["atlas", sweep, other, "-o", atlases[0]])
        XCTAssertEqual(sheet["neurons"] as? [Int], [10, 11, 12, 13])
        _ = try json(["atlas", whole, "-o", atlases[1]])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: atlases[0])), try Data(contentsOf: URL(fileURLWithPath: atlases[1])))
        XCTAssertTrue(try failure(["atlas", sweep, whole, "-o", atlases[0]]).contains("is in two runs"))
        // The runs directory lists them.
        let runs = try json(["runs", "--runs", scratch.path])
        XCTAssertEqual(Set(objects(runs["runs"]).compactMap { $0["status"] as? String }), ["finished"])
    }

    func testAKilledVisualizationResumesBitForBit() throws {
        // direct: Fourier coefficients, lucid's scale and rotation, a checkpoint every 10 steps.
        let arguments = ["visualize", "--model", Self.modelPT, "--neuron", "17", "--variant", "direct", "--steps", "200",
                         "--checkpoint-every", "10"]
        let whole = scratch.appendingPathComponent("whole").path, killed = scratch.appendingPathComponent("killed").path
        _ = try json(arguments + ["-o", whole])

        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + ["-o", killed]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let metrics = killed + "/metrics.csv"
        var logged = 0
        for _ in 0..<2400 where logged < 25 {
            Thread.sleep(forTimeInterval: 0.025)
            logged = ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count - 1
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertTrue(FileManager.default.fileExists(atPath: killed + "/checkpoint.safetensors"), "killed after a checkpoint")
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed + "/neuron-17.png"), "killed before the end (\(logged) steps logged)")

        let resumed = try json(arguments + ["-o", killed])
        XCTAssertEqual((resumed["losses"] as? [Double])?.count, 200)
        for name in ["neuron-17.png", "metrics.csv"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: killed + "/" + name)),
                           try Data(contentsOf: URL(fileURLWithPath: whole + "/" + name)), "\(name): the same bytes as a run never killed")
        }
    }

    func testTwoProcessesNeverWriteOneRunFolderAndALockLeftByAKilledOneIsTakenOver() throws {
        let run = scratch.appendingPathComponent("shared").path
        let visualize = ["visualize", "--model", Self.modelPT, "--neuron", "3", "-o", run]
        let arguments = visualize + ["--steps", "100000"]
        let owner = Process()
        owner.executableURL = Self.binary
        owner.arguments = arguments
        owner.standardOutput = FileHandle.nullDevice
        owner.standardError = FileHandle.nullDevice
        try owner.run()
        defer { if owner.isRunning { kill(owner.processIdentifier, SIGKILL) } }
        // Wait until the first process holds the folder (its pid in the lock file).
        let lockPath = run + "/.lock"
        var holder: Int32?
        for _ in 0..<2400 where holder != owner.processIdentifier && owner.isRunning {
            Thread.sleep(forTimeInterval: 0.025)
            holder = (try? String(contentsOfFile: lockPath, encoding: .utf8)).flatMap { RunFolderLock.ownerPID(in: $0) }
        }
        XCTAssertEqual(holder, owner.processIdentifier, "the first process locks the folder")

        let refused = try failure(arguments)
        XCTAssertTrue(refused.hasPrefix("clipscope: \(run) is in use by process \(owner.processIdentifier) since "), refused)
        XCTAssertTrue(owner.isRunning, "the owner goes on")

        // Killed once it has claimed the folder for its settings.
        for _ in 0..<2400 where !FileManager.default.fileExists(atPath: run + "/parameters.json") && owner.isRunning {
            Thread.sleep(forTimeInterval: 0.025)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/parameters.json"))
        kill(owner.processIdentifier, SIGKILL)
        owner.waitUntilExit()
        XCTAssertEqual(RunFolderLock.ownerPID(in: try String(contentsOfFile: lockPath, encoding: .utf8)), owner.processIdentifier,
                       "a kill -9 leaves the lock file behind")
        // The next process takes the folder over: it gets as far as comparing settings.
        let other = try failure(visualize + ["--steps", "5"])
        XCTAssertTrue(other.contains("holds a visualization with other settings"), other)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lockPath), "and gives it up when it ends")
    }

    func testVisualizeRefusesBadParametersBeforeAnyWork() throws {
        let run = scratch.appendingPathComponent("bad").path
        for (arguments, named) in [(["--neuron", "256"], "--neuron 256 is out of range"),
                                   (["--neuron", "1", "--steps", "0"], "--steps must be at least 1"),
                                   (["--neuron", "1", "--jitter", "3"], "--jitter must be in 0...1"),
                                   (["--neurons", "5-x"], "--neurons 5-x"),
                                   (["--neuron", "1", "--batch-size", "0"], "--batch-size must be at least 1"),
                                   (["--neuron", "1", "--scale", "1.5"], "--scale must be in 0..<1"),
                                   (["--neuron", "1", "--rotate", "200"], "--rotate must be in 0...180"),
                                   (["--neuron", "1", "--decay", "9"], "--decay must be in 0...4"),
                                   (["--neuron", "1", "--objective-weight", "nan"], "--objective-weight must be a finite number, got nan"),
                                   (["--neuron", "1", "--beta", "inf"], "--beta must be a finite number, got inf"),
                                   (["--neuron", "1", "--learning-rate", "inf"], "--learning-rate must be a finite number, got inf"),
                                   ([], "give --neuron N or --neurons LIST")] {
            let message = try failure(["visualize", "--model", Self.modelPT, "-o", run] + arguments)
            XCTAssertTrue(message.contains(named), "\(arguments): \(message)")
        }
        let variant = try clipscope(["visualize", "--model", Self.modelPT, "--neuron", "1", "--variant", "pretty", "-o", run])
        XCTAssertNotEqual(variant.status, 0)
        XCTAssertTrue(variant.stderr.contains("pretty"), variant.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/metrics.csv"), "no work was done")
    }

    func testADivergingVisualizationFailsInOneLineAndItsRecordSaysFailed() throws {
        let run = scratch.appendingPathComponent("diverged").path
        let result = try clipscope(["visualize", "--model", Self.modelPT, "--neuron", "7", "--steps", "30", "--learning-rate", "1e30",
                                    "--json", "-o", run])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("clipscope: visualize: the loss became "), result.stderr)
        XCTAssertTrue(result.stdout.isEmpty, result.stdoutText)
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/run.json"))) as? [String: Any])
        XCTAssertEqual(record["status"] as? String, "failed")
        XCTAssertTrue((record["outcome"] as? String)?.contains("the loss became") ?? false, "\(record)")
        let metrics = try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8)
        XCTAssertFalse(metrics.lowercased().contains("nan") || metrics.contains("inf"), metrics)
    }

    func testASizeTooLargeForMemoryIsRefusedInOneLineNamingTheSizeThatFits() throws {
        for command in [["visualize", "--steps", "1"], ["dream"]] {
            let run = scratch.appendingPathComponent(command[0]).path
            let message = try failure(command + ["--model", Self.modelPT, "--neuron", "5", "--size", "320000", "-o", run])
            XCTAssertTrue(message.hasPrefix("clipscope: --size 320000 needs about "), message)
            let largest = try XCTUnwrap(message.components(separatedBy: "the largest size that fits is ").last.flatMap { Int($0) }, message)
            XCTAssertEqual(largest % 32, 0)
            XCTAssertGreaterThan(largest, 64)
            XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/parameters.json"), "the folder takes another size")
        }
    }

    func testDreamAndMaxTextRefuseNumbersThatAreNotFinite() throws {
        let run = scratch.appendingPathComponent("bad").path
        for (arguments, named) in [(["dream", "--neuron", "5", "--learning-rate", "inf"], "--learning-rate must be a finite number, got inf"),
                                   (["dream", "--neuron", "5", "--ratio", "nan"], "--ratio must be a finite number, got nan"),
                                   (["maxtext", CLITests.own("broken.png"), "--learning-rate", "inf"], "--learning-rate must be a finite number")] {
            let message = try failure(arguments + ["--model", Self.modelPT, "-o", run])
            XCTAssertTrue(message.contains(named), "\(arguments): \(message)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "no work was done")
    }


    // MARK: - Typographic attacks and Stroop

    func testAnAttackOnOneImageAnswersInTheDocumentedShapeAndSavesTheAttackedImage() throws {
        let image = scratch.appendingPathComponent("card.png").path
        try Image.testCard(width: 200, height: 150, seed: 4).writePNG(path: image)
        let attacked = scratch.appendingPathComponent("attacked.png").path
        let answer = try json(["attack", "--image", image, "--text", "star", "--runs", scratch.path, "-o", attacked])
        for key in ["before", "after"] {
            let scores = objects(answer[key])
            XCTAssertEqual(scores.count, 5, key)
            XCTAssertTrue(scores.allSatisfy { $0["label"] is String && $0["probability"] is Double }, key)
        }
        XCTAssertTrue(objects(answer["after"]).allSatisfy { $0["delta"] is Double })
        let coverage = try XCTUnwrap(answer["coverage"] as? Double), changed = try XCTUnwrap(answer["changed_pixels"] as? Double)
        XCTAssertGreaterThan(changed, 0)
        XCTAssertGreaterThanOrEqual(coverage, changed)
        XCTAssertEqual(try Image.load(path: attacked).width, 200)
        // The app's rule too: one folder per image and text.
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("attack-card-star/scores.json").path))
        let human = try clipscope(["attack", "--image", image, "--text", "moon", "--runs", scratch.path])
        XCTAssertEqual(human.status, 0, human.stderr)
        let lines = human.stdoutText.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("model: the embedded toy model (toy presets: ") ?? false, human.stdoutText)
        XCTAssertEqual(lines.filter { $0.hasPrefix("model: ") }.count, 1, human.stdoutText)
        XCTAssertEqual(lines[1], "before", human.stdoutText)
        let named = try clipscope(["attack", "--model", "toy", "--image", image, "--text", "moon", "--runs", scratch.path])
        XCTAssertEqual(named.status, 0, named.stderr)
        XCTAssertTrue(named.stdoutText.hasPrefix("before\n"), "a model named is its own choice: \(named.stdoutText)")
    }

    func testABatchAttackPrintsATableWritesCSVAndRefusesBadInputBeforeWork() throws {
        let folder = scratch.appendingPathComponent("drawings").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<3 { try Image.testCard(width: 96, height: 96, seed: UInt64(i + 1)).writePNG(path: folder + "/d\(i).png") }
        let csv = scratch.appendingPathComponent("table.csv").path
        let answer = try json(["attack", "--dir", folder, "--pairs", "star,moon=ring", "--runs", scratch.path, "-o", csv])
        let rows = objects(answer["attacks"])
        XCTAssertEqual(Set(rows.compactMap { $0["target"] as? String }), ["star", "moon"])
        XCTAssertTrue(rows.allSatisfy { $0["success_rate"] is Double && $0["coverage"] is Double })
        XCTAssertEqual(answer["images"] as? Int, 3)
        XCTAssertTrue(try String(contentsOfFile: csv, encoding: .utf8).hasPrefix("target,text,coverage,changed_pixels,success_rate,images"))

        let image = folder + "/d0.png"
        let empty = scratch.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for (arguments, named) in [(["--image", image, "--text", "star", "--fill", "blurple"], "--fill 'blurple' is not a colour"),
                                   (["--image", image, "--text", "a long attack text", "--size", "60"], "--text 'a long attack text' does not fit"),
                                   (["--image", image, "--text", "star", "--labels", "dog"], "--labels dog: no such file"),
                                   (["--image", image, "--text", "star", "--position", "left"], "--position 'left'"),
                                   (["--dir", empty, "--sweep"], "--dir "),
                                   (["--dir", folder, "--pairs", "zebra=z"], "--pairs target 'zebra' is not one of the labels"),
                                   (["--image", image], "--image needs --text")] {
            let message = try failure(["attack", "--runs", scratch.path] + arguments)
            XCTAssertTrue(message.contains(named), "\(arguments): \(message)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("attack-batch-empty/results.jsonl").path))
    }

    func testAFontThatCannotBeOpenedATextOutsideTheImageAndNoNeutralWordsAreRefusedNotIgnored() throws {
        let image = scratch.appendingPathComponent("card.png").path
        try Image.testCard(width: 120, height: 90, seed: 2).writePNG(path: image)
        let photo = scratch.appendingPathComponent("photo.jpg").path
        try Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0, count: 64)).write(to: URL(fileURLWithPath: photo))
        for font in ["/nonexistent.ttf", photo] {
            for command in [["attack", "--image", image, "--text", "star"], ["stroop"]] {
                let message = try failure(command + ["--font", font, "--runs", scratch.path])
                XCTAssertTrue(message.contains(font), "\(command) --font \(font): \(message)")
            }
        }
        let outside = try failure(["attack", "--image", image, "--text", "star", "--position", "99999,99999", "--runs", scratch.path])
        XCTAssertTrue(outside.contains("--position") && outside.contains("120x90"), outside)
        let folder = scratch.appendingPathComponent("cards").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: image, toPath: folder + "/card.png")
        let batch = try failure(["attack", "--dir", folder, "--pairs", "star", "--position", "-500,-500", "--runs", scratch.path])
        XCTAssertTrue(batch.contains("--position") && batch.contains("120x90"), batch)
        XCTAssertTrue(try failure(["stroop", "--neutral", "", "--runs", scratch.path]).contains("--neutral"))
        XCTAssertTrue(try failure(["stroop", "--neutral", " , ", "--runs", scratch.path]).contains("--neutral"))
    }

    func testABatchAttackNamesEachSkippedImageOnce() throws {
        let folder = scratch.appendingPathComponent("drawings").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Image.testCard(width: 96, height: 96, seed: 1).writePNG(path: folder + "/good.png")
        try FileManager.default.copyItem(atPath: CLITests.broken, toPath: folder + "/broken.png")
        let result = try clipscope(["attack", "--dir", folder, "--pairs", "star", "--runs", scratch.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderrLines.filter { $0.contains("skipped") && $0.contains("broken.png") }.count, 1, result.stderr)
    }

    func testABatchAttackFollowsAFolderGivenAsALinkAndListsADanglingLink() throws {
        let folder = scratch.appendingPathComponent("drawings").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<2 { try Image.testCard(width: 96, height: 96, seed: UInt64(i + 1)).writePNG(path: folder + "/d\(i).png") }
        try FileManager.default.createSymbolicLink(atPath: folder + "/gone.png", withDestinationPath: "/nonexistent/gone.png")
        let link = scratch.appendingPathComponent("L").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder)
        let result = try clipscope(["attack", "--dir", link, "--pairs", "star", "--runs", scratch.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        XCTAssertEqual(answer["images"] as? Int, 2)
        let skipped = objects(answer["skipped"])
        XCTAssertEqual(skipped.count, 1, "\(skipped)")
        XCTAssertTrue((skipped.first?["file"] as? String ?? "").hasSuffix("gone.png"), "\(skipped)")
        XCTAssertTrue(result.stderr.contains("gone.png: a dangling symbolic link"), result.stderr)
    }

    func testEveryFailureExitsOneRefusedOptionsInOneLine() throws {
        let index = scratch.appendingPathComponent("none.index").path
        // Refused values, checked before any work: one line each.
        for arguments in [["top", "--index", index, "--neuron", "1", "--k", "0"], ["show"], ["stroop", "--top", "0"],
                          ["bench", "--runs", "0"], ["classify", "--labels", "a,b", "--top", "0", "x.png"]] {
            let result = try clipscope(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderrLines.count, 1, "\(arguments): \(result.stderr)")
        }
        // Usage errors ArgumentParser finds, and a failure while running.
        for arguments in [["visualize", "--neuron"], ["top", "--neuron", "abc", "--index", index], ["grid", "--no-such-option"],
                          ["top", "--index", index, "--neuron", "1"]] {
            let result = try clipscope(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderrLines.first?.hasPrefix("clipscope: ") ?? false, result.stderr)
        }
        XCTAssertEqual(try clipscope(["top", "--help"]).status, 0)
    }

    func testANegativeNeuronIsRefusedInWordsNotAsAMissingValue() throws {
        let index = scratch.appendingPathComponent("none.index").path
        for command in [["visualize"], ["dream"], ["maxtext", "--index", index], ["top", "--index", index],
                        ["categories", "--index", index], ["histogram", "--index", index]] {
            let message = try failure(command + ["--neuron", "-1"])
            XCTAssertEqual(message, "clipscope: --neuron must be 0 or more (neurons are numbered from 0), got -1", "\(command)")
        }
    }

    func testStroopDrawsTheToysPresetAndAnswersInTheDocumentedShape() throws {
        let figure = scratch.appendingPathComponent("stroop.png").path
        let answer = try json(["stroop", "--runs", scratch.path, "-o", figure])
        let images = objects(answer["images"])
        XCTAssertEqual(images.count, 9 * 9 + 3 * 9, "each toy colour word (but white) in each ink, and three neutral words")
        XCTAssertTrue(images.allSatisfy { ($0["top"] as? [Any])?.count == 3 })
        for key in ["ink_accuracy", "word_wins", "neutral_ink_accuracy"] { XCTAssertNotNil(answer[key] as? Double, key) }
        XCTAssertGreaterThan(try Image.load(path: figure).height, 400)
        XCTAssertTrue(try failure(["stroop", "--toy", "--paper"]).contains("--toy and --paper"))
    }

    // MARK: - Modality gap

    func testGapRunsOnTheToysOwnScenesAndAnswersInTheDocumentedShape() throws {
        let figure = scratch.appendingPathComponent("figures/gap.png").path
        let answer = try json(["gap", "--scenes", "8", "--runs", scratch.path, "-o", figure])
        let run = scratch.appendingPathComponent("gap-toy").path
        XCTAssertEqual(answer["run"] as? String, run)
        XCTAssertEqual(answer["pairs"] as? Int, 8)
        for key in ["centroid_distance", "matched_cosine", "unmatched_cosine"] { XCTAssertNotNil(answer[key] as? Double, key) }
        let points = objects(answer["points"])
        XCTAssertEqual(points.count, 16)
        XCTAssertEqual(points.compactMap { $0["kind"] as? String }.filter { $0 == "text" }.count, 8)
        XCTAssertTrue(points.allSatisfy { $0["x"] is Double && $0["y"] is Double })
        XCTAssertNoThrow(try Image.load(path: figure))
        for name in ["gap.json", "gap.png", "gap-pca.png", "points.csv", "run.json", "scenes/scene-007.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/" + name), name)
        }
    }

    func testGapRefusesBadInputNamingTheOption() throws {
        let empty = scratch.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let csv = scratch.appendingPathComponent("pairs.csv").path
        try "path,caption\na.png,an apple\nb.png,\n".write(toFile: csv, atomically: true, encoding: .utf8)
        XCTAssertEqual(try failure(["gap", "--dir", empty, "--runs", scratch.path]),
                       "clipscope: --dir \(empty): no images (.jpg, .jpeg, .png)")
        XCTAssertEqual(try failure(["gap", "--csv", csv, "--runs", scratch.path]),
                       "clipscope: --csv \(csv) line 3: no caption (want path,caption)")
        XCTAssertTrue(try failure(["gap", "--model", Self.modelPT]).contains("give --dir D or --csv F"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("gap-empty").path), "no work was done")
    }


    // MARK: - Maximal text

    func testMaxtextSkipsAndNamesABadImageAmongSeveral() throws {
        let image = scratch.appendingPathComponent("card.png").path
        try Image.testCard(width: 64, height: 64, seed: 3).writePNG(path: image)
        let words = scratch.appendingPathComponent("words.txt")
        try "red\ndog\nring\n".write(to: words, atomically: true, encoding: .utf8)
        let quick = ["--model", Self.modelPT, "--epochs", "1", "--steps", "2", "--vocabulary", words.path]
        let result = try clipscope(["maxtext", image, CLITests.broken, "-o", scratch.appendingPathComponent("mt").path, "--json"] + quick)
        XCTAssertEqual(result.status, 0, result.stderr)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        XCTAssertEqual(objects(answer["skipped"]).compactMap { $0["path"] as? String }, [CLITests.broken])
        XCTAssertFalse(objects(answer["texts"]).isEmpty)
        XCTAssertEqual(result.stderrLines.filter { $0.contains("skipped \(CLITests.broken)") }.count, 1, result.stderr)
        // None readable: each is named, then the job fails (like classify and activations).
        let none = try clipscope(["maxtext", CLITests.broken, scratch.appendingPathComponent("gone.png").path,
                                  "-o", scratch.appendingPathComponent("mt2").path] + quick)
        XCTAssertNotEqual(none.status, 0)
        XCTAssertEqual(none.stderrLines.last, "clipscope: none of the 2 images could be read", none.stderr)
        XCTAssertEqual(none.stderrLines.filter { $0.contains("skipped") }.count, 2, none.stderr)
    }

    func testMaxtextRanksTextsForAnImageOrANeuronAndRefusesAnIndexOfAnotherModel() throws {
        let photos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ImagingTests/Fixtures").standardized
        let folder = scratch.appendingPathComponent("photos/all")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["baseline.jpg", "baseline_444.jpg"] {
            try FileManager.default.copyItem(at: photos.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let words = scratch.appendingPathComponent("words.txt")
        try "red\ndog\nring\nblue\ncat\nmoon\n".write(to: words, atomically: true, encoding: .utf8)
        let quick = ["--epochs", "2", "--steps", "5", "--vocabulary", words.path]
        let image = folder.appendingPathComponent("baseline_444.jpg").path
        let answer = try json(["maxtext", "--model", Self.modelPT, image, "-o", scratch.appendingPathComponent("mt").path] + quick)
        XCTAssertEqual(answer["run"] as? String, scratch.appendingPathComponent("mt").path)
        let texts = objects(answer["texts"])
        XCTAssertFalse(texts.isEmpty)
        let cosines = texts.compactMap { $0["cosine"] as? Double }
        XCTAssertEqual(cosines, cosines.sorted(by: >))
        XCTAssertTrue(texts.allSatisfy { ($0["text"] as? String ?? "").split(separator: " ").allSatisfy { ["red", "dog", "ring", "blue", "cat", "moon"].contains(String($0)) } })
        // A neuron's top images of an index made with this model; another model's index is refused before any work.
        let index = scratch.appendingPathComponent("photos.index").path
        _ = try json(["scan", "--model", Self.modelPT, scratch.appendingPathComponent("photos").path, "--index", index])
        let neuron = try json(["maxtext", "--model", Self.modelPT, "--index", index, "--neuron", "3", "--k", "2",
                               "-o", scratch.appendingPathComponent("mt3").path] + quick)
        XCTAssertFalse(objects(neuron["texts"]).isEmpty)
        let refused = try failure(["maxtext", "--model", "toy", "--index", index, "--neuron", "3", "-o", scratch.appendingPathComponent("mt4").path])
        XCTAssertTrue(refused.contains("was scanned with model"), refused)
        XCTAssertTrue(try failure(["maxtext", "--model", Self.modelPT, "--epochs", "0", image]).contains("--epochs must be at least 1"))
        XCTAssertTrue(try failure(["maxtext", "--model", Self.modelPT]).contains("give IMAGE... or --index I --neuron N"))
    }

}
