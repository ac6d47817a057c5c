import CLIP
import Foundation
import Imaging
import Jobs
import Synchronization
import Tensor
import XCTest
@testable import Experiments

final class DeepDreamTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-dream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func settings() -> DreamSettings {
        var settings = DreamSettings()
        settings.levels = 2
        settings.iterations = 4
        settings.maxShift = 8
        return settings
    }

    func testTheObjectivesGradientMatchesFiniteDifferences() throws {
        let dreamer = try DeepDreamer(model: try Fixture.model(), neuron: 12, settings: settings())
        var generator = SeededGenerator(seed: 2)
        let x = Tensor.randomUniform([1, 3, 64, 64], generator: &generator)
        x.requiresGrad = true
        dreamer.objective(x).backward()
        let gradient = try XCTUnwrap(x.grad).values
        let epsilon: Float = 1e-2
        for index in stride(from: 5, to: x.count, by: x.count / 12) {
            let numeric = Fixture.derivative(of: x, at: index, epsilon: epsilon) { dreamer.objective(x).values[0] }
            XCTAssertEqual(gradient[index], numeric, accuracy: 0.03 * max(abs(numeric), 1e-2), "pixel \(index)")
        }
    }

    func testLevelsGrowToTheModelsSideAndTheObjectiveRises() throws {
        var settings = settings()
        settings.levels = 4
        XCTAssertEqual(settings.sides(size: 288), [64, 96, 160, 288])
        XCTAssertEqual(settings.sides(size: 96), [32, 32, 64, 96])
        settings.levels = 2
        settings.iterations = 10
        let dreamer = try DeepDreamer(model: try Fixture.model(), neuron: 12, settings: settings)
        let losses = try dreamer.runLevel() + dreamer.runLevel()
        XCTAssertEqual(dreamer.side, 64)
        XCTAssertGreaterThan(losses.suffix(3).reduce(0, +), losses.prefix(3).reduce(0, +), "\(losses)")
        XCTAssertTrue(dreamer.pixels.allSatisfy { (0...1).contains($0) })
    }

    func testBlurKeepsAFlatImageFlatAndResizingIsBilinear() {
        let flat = [Float](repeating: 0.5, count: 3 * 16 * 16)
        let blurred = DeepDreamer.gaussianBlur(flat, side: 16, sigma: 1.5)
        XCTAssertEqual(blurred[16 * 16 + 8 * 16 + 8], 0.5, accuracy: 1e-6, "inside, the kernel sums to one")
        XCTAssertLessThan(blurred[0], 0.5, "zero padding darkens the corner")
        let ramp = (0..<3).flatMap { _ in (0..<4).flatMap { _ in (0..<4).map { Float($0) } } }
        let doubled = DeepDreamer.resizedBilinear(ramp, from: 4, to: 8)
        XCTAssertEqual(Array(doubled[0..<8]), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], "half-pixel centres, clamped at the edges")
    }

    func testAJobResumesFromItsLastLevelExactly() throws {
        func job(_ name: String) -> DreamJob {
            DreamJob(model: Fixture.modelPath, neuron: 40, settings: settings(), start: nil, output: scratch.appendingPathComponent(name).path)
        }
        let straight = try JobRunner.run(job("straight")) { _, _ in }.get()
        XCTAssertEqual(straight.losses.count, 8)
        let token = CancellationToken()
        let outcome = JobRunner.run(job("cut"), token: token) { _, event in
            if case let .progress(progress) = event, progress.step == 4 { token.cancel() }
        }
        guard case .cancelled = outcome else { return XCTFail("expected cancelled, got \(outcome)") }
        let logs = Mutex<[String]>([])
        let resumed = try JobRunner.run(job("cut")) { _, event in
            if case let .log(_, text) = event { logs.withLock { $0.append(text) } }
        }.get()
        XCTAssertTrue(logs.withLock { $0 }.contains { $0.hasPrefix("resuming at level 2") }, "\(logs.withLock { $0 })")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: resumed.image)), try Data(contentsOf: URL(fileURLWithPath: straight.image)))
        XCTAssertEqual(resumed.losses, straight.losses)
        XCTAssertEqual(try RunFolder(path: scratch.appendingPathComponent("cut").path).read().status, "finished")
    }

    func testADreamWhoseObjectiveIsNotFiniteFailsAndItsRecordSaysFailed() throws {
        // A broken model: one weight of the stem is NaN, so every activation is.
        let model = try CLIPModel.load(path: Fixture.modelPath)
        let (_, weight) = try XCTUnwrap(model.namedParameters.first { $0.key == "visual.conv1.weight" })
        weight.withUnsafeMutableBufferPointer { $0[0] = .nan }
        model.weightsDidChange()
        let broken = scratch.appendingPathComponent("broken.safetensors").path
        try model.save(path: broken)
        let folder = scratch.appendingPathComponent("broken").path
        let job = DreamJob(model: broken, neuron: 40, settings: settings(), start: nil, output: folder)
        guard case let .failed(failure) = JobRunner.run(job, sink: { _, _ in }) else { return XCTFail("expected a failure") }
        XCTAssertEqual(failure.message, "dream: the loss became nan at step 0, a smaller learning rate may help; there was no checkpoint yet")
        XCTAssertEqual(try RunFolder(path: folder).read().status, "failed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.picturePath), "no picture of a broken run")
    }
}
