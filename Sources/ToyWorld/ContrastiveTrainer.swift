import CLIP
import Foundation
import Imaging
import Tensor
import Tokenizer
import Weights

/// CLIP's symmetric contrastive objective on batches of (image, caption) pairs,
/// with AdamW and a learnable temperature.
public final class ContrastiveTrainer {
    public let model: CLIPModel
    public private(set) var optimizer: Adam
    let tokenizer: Tokenizer
    /// The temperature is capped at 100, as in CLIP.
    static let maximumLogScale = Foundation.log(Float(100))

    /// An optional linear classifier on the image embedding for an auxiliary loss
    /// (e.g. which word a scene shows); not part of the model, so it is not saved.
    public let auxiliaryHead: Tensor?

    public init(model: CLIPModel, learningRate: Float = 5e-4, weightDecay: Float = 0.1,
                auxiliaryClasses: Int = 0, seed: UInt64 = 0) throws {
        self.model = model
        tokenizer = try Tokenizer.shared()
        var generator = SeededGenerator(seed: seed &+ 0xA0C5)
        auxiliaryHead = auxiliaryClasses > 0
            ? Tensor.randomNormal([auxiliaryClasses, model.config.embedDim], std: 0.02, generator: &generator) : nil
        // Every weight but the batch-norm running statistics (updated by the forward pass itself).
        let trainable = model.namedParameters.filter { !$0.key.contains("running_") }
        let parameters = trainable.map(\.tensor) + (auxiliaryHead.map { [$0] } ?? [])
        for p in parameters { p.requiresGrad = true }
        let temperature = trainable.firstIndex { $0.key == "logit_scale" }!
        temperatureIndex = temperature
        // As CLIP: no decay for gains, biases (every tensor of rank < 2) and the temperature.
        let decayed = trainable.indices.map { trainable[$0].tensor.shape.count >= 2 && $0 != temperature }
            + (auxiliaryHead.map { _ in [true] } ?? [])
        optimizer = Adam.adamW(parameters: parameters, learningRate: learningRate, beta2: 0.98, epsilon: 1e-6,
                               weightDecay: weightDecay, decayed: decayed)
    }

    /// The optimizer's moments and step count (saved in checkpoints).
    public var optimizerState: Adam.State {
        get { optimizer.state }
        set { optimizer.state = newValue }
    }

    /// Whether the text tower and the temperature are locked (not trained): only the
    /// image tower learns, towards the text embeddings as they are.
    public var textTowerLocked = false {
        didSet {
            for (key, tensor) in model.namedParameters where !key.hasPrefix("visual.") && !key.contains("running_") {
                tensor.requiresGrad = !textTowerLocked
            }
        }
    }

    public var learningRate: Float {
        get { optimizer.learningRate }
        set { optimizer.learningRate = newValue }
    }

    /// How much faster than the weights the temperature learns.
    public var temperatureLearningRateScale: Float {
        get { optimizer.learningRateScales[temperatureIndex] }
        set { optimizer.learningRateScales[temperatureIndex] = newValue }
    }
    let temperatureIndex: Int

    /// What one step measured.
    public struct StepResult: Sendable {
        public var loss: Float
        /// Fraction of images whose own caption scores highest, and vice versa.
        public var imageToTextAccuracy: Float
        public var textToImageAccuracy: Float
        public var temperature: Float
    }

    /// One optimisation step on preprocessed pixels [B, 3, R, R] and their captions,
    /// plus, when given, `auxiliaryWeight` times the auxiliary head's cross-entropy
    /// against `auxiliaryLabels` (over the scenes that have a label).
    @discardableResult
    public func step(pixels: Tensor, captions: [String], auxiliaryLabels: [Int?]? = nil,
                     auxiliaryWeight: Float = 0) throws -> StepResult {
        let batch = captions.count
        precondition(pixels.shape[0] == batch, "trainer: \(pixels.shape[0]) images for \(batch) captions")
        let tokens = try tokenizer.tokenize(captions, truncate: true)
        optimizer.zeroGrad()
        let embeddings = model.visual(pixels, mode: .training)
        let images = embeddings.l2Normalized()
        let texts = model.text(tokens: tokens).l2Normalized()
        let logits = images.matmul(texts, transposeOther: true) * model.logitScale.exp()
        let targets = Array(0..<batch)
        var loss = (logits.crossEntropy(targets: targets) + logits.transposed().crossEntropy(targets: targets)) * 0.5
        if let auxiliaryLabels, let auxiliaryHead, auxiliaryWeight > 0 {
            let labelled = auxiliaryLabels.indices.filter { auxiliaryLabels[$0] != nil }
            if !labelled.isEmpty {
                let logits = embeddings.gatherRows(labelled).linear(weight: auxiliaryHead)
                loss = loss + logits.crossEntropy(targets: labelled.map { auxiliaryLabels[$0]! }) * auxiliaryWeight
            }
        }
        loss.backward()
        optimizer.step()
        model.logitScale.withUnsafeMutableBufferPointer { $0[0] = min($0[0], Self.maximumLogScale) }
        model.weightsDidChange()
        let scores = logits.values
        return StepResult(loss: loss.scalar,
                          imageToTextAccuracy: Self.diagonalAccuracy(scores, batch, rowsAreImages: true),
                          textToImageAccuracy: Self.diagonalAccuracy(scores, batch, rowsAreImages: false),
                          temperature: Foundation.exp(model.logitScale.scalar))
    }

    /// Share of rows (or columns) whose maximum is on the diagonal.
    static func diagonalAccuracy(_ scores: [Float], _ n: Int, rowsAreImages: Bool) -> Float {
        var correct = 0
        for i in 0..<n {
            var best = 0
            for j in 0..<n {
                let candidate = rowsAreImages ? scores[i * n + j] : scores[j * n + i]
                let current = rowsAreImages ? scores[i * n + best] : scores[best * n + i]
                if candidate > current { best = j }
            }
            if best == i { correct += 1 }
        }
        return Float(correct) / Float(max(n, 1))
    }
}

/// Renders scenes and stacks them into model input.
public struct SceneBatcher {
    public let renderer: SceneRenderer
    public let preprocessing: ModelInputPreprocessing

    public init(renderer: SceneRenderer, preprocessing: ModelInputPreprocessing) {
        self.renderer = renderer
        self.preprocessing = preprocessing
    }

    /// [B, 3, R, R] normalised pixels of the scenes.
    public func pixels(_ scenes: [CaptionedScene]) -> Tensor {
        let size = preprocessing.size
        return ImageBatches.stack(scenes.map { scene in
            let image = renderer.render(scene.spec)
            precondition(image.width == size && image.height == size, "scene of \(image.width) px for a \(size) px model")
            return preprocessing.normalize(image)
        }, size: size)
    }
}
