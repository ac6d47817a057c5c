import CLIP
import Foundation
import Jobs
import Synchronization
import Tensor
import XCTest
@testable import Experiments

/// Maximal text on the small random-weight CLIP made by OpenAI's code.
final class MaximalTextTests: XCTestCase {
    var model: CLIPModel { get throws { try Fixture.model() } }
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-maxtext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func target(_ model: CLIPModel) -> [Float] {
        var generator = SeededGenerator(seed: 4)
        return (0..<model.config.embedDim).map { _ in generator.nextNormal() }
    }

    func testTheLossGradientWithRespectToTheTokenEmbeddingsMatchesFiniteDifferences() throws {
        let model = try model
        let search = try MaximalText(model: model, target: target(model), settings: MaximalTextSettings())
        let rows = model.text.tokenEmbeddingTable.gatherRows(search.tokens).detached()
        let embedded = Tensor(shape: [1] + rows.shape, values: rows.values)
        embedded.requiresGrad = true
        search.loss(embedded).backward()
        let gradient = try XCTUnwrap(embedded.grad).values
        // Token embeddings are small (std 0.02 at initialization): a small step.
        let epsilon: Float = 1e-3
        for index in stride(from: 3, to: embedded.count, by: embedded.count / 16) {
            let numeric = Fixture.derivative(of: embedded, at: index, epsilon: epsilon) { search.loss(embedded).values[0] }
            XCTAssertEqual(gradient[index], numeric, accuracy: 2e-3 + 0.02 * abs(numeric), "value \(index)")
        }
    }

    func testAnEpochMovesOnlyTheWordSlotsAndSnapsToAllowedTokens() throws {
        let model = try model
        var settings = MaximalTextSettings()
        settings.stepsPerEpoch = 20
        let words = ["red", "dog", "ring", "blue", "cat", "moon"]
        let search = try MaximalText(model: model, target: target(model), settings: settings, vocabulary: words)
        XCTAssertEqual(search.tokens.count, 6, "start, This is a sentence, end")
        var cosines: [Float] = []
        let (text, cosine) = try search.runEpoch { cosines.append($1) }
        XCTAssertEqual(cosines.count, 20)
        XCTAssertGreaterThan(cosines.last!, cosines.first!, "SGD raises the cosine of the free embeddings")
        XCTAssertTrue(text.split(separator: " ").allSatisfy { words.contains(String($0)) }, text)
        XCTAssertEqual(search.tokens.first, 49406)
        XCTAssertEqual(search.tokens.last, 49407)
        XCTAssertEqual(cosine, search.cosine(of: text), "a text's cosine is its own, re-encoded")
        XCTAssertEqual(search.candidates[text], cosine)
    }

    func testAJobRanksItsTextsAndAnInterruptedOneContinuesExactly() throws {
        let path = Fixture.photo
        func job(_ name: String) -> MaxTextJob {
            var settings = MaximalTextSettings()
            settings.epochs = 4
            settings.stepsPerEpoch = 10
            return MaxTextJob(model: Fixture.modelPath, images: [path], settings: settings,
                              vocabulary: ["red", "dog", "ring", "blue", "cat", "moon", "a", "photo"],
                              output: scratch.appendingPathComponent(name).path)
        }
        let straight = try JobRunner.run(job("straight")) { _, _ in }.get()
        XCTAssertFalse(straight.texts.isEmpty)
        XCTAssertEqual(straight.texts.map(\.cosine), straight.texts.map(\.cosine).sorted(by: >))
        let token = CancellationToken()
        let logs = Mutex<[String]>([])
        let outcome = JobRunner.run(job("cut"), token: token) { _, event in
            if case let .log(_, text) = event, text.hasPrefix("epoch 2:") { token.cancel() }
        }
        guard case .cancelled = outcome else { return XCTFail("expected cancelled, got \(outcome)") }
        let resumed = try JobRunner.run(job("cut")) { _, event in
            if case let .log(_, text) = event { logs.withLock { $0.append(text) } }
        }.get()
        XCTAssertTrue(logs.withLock { $0 }.contains { $0.hasPrefix("resuming at epoch 3") }, "\(logs.withLock { $0 })")
        XCTAssertEqual(resumed.texts, straight.texts, "the same texts and cosines as a run never stopped")
        // A damaged state is named and the search starts again, to the same texts.
        let statePath = scratch.appendingPathComponent("cut/state.json").path
        try Data("{\"epoch\": 2, \"tok".utf8).write(to: URL(fileURLWithPath: statePath))
        let warnings = Mutex<[String]>([])
        let again = try JobRunner.run(job("cut")) { _, event in
            if case let .log(.warning, text) = event { warnings.withLock { $0.append(text) } }
        }.get()
        XCTAssertEqual(warnings.withLock { $0 }, ["\(statePath) is damaged and was not used (not a maxtext state); starting again from the beginning"])
        XCTAssertEqual(again.texts, straight.texts)
    }

    func testADivergingSearchFailsAndItsRecordSaysFailed() throws {
        var settings = MaximalTextSettings()
        settings.epochs = 2
        settings.stepsPerEpoch = 10
        settings.learningRate = .greatestFiniteMagnitude
        let folder = scratch.appendingPathComponent("diverging").path
        let job = MaxTextJob(model: Fixture.modelPath, images: [Fixture.photo], settings: settings, vocabulary: nil, output: folder)
        guard case let .failed(failure) = JobRunner.run(job, sink: { _, _ in }) else { return XCTFail("expected a failure") }
        XCTAssertTrue(failure.message.hasPrefix("maxtext: the loss became "), failure.message)
        XCTAssertEqual(try RunFolder(path: folder).read().status, "failed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/texts.json"), "no texts of a diverged search")
    }
}
