import CLIP
import Foundation
import Imaging
import Index
import Jobs
import Tensor
import Weights

/// Trains a toy-world CLIP from scratch on freshly generated scenes: a job with
/// progress (loss, in-batch accuracy), checkpoints that resume exactly after a
/// kill, and the final weights as float16 safetensors.
public struct ToyTrainJob: JobSpec, Equatable {
    public static let kind = "toy-train"
    public static let unit = "steps"

    /// The shipped toy model's architecture: a small ModifiedResNet CLIP over the
    /// real BPE vocabulary.
    public static let defaultConfig = CLIPConfig(embedDim: 128, imageResolution: 96, visionLayers: [1, 1, 1, 1],
                                                 visionWidth: 24, textWidth: 64, textHeads: 1, textLayers: 4)

    public var output: String
    public var steps: Int
    public var seed: UInt64
    public var batchSize: Int = 64
    public var config: CLIPConfig = ToyTrainJob.defaultConfig
    public var learningRate: Float = 5e-4
    public var warmupSteps: Int = 100
    /// Steps of the reading curriculum: word-only batches, one scene per distinct
    /// word, before the full mix.
    public var readingSteps: Int
    public var checkpointEvery: Int = 100
    /// Weight of an auxiliary which-concept loss on the image embedding (0: none):
    /// a drawn star and the written word "star" share one class, so the tower learns
    /// to read and to see shapes early, into shared features. Scenes showing both a
    /// shape and a word carry no label (which concept wins there is for the model to
    /// learn). The head is not part of the model.
    public var conceptHeadWeight: Float = 0
    /// Steps (from the start) during which the concept head trains; plain contrastive after.
    public var conceptHeadSteps: Int = 0
    /// Steps of a final web-caption phase after `steps`: captions in the style of web
    /// alt-text, which name a picture by what it says (see `SceneSampler.CaptionStyle.web`),
    /// with its own warm-up and cosine from `webLearningRate`. Nothing before the
    /// phase depends on its settings, so a finished run can be extended with one.
    public var webSteps: Int = 0
    public var webLearningRate: Float = 2e-4
    /// Pairs per web-phase batch of one non-colour word written in two inks, each
    /// captioned with its ink: reading alone cannot tell the pair apart, so the ink of
    /// writing has to be seen (what names a neutral word's ink in the Stroop test).
    public var webInkTwins: Int = 0
    /// Pairs per web-phase batch of two colour words written in one ink, each named by
    /// what it says: the shared ink cannot tell the pair apart, so a colour word's
    /// colour is read, not seen (what lets the word win in the Stroop test).
    public var webColourTwins: Int = 0
    /// Steps of a last stage after the web phase on the same web batches, in which only
    /// the image tower learns (the text tower and the temperature are locked), with its
    /// own warm-up and cosine from `lockedTextLearningRate`: a way to train the image
    /// tower on without the text tower's drift (which is what costs a colour word its
    /// Stroop win in longer web phases); README, "Toy world", says where it lands.
    public var lockedTextSteps: Int = 0
    public var lockedTextLearningRate: Float = 1e-3
    /// How many times faster than the weights the temperature learns: CLIP's runs are
    /// hundreds of times longer than ours, and a slow temperature lets the embeddings
    /// do its work (aligning closely and closing the gap between the modalities).
    public var temperatureLearningRateScale: Float = 1

    public init(output: String, steps: Int, seed: UInt64, readingSteps: Int) {
        self.output = output
        self.steps = steps
        self.seed = seed
        self.readingSteps = readingSteps
    }

    enum CodingKeys: String, CodingKey {
        case output, steps, seed, batchSize, config, learningRate, warmupSteps, readingSteps, checkpointEvery
        case conceptHeadWeight, conceptHeadSteps, webSteps, webLearningRate, webInkTwins, webColourTwins,
             lockedTextSteps, lockedTextLearningRate, temperatureLearningRateScale
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        output = try c.decode(String.self, forKey: .output)
        steps = try c.decode(Int.self, forKey: .steps)
        seed = try c.decode(UInt64.self, forKey: .seed)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        config = try c.decode(CLIPConfig.self, forKey: .config)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        readingSteps = try c.decode(Int.self, forKey: .readingSteps)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        // Settings added later default to what earlier checkpoints were made with.
        conceptHeadWeight = try c.decodeIfPresent(Float.self, forKey: .conceptHeadWeight) ?? 0
        conceptHeadSteps = try c.decodeIfPresent(Int.self, forKey: .conceptHeadSteps) ?? 0
        webSteps = try c.decodeIfPresent(Int.self, forKey: .webSteps) ?? 0
        webLearningRate = try c.decodeIfPresent(Float.self, forKey: .webLearningRate) ?? 2e-4
        webInkTwins = try c.decodeIfPresent(Int.self, forKey: .webInkTwins) ?? 0
        webColourTwins = try c.decodeIfPresent(Int.self, forKey: .webColourTwins) ?? 0
        lockedTextSteps = try c.decodeIfPresent(Int.self, forKey: .lockedTextSteps) ?? 0
        lockedTextLearningRate = try c.decodeIfPresent(Float.self, forKey: .lockedTextLearningRate) ?? 1e-3
        temperatureLearningRateScale = try c.decodeIfPresent(Float.self, forKey: .temperatureLearningRateScale) ?? 1
    }

    /// All steps: the main phase, the web-caption phase and the locked-text stage.
    public var totalSteps: Int { steps + webSteps + lockedTextSteps }

    public struct Result: Codable, Sendable {
        public var model: String
        public var steps: Int
        public var loss: Float
        public var seconds: Double
    }

    public static func summary(of result: Result) -> String {
        String(format: "trained %d steps (final loss %.3f) into %@", result.steps, result.loss, result.model)
    }

    var checkpointPath: String { (output as NSString).appendingPathComponent("checkpoint.safetensors") }
    var modelPath: String { (output as NSString).appendingPathComponent("model.safetensors") }

    public func run(_ context: JobContext) throws -> Result {
        guard steps > 0, webSteps >= 0, lockedTextSteps >= 0, batchSize >= 2, webInkTwins >= 0, webColourTwins >= 0,
              webInkTwins + webColourTwins <= batchSize / 2 else {
            throw JobFailure(message: "toy train: need steps > 0, web and locked-text steps >= 0, a batch of at least 2 and at most half a batch of pairs")
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        context.setTotal(totalSteps)
        let model = CLIPModel(config: config, randomSeed: seed)
        let trainer = try ContrastiveTrainer(model: model, learningRate: learningRate,
                                             auxiliaryClasses: conceptHeadWeight > 0 ? ToyWorld.words.count : 0, seed: seed)
        trainer.temperatureLearningRateScale = temperatureLearningRateScale
        var start = 0
        if FileManager.default.fileExists(atPath: checkpointPath) {
            start = try restore(model: model, trainer: trainer)
            context.log("resuming from step \(start) (\(checkpointPath))")
        }
        let sampler = SceneSampler(resolution: config.imageResolution)
        let webSampler = SceneSampler(resolution: config.imageResolution, captionStyle: .web)
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        var loss: Float = .nan
        for step in start..<totalSteps {
            try context.checkCancellation()
            trainer.learningRate = learningRate(at: step)
            let locked = step >= steps + webSteps
            if trainer.textTowerLocked != locked { trainer.textTowerLocked = locked }
            let scenes = batch(at: step, sampler: step < steps ? sampler : webSampler)
            let concepts = step < conceptHeadSteps && conceptHeadWeight > 0 ? scenes.map(Self.conceptLabel) : nil
            let result = try context.compute {
                try trainer.step(pixels: batcher.pixels(scenes), captions: scenes.map(\.caption),
                                 auxiliaryLabels: concepts, auxiliaryWeight: conceptHeadWeight)
            }
            loss = result.loss
            guard loss.isFinite else { throw JobFailure(message: "toy train: the loss diverged at step \(step)") }
            context.progress(step: step + 1, metrics: [
                JobMetric("loss", Double(loss)), JobMetric("image→text", Double(result.imageToTextAccuracy)),
                JobMetric("text→image", Double(result.textToImageAccuracy)), JobMetric("temperature", Double(result.temperature)),
            ], rateSteps: step + 1 - start)
            if (step + 1) % checkpointEvery == 0 || step + 1 == totalSteps {
                try saveCheckpoint(model: model, trainer: trainer, step: step + 1)
            }
        }
        try model.save(path: modelPath, halfPrecision: true, metadata: provenance)
        context.artefact(JobArtefact(name: "model", path: modelPath, step: totalSteps))
        return Result(model: modelPath, steps: totalSteps, loss: loss, seconds: context.elapsed)
    }

    /// The concept a scene shows, as an index into `ToyWorld.words`: its written word
    /// or its drawn shape; nil when it shows both (or neither).
    static func conceptLabel(_ scene: CaptionedScene) -> Int? {
        switch (scene.spec.object, scene.spec.word) {
        case let (nil, word?): return ToyWorld.words.firstIndex(of: word.text)
        case let (object?, nil): return ToyWorld.words.firstIndex(of: object.shape.rawValue)
        default: return nil
        }
    }

    /// Linear warm-up, then cosine decay to a tenth; the web phase and the locked-text
    /// stage have their own.
    func learningRate(at step: Int) -> Float {
        if step >= steps + webSteps {
            return Self.warmupCosine(peak: lockedTextLearningRate, warmup: Self.webWarmupSteps, total: lockedTextSteps,
                                     at: step - steps - webSteps)
        }
        if step >= steps {
            return Self.warmupCosine(peak: webLearningRate, warmup: Self.webWarmupSteps, total: webSteps, at: step - steps)
        }
        return Self.warmupCosine(peak: learningRate, warmup: warmupSteps, total: steps, at: step)
    }

    static let webWarmupSteps = 20

    static func warmupCosine(peak learningRate: Float, warmup warmupSteps: Int, total steps: Int, at step: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, steps - warmupSteps))
        return learningRate * Float(0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * progress)))
    }

    /// The scenes of one step, a pure function of the seed and the step (so a
    /// resumed run sees exactly the batches it would have seen).
    func batch(at step: Int, sampler: SceneSampler) -> [CaptionedScene] {
        var generator = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(step))
        if step < readingSteps {
            // Distinct words: a repeated caption would be a false negative.
            let words = ToyWorld.words.shuffled(using: &generator).prefix(batchSize)
            return words.map { sampler.sample(kind: .word, word: $0, &generator) }
        }
        var seen = Set<String>(), scenes: [CaptionedScene] = []
        if step >= steps {
            for _ in 0..<webInkTwins {
                let word = pick(Self.neutralWords, &generator)
                for ink in ToyWorld.Ink.allCases.shuffled(using: &generator).prefix(2) {
                    var scene = sampler.sample(kind: .word, word: word, wordInk: ink, &generator)
                    scene.caption = pick(SceneSampler.inkedCaptions(scene.spec.word!), &generator)
                    if seen.insert(scene.caption).inserted { scenes.append(scene) }
                }
            }
            for _ in 0..<webColourTwins {
                let inks = ToyWorld.Ink.allCases.shuffled(using: &generator)
                for word in inks.prefix(2) {
                    let scene = sampler.sample(kind: .word, word: word.rawValue, wordInk: inks[2], &generator)
                    if seen.insert(scene.caption).inserted { scenes.append(scene) }
                }
            }
        }
        while scenes.count < batchSize {
            let scene = sampler.sample(&generator)
            if seen.insert(scene.caption).inserted { scenes.append(scene) }
        }
        return scenes
    }

    /// Words that are not colour names.
    static let neutralWords = ToyWorld.words.filter { ToyWorld.Ink(rawValue: $0) == nil }

    var provenance: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let spec = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return ["clipscope.job": Self.kind, "clipscope.spec": spec]
    }

    /// Weights, optimizer moments and the step (the writer renames a finished file into
    /// place, so a kill never leaves a half-written checkpoint).
    func saveCheckpoint(model: CLIPModel, trainer: ContrastiveTrainer, step: Int) throws {
        let state = trainer.optimizerState
        var tensors = model.namedParameters.map { SafetensorsWriter.Tensor(key: $0.key, shape: $0.tensor.shape, floats: $0.tensor.values) }
        for (index, (first, second)) in zip(state.firstMoment, state.secondMoment).enumerated() {
            tensors.append(SafetensorsWriter.Tensor(key: "optimizer.m.\(index)", shape: [first.count], floats: first))
            tensors.append(SafetensorsWriter.Tensor(key: "optimizer.v.\(index)", shape: [second.count], floats: second))
        }
        var metadata = provenance
        metadata["step"] = String(step)
        metadata["optimizer.step"] = String(state.stepCount)
        try SafetensorsWriter.write(tensors, to: checkpointPath, metadata: metadata)
    }

    /// These settings with another job's web phase and locked-text stage (which nothing
    /// before them depends on).
    func withWebPhase(of other: ToyTrainJob) -> ToyTrainJob {
        var job = withLockedTextStage(of: other)
        job.webSteps = other.webSteps
        job.webLearningRate = other.webLearningRate
        job.webInkTwins = other.webInkTwins
        job.webColourTwins = other.webColourTwins
        return job
    }

    /// These settings with another job's locked-text stage (which nothing before it depends on).
    func withLockedTextStage(of other: ToyTrainJob) -> ToyTrainJob {
        var job = self
        job.lockedTextSteps = other.lockedTextSteps
        job.lockedTextLearningRate = other.lockedTextLearningRate
        return job
    }

    /// Loads a checkpoint into the model and optimizer; returns its step.
    func restore(model: CLIPModel, trainer: ContrastiveTrainer) throws -> Int {
        let archive = try WeightArchive.open(checkpointPath)
        guard let step = archive.metadata["step"].flatMap(Int.init),
              let optimizerStep = archive.metadata["optimizer.step"].flatMap(Int.init) else {
            throw JobFailure(message: "\(checkpointPath): no step in the checkpoint's metadata")
        }
        var saved = archive.metadata["clipscope.spec"].flatMap { try? JSONDecoder().decode(ToyTrainJob.self, from: Data($0.utf8)) }
        saved?.output = output  // a moved run folder continues
        guard let saved, saved == self || (step <= steps && saved.withWebPhase(of: self) == self)
                || (step <= steps + webSteps && saved.withLockedTextStage(of: self) == self) else {
            throw JobFailure(message: "\(checkpointPath): a checkpoint of different settings; remove it or use another output folder")
        }
        try model.assignWeights(from: archive)
        var state = trainer.optimizerState
        for index in state.firstMoment.indices {
            state.firstMoment[index] = try archive.floats("optimizer.m.\(index)")
            state.secondMoment[index] = try archive.floats("optimizer.v.\(index)")
        }
        state.stepCount = optimizerStep
        trainer.optimizerState = state
        return step
    }
}
