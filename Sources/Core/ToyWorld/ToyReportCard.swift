import CLIP
import Experiments
import Foundation
import Imaging
import Support
import Tensor
import Weights

/// The toy model's report card: does it show, at toy scale, the paper's phenomena?
/// Computed on freshly generated held-out scenes (their own seed).
public struct ToyReportCard: Codable, Sendable, Equatable {
    public var shapeAccuracy: Double
    public var colourAccuracy: Double
    public var readingAccuracy: Double
    public var attackFlipRate: Double
    /// Incongruent word/ink scenes where the written colour word scores above the ink
    /// colour (the criterion: "the written colour word beats the ink colour"). Not
    /// `StroopJob`'s `wordWins`, which is `stroopWordTop1`'s measure.
    public var stroopWordAboveInk: Double
    /// The stricter figure: the written colour word is the top colour of all.
    public var stroopWordTop1: Double
    public var neutralInkAccuracy: Double
    /// Per shape, the neuron that holds it most cleanly over the demo gallery (what a user
    /// browsing the demo sees).
    public var conceptNeurons: ConceptPurity
    public var modalitySeparability: Double
    public var centroidDistance: Double

    enum CodingKeys: String, CodingKey {
        case shapeAccuracy = "shape_accuracy", colourAccuracy = "colour_accuracy", readingAccuracy = "reading_accuracy"
        case attackFlipRate = "attack_flip_rate", stroopWordAboveInk = "stroop_word_above_ink"
        case stroopWordTop1 = "stroop_word_top1"
        case neutralInkAccuracy = "neutral_ink_accuracy", conceptNeurons = "concept_neurons"
        case modalitySeparability = "modality_separability", centroidDistance = "centroid_distance"
    }

    /// Shapes with a clean concept neuron.
    public var cleanConcepts: [ConceptPurity.Concept] { conceptNeurons.cleanConcepts }
}

/// Computes the report card of a model at the toy world's resolution.
public struct ToyEvaluator {
    public let model: CLIPModel
    public var seed: UInt64
    /// Scenes per test (per class for the per-class tests).
    public var samples: Int
    let sampler: SceneSampler
    let batcher: SceneBatcher

    public init(model: CLIPModel, seed: UInt64 = 2024, samples: Int = 8) throws {
        self.model = model
        self.seed = seed
        self.samples = samples
        sampler = SceneSampler(resolution: model.config.imageResolution)
        batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
    }

    static let shapes = ToyWorld.Shape.allCases
    static let inks = ToyWorld.Ink.allCases

    /// The card's measurements. Each draws its scenes from its own generator, so that
    /// changing one (more scenes, another test) leaves every other number as it was.
    public enum Measurement: String, CaseIterable, Sendable {
        case objects, reading, attack, stroop, gap
    }

    /// The generator of one measurement: the card's seed and the measurement's name.
    public func generator(for measurement: Measurement) -> SeededGenerator {
        SeededGenerator(seed: seed ^ FNV1a.hash(measurement.rawValue))
    }

    public func evaluate() throws -> ToyReportCard {
        let objects = try measureObjects()
        let attack = try measureAttack()
        let stroop = try measureStroop()
        let gap = try measureGap()
        return ToyReportCard(
            shapeAccuracy: objects.shape, colourAccuracy: objects.colour, readingAccuracy: try measureReading(),
            attackFlipRate: attack, stroopWordAboveInk: stroop.wordAboveInk, stroopWordTop1: stroop.wordTop1,
            neutralInkAccuracy: stroop.neutralInk, conceptNeurons: try measureConceptNeurons(),
            modalitySeparability: gap.nearestCentroidAccuracy, centroidDistance: gap.centroidDistance)
    }

    /// Objects alone: shape and colour accuracy.
    public func measureObjects() throws -> (shape: Double, colour: Double) {
        var generator = generator(for: .objects)
        let shapeClasses = try shapeClassifier()
        let colourClasses = try classifier(Self.inks.map(\.rawValue), prompts: Self.inks.map { c in Self.shapes.map { "a \(c.rawValue) \($0.rawValue)" } })
        var objects: [CaptionedScene] = []
        for shape in Self.shapes { for _ in 0..<samples { objects.append(sampler.sample(kind: .object, shape: shape, &generator)) } }
        let embeddings = embed(objects)
        return (accuracy(embeddings, shapeClasses, truth: objects.map { Self.shapes.firstIndex(of: $0.spec.object!.shape)! }),
                accuracy(embeddings, colourClasses, truth: objects.map { Self.inks.firstIndex(of: $0.spec.object!.ink)! }))
    }

    /// Reading: shape and colour names written alone.
    public func measureReading() throws -> Double {
        var generator = generator(for: .reading)
        let readable = Self.shapes.map(\.rawValue) + Self.inks.map(\.rawValue)
        let wordClasses = try classifier(readable, prompts: readable.map { ["the word '\($0)'"] })
        var words: [CaptionedScene] = []
        for word in readable { for _ in 0..<max(1, samples / 2) { words.append(sampler.sample(kind: .word, word: word, &generator)) } }
        return accuracy(embed(words), wordClasses, truth: words.map { readable.firstIndex(of: $0.spec.word!.text)! })
    }

    /// Typographic attack: another shape's name written on an object; the share of the
    /// objects classified right when clean that flip to the written shape.
    public func measureAttack() throws -> Double {
        var generator = generator(for: .attack)
        let shapeClasses = try shapeClassifier()
        var clean: [CaptionedScene] = [], attacked: [CaptionedScene] = [], targets: [Int] = []
        for (index, shape) in Self.shapes.enumerated() {
            for k in 0..<samples {
                let target = (index + 1 + k % (Self.shapes.count - 1)) % Self.shapes.count
                var scene = sampler.sample(kind: .both, shape: shape, word: Self.shapes[target].rawValue, &generator)
                attacked.append(scene)
                scene.spec.word = nil
                clean.append(scene)
                targets.append(target)
            }
        }
        let cleanPredictions = shapeClasses.predictions(embed(clean))
        let attackedPredictions = shapeClasses.predictions(embed(attacked))
        var eligible = 0, flips = 0
        for i in clean.indices where cleanPredictions[i] == Self.shapes.firstIndex(of: clean[i].spec.object!.shape)! {
            eligible += 1
            if attackedPredictions[i] == targets[i] { flips += 1 }
        }
        return eligible == 0 ? 0 : Double(flips) / Double(eligible)
    }

    /// Stroop: colour words in another ink (does the word score above the ink, is it the
    /// top colour of all), and a neutral word's ink.
    public func measureStroop() throws -> (wordAboveInk: Double, wordTop1: Double, neutralInk: Double) {
        var generator = generator(for: .stroop)
        let inkClasses = try ZeroShotClassifier(model: model, labels: Self.inks.map(\.rawValue),
                                                template: "my favorite word, written in the color {}")
        var incongruent: [CaptionedScene] = [], neutral: [CaptionedScene] = []
        for (index, ink) in Self.inks.enumerated() {
            for k in 0..<samples {
                let word = Self.inks[(index + 1 + k % (Self.inks.count - 1)) % Self.inks.count]
                incongruent.append(sampler.sample(kind: .word, word: word.rawValue, wordInk: ink, &generator))
                neutral.append(sampler.sample(kind: .word, word: pick(ToyWorld.conceptWords, &generator), wordInk: ink, &generator))
            }
        }
        var aboveInk = 0, top1 = 0
        for (scene, row) in zip(incongruent, inkClasses.cosines(embed(incongruent)).rows()) {
            let word = Self.inks.firstIndex { $0.rawValue == scene.spec.word!.text }!
            let ink = Self.inks.firstIndex(of: scene.spec.word!.ink)!
            if row[word] > row[ink] { aboveInk += 1 }
            if ZeroShotClassifier.topClass(row) == word { top1 += 1 }
        }
        let count = Double(max(1, incongruent.count))
        return (Double(aboveInk) / count, Double(top1) / count,
                accuracy(embed(neutral), inkClasses, truth: neutral.map { Self.inks.firstIndex(of: $0.spec.word!.ink)! }))
    }

    /// Concept neurons over the demo gallery, as a user browsing the demo sees them.
    public func measureConceptNeurons() throws -> ConceptPurity {
        let gallery = ToyGallery(output: "", count: ToyDemo.galleryCount, seed: ToyDemo.gallerySeed,
                                 resolution: model.config.imageResolution)
        return try ConceptPurity.measure(model: model, scenes: gallery.scenes().map(\.scene.spec))
    }

    /// Modality gap: scenes and their captions.
    public func measureGap() throws -> ModalityGap {
        var generator = generator(for: .gap)
        let pairs = (0..<(samples * 8)).map { _ in sampler.sample(&generator) }
        let images = embed(pairs).l2Normalized().values
        let texts = try model.embedTexts(pairs.map(\.caption)).l2Normalized().values
        return ModalityGap(images: images, texts: texts, dimension: model.config.embedDim)
    }

    /// Shapes as classes, each described in every ink ("a red star", "a blue star", ...).
    func shapeClassifier() throws -> ZeroShotClassifier {
        try classifier(Self.shapes.map(\.rawValue), prompts: Self.shapes.map { s in Self.inks.map { "a \($0.rawValue) \(s.rawValue)" } })
    }

    func classifier(_ labels: [String], prompts: [[String]]) throws -> ZeroShotClassifier {
        try ZeroShotClassifier(model: model, labels: labels, prompts: prompts)
    }

    func embed(_ scenes: [CaptionedScene]) -> Tensor {
        let batch = 32
        var parts: [Tensor] = []
        for start in stride(from: 0, to: scenes.count, by: batch) {
            parts.append(model.encodeImages(batcher.pixels(Array(scenes[start..<min(start + batch, scenes.count)]))))
        }
        return Tensor.concatenate(parts, axis: 0)
    }

    func accuracy(_ images: Tensor, _ classes: ZeroShotClassifier, truth: [Int]) -> Double {
        let predicted = classes.predictions(images)
        return Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(max(1, truth.count))
    }
}
