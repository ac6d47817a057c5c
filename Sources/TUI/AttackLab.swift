import CLIP
import Experiments
import Foundation
import Imaging
import Jobs
import Support

/// What the attack lab asks for: the text on an image, where and how it is drawn. `generation`
/// grows with every change, so that answers to older requests can be recognised and dropped.
public struct AttackLabRequest: Sendable, Equatable {
    public var generation: Int
    public var imagePath: String
    public var text: String
    /// The text box's centre as fractions of the image's width and height (one position), or the paper's eight.
    public var centerX: Double
    public var centerY: Double
    public var paperPlacement: Bool
    /// Em size in pixels; nil: the default for the model and image.
    public var size: Double?
    public var fill: String
}

/// The lab's answer to one request.
public struct AttackLabResult: Sendable {
    public var generation: Int
    /// The attacked image (the clean one while the text is empty).
    public var image: Image
    public var comparison: AttackComparison
    public var coverage: AttackCoverage?
    /// The style as drawn, with the position in image pixels (what `clipscope attack` takes).
    public var style: AttackStyle
    public var size: Double
    public var imageSize: (width: Int, height: Int)
    /// Why the text could not be drawn (too big, no glyphs); the scores are the clean image's then.
    public var problem: String?
    /// The clean image's top label after the attack, with its change (shown when it left the top 5).
    public var cleanTopAfter: LabelScore? = nil
}

/// The attack lab's part of the app state.
public struct AttackLab: Sendable {
    public var imagePath: String
    public var text = ""
    public var centerX = 0.5
    public var centerY = 0.5
    public var paperPlacement = false
    public var size: Double?
    public var fillIndex = 0
    public var generation = 0
    public var result: AttackLabResult?

    public static let fills = ["white", "black", "red", "yellow", "blue", "green"]

    public init(imagePath: String) { self.imagePath = imagePath }

    public var request: AttackLabRequest {
        AttackLabRequest(generation: generation, imagePath: imagePath, text: text, centerX: centerX, centerY: centerY,
                         paperPlacement: paperPlacement, size: size, fill: Self.fills[fillIndex])
    }

    /// Whether the shown scores answer the current request.
    public var isCurrent: Bool { result?.generation == generation }
}

/// Evaluates the lab's requests on its own thread, newest first: a request waits a short
/// debounce, is skipped when a newer one arrived meanwhile, and an evaluation overtaken
/// by a newer request stops at its next step and posts nothing.
final class AttackLabWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: AttackLabRequest?
    private var newest = -1
    private var started = false
    let debounce: Double

    init(debounce: Double = 0.06) { self.debounce = debounce }

    func submit(_ request: AttackLabRequest, start: () -> Void) {
        condition.lock()
        // The UI thread submits in order: the last request is the newest.
        pending = request
        newest = request.generation
        let needsStart = !started
        started = true
        condition.signal()
        condition.unlock()
        if needsStart { start() }
    }

    func isStale(_ generation: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return generation != newest
    }

    /// Blocks until a request is waiting, then waits out the debounce; returns the newest.
    func next() -> AttackLabRequest {
        condition.lock()
        while pending == nil { condition.wait() }
        condition.unlock()
        while true {
            Thread.sleep(forTimeInterval: debounce)
            condition.lock()
            let request = pending!
            if request.generation == newest {
                pending = nil
                condition.unlock()
                return request
            }
            condition.unlock()
        }
    }
}

/// What one evaluation needs that does not change between keystrokes.
final class AttackLabSession {
    let painter: AttackPainter
    let scorer: AttackScorer
    let defaultSize: Double?
    var clean: (path: String, image: Image, probabilities: [Float])?

    init(painter: AttackPainter, scorer: AttackScorer, defaultSize: Double?) {
        self.painter = painter
        self.scorer = scorer
        self.defaultSize = defaultSize
    }

    /// Draws and scores one request; nil when it went stale on the way.
    func evaluate(_ request: AttackLabRequest, executor: ComputeExecutor, isStale: (Int) -> Bool) throws -> AttackLabResult? {
        if clean?.path != request.imagePath {
            let image = try DecodedImage.load(path: request.imagePath).convertedToRGB()
            let row = executor.run(.interactive) { scorer.probabilities([image])[0] }
            clean = (request.imagePath, image, row)
        }
        let (_, image, cleanRow) = clean!
        if isStale(request.generation) { return nil }
        var style = AttackStyle(placement: .centered, size: request.size ?? defaultSize, fill: request.fill)
        let size = style.resolvedSize(width: image.width, height: image.height)
        style.size = size
        if request.paperPlacement {
            style.placement = .paper
        } else {
            let box = painter.font.measure(request.text.isEmpty ? " " : request.text, style: try style.textStyle(width: image.width, height: image.height))
            let left = Int((request.centerX * Double(image.width)).rounded()) - box.width / 2
            let top = Int((request.centerY * Double(image.height)).rounded()) - box.height / 2
            style.placement = .origin(x: left, y: top + box.baseline)
        }
        var result = AttackLabResult(generation: request.generation, image: image,
                                     comparison: scorer.comparison(clean: cleanRow, attacked: cleanRow, top: 5),
                                     coverage: nil, style: style, size: size, imageSize: (image.width, image.height), problem: nil)
        guard !request.text.isEmpty else { return result }
        do {
            try painter.check(request.text, style: style, width: image.width, height: image.height)
        } catch {
            result.problem = "\(error)"
            return result
        }
        let attacked = try painter.attack(image, text: request.text, style: style)
        if isStale(request.generation) { return nil }
        let row = executor.run(.interactive) { scorer.probabilities([attacked])[0] }
        if isStale(request.generation) { return nil }
        result.image = attacked
        result.comparison = scorer.comparison(clean: cleanRow, attacked: row, top: 5)
        let cleanTop = ZeroShotClassifier.topClass(cleanRow)
        result.cleanTopAfter = LabelScore(label: scorer.classifier.labels[cleanTop], probability: Double(row[cleanTop]),
                                          delta: Double(row[cleanTop] - cleanRow[cleanTop]))
        result.coverage = AttackCoverage(clean: image, attacked: attacked)
        return result
    }
}
