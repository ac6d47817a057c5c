import Foundation
import Tensor
import Weights

/// A ResNet CLIP: image tower, text tower and the learned temperature.
public final class CLIPModel {
    public let config: CLIPConfig
    public let visual: ModifiedResNet
    public let text: TextTransformer
    /// log of the logit scale (exp ~ 100 for trained models).
    public let logitScale: Tensor
    /// The file the weights were loaded from, if any.
    public internal(set) var source: ModelSource?

    /// A model with every weight zero (to be loaded) or, given a generator, random.
    public init(config: CLIPConfig, randomSeed: UInt64? = nil) {
        self.config = config
        visual = ModifiedResNet(config: config)
        text = TextTransformer(config: config)
        logitScale = Tensor(shape: [], values: [Foundation.log(1 / 0.07)])
        if let randomSeed {
            var generator = SeededGenerator(seed: randomSeed)
            visual.initialize(&generator)
            text.initialize(&generator)
        }
    }

    /// Every tensor of the state dict, keyed exactly as OpenAI's: the one place
    /// where weight names are mapped.
    public var namedParameters: [NamedParameter] {
        visual.parameters("visual") + text.parameters() + [("logit_scale", logitScale)]
    }

    /// Keys a state dict may carry that hold no weights of ours: batch-norm
    /// counters, OpenAI's scalar attributes, and the optimizer state of
    /// `toy train` checkpoints (so a checkpoint loads as a model).
    public static func isIgnoredKey(_ key: String) -> Bool {
        key.hasSuffix(".num_batches_tracked") || ["input_resolution", "context_length", "vocab_size"].contains(key)
            || key.hasPrefix("optimizer.") || key.hasPrefix("trainer.")
    }

    /// Call after changing weights in place (loading, training): folded batch
    /// norms are recomputed on the next inference.
    public func weightsDidChange() {
        for unit in visual.units { unit.invalidateFolding() }
    }

    /// Parameter counts as PyTorch reports them (running statistics excluded).
    public var parameterCounts: (visual: Int, text: Int, total: Int) {
        var visualCount = 0, textCount = 0
        for (key, tensor) in namedParameters where !key.contains("running_") {
            if key.hasPrefix("visual.") { visualCount += tensor.count } else if key != "logit_scale" { textCount += tensor.count }
        }
        return (visualCount, textCount, visualCount + textCount + 1)
    }

    public func encodeImages(_ pixels: Tensor) -> Tensor { visual(pixels) }
    public func encodeTexts(_ tokens: [[Int32]]) -> Tensor { text(tokens: tokens) }
}
