import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import Tensor
@testable import ToyWorld
import Weights
import XCTest

final class ToyWorldTests: XCTestCase {
    func testScenesAreDeterministicPerSeed() throws {
        let sampler = SceneSampler(resolution: 64)
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5), c = SeededGenerator(seed: 6)
        let first = (0..<20).map { _ in sampler.sample(&a) }
        XCTAssertEqual(first, (0..<20).map { _ in sampler.sample(&b) })
        XCTAssertNotEqual(first, (0..<20).map { _ in sampler.sample(&c) })
        let renderer = SceneRenderer(font: try Font.standard())
        XCTAssertEqual(renderer.render(first[0].spec), renderer.render(first[0].spec))
    }

    func testCaptionsDescribeWhatIsDrawn() {
        let sampler = SceneSampler(resolution: 64, transcribeWords: 1)
        var generator = SeededGenerator(seed: 1)
        for _ in 0..<50 {
            let scene = sampler.sample(&generator)
            if let word = scene.spec.word { XCTAssertTrue(scene.caption.contains(word.text), scene.caption) }
            if let object = scene.spec.object, scene.spec.word == nil {
                XCTAssertTrue(scene.caption.contains(object.shape.rawValue), scene.caption)
            }
        }
        // Pictures with writing are often captioned by their writing alone; writing's ink is often named.
        var writingOnly = 0, both = 0, inkNamed = 0
        for _ in 0..<200 {
            let scene = sampler.sample(kind: .both, shape: .star, word: "moon", &generator)
            if scene.caption.contains("star") { both += 1 } else { writingOnly += 1 }
            XCTAssertTrue(scene.caption.contains("moon"), scene.caption)
            let written = sampler.sample(kind: .word, word: "cat", wordInk: .green, &generator)
            if written.caption.contains("green") { inkNamed += 1 }
        }
        XCTAssertTrue((60...140).contains(writingOnly) && (60...140).contains(both), "\(writingOnly) writing-only, \(both) both")
        XCTAssertTrue((50...110).contains(inkNamed), "ink named in \(inkNamed) of 200")
        let stroop = sampler.sample(kind: .word, word: "red", wordInk: .blue, &generator)
        XCTAssertEqual(stroop.spec.word?.ink, .blue)
        XCTAssertEqual(stroop.spec.word?.text, "red")
    }

    func testWebCaptionsNameAPictureByWhatItSays() {
        let sampler = SceneSampler(resolution: 64, captionStyle: .web)
        var generator = SeededGenerator(seed: 2)
        var asThing = 0, drawingNamed = 0, colourNamed = 0
        for _ in 0..<200 {
            // A written shape name is often captioned as if the shape were shown ("a star").
            let written = sampler.sample(kind: .word, word: "star", &generator)
            XCTAssertTrue(written.caption.contains("star"), written.caption)
            if !written.caption.contains("word") && !written.caption.contains("says") { asThing += 1 }
            // A drawing with writing on it is mostly captioned by the writing alone.
            let both = sampler.sample(kind: .both, shape: .moon, word: "heart", &generator)
            XCTAssertTrue(both.caption.contains("heart"), both.caption)
            if both.caption.contains("moon") { drawingNamed += 1 }
            // A colour word is named as the colour, never by its ink.
            let colour = sampler.sample(kind: .word, word: "blue", wordInk: .red, &generator)
            XCTAssertTrue(colour.caption.contains("blue") && !colour.caption.contains("red"), colour.caption)
            if colour.caption == "something blue" || colour.caption == "the color blue" { colourNamed += 1 }
        }
        XCTAssertTrue((90...160).contains(asThing), "written star named as a thing in \(asThing) of 200")
        XCTAssertTrue((25...75).contains(drawingNamed), "drawing named in \(drawingNamed) of 200")
        XCTAssertTrue((75...125).contains(colourNamed), "named as the colour blue in \(colourNamed) of 200")
        // Colour words are common in the web phase's writing.
        func colourWordShare(_ sampler: SceneSampler) -> Double {
            var generator = SeededGenerator(seed: 4)
            let words = (0..<400).map { _ in sampler.sample(kind: .word, &generator).spec.word!.text }
            return Double(words.filter { ToyWorld.Ink(rawValue: $0) != nil }.count) / 400
        }
        XCTAssertTrue((0.38...0.58).contains(colourWordShare(sampler)), "\(colourWordShare(sampler))")
        XCTAssertLessThan(colourWordShare(SceneSampler(resolution: 64)), 0.3)
        // Scenes without writing are drawn as before; some are named by their colour
        // alone, in the words a written colour word gets.
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let described = SceneSampler(resolution: 64)
        var namedByColour = 0
        for _ in 0..<200 {
            let web = sampler.sample(kind: .object, &a), plain = described.sample(kind: .object, &b)
            XCTAssertEqual(web.spec, plain.spec)
            let ink = web.spec.object!.ink.rawValue
            if web.caption == "something \(ink)" || web.caption == "the color \(ink)" { namedByColour += 1 } else {
                XCTAssertTrue(web.caption.contains(web.spec.object!.shape.rawValue), web.caption)
            }
            XCTAssertFalse(["something", "the color"].contains { plain.caption.hasPrefix($0) }, plain.caption)
            b = a  // the captions consumed the generators differently
        }
        XCTAssertTrue((40...80).contains(namedByColour), "objects named by colour alone in \(namedByColour) of 200")
    }

    func testObjectsAndWordsLeaveInkOnTheBackground() throws {
        let sampler = SceneSampler(resolution: 64)
        let renderer = SceneRenderer(font: try Font.standard())
        var generator = SeededGenerator(seed: 2)
        for shape in ToyWorld.Shape.allCases {
            var scene = sampler.sample(kind: .object, shape: shape, ink: .red, &generator)
            scene.spec.background = .flat
            scene.spec.backgroundColors = [255, 255, 255, 255, 255, 255]
            let image = renderer.render(scene.spec)
            let red = stride(from: 0, to: image.pixels.count, by: 3).filter { image.pixels[$0] > 150 && image.pixels[$0 + 1] < 100 }.count
            XCTAssertGreaterThan(red, 64 * 64 / 50, "\(shape) covers too little of the image")
        }
        var word = sampler.sample(kind: .word, word: "star", wordInk: .black, &generator)
        word.spec.background = .flat
        word.spec.backgroundColors = [255, 255, 255, 255, 255, 255]
        let dark = renderer.render(word.spec).pixels.filter { $0 < 80 }.count
        XCTAssertGreaterThan(dark, 30)
    }

    func testAShortTrainingRunLowersTheContrastiveLoss() throws {
        // A tiny CLIP of the same family on a fixed set of scenes.
        let config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                                textWidth: 16, textHeads: 1, textLayers: 1)
        let model = CLIPModel(config: config, randomSeed: 3)
        let trainer = try ContrastiveTrainer(model: model, learningRate: 3e-3, weightDecay: 0)
        let sampler = SceneSampler(resolution: 32, mix: [.object: 1])
        var generator = SeededGenerator(seed: 4)
        let scenes = (0..<8).map { i in
            sampler.sample(kind: .object, shape: ToyWorld.Shape.allCases[i], ink: ToyWorld.Ink.allCases[i], &generator)
        }
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        let pixels = batcher.pixels(scenes)
        let captions = scenes.map(\.caption)
        let first = try trainer.step(pixels: pixels, captions: captions).loss
        var last = first
        for _ in 0..<30 { last = try trainer.step(pixels: pixels, captions: captions).loss }
        XCTAssertLessThan(last, first * 0.6, "loss went from \(first) to \(last)")
    }

    func testAnAuxiliaryHeadLearnsItsLabels() throws {
        let config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                                textWidth: 16, textHeads: 1, textLayers: 1)
        let model = CLIPModel(config: config, randomSeed: 6)
        let trainer = try ContrastiveTrainer(model: model, learningRate: 3e-3, weightDecay: 0, auxiliaryClasses: 4, seed: 1)
        let sampler = SceneSampler(resolution: 32)
        var generator = SeededGenerator(seed: 8)
        let words = ["red", "star", "dog", "moon"]
        let scenes = (0..<8).map { sampler.sample(kind: .word, word: words[$0 % 4], &generator) }
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        let pixels = batcher.pixels(scenes)
        let labels = (0..<8).map { $0 % 4 }
        func auxiliaryLoss() -> Float {
            model.visual(pixels).linear(weight: trainer.auxiliaryHead!.detached()).crossEntropy(targets: labels).scalar
        }
        let before = auxiliaryLoss()
        for _ in 0..<30 {
            try trainer.step(pixels: pixels, captions: scenes.map(\.caption), auxiliaryLabels: labels, auxiliaryWeight: 1)
        }
        XCTAssertLessThan(auxiliaryLoss(), before * 0.7)
    }
}

final class ToyTrainJobTests: XCTestCase {
    func tinyJob(_ directory: URL) -> ToyTrainJob {
        var job = ToyTrainJob.recipe(output: directory.path, seed: 9, steps: 6, readingSteps: 2, warmupSteps: 2)
        job.config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                                textWidth: 16, textHeads: 1, textLayers: 1)
        job.batchSize = 8
        job.checkpointEvery = 3
        return job
    }

    /// The tiny job's phases by kind (the recipe's order).
    let (web, lockedText) = (2, 3)
    /// Steps of the tiny job before its web phase.
    let mainSteps = 6

    /// Runs a job to its end; returns its result and the lines it logged.
    func runLogging(_ job: ToyTrainJob) throws -> (result: ToyTrainJob.Result, log: [String]) {
        let log = LockedLog()
        let result = try JobRunner.run(job, sink: { _, event in
            if case let .log(_, line) = event { log.append(line) }
        }).get()
        return (result, log.lines)
    }

    func testAnInterruptedRunResumesToTheSameWeights() throws {
        let straight = try temporaryDirectory(), interrupted = try temporaryDirectory()
        let result = try JobRunner.run(tinyJob(straight), sink: { _, _ in }).get()
        XCTAssertEqual(result.steps, 6)

        // Cancel once step 4 is reported: the checkpoint of step 3 survives.
        let token = CancellationToken()
        let outcome = JobRunner.run(tinyJob(interrupted), token: token) { _, event in
            if case let .progress(progress) = event, progress.step == 4 { token.cancel() }
        }
        guard case .cancelled = outcome else { return XCTFail("expected a cancelled run, got \(outcome)") }
        let resumedLog = try runLogging(tinyJob(interrupted)).log
        XCTAssertTrue(resumedLog.contains { $0.contains("resuming from step 3") }, "\(resumedLog)")

        // A checkpoint loads as a model (its optimizer state is skipped).
        let checkpoint = try CLIPModel.load(path: straight.appendingPathComponent("checkpoint.safetensors").path)
        let a = try CLIPModel.load(path: straight.appendingPathComponent("model.safetensors").path)
        for ((key, x), (_, y)) in zip(a.namedParameters, checkpoint.namedParameters) {
            XCTAssertEqual(x.values, y.values.map { Float(Float16($0)) }, "\(key): checkpoint and float16 model differ")
        }
        let b = try CLIPModel.load(path: interrupted.appendingPathComponent("model.safetensors").path)
        for ((key, x), (_, y)) in zip(a.namedParameters, b.namedParameters) {
            XCTAssertEqual(x.values, y.values, "\(key) differs after resuming")
        }
    }

    func testSettingsRoundTripAndFlatSettingsOfEarlierVersionsDecodeToPhases() throws {
        var job = tinyJob(try temporaryDirectory())
        job.phases[web].steps = 4
        (job.phases[web].inkTwins, job.phases[lockedText].inkTwins) = (1, 1)
        let encoded = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
        XCTAssertEqual(try ToyTrainJob.decode(settings: encoded), job)
        // clipscope 0.6 wrote flat settings; settings added over time may be absent.
        let flat = """
            {"batchSize":8,"checkpointEvery":3,"config":{"contextLength":77,"embedDim":16,"imageResolution":32,"textHeads":1,\
            "textLayers":1,"textWidth":16,"visionLayers":[1,1,1,1],"visionWidth":4,"vocabSize":49408},"learningRate":0.0005,\
            "output":"\(job.output)","readingSteps":2,"seed":9,"steps":6,"warmupSteps":2,"webSteps":4,"webInkTwins":1}
            """
        let decoded = try ToyTrainJob.decode(settings: flat)
        XCTAssertEqual(decoded, job)
        XCTAssertEqual(decoded.phases.map(\.kind), [.curriculum, .mix, .web, .lockedText])
        XCTAssertNil(decoded.phases[1].learningRate, "the mix continues the curriculum's curve")
        XCTAssertEqual(decoded.phases[lockedText].inkTwins, 1, "the locked-text stage trains on the web batches")
        // Step by step the same curve as 0.6: one warm-up and cosine over the first 6 steps, then the web phase's own.
        for step in 0..<6 {
            XCTAssertEqual(job.learningRate(at: step), ToyTrainJob.warmupCosine(peak: 5e-4, warmup: 2, total: 6, at: step))
        }
        for step in 6..<10 {
            XCTAssertEqual(job.learningRate(at: step), ToyTrainJob.warmupCosine(peak: 2e-4, warmup: 20, total: 4, at: step - 6))
        }
        XCTAssertThrowsError(try ToyTrainJob.decode(settings: "{\"steps\":1}"))
    }

    func testAFinishedRunContinuesIntoAWebPhase() throws {
        let directory = try temporaryDirectory()
        let finished = try JobRunner.run(tinyJob(directory), sink: { _, _ in }).get()
        XCTAssertEqual(finished.steps, 6)
        var extended = tinyJob(directory)
        extended.phases[web].steps = 3
        let (result, log) = try runLogging(extended)
        XCTAssertEqual(result.steps, 9)
        XCTAssertTrue(log.contains { $0.contains("resuming from step 6") }, "\(log)")
        // Once the web phase has begun, its settings are part of the run.
        var changed = extended
        changed.phases[web].steps = 5
        changed.phases[web].learningRate = 1e-3
        XCTAssertThrowsError(try JobRunner.run(changed, sink: { _, _ in }).get()) { error in
            XCTAssertTrue("\(error)".contains("checkpoint of different settings"), "\(error)")
        }
        // The web phase has its own warm-up and decay.
        XCTAssertEqual(extended.learningRate(at: 6), extended.phases[web].learningRate! / Float(ToyTrainJob.webWarmupSteps),
                       accuracy: 1e-9)
        XCTAssertLessThan(extended.learningRate(at: 5), extended.learningRate(at: 2))
    }

    func testALockedTextStageTrainsOnlyTheImageTower() throws {
        let directory = try temporaryDirectory()
        var job = tinyJob(directory)
        job.phases[web].steps = 3
        let checkpoint = directory.appendingPathComponent("checkpoint.safetensors").path
        _ = try JobRunner.run(job, sink: { _, _ in }).get()
        let before = try CLIPModel.load(path: checkpoint)
        // A finished run continues into the stage.
        job.phases[lockedText].steps = 3
        job.phases[lockedText].learningRate = 2e-3
        let (result, log) = try runLogging(job)
        XCTAssertEqual(result.steps, 12)
        XCTAssertTrue(log.contains { $0.contains("resuming from step 9") }, "\(log)")
        let after = try CLIPModel.load(path: checkpoint)
        var changedImageWeights = 0
        for ((key, x), (_, y)) in zip(before.namedParameters, after.namedParameters) {
            if key.hasPrefix("visual.") {
                if !key.contains("running_") && x.values != y.values { changedImageWeights += 1 }
            } else {
                XCTAssertTrue(x.values == y.values, "\(key): the text side changed while locked")
            }
        }
        XCTAssertGreaterThan(changedImageWeights, 10)
        // The stage has its own warm-up and decay.
        XCTAssertEqual(job.learningRate(at: 9), 2e-3 / Float(ToyTrainJob.webWarmupSteps), accuracy: 1e-9)
        var withoutStage = job
        withoutStage.phases[lockedText].steps = 0
        XCTAssertEqual(job.learningRate(at: 8), withoutStage.learningRate(at: 8), "the web phase keeps its schedule")
        // Once the stage has begun, its settings are part of the run.
        var changed = job
        changed.phases[lockedText].steps = 5
        XCTAssertThrowsError(try JobRunner.run(changed, sink: { _, _ in }).get()) { error in
            XCTAssertTrue("\(error)".contains("checkpoint of different settings"), "\(error)")
        }
    }

    func testWebBatchesHoldInkTwinsThatOnlyTheirInkTellsApart() throws {
        var job = tinyJob(try temporaryDirectory())
        job.phases[web].steps = 4
        job.phases[web].inkTwins = 3
        let webSampler = SceneSampler(resolution: job.config.imageResolution, captionStyle: .web)
        let scenes = job.batch(at: mainSteps + 1, sampler: webSampler)
        XCTAssertEqual(scenes.count, job.batchSize)
        XCTAssertEqual(Set(scenes.map(\.caption)).count, scenes.count, "a repeated caption is a false negative")
        for pair in 0..<3 {
            let (a, b) = (try XCTUnwrap(scenes[2 * pair].spec.word), try XCTUnwrap(scenes[2 * pair + 1].spec.word))
            XCTAssertNil(scenes[2 * pair].spec.object)
            XCTAssertEqual(a.text, b.text)
            XCTAssertNil(ToyWorld.Ink(rawValue: a.text), "a colour word is named by what it says, not its ink")
            XCTAssertNotEqual(a.ink, b.ink)
            XCTAssertTrue(scenes[2 * pair].caption.contains(a.ink.rawValue), scenes[2 * pair].caption)
            XCTAssertTrue(scenes[2 * pair + 1].caption.contains(b.ink.rawValue), scenes[2 * pair + 1].caption)
        }
        // Only the web phase has twins.
        let main = job.batch(at: mainSteps - 1, sampler: SceneSampler(resolution: job.config.imageResolution))
        XCTAssertFalse((0..<3).allSatisfy { main[2 * $0].spec.word != nil && main[2 * $0].spec.word?.text == main[2 * $0 + 1].spec.word?.text })
    }

    func testWebBatchesHoldColourTwinsOfOneInk() throws {
        var job = tinyJob(try temporaryDirectory())
        job.phases[web].steps = 4
        job.phases[web].colourTwins = 2
        let webSampler = SceneSampler(resolution: job.config.imageResolution, captionStyle: .web)
        let scenes = job.batch(at: mainSteps, sampler: webSampler)
        XCTAssertEqual(scenes.count, job.batchSize)
        for pair in 0..<2 {
            let (a, b) = (try XCTUnwrap(scenes[2 * pair].spec.word), try XCTUnwrap(scenes[2 * pair + 1].spec.word))
            let (first, second) = (try XCTUnwrap(ToyWorld.Ink(rawValue: a.text)), try XCTUnwrap(ToyWorld.Ink(rawValue: b.text)))
            XCTAssertNotEqual(first, second)
            XCTAssertEqual(a.ink, b.ink)
            XCTAssertNotEqual(a.ink, first, "incongruent")
            XCTAssertNotEqual(b.ink, second, "incongruent")
            for scene in scenes[(2 * pair)...(2 * pair + 1)] {
                XCTAssertTrue(scene.caption.contains(scene.spec.word!.text), scene.caption)
                XCTAssertFalse(scene.caption.contains(scene.spec.word!.ink.rawValue), "named by what it says: \(scene.caption)")
            }
        }
        job.phases[web].inkTwins = 3
        XCTAssertThrowsError(try JobRunner.run(job, sink: { _, _ in }).get()) { error in
            XCTAssertEqual((error as? InvalidParameter)?.parameter, "phases")
            XCTAssertTrue("\(error)".contains("at most 4 twin pairs per batch of 8"), "\(error)")
        }
    }

    func testConceptLabelsJoinDrawingsAndWrittenNames() throws {
        let sampler = SceneSampler(resolution: 32)
        var generator = SeededGenerator(seed: 3)
        let drawn = sampler.sample(kind: .object, shape: .star, &generator)
        let written = sampler.sample(kind: .word, word: "star", &generator)
        let both = sampler.sample(kind: .both, shape: .moon, word: "star", &generator)
        let star = try XCTUnwrap(ToyWorld.words.firstIndex(of: "star"))
        XCTAssertEqual(ToyTrainJob.conceptLabel(drawn), star)
        XCTAssertEqual(ToyTrainJob.conceptLabel(written), star)
        XCTAssertNil(ToyTrainJob.conceptLabel(both))
        XCTAssertEqual(ToyTrainJob.conceptLabel(sampler.sample(kind: .word, word: "dog", &generator)),
                       ToyWorld.words.firstIndex(of: "dog"))
    }

    func testAuxiliaryConceptHeadTrainsWithTheModel() throws {
        var job = tinyJob(try temporaryDirectory())
        job.conceptHeadWeight = 1
        job.conceptHeadSteps = 6
        let result = try JobRunner.run(job, sink: { _, _ in }).get()
        XCTAssertTrue(result.loss.isFinite)
        // The head is not part of the model file.
        let model = try CLIPModel.load(path: URL(fileURLWithPath: job.output).appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(model.config, job.config)
    }

    /// The concept phase: from a start model, only the image tower learns, the read-out stays
    /// non-negative and is kept in checkpoints (an interrupted run resumes to the same
    /// weights), and the result says what it started from.
    func testAConceptPhaseFromAStartModelResumesExactly() throws {
        let startDirectory = try temporaryDirectory()
        _ = try JobRunner.run(tinyJob(startDirectory), sink: { _, _ in }).get()
        let startPath = startDirectory.appendingPathComponent("model.safetensors").path
        func conceptJob(_ directory: URL) -> ToyTrainJob {
            var job = ToyTrainJob(output: directory.path, seed: 4, phases: [.init(.concepts, steps: 6, learningRate: 2e-3, warmupSteps: 1)])
            job.config = tinyJob(directory).config
            job.batchSize = 8
            job.checkpointEvery = 2
            job.start = startPath
            job.neuronHead = .init(weight: 3, l1: 1e-3, concentration: 0.1, distillation: 10)
            return job
        }
        let straight = try temporaryDirectory(), interrupted = try temporaryDirectory()
        _ = try JobRunner.run(conceptJob(straight), sink: { _, _ in }).get()
        let token = CancellationToken()
        let outcome = JobRunner.run(conceptJob(interrupted), token: token) { _, event in
            if case let .progress(progress) = event, progress.step == 3 { token.cancel() }
        }
        guard case .cancelled = outcome else { return XCTFail("expected a cancelled run, got \(outcome)") }
        XCTAssertTrue(try runLogging(conceptJob(interrupted)).log.contains { $0.contains("resuming from step 2") })
        let start = try CLIPModel.load(path: startPath)
        let a = try CLIPModel.load(path: straight.appendingPathComponent("model.safetensors").path)
        let b = try CLIPModel.load(path: interrupted.appendingPathComponent("model.safetensors").path)
        var changedImageWeights = 0
        for (((key, x), (_, y)), (_, s)) in zip(zip(a.namedParameters, b.namedParameters), start.namedParameters) {
            XCTAssertEqual(x.values, y.values, "\(key) differs after resuming")
            if key.hasPrefix("visual.") {
                if !key.contains("running_") && x.values != s.values { changedImageWeights += 1 }
            } else {
                XCTAssertEqual(x.values, s.values, "\(key): the text side changed in the concept phase")
            }
        }
        XCTAssertGreaterThan(changedImageWeights, 10)
        let checkpoint = try WeightArchive.open(straight.appendingPathComponent("checkpoint.safetensors").path)
        let head = try checkpoint.floats("trainer.neuron_head")
        XCTAssertEqual(head.count, ToyWorld.Shape.allCases.count * a.config.neuronCount)
        XCTAssertTrue(head.allSatisfy { $0 >= 0 } && head.contains { $0 > 0 }, "the read-out stays non-negative")
        let metadata = try WeightArchive.open(straight.appendingPathComponent("model.safetensors").path).metadata
        XCTAssertEqual(metadata["clipscope.start.job"], ToyTrainJob.kind, "the result says how its start was made")
        // A start model of another architecture is refused by name.
        var other = conceptJob(try temporaryDirectory())
        other.config.embedDim = 32
        XCTAssertThrowsError(try JobRunner.run(other, sink: { _, _ in }).get()) { error in
            XCTAssertTrue("\(error)".contains("not of the toy architecture"), "\(error)")
        }
    }

    func testTheNeuronReadOutLearnsConceptsAndConcentrates() throws {
        let config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                                textWidth: 16, textHeads: 1, textLayers: 1)
        let model = CLIPModel(config: config, randomSeed: 3)
        let trainer = try ContrastiveTrainer(model: model, learningRate: 2e-3, neuronHeadConcepts: 12, seed: 3)
        let sampler = SceneSampler(resolution: 32)
        var generator = SeededGenerator(seed: 8)
        let scenes = (0..<16).map { i in
            sampler.sample(kind: i % 2 == 0 ? .object : .word, shape: ToyWorld.Shape.allCases[i % 4],
                           word: ToyWorld.Shape.allCases[i % 4].rawValue, &generator)
        }
        let shown = scenes.map(ToyTrainJob.shapesShown)
        XCTAssertEqual(shown[0], [0])
        XCTAssertEqual(shown[1], [1], "a written shape name is that shape")
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        let pixels = batcher.pixels(scenes)
        let head = try XCTUnwrap(trainer.neuronHead)
        func readOutLoss() -> Float {
            trainer.neuronHeadLoss(model.visual.neuronMap(pixels, tap: .conv3, mode: .training), concepts: shown,
                                   head: head.detached(), bias: trainer.neuronHeadBias!.detached()).scalar
        }
        func effectiveNeurons() -> Float {
            let w = head.values, n = model.config.neuronCount
            let s1 = w[0..<n].reduce(0, +), s2 = w[0..<n].reduce(0) { $0 + $1 * $1 }
            return s1 * s1 / s2
        }
        let (lossBefore, spreadBefore) = (readOutLoss(), effectiveNeurons())
        for _ in 0..<30 {
            try trainer.step(pixels: pixels, captions: scenes.map(\.caption), neuronConcepts: shown, neuronHeadWeight: 3,
                             neuronHeadL1: 1e-3, neuronHeadConcentration: 0.5)
        }
        XCTAssertLessThan(readOutLoss(), lossBefore * 0.7)
        XCTAssertLessThan(effectiveNeurons(), spreadBefore * 0.8, "the concentration term narrows a concept's read-out")
        XCTAssertTrue(head.values.allSatisfy { $0 >= 0 })
    }

    func testADivergingRunFailsAndWritesNoCheckpointThatIsNotFinite() throws {
        let directory = try temporaryDirectory()
        var job = tinyJob(directory)
        job.phases[0].learningRate = .greatestFiniteMagnitude
        guard case let .failed(failure) = JobRunner.run(job, sink: { _, _ in }) else { return XCTFail("expected a failure") }
        XCTAssertTrue(failure.message.hasPrefix("toy train: "), failure.message)
        XCTAssertTrue(failure.message.contains("a smaller learning rate may help"), failure.message)
        XCTAssertEqual(try RunFolder(path: directory.path).read().status, "failed")
        let checkpoint = directory.appendingPathComponent("checkpoint.safetensors").path
        if FileManager.default.fileExists(atPath: checkpoint) {
            let archive = try WeightArchive.open(checkpoint)
            for key in archive.keys { XCTAssertTrue(try archive.floats(key).allSatisfy(\.isFinite), key) }
        }
    }

    func testACheckpointOfOtherSettingsIsRefused() throws {
        let directory = try temporaryDirectory()
        _ = try JobRunner.run(tinyJob(directory), sink: { _, _ in }).get()
        var other = tinyJob(directory)
        other.seed = 10
        other.phases[1].steps += 3
        XCTAssertThrowsError(try JobRunner.run(other, sink: { _, _ in }).get()) { error in
            XCTAssertTrue("\(error)".contains("checkpoint of different settings"), "\(error)")
        }
    }
}

/// Lines collected from a job's compute thread.
final class LockedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}

final class ToyReportCardTests: XCTestCase {
    func testConceptPurityCountsDrawnAndWrittenInATopList() {
        // 40 images: 10 drawn stars, 10 written "star", 10 drawn hearts, 10 written "dog".
        var shown: [ShownConcepts] = []
        for i in 0..<40 {
            switch i / 10 {
            case 0: shown.append(ShownConcepts(drawn: .star, written: nil))
            case 1: shown.append(ShownConcepts(drawn: nil, written: "star"))
            case 2: shown.append(ShownConcepts(drawn: .heart, written: nil))
            default: shown.append(ShownConcepts(drawn: nil, written: "dog"))
            }
        }
        // Neuron 0 fires for stars drawn or written; neuron 1 for drawn stars and the word dog;
        // neuron 2 for hearts and, weaker, 3 written stars.
        var activations = [Float](repeating: 0, count: 40 * 3)
        for i in 0..<40 {
            activations[i * 3] = i < 20 ? 5 + Float(i % 7) : Float(i) * 0.01
            activations[i * 3 + 1] = i < 10 || i >= 30 ? 3 : -1
            activations[i * 3 + 2] = (20..<30).contains(i) ? 9 : (10..<13).contains(i) ? 4 : -Float(i)
        }
        let purity = ConceptPurity(activations: activations, neurons: 3, shown: shown, top: 20, cleanCount: 16, minimumEach: 4)
        let star = try! XCTUnwrap(purity.concepts.first { $0.concept == "star" })
        XCTAssertEqual(star.neuron, 0)
        XCTAssertEqual(star.showing, 20)
        XCTAssertEqual(star.onlyDrawn, 10)
        XCTAssertEqual(star.onlyWritten, 10)
        XCTAssertTrue(star.clean)
        let heart = try! XCTUnwrap(purity.concepts.first { $0.concept == "heart" })
        XCTAssertEqual(heart.neuron, 2)
        XCTAssertEqual(heart.showing, 10, "drawn hearts only: shown, but not clean")
        XCTAssertFalse(heart.clean)
        XCTAssertEqual(purity.cleanConcepts.map(\.concept), ["star"])
        XCTAssertEqual(purity.strongest?.neuron, 0)
        XCTAssertEqual(purity.concepts.first { $0.concept == "moon" }?.neuron, -1, "a concept no top list shows")
        // All 20 showing but fewer than the minimum only drawn or only written: not clean.
        let stricter = ConceptPurity(activations: activations, neurons: 3, shown: shown, top: 20, cleanCount: 16, minimumEach: 11)
        XCTAssertFalse(stricter.concepts.first { $0.concept == "star" }!.clean)
        XCTAssertEqual(stricter.concepts.first { $0.concept == "star" }!.showing, 20)
    }

    func testShownConceptsFromGalleryFileNames() {
        XCTAssertEqual(ShownConcepts(fileName: "00012-red-star+word-moon.png"), ShownConcepts(drawn: .star, written: "moon"))
        XCTAssertEqual(ShownConcepts(fileName: "00003-word-dog.png"), ShownConcepts(drawn: nil, written: "dog"))
        XCTAssertEqual(ShownConcepts(fileName: "hexagon.png"), ShownConcepts(drawn: .hexagon, written: nil))
        XCTAssertEqual(ShownConcepts(fileName: "blue-smiley.jpg"), ShownConcepts(drawn: .smiley, written: nil))
        XCTAssertNil(ShownConcepts(fileName: "holiday-photo.png"))
        XCTAssertNil(ShownConcepts(fileName: "00001-.png"))
        let scene = ToyGallery(output: "", count: 8).scenes()[3].scene
        XCTAssertEqual(ShownConcepts(fileName: ToyGallery.slug(scene) + ".png"), ShownConcepts(scene.spec), "a gallery name says what its scene shows")
    }

    func testModalityGapOfSeparatedClusters() {
        // Images near +x, texts near +y, in two dimensions.
        let images: [Float] = [1, 0.1, 1, -0.1, 0.9, 0]
        let texts: [Float] = [0.1, 1, -0.1, 1, 0, 0.9]
        let gap = ModalityGap(images: images, texts: texts, dimension: 2)
        XCTAssertEqual(gap.nearestCentroidAccuracy, 1)
        XCTAssertEqual(gap.centroidDistance, (2 * 0.9667 * 0.9667).squareRoot(), accuracy: 1e-3)
        let mixed = ModalityGap(images: images, texts: images, dimension: 2)
        XCTAssertEqual(mixed.centroidDistance, 0, accuracy: 1e-9)
    }

    func testReportCardIsReproducibleAndBounded() throws {
        let config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                                textWidth: 16, textHeads: 1, textLayers: 1)
        let model = CLIPModel(config: config, randomSeed: 5)
        let evaluator = try ToyEvaluator(model: model, seed: 1, samples: 2)
        let first = try evaluator.evaluate()
        XCTAssertEqual(try ToyEvaluator(model: model, seed: 1, samples: 2).evaluate(), first)
        // Each measurement draws from its own generator: alone, or after another, it gives the card's number.
        XCTAssertEqual(try evaluator.measureGap().centroidDistance, first.centroidDistance)
        XCTAssertEqual(try evaluator.measureStroop().neutralInk, first.neutralInkAccuracy)
        XCTAssertEqual(try evaluator.measureReading(), first.readingAccuracy)
        let generators = ToyEvaluator.Measurement.allCases.map { measurement in
            var generator = evaluator.generator(for: measurement)
            return generator.next()
        }
        XCTAssertEqual(Set(generators).count, ToyEvaluator.Measurement.allCases.count, "one stream per measurement")
        for value in [first.shapeAccuracy, first.colourAccuracy, first.readingAccuracy, first.attackFlipRate,
                      first.stroopWordAboveInk, first.stroopWordTop1, first.neutralInkAccuracy, first.modalitySeparability] {
            XCTAssertTrue((0...1).contains(value), "\(value) outside [0, 1]")
        }
        // A word that is the top colour of all also beats its ink.
        XCTAssertLessThanOrEqual(first.stroopWordTop1, first.stroopWordAboveInk)
    }
}

final class ToyGalleryTests: XCTestCase {
    func testGalleryWritesEachCategoryWithCaptions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-gallery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try JobRunner.run(ToyGallery(output: directory.path, count: 12, seed: 3, resolution: 64), sink: { _, _ in }).get()
        XCTAssertEqual(result.images, 12)
        for category in ToyGallery.Category.allCases {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(category.rawValue).path)
            XCTAssertEqual(files.count, 3, "\(category)")
            for file in files where category == .attacks {
                // An attack shows a shape and another shape's written name.
                let parts = file.dropFirst(6).dropLast(4).split(separator: "+")
                XCTAssertEqual(parts.count, 2, file)
                XCTAssertNotEqual(parts[0].split(separator: "-").last, parts[1].split(separator: "-").last, file)
            }
        }
        let captions = try JSONDecoder().decode([String: String].self,
                                                from: Data(contentsOf: directory.appendingPathComponent("captions.json")))
        XCTAssertEqual(captions.count, 12)
        let image = try Image.load(path: directory.appendingPathComponent(captions.keys.sorted()[0]).path)
        XCTAssertEqual(image.width, 64)
    }
}

final class ToyTowerMergeTests: XCTestCase {
    let config = CLIPConfig(embedDim: 16, imageResolution: 32, visionLayers: [1, 1, 1, 1], visionWidth: 4,
                            textWidth: 16, textHeads: 1, textLayers: 1)

    func testTheMergedModelHasOneRunsImageTowerAndTheOthersTextTower() throws {
        let directory = try temporaryDirectory()
        let imagePath = directory.appendingPathComponent("image.safetensors").path
        let textPath = directory.appendingPathComponent("text.safetensors").path
        let output = directory.appendingPathComponent("merged.safetensors").path
        let image = CLIPModel(config: config, randomSeed: 1), text = CLIPModel(config: config, randomSeed: 2)
        text.logitScale.withUnsafeMutableBufferPointer { $0[0] = 3 }  // the temperature goes with the text tower
        try image.save(path: imagePath, metadata: ["clipscope.spec": "{\"steps\":1}"])
        try text.save(path: textPath)
        try ToyTowerMerge.merge(imageTower: imagePath, textTower: textPath, output: output)

        let merged = try CLIPModel.load(path: output)
        let imageWeights = Dictionary(uniqueKeysWithValues: image.namedParameters.map { ($0.key, $0.tensor.values) })
        let textWeights = Dictionary(uniqueKeysWithValues: text.namedParameters.map { ($0.key, $0.tensor.values) })
        var visualKeys = 0
        for (key, tensor) in merged.namedParameters {
            let source = key.hasPrefix("visual.") ? imageWeights[key]! : textWeights[key]!
            if key.hasPrefix("visual.") { visualKeys += 1 }
            XCTAssertEqual(tensor.values, source.map { Float(Float16($0)) }, "\(key) is not from its tower's model")
        }
        XCTAssertGreaterThan(visualKeys, 10)
        // Where each tower came from, and no temporary file left behind.
        let archive = try WeightArchive.open(output)
        XCTAssertEqual(archive.metadata["clipscope.job"], ToyTowerMerge.kind)
        XCTAssertEqual(archive.metadata["clipscope.image_tower"], "{\"steps\":1}")
        XCTAssertEqual(archive.metadata["clipscope.text_tower"], "text.safetensors")
        XCTAssertTrue(archive.infos.allSatisfy { $0.dtype == .f16 })
        XCTAssertFalse(FileManager.default.fileExists(atPath: output + ".partial"))
        XCTAssertNil(archive.metadata["clipscope.image_tower_weight"])
        // Part of the way: every visual weight a mix of the two files', the text tower's untouched.
        let blended = directory.appendingPathComponent("blended.safetensors").path
        try ToyTowerMerge.merge(imageTower: imagePath, textTower: textPath, output: blended, imageTowerWeight: 0.25)
        for (key, tensor) in try CLIPModel.load(path: blended).namedParameters {
            let expected = key.hasPrefix("visual.")
                ? zip(imageWeights[key]!, textWeights[key]!).map { Float(Float16(0.25 * $0 + 0.75 * $1)) }
                : textWeights[key]!.map { Float(Float16($0)) }
            XCTAssertEqual(tensor.values, expected, key)
        }
        XCTAssertEqual(try WeightArchive.open(blended).metadata["clipscope.image_tower_weight"], "0.25")
        XCTAssertThrowsError(try ToyTowerMerge.merge(imageTower: imagePath, textTower: textPath, output: blended, imageTowerWeight: 1.5))
        // An output it cannot write is an error naming it.
        let unwritable = directory.appendingPathComponent("no-such-folder/merged.safetensors").path
        XCTAssertThrowsError(try ToyTowerMerge.merge(imageTower: imagePath, textTower: textPath, output: unwritable)) { error in
            XCTAssertTrue("\(error)".hasPrefix(unwritable), "\(error)")
        }
    }

    func testTowersOfTwoArchitecturesAreRefused() throws {
        let directory = try temporaryDirectory()
        let imagePath = directory.appendingPathComponent("image.safetensors").path
        let textPath = directory.appendingPathComponent("wide.safetensors").path
        var wider = config
        wider.textWidth = 32
        try CLIPModel(config: config, randomSeed: 1).save(path: imagePath)
        try CLIPModel(config: wider, randomSeed: 2).save(path: textPath)
        let output = directory.appendingPathComponent("merged.safetensors").path
        XCTAssertThrowsError(try ToyTowerMerge.merge(imageTower: imagePath, textTower: textPath, output: output)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(textPath): its architecture"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }
}

extension XCTestCase {
    /// A fresh folder, removed when the test ends.
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-toy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
