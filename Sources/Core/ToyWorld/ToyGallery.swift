import CLIP
import Foundation
import Support
import Imaging
import Index
import Jobs
import Tensor

/// A folder of generated scenes to scan and browse: one sub-folder (category) per
/// kind of scene, PNG files named after what they show, and a captions file.
public struct ToyGallery: JobSpec {
    public static let kind = "toy-gallery"
    public static let unit = "images"

    /// The categories, as sub-folder names.
    public enum Category: String, CaseIterable, Codable, Sendable {
        case shapes, words, both, attacks
    }

    public var output: String
    public var count: Int
    public var seed: UInt64
    public var resolution: Int

    public init(output: String, count: Int = 2000, seed: UInt64 = 7, resolution: Int = ToyTrainJob.defaultConfig.imageResolution) {
        self.output = output
        self.count = count
        self.seed = seed
        self.resolution = resolution
    }

    public struct Result: Codable, Sendable {
        public var folder: String
        public var images: Int
    }

    public static func summary(of result: Result) -> String { "wrote \(result.images) scenes into \(result.folder)" }

    public func run(_ context: JobContext) throws -> Result {
        guard count > 0 else { throw InvalidParameter("count", "must be positive, got \(count)") }
        context.setTotal(count)
        let renderer = SceneRenderer(font: try Font.standard())
        var captions: [String: String] = [:]
        for category in Category.allCases {
            try FileManager.default.createDirectory(atPath: folder(category), withIntermediateDirectories: true)
        }
        for (index, (category, scene)) in scenes().enumerated() {
            try context.checkCancellation()
            let name = String(format: "%05d-", index) + Self.slug(scene)
            let path = (folder(category) as NSString).appendingPathComponent(name + ".png")
            try renderer.render(scene.spec).writePNG(path: path)
            captions["\(category.rawValue)/\(name).png"] = scene.caption
            if index % 50 == 0 || index + 1 == count { context.progress(step: index + 1) }
        }
        try JSONValue.encode(captions, formatting: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("captions.json")))
        return Result(folder: output, images: count)
    }

    /// The gallery's scenes in file order, each with its category (a pure function of
    /// the settings: what `run` draws, without drawing it).
    public func scenes() -> [(category: Category, scene: CaptionedScene)] {
        let sampler = SceneSampler(resolution: resolution)
        var generator = SeededGenerator(seed: seed)
        return (0..<max(0, count)).map { index in
            let category = Category.allCases[index % Category.allCases.count]
            return (category, scene(category, sampler: sampler, &generator))
        }
    }

    func folder(_ category: Category) -> String { (output as NSString).appendingPathComponent(category.rawValue) }

    func scene(_ category: Category, sampler: SceneSampler, _ generator: inout SeededGenerator) -> CaptionedScene {
        switch category {
        case .shapes: return sampler.sample(kind: .object, &generator)
        case .words: return sampler.sample(kind: .word, &generator)
        case .both: return sampler.sample(kind: .both, &generator)
        case .attacks:
            // A shape with another shape's name written on it.
            let shapes = ToyWorld.Shape.allCases
            let shape = pick(shapes, &generator)
            let written = pick(shapes.filter { $0 != shape }, &generator)
            return sampler.sample(kind: .both, shape: shape, word: written.rawValue, &generator)
        }
    }

    /// "red-star+word-moon": what a file shows, readable in listings.
    static func slug(_ scene: CaptionedScene) -> String {
        var parts: [String] = []
        if let object = scene.spec.object { parts.append("\(object.ink.rawValue)-\(object.shape.rawValue)") }
        if let word = scene.spec.word { parts.append("word-\(word.text)") }
        return parts.joined(separator: "+")
    }
}
