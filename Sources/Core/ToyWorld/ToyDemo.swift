import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Tensor

/// The demo data every fresh install can explore: a gallery of generated scenes in
/// category folders and an activation index of it under the toy model. Built once,
/// on first use, in a cache directory; rebuilding is incremental (a scan skips
/// unchanged files), so an interrupted build just continues.
public struct ToyDemo: Sendable {
    /// `$CLIPSCOPE_DEMO` overrides where the demo lives.
    public static let directoryVariable = "CLIPSCOPE_DEMO"
    /// Scenes in the demo gallery (a quarter per category).
    public static let galleryCount = 2400
    /// The demo gallery's seed (the report card's concept neurons are counted over it).
    public static let gallerySeed: UInt64 = 7

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$CLIPSCOPE_DEMO`, else `$XDG_CACHE_HOME/clipscope/demo`, else `~/.cache/clipscope/demo`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory = environment[directoryVariable], !directory.isEmpty { return directory }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) as NSString).appendingPathComponent(".cache")
        return ((cache as NSString).appendingPathComponent("clipscope") as NSString).appendingPathComponent("demo")
    }

    public var galleryPath: String { (directory as NSString).appendingPathComponent("gallery") }
    public var indexPath: String { (directory as NSString).appendingPathComponent("demo.index") }
    /// The gallery writes its captions file last, so its presence means the gallery is complete.
    public var galleryIsComplete: Bool {
        FileManager.default.fileExists(atPath: (galleryPath as NSString).appendingPathComponent("captions.json"))
    }

    /// The gallery job (run it when `galleryIsComplete` is false).
    public var galleryJob: ToyGallery {
        ToyGallery(output: galleryPath, count: Self.galleryCount, seed: Self.gallerySeed, resolution: ToyTrainJob.defaultConfig.imageResolution)
    }

    /// The scan of the gallery into the demo index under `model`.
    public func scanJob(model: String) -> ScanJob {
        ScanJob(model: model, folders: [galleryPath], index: indexPath, batchSize: 32, storeEmbeddings: true)
    }
}

/// A typographic attack on one toy scene: a drawn shape, then the same scene with
/// another shape's name written on it, each classified zero-shot among the shapes.
public struct ToyTypographicAttack {
    public struct Outcome {
        public var clean: Image
        public var attacked: Image
        public var shape: ToyWorld.Shape
        public var written: ToyWorld.Shape
        /// The shapes by zero-shot probability before and after, highest first (top three).
        public var attack: TypographicAttack
        public var before: [(label: String, probability: Double)] { attack.before }
        public var after: [(label: String, probability: Double)] { attack.after }
        /// Tries until this one (the first whose clean scene is recognised and whose attack flips it).
        public var tries: Int
        public var flipped: Bool { attack.succeeded(target: written.rawValue) }
    }

    /// Tries scenes from `seed` until a recognised shape is flipped by the written
    /// name (or `maximumTries` run out; the last try is returned then).
    public static func demonstrate(model: CLIPModel, seed: UInt64 = 11, maximumTries: Int = 24) throws -> Outcome {
        let evaluator = try ToyEvaluator(model: model)
        let shapes = ToyWorld.Shape.allCases
        let classifier = try evaluator.shapeClassifier()
        var generator = SeededGenerator(seed: seed)
        var last: Outcome?
        for attempt in 1...max(1, maximumTries) {
            let shape = pick(shapes, &generator)
            let written = pick(shapes.filter { $0 != shape }, &generator)
            let attackedScene = evaluator.sampler.sample(kind: .both, shape: shape, word: written.rawValue, &generator)
            var cleanScene = attackedScene
            cleanScene.spec.word = nil
            let outcome = Outcome(clean: evaluator.batcher.renderer.render(cleanScene.spec),
                                  attacked: evaluator.batcher.renderer.render(attackedScene.spec),
                                  shape: shape, written: written,
                                  attack: TypographicAttack(model: model, classifier: classifier,
                                                            clean: evaluator.batcher.pixels([cleanScene]),
                                                            attacked: evaluator.batcher.pixels([attackedScene])),
                                  tries: attempt)
            if outcome.before.first?.label == shape.rawValue && outcome.flipped { return outcome }
            last = outcome
        }
        return last!
    }
}

/// How the toy model is attacked unless told otherwise (the command line and the app's lab
/// agree on it): its own words as labels, in the captions it learnt, written centred at the
/// size of its training words.
public enum ToyAttackDefaults {
    public static let template = "a drawing of a {}"
    public static var labels: [String] { ToyWorld.words }
    /// A batch's labels: the shape names (drawings carry a shape).
    public static var batchLabels: [String] { ToyWorld.Shape.allCases.map(\.rawValue) }
    /// A fifth of the side, like the words of its scenes.
    public static var size: Double { (Double(ToyTrainJob.defaultConfig.imageResolution) * 0.2).rounded() }
}

/// The Stroop test in the toy world: its inks (but white, unreadable on the white canvas)
/// at its resolution, in the prompt its own report card uses.
public enum ToyStroop {
    public static var settings: StroopSettings {
        let n = ToyTrainJob.defaultConfig.imageResolution
        let inks = ToyWorld.Ink.allCases.filter { $0 != .white }
        return StroopSettings(colours: inks.map { StroopColour($0.rawValue, $0.color.r, $0.color.g, $0.color.b) },
                              neutralWords: ["dog", "tree", "music"], width: n, height: n, fontSize: (Double(n) * 0.21).rounded(),
                              template: "my favorite word, written in the color {}")
    }
}
