import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor

/// A typographic attack measured: the zero-shot ranking of an image before and after text
/// was written on it (Goh et al. 2021, Table II).
public struct TypographicAttack: Sendable {
    /// Labels by zero-shot probability, highest first.
    public var before: [(label: String, probability: Double)]
    public var after: [(label: String, probability: Double)]

    /// Whether the attacked image's top label is `target`.
    public func succeeded(target: String) -> Bool { after.first?.label == target }

    /// Classifies `clean` and `attacked` (each [1, 3, R, R] preprocessed pixels) with `classifier`,
    /// keeping the `top` best labels of each.
    public init(model: CLIPModel, classifier: ZeroShotClassifier, clean: Tensor, attacked: Tensor, top: Int = 3) {
        let probabilities = classifier.probabilities(model.encodeImages(Tensor.concatenate([clean, attacked], axis: 0))).rows()
        func ranked(_ row: [Float]) -> [(label: String, probability: Double)] {
            classifier.ranked(row, top: top).map { ($0.label, Double($0.probability)) }
        }
        before = ranked(probabilities[0])
        after = ranked(probabilities[1])
    }
}

/// Where attack text goes: the paper's eight origins or one origin, in the attacked image's pixels.
public enum AttackPlacement: Codable, Sendable, Equatable {
    /// The paper's eight baseline-left origins, scaled from its 500x375 frame to the image.
    case paper
    /// One baseline-left origin in image pixels.
    case origin(x: Int, y: Int)
    /// The text's box centred on the image.
    case centered

    /// The paper's origins (baseline-left) in the frame they were chosen for.
    public static let paperOrigins: [(x: Int, y: Int)] = [
        (41, 72), (167, 149), (278, 96), (447, 76), (15, 349), (153, 310), (293, 327), (409, 315),
    ]
    public static let paperFrame = (width: 500, height: 375)

    /// "paper", "center", or "X,Y".
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "paper": self = .paper
        case "center", "centre", "centered": self = .centered
        default:
            let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let x = parts[0], let y = parts[1] else {
                throw InvalidParameter("position", "'\(text)' is not paper, center or X,Y")
            }
            self = .origin(x: x, y: y)
        }
    }

    public var description: String {
        switch self {
        case .paper: "paper"
        case .centered: "center"
        case let .origin(x, y): "\(x),\(y)"
        }
    }
}

/// How attack text looks. Colours are names or #RRGGBB; sizes are em pixels in the attacked image.
public struct AttackStyle: Codable, Sendable, Equatable {
    public var placement: AttackPlacement
    /// Em size in pixels; nil: the paper's size scaled to the image (see `resolvedSize`).
    public var size: Double?
    public var fill: String
    public var outline: String
    /// Outline radius in pixels; nil: a ninth of the size (a thick stroke under thin text, as the paper's).
    public var outlineWidth: Double?

    public init(placement: AttackPlacement = .paper, size: Double? = nil, fill: String = "white", outline: String = "black",
                outlineWidth: Double? = nil) {
        self.placement = placement
        self.size = size
        self.fill = fill
        self.outline = outline
        self.outlineWidth = outlineWidth
    }

    /// The paper's Hershey face at scale 0.6 is about 13 pixels tall in its 500x375 frame, which
    /// DejaVu Sans matches at an 18-pixel em.
    public static let paperEmSize = 18.0

    /// The em size for an image: the given one, else the paper's scaled to the image (never under 10 pixels).
    public func resolvedSize(width: Int, height: Int) -> Double {
        if let size { return size }
        let scale = min(Double(width) / Double(AttackPlacement.paperFrame.width),
                        Double(height) / Double(AttackPlacement.paperFrame.height))
        return max(10, Self.paperEmSize * scale)
    }

    public func textStyle(width: Int, height: Int) throws -> TextStyle {
        let size = resolvedSize(width: width, height: height)
        guard let fillColor = Color(named: fill) else { throw InvalidParameter("fill", "'\(fill)' is not a colour name or #RRGGBB") }
        guard let outlineColor = Color(named: outline) else {
            throw InvalidParameter("outline", "'\(outline)' is not a colour name or #RRGGBB")
        }
        let width = outlineWidth ?? max(1, size / 9)
        guard size > 0, size.isFinite else { throw InvalidParameter("size", "must be positive, got \(size)") }
        guard width >= 0, width.isFinite else { throw InvalidParameter("outline-width", "must be at least 0, got \(width)") }
        return TextStyle(size: size, color: fillColor, outline: width, outlineColor: outlineColor)
    }

    public func validate() throws { _ = try textStyle(width: 288, height: 288) }
}

/// How much of an image an attack changed.
public struct AttackCoverage: Codable, Sendable, Equatable {
    /// The paper's measure: changed channel values over H*W (it can exceed the pixel fraction, up to 3).
    public var coverage: Double
    /// Pixels with any channel changed, over H*W.
    public var changedPixels: Double

    enum CodingKeys: String, CodingKey {
        case coverage
        case changedPixels = "changed_pixels"
    }

    /// Compares two images of one size and channel count.
    public init(clean: Image, attacked: Image) {
        precondition(clean.width == attacked.width && clean.height == attacked.height && clean.channels == attacked.channels,
                     "AttackCoverage: images differ in shape")
        let channels = clean.channels, count = clean.width * clean.height
        var values = 0, pixels = 0
        clean.pixels.withUnsafeBufferPointer { a in
            attacked.pixels.withUnsafeBufferPointer { b in
                for p in 0..<count {
                    var changed = 0
                    for c in 0..<channels where a[p * channels + c] != b[p * channels + c] { changed += 1 }
                    values += changed
                    if changed > 0 { pixels += 1 }
                }
            }
        }
        coverage = Double(values) / Double(max(1, count))
        changedPixels = Double(pixels) / Double(max(1, count))
    }
}

/// Draws attack text onto images. Not thread-safe (it holds a FreeType face): one per thread.
public struct AttackPainter {
    public let font: Font

    public init(font: Font) { self.font = font }

    /// Where the text's box goes (top-left corners) for an image of this size.
    public func boxes(_ text: String, style: AttackStyle, width: Int, height: Int) throws -> [(x: Int, y: Int, box: TextBox)] {
        let textStyle = try style.textStyle(width: width, height: height)
        let box = font.measure(text, style: textStyle)
        switch style.placement {
        case .paper:
            let sx = Double(width) / Double(AttackPlacement.paperFrame.width)
            let sy = Double(height) / Double(AttackPlacement.paperFrame.height)
            return AttackPlacement.paperOrigins.map { origin in
                (Int((Double(origin.x) * sx).rounded()), Int((Double(origin.y) * sy).rounded()) - box.baseline, box)
            }
        case let .origin(x, y):
            return [(x, y - box.baseline, box)]
        case .centered:
            return [((width - box.width) / 2, (height - box.height) / 2, box)]
        }
    }

    /// Refuses text that is empty, has no glyphs in the font, or cannot fit inside the image at this size.
    public func check(_ text: String, style: AttackStyle, width: Int, height: Int) throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw InvalidParameter("text", "is empty") }
        guard font.canDraw(text) else { throw InvalidParameter("text", "'\(text)' has characters \(font.familyName) cannot draw") }
        let box = font.measure(text, style: try style.textStyle(width: width, height: height))
        guard box.width <= width, box.height <= height else {
            throw InvalidParameter("text", "'\(text)' does not fit a \(width)x\(height) image at size "
                                   + String(format: "%.0f", style.resolvedSize(width: width, height: height))
                                   + " (it needs \(box.width)x\(box.height)); use a smaller \(InvalidParameter.mention("size"))")
        }
        try checkPlacement(text, style: style, width: width, height: height)
    }

    /// Refuses a placement that puts the text wholly outside the image (it would change nothing).
    public func checkPlacement(_ text: String, style: AttackStyle, width: Int, height: Int) throws {
        for place in try boxes(text, style: style, width: width, height: height)
        where place.x >= width || place.y >= height || place.x + place.box.width <= 0 || place.y + place.box.height <= 0 {
            throw InvalidParameter("position", "'\(style.placement.description)' puts '\(text)' outside the \(width)x\(height) image")
        }
    }

    /// `image` (as RGB) with `text` drawn at every position of the style's placement.
    public func attack(_ image: Image, text: String, style: AttackStyle) throws -> Image {
        var attacked = image.channels == 3 ? image : DecodedImage(image).convertedToRGB()
        let textStyle = try style.textStyle(width: image.width, height: image.height)
        for place in try boxes(text, style: style, width: image.width, height: image.height) {
            attacked.draw(text: text, x: place.x, y: place.y, font: font, style: textStyle)
        }
        return attacked
    }
}

/// Zero-shot scores of images against labels embedded once (the rescoring loop of an attack).
public final class AttackScorer {
    public let model: CLIPModel
    public let classifier: ZeroShotClassifier

    public init(model: CLIPModel, labels: [String], template: String) throws {
        guard !labels.isEmpty else { throw InvalidParameter("labels", "is empty") }
        guard template.contains("{}") else { throw InvalidParameter("template", "'\(template)' has no {} for the label") }
        self.model = model
        classifier = try ZeroShotClassifier(model: model, labels: labels, template: template)
    }

    /// Probabilities over the labels for each image (RGB, any size; preprocessed as CLIP does).
    public func probabilities(_ images: [Image]) -> [[Float]] {
        guard !images.isEmpty else { return [] }
        let pixels = model.pixels(images.map { DecodedImage($0) })
        return classifier.probabilities(model.encodeImages(pixels)).rows()
    }

    public func ranked(_ row: [Float], top: Int) -> [LabelScore] {
        classifier.ranked(row, top: top).map { LabelScore(label: $0.label, probability: Double($0.probability)) }
    }

    /// The top `top` labels after the attack, each with its change from the clean image.
    public func comparison(clean: [Float], attacked: [Float], top: Int) -> AttackComparison {
        let index = Dictionary(classifier.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let after = ranked(attacked, top: top).map { score -> LabelScore in
            var s = score
            s.delta = score.probability - Double(clean[index[score.label]!])
            return s
        }
        return AttackComparison(before: ranked(clean, top: top), after: after)
    }
}

/// One label's zero-shot probability (and, after an attack, its change).
public struct LabelScore: Codable, Sendable, Equatable {
    public var label: String
    public var probability: Double
    public var delta: Double?

    public init(label: String, probability: Double, delta: Double? = nil) {
        self.label = label
        self.probability = probability
        self.delta = delta
    }
}

/// Top labels before and after an attack.
public struct AttackComparison: Codable, Sendable, Equatable {
    public var before: [LabelScore]
    public var after: [LabelScore]

    public init(before: [LabelScore], after: [LabelScore]) {
        self.before = before
        self.after = after
    }
}
