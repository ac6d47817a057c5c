import CLIP
import Foundation
import Imaging
import Jobs
import Support

/// A colour in the Stroop test: the label CLIP is asked about and the ink it is drawn in.
public struct StroopColour: Codable, Sendable, Equatable {
    public var name: String
    public var rgb: [UInt8]

    public init(_ name: String, _ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.name = name
        rgb = [r, g, b]
    }

    public var color: Color { Color(rgb[0], rgb[1], rgb[2]) }
}

/// The Stroop test's canvas, colours and prompt. `paper` is Goh et al. 2021's exactly.
public struct StroopSettings: Codable, Sendable, Equatable {
    /// Labels, in the order CLIP scores them; each colour word is drawn in each of these inks.
    public var colours: [StroopColour]
    /// Words that name no colour, drawn in each ink too (the control).
    public var neutralWords: [String]
    public var width: Int
    public var height: Int
    /// Em size of the centred word in pixels.
    public var fontSize: Double
    public var template: String

    public init(colours: [StroopColour], neutralWords: [String], width: Int, height: Int, fontSize: Double, template: String) {
        self.colours = colours
        self.neutralWords = neutralWords
        self.width = width
        self.height = height
        self.fontSize = fontSize
        self.template = template
    }

    /// 400x200 white canvas, the spec's eight inks in its label order, the paper's prompt.
    public static let paper = StroopSettings(
        colours: [
            StroopColour("black", 0, 0, 0), StroopColour("red", 255, 0, 0), StroopColour("green", 0, 255, 0),
            StroopColour("blue", 0, 0, 255), StroopColour("orange", 255, 165, 0), StroopColour("yellow", 255, 255, 0),
            StroopColour("purple", 128, 0, 128), StroopColour("pink", 255, 192, 203),
        ],
        neutralWords: ["table"], width: 400, height: 200, fontSize: 72,
        template: "My favorite word, written in the color {}")

    public func validate() throws {
        if colours.count < 2 { throw InvalidParameter("colours", "need at least 2, got \(colours.count)") }
        if width < 8 || height < 8 { throw InvalidParameter("size", "\(width)x\(height) is too small") }
        if !(fontSize > 0) { throw InvalidParameter("font-size", "must be positive") }
        if neutralWords.isEmpty { throw InvalidParameter("neutral", "needs at least one word (the neutral ink accuracy is over them)") }
        if !template.contains("{}") { throw InvalidParameter("template", "'\(template)' has no {} for the colour") }
        if Set(colours.map(\.name)).count != colours.count { throw InvalidParameter("colours", "names repeat") }
        if colours.contains(where: { $0.rgb.count != 3 }) { throw InvalidParameter("colours", "each needs 3 RGB values") }
    }

    /// Every image: each colour word in each ink, then each neutral word in each ink.
    public var cards: [StroopCard] {
        colours.flatMap { word in colours.map { StroopCard(word: word.name, ink: $0.name, neutral: false) } }
            + neutralWords.flatMap { word in colours.map { StroopCard(word: word, ink: $0.name, neutral: true) } }
    }

    /// The card drawn: the word centred on white in its ink.
    public func render(_ card: StroopCard, font: Font) -> Image {
        var image = Image(width: width, height: height, color: .white)
        let ink = colours.first { $0.name == card.ink }!.color
        image.draw(text: card.word, centerX: width / 2, centerY: height / 2, font: font, style: TextStyle(size: fontSize, color: ink))
        return image
    }
}

/// One image of the test: a word written in an ink.
public struct StroopCard: Codable, Sendable, Equatable {
    public var word: String
    public var ink: String
    /// The word names no colour.
    public var neutral: Bool
    /// The word names a colour other than its ink.
    public var incongruent: Bool { !neutral && word != ink }
}

/// The Stroop test (Goh et al. 2021): colour words written in other colours, and whether CLIP
/// names the ink or the word. Writes `stroop.json`, `stroop.png` (each image beside its top-3
/// probabilities) and the images into a run folder.
public struct StroopJob: JobSpec, Equatable {
    public static let kind = "stroop"
    public static let unit = "images"

    public var model: String
    public var settings: StroopSettings
    public var top: Int
    public var font: String?
    public var output: String?

    public init(model: String, settings: StroopSettings = .paper, top: Int = 3, font: String? = nil, output: String? = nil) {
        self.model = model
        self.settings = settings
        self.top = top
        self.font = font
        self.output = output
    }

    public var runFolder: String? { output }

    public struct Scored: Codable, Sendable, Equatable {
        public var word: String
        public var ink: String
        public var neutral: Bool
        public var top: [LabelScore]

        public init(word: String, ink: String, neutral: Bool, top: [LabelScore]) {
            self.word = word
            self.ink = ink
            self.neutral = neutral
            self.top = top
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var images: [Scored]
        /// Incongruent images (a colour word in another ink) whose top label is the ink.
        public var inkAccuracy: Double
        /// Incongruent images whose top label is the written word.
        public var wordWins: Double
        /// Neutral words whose top label is the ink (how well the ink is read without a rival word).
        public var neutralInkAccuracy: Double
        public var figure: String?
        public var run: String?

        enum CodingKeys: String, CodingKey {
            case images, figure, run
            case inkAccuracy = "ink_accuracy"
            case wordWins = "word_wins"
            case neutralInkAccuracy = "neutral_ink_accuracy"
        }
    }

    public static func summary(of result: Result) -> String {
        String(format: "ink named on %.0f%% of the conflicting images, the word on %.0f%% (neutral words: ink %.0f%%)",
               100 * result.inkAccuracy, 100 * result.wordWins, 100 * result.neutralInkAccuracy)
    }

    public func validate() throws {
        try settings.validate()
        if top < 1 { throw InvalidParameter("top", "must be at least 1, got \(top)") }
    }

    public func run(_ context: JobContext) throws -> Result {
        try validate()
        let font = try Font.chosen(path: font)
        for word in settings.colours.map(\.name) + settings.neutralWords {
            let box = font.measure(word, style: TextStyle(size: settings.fontSize))
            if box.width > settings.width || box.height > settings.height {
                throw InvalidParameter("font-size", "'\(word)' does not fit \(settings.width)x\(settings.height) at \(settings.fontSize)")
            }
        }
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let cards = settings.cards
        context.setTotal(cards.count)
        let scorer = try context.compute {
            try AttackScorer(model: model, labels: settings.colours.map(\.name), template: settings.template)
        }
        let images = cards.map { settings.render($0, font: font) }
        var scored: [Scored] = []
        let batch = 16
        for start in stride(from: 0, to: cards.count, by: batch) {
            try context.checkCancellation()
            let end = min(cards.count, start + batch)
            let rows = context.compute { scorer.probabilities(Array(images[start..<end])) }
            for (card, row) in zip(cards[start..<end], rows) {
                scored.append(Scored(word: card.word, ink: card.ink, neutral: card.neutral, top: scorer.ranked(row, top: top)))
            }
            context.progress(step: end)
        }
        var result = Self.measure(scored)
        if let output {
            let imagesFolder = (output as NSString).appendingPathComponent("images")
            try FileManager.default.createDirectory(atPath: imagesFolder, withIntermediateDirectories: true)
            for (card, image) in zip(cards, images) {
                try image.writePNG(path: (imagesFolder as NSString).appendingPathComponent("\(card.word)-\(card.ink).png"))
            }
            let figure = (output as NSString).appendingPathComponent("stroop.png")
            try Self.figure(scored, images: images, settings: settings, font: font).writePNG(path: figure)
            result.figure = figure
            result.run = output
            context.artefact(JobArtefact(name: "stroop figure", path: figure, step: cards.count))
            try JSONFiles.write(result, to: (output as NSString).appendingPathComponent("stroop.json"))
        }
        return result
    }

    /// The rates from scored images.
    public static func measure(_ scored: [Scored]) -> Result {
        let incongruent = scored.filter { !$0.neutral && $0.word != $0.ink }
        let neutral = scored.filter(\.neutral)
        func share(_ items: [Scored], _ test: (Scored) -> Bool) -> Double {
            Double(items.filter(test).count) / Double(max(1, items.count))
        }
        return Result(images: scored,
                      inkAccuracy: share(incongruent) { $0.top.first?.label == $0.ink },
                      wordWins: share(incongruent) { $0.top.first?.label == $0.word },
                      neutralInkAccuracy: share(neutral) { $0.top.first?.label == $0.ink },
                      figure: nil, run: nil)
    }

    /// The paper's figure: each image with its top labels as bars in their own colours, in columns.
    public static func figure(_ scored: [Scored], images: [Image], settings: StroopSettings, font: Font) -> Image {
        let thumbHeight = 72, thumbWidth = thumbHeight * settings.width / max(1, settings.height)
        let barWidth = 200, rowHeight = thumbHeight + 10, cellWidth = thumbWidth + barWidth + 150
        let columns = scored.count > 24 ? 4 : max(1, (scored.count + 5) / 6)
        let rows = (scored.count + columns - 1) / columns
        let header = 40
        var figure = Image(width: columns * cellWidth + 10, height: header + rows * rowHeight + 10, color: .white)
        let small = TextStyle(size: 13, color: Color(40, 40, 40))
        let result = measure(scored)
        figure.draw(text: String(format: "Stroop: ink named %.0f%%, word named %.0f%% of %d conflicting images",
                                 100 * result.inkAccuracy, 100 * result.wordWins, scored.filter { !$0.neutral && $0.word != $0.ink }.count),
                    x: 10, y: 10, font: font, style: TextStyle(size: 18, color: .black))
        let colours = Dictionary(settings.colours.map { ($0.name, $0.color) }, uniquingKeysWith: { a, _ in a })
        for (i, item) in scored.enumerated() {
            let x = 10 + (i / rows) * cellWidth, y = header + (i % rows) * rowHeight
            let thumb = images[i].resized(width: thumbWidth, height: thumbHeight, filter: .bilinear)
            figure.paste(thumb, x: x, y: y)
            figure.strokeRect(x: x, y: y, width: thumbWidth, height: thumbHeight, color: Color(190, 190, 190))
            let barHeight = max(8, (thumbHeight - 6) / max(1, item.top.count) - 6)
            for (k, score) in item.top.enumerated() {
                let by = y + 3 + k * (barHeight + 6)
                let length = max(1, Int(Double(barWidth) * score.probability))
                let colour = colours[score.label] ?? Color(120, 120, 120)
                figure.fillRect(x: x + thumbWidth + 8, y: by, width: length, height: barHeight, color: colour)
                figure.strokeRect(x: x + thumbWidth + 8, y: by, width: length, height: barHeight, color: Color(90, 90, 90))
                let mark = score.label == item.ink ? " (ink)" : score.label == item.word ? " (word)" : ""
                figure.draw(text: String(format: "%@ %.0f%%%@", score.label, 100 * score.probability, mark),
                            x: x + thumbWidth + 12 + barWidth, y: by + barHeight / 2 - 8, font: font, style: small)
            }
        }
        return figure
    }
}
