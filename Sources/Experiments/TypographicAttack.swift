import CLIP
import Foundation
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
