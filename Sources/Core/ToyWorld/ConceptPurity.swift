import CLIP
import Foundation
import Imaging
import Tensor

/// What a scene shows of the shape concepts: the shape drawn and the word written.
public struct ShownConcepts: Codable, Sendable, Equatable {
    public var drawn: ToyWorld.Shape?
    /// The written word (any word; it counts for a concept when it is a shape's name).
    public var written: String?

    public init(drawn: ToyWorld.Shape?, written: String?) {
        self.drawn = drawn
        self.written = written
    }

    public init(_ spec: SceneSpec) {
        self.init(drawn: spec.object?.shape, written: spec.word?.text)
    }

    /// From a gallery file name: "00012-red-star+word-moon.png" shows a drawn star and
    /// the word "moon" (`ToyGallery`'s names; any renderer may name its files so). Nil
    /// when the name follows no such pattern.
    public init?(fileName: String) {
        var stem = (fileName as NSString).deletingPathExtension
        if let dash = stem.firstIndex(of: "-"), stem[..<dash].allSatisfy(\.isNumber), !stem[..<dash].isEmpty {
            stem = String(stem[stem.index(after: dash)...])
        }
        var drawn: ToyWorld.Shape?, written: String?
        for part in stem.split(separator: "+") {
            if part.hasPrefix("word-") {
                written = String(part.dropFirst(5))
            } else if let dash = part.lastIndex(of: "-"), let shape = ToyWorld.Shape(rawValue: String(part[part.index(after: dash)...])) {
                drawn = shape
            } else if let shape = ToyWorld.Shape(rawValue: String(part)) {
                drawn = shape
            } else {
                return nil
            }
        }
        guard drawn != nil || written != nil else { return nil }
        self.init(drawn: drawn, written: written)
    }

    public func shows(_ concept: ToyWorld.Shape) -> Bool { drawn == concept || written == concept.rawValue }
    public func onlyDrawn(_ concept: ToyWorld.Shape) -> Bool { drawn == concept && written != concept.rawValue }
    public func onlyWritten(_ concept: ToyWorld.Shape) -> Bool { written == concept.rawValue && drawn != concept }
}

/// How cleanly single neurons hold the shape concepts: for each shape, the neuron whose
/// top images (by its activation, as `clipscope top` ranks them) show that shape most
/// often, drawn or written. A neuron is a clean concept neuron when at least
/// `cleanCount` of its top `top` show the concept, at least `minimumEach` of them only
/// drawn and at least `minimumEach` only written.
public struct ConceptPurity: Codable, Sendable, Equatable {
    public struct Concept: Codable, Sendable, Equatable {
        public var concept: String
        public var neuron: Int
        /// Of the neuron's top images, how many show the concept (drawn or written).
        public var showing: Int
        public var onlyDrawn: Int
        public var onlyWritten: Int
        public var clean: Bool

        enum CodingKeys: String, CodingKey {
            case concept, neuron, showing, clean
            case onlyDrawn = "only_drawn", onlyWritten = "only_written"
        }
    }

    public var concepts: [Concept]
    /// The length of the top list that counts, unless told otherwise (what `clipscope top` shows first).
    public static let defaultTop = 20
    public var images: Int
    public var top: Int
    public var cleanCount: Int
    public var minimumEach: Int

    enum CodingKeys: String, CodingKey {
        case concepts, images, top
        case cleanCount = "clean_count", minimumEach = "minimum_each"
    }

    /// Concepts that have a clean neuron.
    public var cleanConcepts: [Concept] { concepts.filter(\.clean) }
    /// The cleanest concept neuron of all (by the same order as each concept's best).
    public var strongest: Concept? {
        concepts.filter { $0.neuron >= 0 }.max { Self.rank($0, minimumEach: minimumEach) < Self.rank($1, minimumEach: minimumEach) }
    }

    /// The mean over concepts of the best neuron's `showing`.
    public var meanShowing: Double { concepts.isEmpty ? 0 : Double(concepts.map(\.showing).reduce(0, +)) / Double(concepts.count) }

    /// `activations` is [images x neurons], row-major; `shown` says what each image shows.
    public init(activations: [Float], neurons: Int, shown: [ShownConcepts], top: Int = defaultTop, cleanCount: Int = 16,
                minimumEach: Int = 4) {
        precondition(activations.count == shown.count * neurons, "ConceptPurity: \(activations.count) values for \(shown.count) images of \(neurons) neurons")
        let topLists = (0..<neurons).map { neuron in
            shown.indices.sorted { activations[$0 * neurons + neuron] > activations[$1 * neurons + neuron] }.prefix(top).map { shown[$0] }
        }
        self.init(topLists: topLists, images: shown.count, top: top, cleanCount: cleanCount, minimumEach: minimumEach)
    }

    /// From each neuron's top images, highest first (nil: an image that shows no shape or
    /// word we can tell); only the first `top` of each list count.
    public init(topLists: [[ShownConcepts?]], images: Int, top: Int = defaultTop, cleanCount: Int = 16, minimumEach: Int = 4) {
        self.images = images
        self.top = top
        self.cleanCount = cleanCount
        self.minimumEach = minimumEach
        var best: [ToyWorld.Shape: Concept] = [:]
        let shapes = ToyWorld.Shape.allCases
        for (neuron, list) in topLists.enumerated() {
            for shape in shapes {
                let candidate = Self.concept(shape, neuron: neuron, topList: list, top: top, cleanCount: cleanCount, minimumEach: minimumEach)
                guard candidate.showing > 0 else { continue }
                if let current = best[shape], Self.rank(current, minimumEach: minimumEach) >= Self.rank(candidate, minimumEach: minimumEach) { continue }
                best[shape] = candidate
            }
        }
        concepts = shapes.map { best[$0] ?? Concept(concept: $0.rawValue, neuron: -1, showing: 0, onlyDrawn: 0, onlyWritten: 0, clean: false) }
    }

    /// How one neuron's top list holds one shape.
    public static func concept(_ shape: ToyWorld.Shape, neuron: Int, topList: [ShownConcepts?], top: Int = defaultTop,
                               cleanCount: Int = 16, minimumEach: Int = 4) -> Concept {
        let ranked = topList.prefix(top).compactMap { $0 }
        let showing = ranked.filter { $0.shows(shape) }.count
        let drawn = ranked.filter { $0.onlyDrawn(shape) }.count
        let written = ranked.filter { $0.onlyWritten(shape) }.count
        return Concept(concept: shape.rawValue, neuron: neuron, showing: showing, onlyDrawn: drawn, onlyWritten: written,
                       clean: showing >= cleanCount && drawn >= minimumEach && written >= minimumEach)
    }

    /// The same neurons as `concepts` (one per shape), measured over other images: do
    /// they hold their shape there too?
    public func same(neuronsOver activations: [Float], neurons: Int, shown: [ShownConcepts]) -> [Concept] {
        concepts.map { concept in
            guard concept.neuron >= 0, let shape = ToyWorld.Shape(rawValue: concept.concept) else { return concept }
            let ranked = shown.indices.sorted { activations[$0 * neurons + concept.neuron] > activations[$1 * neurons + concept.neuron] }
            return Self.concept(shape, neuron: concept.neuron, topList: ranked.prefix(top).map { shown[$0] }, top: top,
                                cleanCount: cleanCount, minimumEach: minimumEach)
        }
    }

    /// Clean first, then multimodal (enough only drawn and only written), then the most
    /// showing, then the better balanced between drawn and written.
    static func rank(_ concept: Concept, minimumEach: Int) -> (Int, Int, Int, Int) {
        (concept.clean ? 1 : 0, concept.onlyDrawn >= minimumEach && concept.onlyWritten >= minimumEach ? 1 : 0,
         concept.showing, min(concept.onlyDrawn, concept.onlyWritten))
    }

    /// Each scene's neuron activations (conv3, spatial maximum), [scenes x neurons] row-major.
    public static func activations(model: CLIPModel, scenes: [SceneSpec]) throws -> [Float] {
        let batcher = SceneBatcher(renderer: SceneRenderer(font: try Font.standard()), preprocessing: model.preprocessing)
        var values: [Float] = []
        for start in stride(from: 0, to: scenes.count, by: 32) {
            let part = scenes[start..<min(start + 32, scenes.count)].map { CaptionedScene(spec: $0, caption: "") }
            values += model.visual.neuronMap(batcher.pixels(part), tap: .conv3).spatialMax().values
        }
        return values
    }

    /// Purity over scenes rendered in memory (the demo gallery's by default).
    public static func measure(model: CLIPModel, scenes: [SceneSpec], top: Int = defaultTop) throws -> ConceptPurity {
        ConceptPurity(activations: try activations(model: model, scenes: scenes), neurons: model.config.neuronCount,
                      shown: scenes.map(ShownConcepts.init), top: top)
    }

    /// Image files named as the gallery names them (`ShownConcepts(fileName:)`): what each
    /// shows and its activations; files whose names say nothing are skipped and returned.
    public static func activations(model: CLIPModel, files: [String]) throws -> (values: [Float], shown: [ShownConcepts], skipped: [String]) {
        var shown: [ShownConcepts] = [], kept: [String] = [], skipped: [String] = []
        for file in files {
            if let concepts = ShownConcepts(fileName: (file as NSString).lastPathComponent) {
                shown.append(concepts)
                kept.append(file)
            } else {
                skipped.append(file)
            }
        }
        var values: [Float] = []
        for start in stride(from: 0, to: kept.count, by: 32) {
            let images = try kept[start..<min(start + 32, kept.count)].map { try DecodedImage.load(path: $0) }
            values += model.visual.neuronMap(model.pixels(images), tap: .conv3).spatialMax().values
        }
        return (values, shown, skipped)
    }
}
