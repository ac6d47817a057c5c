import CLIP
import Foundation
import Imaging
import Index
import Jobs
import Support
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

    /// One stretch of training with what it trains on and its own learning-rate curve.
    public struct Phase: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// Word-only batches, one scene per distinct word: learning to read first.
            case curriculum
            /// The full mix of objects, words and both, captions describing what is drawn.
            case mix
            /// Captions as web alt-text writes them, naming a picture by what it says
            /// (`SceneSampler.CaptionStyle.web`): what makes writing override a drawing.
            case web
            /// The web phase's batches with only the image tower learning (the text tower
            /// and the temperature locked): the image tower trains on without the text
            /// tower's drift.
            case lockedText = "locked-text"
            /// The web phase's batches with the text tower locked and the neuron head
            /// (`NeuronHead`) reading the concepts from the neurons: concept neurons.
            case concepts
        }

        public var kind: Kind
        public var steps: Int
        /// Peak of this phase's linear warm-up and cosine decay to a tenth; nil continues
        /// the previous phase's curve (one schedule over both, as the curriculum and the mix share).
        public var learningRate: Float?
        public var warmupSteps: Int
        /// Pairs per batch of one non-colour word written in two inks, each captioned with its
        /// ink (web and locked-text phases): reading cannot tell them apart, so the ink of
        /// writing has to be seen (what names a neutral word's ink in the Stroop test).
        public var inkTwins: Int
        /// Pairs per batch of two colour words written in one ink, each named by what it says:
        /// the shared ink cannot tell them apart, so a colour word's colour is read.
        public var colourTwins: Int

        public init(_ kind: Kind, steps: Int, learningRate: Float?, warmupSteps: Int = 0, inkTwins: Int = 0, colourTwins: Int = 0) {
            self.kind = kind
            self.steps = steps
            self.learningRate = learningRate
            self.warmupSteps = warmupSteps
            self.inkTwins = inkTwins
            self.colourTwins = colourTwins
        }

        /// Captions in the style of web alt-text.
        var webCaptions: Bool { kind == .web || kind == .lockedText || kind == .concepts }
        /// Whether only the image tower learns.
        var locksText: Bool { kind == .lockedText || kind == .concepts }
    }

    public var output: String
    public var seed: UInt64
    public var batchSize: Int = 64
    public var config: CLIPConfig = ToyTrainJob.defaultConfig
    /// The phases in order; a finished run continues into phases appended later.
    public var phases: [Phase]
    public var checkpointEvery: Int = 100
    /// Weight of an auxiliary which-concept loss on the image embedding (0: none):
    /// a drawn star and the written word "star" share one class, so the tower learns
    /// to read and to see shapes early, into shared features. Scenes showing both a
    /// shape and a word carry no label (which concept wins there is for the model to
    /// learn). The head is not part of the model.
    public var conceptHeadWeight: Float = 0
    /// Steps (from the start) during which the concept head trains; plain contrastive after.
    public var conceptHeadSteps: Int = 0
    /// How many times faster than the weights the temperature learns: CLIP's runs are
    /// hundreds of times longer than ours, and a slow temperature lets the embeddings
    /// do its work (aligning closely and closing the gap between the modalities).
    public var temperatureLearningRateScale: Float = 1
    /// A model whose weights start the run (a path or `toy`); nil: random weights from the seed.
    public var start: String?
    /// The read-out of concepts from the neurons in `concepts` phases; nil: none.
    public var neuronHead: NeuronHead?

    /// A multi-label classifier of the shapes a scene shows (drawn or written: a drawn
    /// star and the word "star" share a label) on the neurons, with non-negative weights
    /// and an L1 penalty on them, so that each shape is read from a few neurons that stay
    /// quiet for everything else. The network picks the neurons; the head is not saved
    /// with the model.
    public struct NeuronHead: Codable, Sendable, Equatable {
        public var weight: Float
        public var l1: Float
        /// Weight of the mean log effective number of neurons per concept (see `ContrastiveTrainer.step`).
        public var concentration: Float
        public var learningRateScale: Float
        /// Weight of keeping the image embeddings where the starting model puts them (cosine
        /// distance; 0: none). Needs `start`.
        public var distillation: Float

        public init(weight: Float, l1: Float, concentration: Float, distillation: Float = 0, learningRateScale: Float = 10) {
            self.weight = weight
            self.l1 = l1
            self.concentration = concentration
            self.distillation = distillation
            self.learningRateScale = learningRateScale
        }
    }

    public init(output: String, seed: UInt64, phases: [Phase]) {
        self.output = output
        self.seed = seed
        self.phases = phases
    }

    /// The recipe `clipscope toy train` runs: a reading curriculum of `readingSteps`, the mix
    /// up to `steps` on one warm-up and cosine from `learningRate`, then a web phase and a
    /// locked-text stage, each with its own curve (`webWarmupSteps` of warm-up).
    public static func recipe(output: String, seed: UInt64, steps: Int, readingSteps: Int, learningRate: Float = 5e-4,
                              warmupSteps: Int = 100, webSteps: Int = 0, webLearningRate: Float = 2e-4,
                              inkTwins: Int = 0, colourTwins: Int = 0,
                              lockedTextSteps: Int = 0, lockedTextLearningRate: Float = 1e-3) -> ToyTrainJob {
        let reading = min(max(0, readingSteps), steps)
        return ToyTrainJob(output: output, seed: seed, phases: [
            Phase(.curriculum, steps: reading, learningRate: learningRate, warmupSteps: warmupSteps),
            Phase(.mix, steps: steps - reading, learningRate: reading == 0 ? learningRate : nil,
                  warmupSteps: reading == 0 ? warmupSteps : 0),
            Phase(.web, steps: webSteps, learningRate: webLearningRate, warmupSteps: webWarmupSteps,
                  inkTwins: inkTwins, colourTwins: colourTwins),
            Phase(.lockedText, steps: lockedTextSteps, learningRate: lockedTextLearningRate, warmupSteps: webWarmupSteps,
                  inkTwins: inkTwins, colourTwins: colourTwins),
        ])
    }

    static let webWarmupSteps = 20

    /// All steps of all phases.
    public var totalSteps: Int { phases.reduce(0) { $0 + $1.steps } }

    /// Steps of the phases of one kind.
    public func steps(of kind: Phase.Kind) -> Int { phases.filter { $0.kind == kind }.reduce(0) { $0 + $1.steps } }

    /// The phase a step falls in, with the phase's first step.
    func phase(at step: Int) -> (phase: Phase, start: Int) {
        var start = 0
        for phase in phases {
            if step < start + phase.steps { return (phase, start) }
            start += phase.steps
        }
        return (phases.last!, start - phases.last!.steps)
    }

    /// Phases grouped by learning-rate curve (a phase without its own rate joins the group before).
    var scheduleGroups: [[Phase]] {
        var groups: [[Phase]] = []
        for phase in phases {
            if phase.learningRate == nil, !groups.isEmpty { groups[groups.count - 1].append(phase) } else { groups.append([phase]) }
        }
        return groups
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var steps: Int
        public var loss: Float
        public var seconds: Double
    }

    public static func summary(of result: Result) -> String {
        String(format: "trained %d steps (final loss %.3f) into %@", result.steps, result.loss, result.model)
    }

    /// The output folder is the run folder: its `run.json` lets the TUI list and resume the run.
    public var runFolder: String? { output }

    var checkpointPath: String { (output as NSString).appendingPathComponent("checkpoint.safetensors") }
    var modelPath: String { (output as NSString).appendingPathComponent("model.safetensors") }

    public func run(_ context: JobContext) throws -> Result {
        if let invalid = invalidSettings { throw invalid }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        context.setTotal(totalSteps)
        let model = try start.map { try CLIPModel.load(model: $0) } ?? CLIPModel(config: config, randomSeed: seed)
        guard model.config == config else {
            throw InvalidParameter("start", "\(start ?? "") is not of the toy architecture (\(model.config.neuronCount) neurons)")
        }
        let trainer = try ContrastiveTrainer(model: model, learningRate: phases[0].learningRate ?? 0,
                                             auxiliaryClasses: conceptHeadWeight > 0 ? ToyWorld.words.count : 0,
                                             neuronHeadConcepts: neuronHead == nil ? 0 : ToyWorld.Shape.allCases.count,
                                             neuronHeadLearningRateScale: neuronHead?.learningRateScale ?? 1, seed: seed)
        trainer.temperatureLearningRateScale = temperatureLearningRateScale
        // The starting model, frozen, when the embeddings are to stay where it puts them.
        let teacher = try (neuronHead?.distillation ?? 0) > 0 ? self.start.map { try CLIPModel.load(model: $0) } : nil
        var start = 0
        if let archive = Checkpoint.open(checkpointPath, damaged: { context.log($0, level: .warning) }) {
            start = try restore(archive, model: model, trainer: trainer)
            context.log("resuming from step \(start) (\(archive.path))")
        }
        let sampler = SceneSampler(resolution: config.imageResolution)
        let webSampler = SceneSampler(resolution: config.imageResolution, captionStyle: .web)
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        var loss: Float = .nan
        for step in start..<totalSteps {
            try context.checkCancellation()
            let phase = phase(at: step).phase
            trainer.learningRate = learningRate(at: step)
            if trainer.textTowerLocked != phase.locksText { trainer.textTowerLocked = phase.locksText }
            let scenes = batch(at: step, sampler: phase.webCaptions ? webSampler : sampler)
            let concepts = step < conceptHeadSteps && conceptHeadWeight > 0 ? scenes.map(Self.conceptLabel) : nil
            let shapes = phase.kind == .concepts && neuronHead != nil ? scenes.map(Self.shapesShown) : nil
            let result = try context.compute {
                try trainer.step(pixels: batcher.pixels(scenes), captions: scenes.map(\.caption),
                                 auxiliaryLabels: concepts, auxiliaryWeight: conceptHeadWeight,
                                 neuronConcepts: shapes, neuronHeadWeight: neuronHead?.weight ?? 0,
                                 neuronHeadL1: neuronHead?.l1 ?? 0, neuronHeadConcentration: neuronHead?.concentration ?? 0,
                                 teacher: phase.kind == .concepts ? teacher : nil, distillationWeight: neuronHead?.distillation ?? 0)
            }
            loss = result.loss
            guard loss.isFinite else { throw JobFailure.diverged("toy train", step: step, loss: Double(loss), checkpoint: checkpointPath) }
            context.progress(step: step + 1, metrics: [
                JobMetric("loss", Double(loss)), JobMetric("image→text", Double(result.imageToTextAccuracy)),
                JobMetric("text→image", Double(result.textToImageAccuracy)), JobMetric("temperature", Double(result.temperature)),
            ], rateSteps: step + 1 - start)
            if (step + 1) % checkpointEvery == 0 || step + 1 == totalSteps {
                try saveCheckpoint(model: model, trainer: trainer, step: step + 1)
            }
        }
        // A run from another model says how that one was made too.
        var metadata = provenance
        // The model was loaded from the start file, so its source is that file: no second load.
        if self.start != nil, let archive = try? model.source?.openArchive() {
            for (key, value) in archive.metadata where key.hasPrefix("clipscope.") { metadata["clipscope.start." + key.dropFirst(10)] = value }
        }
        try model.save(path: modelPath, halfPrecision: true, metadata: metadata)
        context.artefact(JobArtefact(name: "model", path: modelPath, step: totalSteps))
        return Result(model: modelPath, steps: totalSteps, loss: loss, seconds: context.elapsed)
    }

    /// The first setting the job cannot run with, if any.
    var invalidSettings: InvalidParameter? {
        if totalSteps < 1 || phases.contains(where: { $0.steps < 0 }) {
            return InvalidParameter("phases", "must have at least one step in all and none negative")
        }
        if phases.first?.learningRate == nil { return InvalidParameter("phases", "must start with a phase of its own learning rate") }
        if phases.contains(where: { !($0.learningRate.map { $0 > 0 && $0.isFinite } ?? true) }) {
            return InvalidParameter("phases", "must have positive finite learning rates")
        }
        if batchSize < 2 { return InvalidParameter("batchSize", "must be at least 2, got \(batchSize)") }
        if let phase = phases.first(where: { $0.inkTwins < 0 || $0.colourTwins < 0 || $0.inkTwins + $0.colourTwins > batchSize / 2 }) {
            return InvalidParameter("phases", "may hold at most \(batchSize / 2) twin pairs per batch of \(batchSize) (half the batch); the \(phase.kind.rawValue) phase has \(phase.inkTwins + phase.colourTwins)")
        }
        if checkpointEvery < 1 { return InvalidParameter("checkpointEvery", "must be at least 1, got \(checkpointEvery)") }
        return nil
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

    /// The shapes a scene shows, drawn or written, as indices into `ToyWorld.Shape.allCases`.
    static func shapesShown(_ scene: CaptionedScene) -> [Int] {
        let shapes = ToyWorld.Shape.allCases
        let drawn = scene.spec.object.flatMap { shapes.firstIndex(of: $0.shape) }
        let written = scene.spec.word.flatMap { ToyWorld.Shape(rawValue: $0.text) }.flatMap { shapes.firstIndex(of: $0) }
        return Array(Set([drawn, written].compactMap { $0 })).sorted()
    }

    /// The learning rate at a step: linear warm-up, then cosine decay to a tenth, over the
    /// steps of the step's schedule group (a phase and those continuing its curve).
    func learningRate(at step: Int) -> Float {
        let groups = scheduleGroups
        var start = 0
        for (index, group) in groups.enumerated() {
            let steps = group.reduce(0) { $0 + $1.steps }
            if step < start + steps || index == groups.count - 1 {
                return Self.warmupCosine(peak: group[0].learningRate ?? 0, warmup: group[0].warmupSteps, total: steps,
                                         at: step - start)
            }
            start += steps
        }
        return 0
    }

    static func warmupCosine(peak learningRate: Float, warmup warmupSteps: Int, total steps: Int, at step: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, steps - warmupSteps))
        return learningRate * Float(0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * progress)))
    }

    /// The scenes of one step, a pure function of the seed and the step (so a
    /// resumed run sees exactly the batches it would have seen).
    func batch(at step: Int, sampler: SceneSampler) -> [CaptionedScene] {
        var generator = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(step))
        let phase = phase(at: step).phase
        if phase.kind == .curriculum {
            // Distinct words: a repeated caption would be a false negative.
            let words = ToyWorld.words.shuffled(using: &generator).prefix(batchSize)
            return words.map { sampler.sample(kind: .word, word: $0, &generator) }
        }
        var seen = Set<String>(), scenes: [CaptionedScene] = []
        do {
            for _ in 0..<phase.inkTwins {
                let word = pick(Self.neutralWords, &generator)
                for ink in ToyWorld.Ink.allCases.shuffled(using: &generator).prefix(2) {
                    var scene = sampler.sample(kind: .word, word: word, wordInk: ink, &generator)
                    scene.caption = pick(SceneSampler.inkedCaptions(scene.spec.word!), &generator)
                    if seen.insert(scene.caption).inserted { scenes.append(scene) }
                }
            }
            for _ in 0..<phase.colourTwins {
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
        var tensors = (model.namedParameters + trainer.headTensors).map {
            SafetensorsWriter.Tensor(key: $0.key, shape: $0.tensor.shape, floats: $0.tensor.values)
        }
        for (index, (first, second)) in zip(state.firstMoment, state.secondMoment).enumerated() {
            tensors.append(SafetensorsWriter.Tensor(key: "optimizer.m.\(index)", shape: [first.count], floats: first))
            tensors.append(SafetensorsWriter.Tensor(key: "optimizer.v.\(index)", shape: [second.count], floats: second))
        }
        var metadata = provenance
        metadata["step"] = String(step)
        metadata["optimizer.step"] = String(state.stepCount)
        guard Checkpoint.isFinite(tensors) else { throw JobFailure.diverged("toy train", step: step, checkpoint: checkpointPath) }
        try Checkpoint.write(tensors, to: checkpointPath, metadata: metadata)
    }

    /// What a checkpoint at `step` ties a run to: every setting but the phases whose
    /// learning-rate curve starts at or after `step`, which nothing before depends on (so a
    /// finished run continues into phases appended later), and the output folder (a moved
    /// run folder continues).
    func settingsFixed(at step: Int) -> ToyTrainJob {
        var job = self
        job.output = ""
        job.phases = []
        var start = 0
        for group in scheduleGroups {
            if start < step { job.phases += group }
            start += group.reduce(0) { $0 + $1.steps }
        }
        return job
    }

    /// Whether this job continues a run whose checkpoint at `step` was made with `saved`.
    public func continues(_ saved: ToyTrainJob, at step: Int) -> Bool {
        saved.settingsFixed(at: step) == settingsFixed(at: step)
    }

    /// A run's settings from a checkpoint's or a model's metadata (`clipscope.spec`), in
    /// the phase format or in the flat one of clipscope 0.6 and earlier.
    public static func decode(settings json: String) throws -> ToyTrainJob {
        let data = Data(json.utf8)
        if let job = try? JSONDecoder().decode(ToyTrainJob.self, from: data) { return job }
        return try JSONDecoder().decode(FlatSettings.self, from: data).job
    }

    /// The flat settings `toy train` recorded before phases; settings added over time are
    /// optional (absent in older files: what those runs were made with).
    struct FlatSettings: Decodable {
        var output: String
        var steps: Int
        var seed: UInt64
        var batchSize: Int
        var config: CLIPConfig
        var learningRate: Float
        var warmupSteps: Int
        var readingSteps: Int
        var checkpointEvery: Int
        var conceptHeadWeight: Float?
        var conceptHeadSteps: Int?
        var webSteps: Int?
        var webLearningRate: Float?
        var webInkTwins: Int?
        var webColourTwins: Int?
        var lockedTextSteps: Int?
        var lockedTextLearningRate: Float?
        var temperatureLearningRateScale: Float?

        var job: ToyTrainJob {
            var job = ToyTrainJob.recipe(
                output: output, seed: seed, steps: steps, readingSteps: readingSteps, learningRate: learningRate,
                warmupSteps: warmupSteps, webSteps: webSteps ?? 0, webLearningRate: webLearningRate ?? 2e-4,
                inkTwins: webInkTwins ?? 0, colourTwins: webColourTwins ?? 0,
                lockedTextSteps: lockedTextSteps ?? 0, lockedTextLearningRate: lockedTextLearningRate ?? 1e-3)
            job.batchSize = batchSize
            job.config = config
            job.checkpointEvery = checkpointEvery
            job.conceptHeadWeight = conceptHeadWeight ?? 0
            job.conceptHeadSteps = conceptHeadSteps ?? 0
            job.temperatureLearningRateScale = temperatureLearningRateScale ?? 1
            return job
        }
    }

    /// Loads a checkpoint into the model and optimizer; returns its step.
    func restore(_ archive: WeightArchive, model: CLIPModel, trainer: ContrastiveTrainer) throws -> Int {
        let checkpointPath = archive.path
        guard let step = archive.metadata["step"].flatMap(Int.init),
              let optimizerStep = archive.metadata["optimizer.step"].flatMap(Int.init) else {
            throw JobFailure(message: "\(checkpointPath): no step in the checkpoint's metadata")
        }
        let saved = archive.metadata["clipscope.spec"].flatMap { try? Self.decode(settings: $0) }
        guard let saved, continues(saved, at: step) else {
            throw JobFailure(message: "\(checkpointPath): a checkpoint of different settings; remove it or use another output folder")
        }
        try model.assignWeights(from: archive)
        // Checkpoints from before the heads were kept lack them; their runs resume with fresh heads.
        for (key, tensor) in trainer.headTensors where archive.infos.contains(where: { $0.key == key }) {
            try tensor.withUnsafeMutableBufferPointer { try archive.read(key, into: $0) }
        }
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
