import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Synchronization
import Tensor
import Weights
import XCTest
@testable import Experiments

/// Feature visualization on the small random-weight CLIP made by OpenAI's code (64x64 input).
final class FeatureVisualizationTests: XCTestCase {
    static var modelPath: String { Fixture.modelPath }
    var model: CLIPModel { get throws { try Fixture.model() } }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-visualize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func settings(_ variant: VisualizationVariant, steps: Int = 20) -> VisualizationSettings {
        var settings = VisualizationSettings(variant: variant)
        settings.steps = steps
        settings.learningRate = 0.05
        return settings
    }

    /// The loss's gradient with respect to the pixels, against central differences (in double
    /// the work: the same jitter both ways).
    func testEveryObjectivesGradientMatchesFiniteDifferences() throws {
        let model = try model
        for variant in VisualizationVariant.allCases {
            var settings = settings(variant)
            settings.beta = variant == .paperFormula ? 2 : 3  // a beta other than 2 takes the general path
            for parameterization in ImageParameterization.allCases {
                settings.parameterization = parameterization
                let visualizer = try FeatureVisualizer(model: model, neurons: [7, 200], settings: settings)
                // Whole-pixel jitter for the pixels, lucid's scale and rotation on top for Fourier.
                let warps = parameterization == .pixels
                    ? [ImageWarp(translation: (5, -3)), ImageWarp(translation: (-9, 12))]
                    : [ImageWarp(scale: 1.08, angle: 0.12, translation: (5, -3)), ImageWarp(scale: 0.93, angle: -0.17, translation: (-9, 12))]
                visualizer.loss(warps: warps).total.backward()
                func loss() -> Float { visualizer.loss(warps: warps).total.values[0] }
                // Fourier coefficients are small and act through 1/frequency: a finer step.
                let epsilon: Float = parameterization == .pixels ? 1e-2 : 2e-3
                var checked = 0
                for parameter in visualizer.parameters {
                    let gradient = try XCTUnwrap(parameter.grad).values
                    for index in stride(from: 17, to: parameter.count, by: parameter.count / 8) {
                        let numeric = Fixture.derivative(of: parameter, at: index, epsilon: epsilon, loss)
                        XCTAssertEqual(gradient[index], numeric, accuracy: 0.03 * max(1, abs(numeric)),
                                       "\(variant) \(parameterization) value \(index)")
                        checked += 1
                    }
                }
                XCTAssertGreaterThan(checked, 7)
            }
        }
    }

    func testLucidsTransformsStayInTheirRangesAndKeepTheJitter() throws {
        let model = try model
        var settings = settings(.direct)
        settings.transforms = RandomTransforms(scale: 0.3, rotation: 20)
        let transformed = try FeatureVisualizer(model: model, neurons: [5], settings: settings)
        settings.transforms = nil
        let shifted = try FeatureVisualizer(model: model, neurons: [5], settings: settings)
        var scales: [Double] = [], angles: [Double] = []
        for step in 0..<200 {
            let warp = transformed.warp(neuron: 5, step: step), plain = shifted.warp(neuron: 5, step: step)
            XCTAssertTrue(warp.translation == plain.translation, "the jitter is drawn first and is the same with or without transforms")
            XCTAssertEqual(plain.scale, 1)
            XCTAssertEqual(plain.angle, 0)
            scales.append(warp.scale)
            angles.append(warp.angle * 180 / Double.pi)
        }
        XCTAssertTrue(scales.allSatisfy { (0.7...1.3).contains($0) } && angles.allSatisfy { (-20...20).contains($0) })
        XCTAssertLessThan(scales.min()!, 0.8, "the range is used")
        XCTAssertGreaterThan(scales.max()!, 1.2)
        XCTAssertLessThan(angles.min()!, -15)
        XCTAssertGreaterThan(angles.max()!, 15)
        XCTAssertEqual(VisualizationSettings(variant: .direct).transforms, .lucid, "direct uses lucid's transforms by default")
        XCTAssertNil(VisualizationSettings(variant: .paperCode).transforms, "the paper's variants translate only")
        var bad = VisualizationSettings(variant: .direct)
        bad.transforms = RandomTransforms(scale: 1, rotation: 0)
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("scale"), "\($0)") }
        bad.transforms = nil
        bad.fourierDecay = -1
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("decay"), "\($0)") }
    }

    func testEveryVariantLowersItsLossAndTheSameSeedGivesTheSameImage() throws {
        let model = try model
        for variant in VisualizationVariant.allCases {
            let first = try FeatureVisualizer(model: model, neurons: [31], settings: settings(variant, steps: 40))
            // Each step sees another translation: compare the first and last five steps.
            let losses = (0..<40).map { _ in first.advance().first { $0.name == "loss" }!.values[0] }
            let start = losses.prefix(5).reduce(0, +) / 5, end = losses.suffix(5).reduce(0, +) / 5
            XCTAssertLessThan(end, start, "\(variant): loss \(start) -> \(end)")
            let second = try FeatureVisualizer(model: model, neurons: [31], settings: settings(variant, steps: 40))
            for _ in 0..<40 { second.advance() }
            XCTAssertEqual(first.render().values, second.render().values, "\(variant): the same seed, bit for bit")
            XCTAssertEqual(first.image(0), second.image(0))
        }
    }

    func testANeuronsImageDoesNotDependOnItsBatchNorOtherSeedsRepeatIt() throws {
        let model = try model
        let alone = try FeatureVisualizer(model: model, neurons: [42], settings: settings(.paperCode))
        let together = try FeatureVisualizer(model: model, neurons: [3, 42], settings: settings(.paperCode))
        for _ in 0..<10 { alone.advance(); together.advance() }
        let plane = 3 * alone.size * alone.size
        let mine = Array(together.render().values[plane..<(2 * plane)])
        let difference = zip(mine, alone.render().values).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(difference, 1e-4, "item 2 of a batch follows the same path as alone")
        var other = settings(.paperCode)
        other.seed = 11
        let reseeded = try FeatureVisualizer(model: model, neurons: [42], settings: other)
        XCTAssertNotEqual(reseeded.render().values, try FeatureVisualizer(model: model, neurons: [42], settings: settings(.paperCode)).render().values)
    }

    func testTheRangePenaltyIsTheCodesAndTheFormulaKeepsPixelsBounded() throws {
        let model = try model
        let visualizer = try FeatureVisualizer(model: model, neurons: [0, 1], settings: settings(.paperCode))
        visualizer.parameters[0].withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = i < p.count / 2 ? 0.5 : 1 }
            p[0] = 3  // item 0 leaves the range
        }
        let range = visualizer.codeRange(visualizer.render()).values
        let perItem = visualizer.render().count / 2
        XCTAssertEqual(range[0], (3 + 0.5 * Float(perItem - 1)) / Float(perItem), accuracy: 1e-5)
        XCTAssertEqual(range[1], 0, "within the range: no penalty")

        var formula = settings(.paperFormula, steps: 5)
        formula.learningRate = 5
        let bounded = try FeatureVisualizer(model: model, neurons: [9], settings: formula)
        for _ in 0..<5 { bounded.advance() }
        let plane = bounded.size * bounded.size
        let values = bounded.render().values
        let largest = (0..<plane).map { i in (0..<3).map { values[$0 * plane + i] * values[$0 * plane + i] }.reduce(0, +).squareRoot() }.max()!
        XCTAssertLessThanOrEqual(largest, 2 * formula.bound * 1.0001)
    }

    func testBadSettingsNameTheirParameter() throws {
        let model = try model
        XCTAssertThrowsError(try FeatureVisualizer(model: model, neurons: [256], settings: settings(.paperCode))) { error in
            XCTAssertEqual((error as? InvalidParameter)?.parameter, "neuron")
            XCTAssertTrue("\(error)".contains("0-255"), "\(error)")
        }
        var bad = settings(.gray)
        bad.steps = -1
        XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "steps") }
        bad = settings(.direct)
        bad.jitter = 2
        XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "jitter") }
    }

    func testAStepTooLargeForMemoryIsRefusedNamingTheLargestThatFits() throws {
        let model = try model, config = try model.config
        let memory = 4e9
        let largest = config.largestStepSize(batch: 2, memory: memory)
        XCTAssertEqual(largest % 32, 0)
        XCTAssertLessThanOrEqual(config.stepBytes(size: largest, batch: 2), memory)
        XCTAssertGreaterThan(config.stepBytes(size: largest + 32, batch: 2), memory)
        XCTAssertEqual(config.stepBytes(size: 2048, batch: 2), 4 * config.stepBytes(size: 1024, batch: 2), accuracy: 1)
        XCTAssertNoThrow(try config.checkStepFits(size: largest, batch: 2, memory: memory))
        XCTAssertThrowsError(try config.checkStepFits(size: largest + 32, batch: 2, memory: memory)) { error in
            XCTAssertEqual((error as? InvalidParameter)?.parameter, "size")
            XCTAssertTrue("\(error)".hasSuffix("the largest size that fits is \(largest)"), "\(error)")
        }
        // Visualizer and dreamer refuse before they allocate an image of that size.
        var huge = settings(.paperCode)
        huge.size = 320_000
        XCTAssertThrowsError(try FeatureVisualizer(model: model, neurons: [1], settings: huge)) {
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "size")
        }
        var dream = DreamSettings()
        dream.size = 320_000
        XCTAssertThrowsError(try DeepDreamer(model: model, neuron: 1, settings: dream)) {
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "size")
        }
    }

    func testTheStepEstimateIsAboveWhatAStepTakesAndFollowsIt() throws {
        let model = try model
        var settings = settings(.paperCode, steps: 2)
        settings.size = 384
        let estimate = model.config.stepBytes(size: 384, batch: 2)
        guard ProcessMemory.resetPeak(), let before = ProcessMemory.residentBytes else { throw XCTSkip("no /proc peak here") }
        let visualizer = try FeatureVisualizer(model: model, neurons: [1, 2], settings: settings)
        visualizer.advance()
        visualizer.advance()
        let grown = Double(try XCTUnwrap(ProcessMemory.peakResidentBytes) - before)
        XCTAssertLessThanOrEqual(grown, estimate, "estimated \(estimate), took \(grown)")
        XCTAssertGreaterThanOrEqual(grown, estimate / 4, "estimated \(estimate), took \(grown)")
    }

    // MARK: The job and its run folder

    func job(_ name: String, steps: Int = 12, neurons: [Int] = [5]) -> VisualizeJob {
        var job = VisualizeJob(model: Self.modelPath, neurons: neurons, settings: settings(.paperCode, steps: steps),
                               output: scratch.appendingPathComponent(name).path)
        job.checkpointEvery = 4
        job.previewEvery = 3
        return job
    }

    func testAJobWritesItsRunFolderAndPreviewsAsItGoes() throws {
        let previews = Mutex<[Int]>([])
        let result = try JobRunner.run(job("a")) { _, event in
            if case let .preview(preview) = event { previews.withLock { $0.append(preview.step) } }
        }.get()
        let folder = scratch.appendingPathComponent("a")
        XCTAssertEqual(result.run, folder.path)
        XCTAssertEqual(result.losses.count, 12)
        let picture = try Image.load(path: result.image)
        XCTAssertEqual(picture.width, 64)
        let steps = previews.withLock { $0 }
        XCTAssertEqual(steps.first, 3, "the first preview at step K")
        XCTAssertEqual(steps.last, 12, "the last step's always")
        XCTAssertTrue(steps.allSatisfy { $0 % 3 == 0 }, "\(steps)")
        let csv = try String(contentsOf: folder.appendingPathComponent("metrics.csv"), encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("step,neuron,loss,1-cos,range,tv\n"), csv)
        XCTAssertEqual(csv.split(separator: "\n").count, 13)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("parameters.json").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.safetensors").path))
        XCTAssertEqual(try RunFolder(path: folder.path).read().status, "finished")
        // Run again: nothing to do, the same answer.
        let again = try JobRunner.run(job("a")) { _, _ in }.get()
        XCTAssertEqual(again.images, result.images)
        // Another setting in the same folder is refused.
        var other = job("a")
        other.settings.seed = 99
        guard case let .failed(failure) = JobRunner.run(other, sink: { _, _ in }) else { return XCTFail("expected a refusal") }
        XCTAssertTrue(failure.message.contains("other settings"), failure.message)
    }

    func testACancelledRunKeepsItsWorkAndResumesBitForBit() throws {
        let straight = try JobRunner.run(job("straight")) { _, _ in }.get()
        // Cancelled after step 7 (the token is checked before each step).
        let token = CancellationToken()
        let outcome = JobRunner.run(job("cut"), token: token) { _, event in
            if case let .progress(progress) = event, progress.step == 7 { token.cancel() }
        }
        guard case .cancelled = outcome else { return XCTFail("expected cancelled, got \(outcome)") }
        let cut = scratch.appendingPathComponent("cut")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cut.appendingPathComponent("checkpoint.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: cut.appendingPathComponent("neuron-5.partial.png").path))
        XCTAssertEqual(try RunFolder(path: cut.path).read().status, "cancelled")
        let resumed = Mutex<[String]>([])
        let finished = try JobRunner.run(job("cut")) { _, event in
            if case let .log(_, text) = event { resumed.withLock { $0.append(text) } }
        }.get()
        XCTAssertTrue(resumed.withLock { $0 }.contains { $0.contains("from step 7") }, "\(resumed.withLock { $0 })")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: finished.image)), try Data(contentsOf: URL(fileURLWithPath: straight.image)))
        XCTAssertEqual(finished.losses, straight.losses, "the log has every step once, as if never stopped")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cut.appendingPathComponent("neuron-5.partial.png").path))
    }

    func testADivergingRunFailsKeepingItsLastGoodCheckpoint() throws {
        var diverging = job("diverging", steps: 12)
        diverging.settings.learningRate = 1e30
        diverging.checkpointEvery = 1
        guard case let .failed(failure) = JobRunner.run(diverging, sink: { _, _ in }) else { return XCTFail("expected a failure") }
        let folder = scratch.appendingPathComponent("diverging")
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors").path
        XCTAssertTrue(failure.message.hasPrefix("visualize: the loss became "), failure.message)
        XCTAssertTrue(failure.message.hasSuffix("the last good checkpoint is kept: \(checkpoint)"), failure.message)
        let archive = try WeightArchive.open(checkpoint)
        for key in archive.keys { XCTAssertTrue(try archive.floats(key).allSatisfy(\.isFinite), key) }
        let record = try RunFolder(path: folder.path).read()
        XCTAssertEqual(record.status, "failed")
        XCTAssertEqual(record.outcome, failure.message)
        XCTAssertTrue(record.metrics.allSatisfy(\.value.isFinite), "\(record.metrics)")
    }

    func testSettingsThatAreNotFiniteAreRefusedByName() {
        for (change, name) in [({ (s: inout VisualizationSettings) in s.objectiveWeight = .nan }, "objectiveWeight"),
                               ({ $0.beta = .infinity }, "beta"), ({ $0.learningRate = .infinity }, "learningRate"),
                               ({ $0.smoothnessWeight = -.infinity }, "smoothnessWeight")] as [((inout VisualizationSettings) -> Void, String)] {
            var bad = settings(.paperCode)
            change(&bad)
            XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, name) }
        }
        var dream = DreamSettings()
        dream.learningRate = .infinity
        XCTAssertThrowsError(try dream.validate()) { XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "learningRate") }
    }

    func testADamagedCheckpointIsNamedAndTheRunResumesFromTheOneBeforeIt() throws {
        let straight = try JobRunner.run(job("straight")) { _, _ in }.get()
        // Cancelled after step 7: checkpoints of steps 4 and 7.
        let token = CancellationToken()
        _ = JobRunner.run(job("cut"), token: token) { _, event in
            if case let .progress(progress) = event, progress.step == 7 { token.cancel() }
        }
        let checkpoint = scratch.appendingPathComponent("cut/checkpoint.safetensors").path
        // Garbage in the middle of the newest, its size and header intact.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        for i in 0..<64 { bytes[bytes.count / 2 + i] = 0x7F }
        try bytes.write(to: URL(fileURLWithPath: checkpoint))
        let logs = Mutex<[(JobLogLevel, String)]>([])
        let finished = try JobRunner.run(job("cut")) { _, event in
            if case let .log(level, text) = event { logs.withLock { $0.append((level, text)) } }
        }.get()
        let lines = logs.withLock { $0 }
        XCTAssertTrue(lines.contains { $0.0 == .warning && $0.1.hasPrefix("\(checkpoint) is damaged") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.1.contains("from step 4") }, "\(lines)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: finished.image)), try Data(contentsOf: URL(fileURLWithPath: straight.image)),
                       "the same picture as a run never stopped")
        XCTAssertEqual(finished.losses, straight.losses)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Checkpoint.previousPath(checkpoint)), "a finished run keeps no checkpoint")
    }

    func testASweepInBatchesMakesEveryNeuronsPicture() throws {
        var sweep = job("sweep", steps: 4, neurons: [1, 2, 3])
        sweep.batchSize = 2
        let progress = Mutex<[Int]>([])
        let result = try JobRunner.run(sweep) { _, event in
            if case let .progress(report) = event { progress.withLock { $0.append(report.step) } }
        }.get()
        XCTAssertEqual(result.images.map(\.neuron), [1, 2, 3])
        XCTAssertEqual(progress.withLock { $0 }, Array(1...8), "two batches of 4 steps")
        for neuron in [1, 2, 3] {
            XCTAssertNoThrow(try Image.load(path: VisualizeJob.picturePath(folder: result.run, neuron: neuron)))
        }
        // The same neurons one at a time: the same pictures (to within float rounding of batched convolutions).
        let single = try JobRunner.run(job("single", steps: 4, neurons: [3])) { _, _ in }.get()
        let a = try Image.load(path: single.image).pixels
        let b = try Image.load(path: VisualizeJob.picturePath(folder: result.run, neuron: 3)).pixels
        XCTAssertLessThanOrEqual(zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0, 1)
    }
}
