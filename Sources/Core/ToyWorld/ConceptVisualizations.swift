import CLIP
import Experiments
import Foundation
import Imaging
import Tensor

/// How the toy model's neurons are visualized unless told otherwise (the app's `v` and
/// `toy purity --visualize` agree on it). RN50x4's default (`paper-code`) draws grey
/// textures on the toy; `direct` with strong scale and rotation, the neuron's maximum and
/// a steep spectrum (smooth pictures) draws pictures the toy's own zero-shot classifier
/// names as the neuron's shape for 9 of the 12 concept neurons (docs/toy-world.md).
public enum ToyVisualization {
    public static var settings: VisualizationSettings {
        var settings = VisualizationSettings(variant: .direct)
        settings.reduce = .max
        settings.steps = 256
        settings.learningRate = 0.03
        settings.jitter = 0.2
        settings.fourierDecay = 2
        settings.transforms = RandomTransforms(scale: 0.4, rotation: 45)
        return settings
    }
}

/// Whether a neuron's feature visualization shows its concept: each concept neuron is
/// visualized, and the toy's zero-shot shape classifier names the picture.
public struct ConceptVisualizations: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var concept: String
        public var neuron: Int
        /// The shape the classifier names first, and its probability.
        public var named: String
        public var probability: Double
        public var recognised: Bool { named == concept }
    }

    public var items: [Item]
    public var recognised: Int { items.filter(\.recognised).count }

    /// Visualizes `concepts`' neurons together with `settings` (`progress` after each step),
    /// then names each picture; returns the pictures in the same order.
    public static func measure(model: CLIPModel, concepts: [ConceptPurity.Concept], settings: VisualizationSettings,
                               progress: (Int) -> Void = { _ in }) throws -> (result: ConceptVisualizations, pictures: [Image]) {
        let concepts = concepts.filter { $0.neuron >= 0 }
        guard !concepts.isEmpty else { return (ConceptVisualizations(items: []), []) }
        let visualizer = try FeatureVisualizer(model: model, neurons: concepts.map(\.neuron), settings: settings)
        for step in 0..<settings.steps {
            _ = visualizer.advance()
            progress(step + 1)
        }
        let pictures = concepts.indices.map { visualizer.image($0) }
        let classifier = try ToyEvaluator(model: model).shapeClassifier()
        let preprocessing = model.preprocessing
        let pixels = ImageBatches.stack(pictures.map { preprocessing.normalize($0.width == preprocessing.size ? $0 : $0.resized(width: preprocessing.size, height: preprocessing.size)) }, size: preprocessing.size)
        let probabilities = classifier.probabilities(model.encodeImages(pixels)).rows()
        let shapes = ToyWorld.Shape.allCases
        let items = zip(concepts, probabilities).map { concept, row -> Item in
            let best = row.indices.max { row[$0] < row[$1] }!
            return Item(concept: concept.concept, neuron: concept.neuron, named: shapes[best].rawValue, probability: Double(row[best]))
        }
        return (ConceptVisualizations(items: items), pictures)
    }
}
