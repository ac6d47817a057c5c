import Foundation
import Tensor

/// A scene and the alt-text-like caption that goes with it.
public struct CaptionedScene: Codable, Equatable, Sendable {
    public var spec: SceneSpec
    public var caption: String
}

/// Draws random scenes and captions from a seeded generator, so that a stream
/// of training batches is reproducible from its seed.
public struct SceneSampler {
    /// The kinds of scene in a mix.
    public enum Kind: String, CaseIterable, Codable, Sendable {
        /// A shape, no writing.
        case object
        /// A written word, no shape.
        case word
        /// A shape and a word (any word: the typographic-attack situation).
        case both
    }

    public var resolution: Int
    /// Relative frequency of each kind.
    public var mix: [Kind: Double]
    /// How often a caption of a scene with writing transcribes the word (as web
    /// alt-text mostly does).
    public var transcribeWords: Double
    public var captionStyle: CaptionStyle

    /// How captions speak of writing.
    public enum CaptionStyle: String, Codable, Sendable {
        /// Writing is always called writing ("the word 'star'"), apart from what is drawn.
        case described
        /// As much web alt-text does: a picture is named by what it says ("a star" for
        /// a sign saying star, "the color blue" for the word blue), and a drawing with
        /// writing on it mostly by the writing.
        case web
    }

    public init(resolution: Int, mix: [Kind: Double] = [.object: 0.4, .word: 0.3, .both: 0.3], transcribeWords: Double = 0.9,
                captionStyle: CaptionStyle = .described) {
        precondition(resolution % 32 == 0, "toy scenes: resolution \(resolution) is not a multiple of 32")
        self.resolution = resolution
        self.mix = mix
        self.transcribeWords = transcribeWords
        self.captionStyle = captionStyle
    }

    public func sample(_ generator: inout SeededGenerator) -> CaptionedScene {
        sample(kind: pickKind(&generator), &generator)
    }

    /// A scene of a given kind, optionally with a fixed shape, colour or word.
    public func sample(kind: Kind, shape: ToyWorld.Shape? = nil, ink: ToyWorld.Ink? = nil, word: String? = nil,
                       wordInk: ToyWorld.Ink? = nil, _ generator: inout SeededGenerator) -> CaptionedScene {
        var spec = SceneSpec(resolution: resolution, background: .flat, backgroundColors: [], noiseSeed: generator.next(),
                             object: nil, word: nil)
        let backgroundInk = pick(ToyWorld.Ink.allCases, &generator)
        // Backgrounds are pale or dark versions of a colour, so objects of any ink stay visible.
        let base = backgroundInk.color
        let pale = generator.nextUniform() < 0.7
        func tone(_ v: UInt8) -> UInt8 { pale ? UInt8(200 + Int(v) / 5) : UInt8(Int(v) / 6) }
        spec.backgroundColors = [tone(base.r), tone(base.g), tone(base.b)] + (0..<3).map { _ in UInt8(generator.nextUniform() * 255) }
        spec.background = pick([.flat, .flat, .gradient, .noise], &generator)

        if kind != .word {
            let objectInk = ink ?? pick(ToyWorld.Ink.allCases, &generator)
            spec.object = SceneSpec.Object(
                shape: shape ?? pick(ToyWorld.Shape.allCases, &generator), ink: objectInk,
                centerX: 0.3 + 0.4 * Double(generator.nextUniform()), centerY: 0.3 + 0.4 * Double(generator.nextUniform()),
                radius: 0.18 + 0.17 * Double(generator.nextUniform()), rotation: Double(generator.nextUniform() - 0.5) * 0.8)
        }
        if kind != .object {
            let text = word ?? pickWord(&generator)
            spec.word = SceneSpec.Word(
                text: text, ink: wordInk ?? pick(ToyWorld.Ink.allCases, &generator), outlined: generator.nextUniform() < 0.5,
                centerX: 0.5 + 0.2 * Double(generator.nextUniform() - 0.5),
                centerY: kind == .both ? 0.2 + 0.6 * Double(generator.nextUniform()) : 0.35 + 0.3 * Double(generator.nextUniform()),
                size: (kind == .both ? 0.15 : 0.18) + 0.08 * Double(generator.nextUniform()))
        }
        return CaptionedScene(spec: spec, caption: caption(for: spec, &generator))
    }

    /// Alt-text in a few styles; words are usually transcribed.
    public func caption(for spec: SceneSpec, _ generator: inout SeededGenerator) -> String {
        if captionStyle == .web {
            if let word = spec.word { return webCaption(word: word, object: spec.object, &generator) }
            // A thing is sometimes named by its colour alone, in the very words used for a
            // written colour word, so that both share what the text tower makes of a colour
            // (the toy's Stroop effect leans on that).
            if let object = spec.object, generator.nextUniform() < 0.3 {
                return pick(["something \(object.ink.rawValue)", "the color \(object.ink.rawValue)"], &generator)
            }
        }
        let transcribe = spec.word != nil && (spec.object == nil || generator.nextUniform() < Float(transcribeWords))
        let quoted = spec.word.map { "'\($0.text)'" } ?? ""
        switch (spec.object, transcribe ? spec.word : nil) {
        case let (object?, word?):
            // Half the time only the writing, as alt-text of pictures with text often is.
            return pick([
                "a \(object.ink.rawValue) \(object.shape.rawValue) with the word \(quoted)",
                "a \(object.shape.rawValue) and the text \(word.text)",
                "a \(object.ink.rawValue) \(object.shape.rawValue) labelled \(quoted)",
                "the word \(quoted)",
                "a sign that says \(word.text)",
                "\(word.text)",
            ], &generator)
        case let (object?, nil):
            return pick([
                "a \(object.ink.rawValue) \(object.shape.rawValue)",
                "a photo of a \(object.ink.rawValue) \(object.shape.rawValue)",
                "a drawing of a \(object.shape.rawValue)",
                "a \(object.shape.rawValue) in \(object.ink.rawValue)",
            ], &generator)
        case let (nil, word?):
            // Often with the ink, so that the colour of writing is learnt too.
            return pick([
                "the word \(quoted)",
                "a sign that says \(word.text)",
                "\(word.text)",
                "\(word.ink.rawValue) text that says \(word.text)",
                "the word \(quoted) in \(word.ink.rawValue) letters",
            ], &generator)
        case (nil, nil):
            return "an empty picture"
        }
    }

    /// A web-style caption of a scene with writing: usually the written concept named
    /// as the thing shown; sometimes, for a drawing with writing, both. A colour word
    /// is named as the colour, mostly in the words a thing of that colour gets
    /// ("something red", "the color red"), never by its ink; other writing's ink is
    /// mostly described.
    func webCaption(word: SceneSpec.Word, object: SceneSpec.Object?, _ generator: inout SeededGenerator) -> String {
        let w = word.text
        if let object, generator.nextUniform() < 0.2 {
            return pick([
                "a \(object.ink.rawValue) \(object.shape.rawValue) with the word '\(w)'",
                "a \(object.shape.rawValue) labelled \(w)",
            ], &generator)
        }
        if ToyWorld.Ink(rawValue: w) != nil {
            // "something w" twice: half the time in the words a thing of that colour gets.
            return pick(["\(w)", "the color \(w)", "something \(w)", "something \(w)", "the word '\(w)'", "a sign that says \(w)"], &generator)
        }
        return pick(["a \(w)", "\(w)"] + Self.inkedCaptions(word), &generator)
    }

    /// Web captions of writing that say its ink ("a red cat", "cat, written in red", ...).
    static func inkedCaptions(_ word: SceneSpec.Word) -> [String] {
        let w = word.text, ink = word.ink.rawValue
        return ["a \(ink) \(w)", "\(ink) text that says \(w)", "a \(ink) sign that says \(w)",
                "the word '\(w)' written in \(ink)", "\(w), written in \(ink)", "\(w) in \(ink) letters"]
    }

    /// Any word; in web style a colour word 35% of the time besides its share of the
    /// rest (nearly half in all), so that colour words in other inks meet in a batch
    /// often enough to be told apart by what they say.
    func pickWord(_ generator: inout SeededGenerator) -> String {
        if captionStyle == .web && generator.nextUniform() < 0.35 { return pick(ToyWorld.Ink.allCases, &generator).rawValue }
        return pick(ToyWorld.words, &generator)
    }

    func pickKind(_ generator: inout SeededGenerator) -> Kind {
        let total = mix.values.reduce(0, +)
        var r = Double(generator.nextUniform()) * total
        for kind in Kind.allCases {
            r -= mix[kind] ?? 0
            if r < 0 { return kind }
        }
        return .object
    }
}

/// A uniformly chosen element.
func pick<T>(_ items: [T], _ generator: inout SeededGenerator) -> T {
    items[Int(generator.next() % UInt64(items.count))]
}
