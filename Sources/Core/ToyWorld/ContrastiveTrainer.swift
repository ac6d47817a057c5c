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

    /// An optional multi-label read-out of concepts from the neurons (the last block's
    /// conv3 channels, spatial maximum, standardised over the batch, rectified):
    /// weights [concepts, neurons] kept non-negative, so a concept's score can only rise
    /// with a neuron's activation, and a neuron the read-out uses must stay quiet on every
    /// other concept. Which neurons it uses is learnt, not assigned. Not part of the model.
    public let neuronHead: Tensor?
    public let neuronHeadBias: Tensor?

    public init(model: CLIPModel, learningRate: Float = 5e-4, weightDecay: Float = 0.1,
                auxiliaryClasses: Int = 0, neuronHeadConcepts: Int = 0, neuronHeadLearningRateScale: Float = 10,
                seed: UInt64 = 0) throws {
        self.model = model
        tokenizer = try Tokenizer.shared()
        var generator = SeededGenerator(seed: seed &+ 0xA0C5)
        auxiliaryHead = auxiliaryClasses > 0
            ? Tensor.randomNormal([auxiliaryClasses, model.config.embedDim], std: 0.02, generator: &generator) : nil
        if neuronHeadConcepts > 0 {
            neuronHead = Tensor(shape: [neuronHeadConcepts, model.config.neuronCount]) { p in
                for i in 0..<p.count { p[i] = 0.02 * generator.nextUniform() }
            }
            neuronHeadBias = Tensor(shape: [neuronHeadConcepts], repeating: -2)
        } else {
            (neuronHead, neuronHeadBias) = (nil, nil)
        }
        // Every weight but the batch-norm running statistics (updated by the forward pass itself).
        let trainable = model.namedParameters.filter { !$0.key.contains("running_") }
        let heads = (auxiliaryHead.map { [$0] } ?? []) + [neuronHead, neuronHeadBias].compactMap { $0 }
        let parameters = trainable.map(\.tensor) + heads
        for p in parameters { p.requiresGrad = true }
        let temperature = trainable.firstIndex { $0.key == "logit_scale" }!
        temperatureIndex = temperature
        // As CLIP: no decay for gains, biases (every tensor of rank < 2) and the temperature.
        let decayed = trainable.indices.map { trainable[$0].tensor.shape.count >= 2 && $0 != temperature }
            + heads.map { $0.shape.count >= 2 }
        optimizer = Adam.adamW(parameters: parameters, learningRate: learningRate, beta2: 0.98, epsilon: 1e-6,
                               weightDecay: weightDecay, decayed: decayed)
        if neuronHead != nil {
            for index in (parameters.count - 2)..<parameters.count { optimizer.learningRateScales[index] = neuronHeadLearningRateScale }
        }
    }

    /// The trainer's own tensors that a checkpoint keeps beside the model's (the heads).
    public var headTensors: [(key: String, tensor: Tensor)] {
        [("trainer.auxiliary_head", auxiliaryHead), ("trainer.neuron_head", neuronHead),
         ("trainer.neuron_head_bias", neuronHeadBias)].compactMap { key, tensor in tensor.map { (key, $0) } }
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
    /// With `neuronConcepts` (per scene, the indices of the concepts it shows) the neuron
    /// head adds `neuronHeadWeight` times its binary cross-entropy, `neuronHeadL1` times the
    /// sum of its (non-negative) weights and `neuronHeadConcentration` times the mean log of
    /// each concept's effective number of neurons ((sum w)^2 / sum w^2). L1 alone costs the
    /// same whether a concept is read from one neuron or from a drawn-star neuron and a
    /// written-star neuron; the concentration term does not, so reading both from one
    /// neuron pays. With a `teacher`, `distillationWeight` times the mean cosine distance
    /// between each image's embedding and the teacher's keeps what the embeddings say
    /// (zero-shot, attacks, Stroop) while the neurons reorganise.
    @discardableResult
    public func step(pixels: Tensor, captions: [String], auxiliaryLabels: [Int?]? = nil,
                     auxiliaryWeight: Float = 0, neuronConcepts: [[Int]]? = nil,
                     neuronHeadWeight: Float = 0, neuronHeadL1: Float = 0,
                     neuronHeadConcentration: Float = 0, teacher: CLIPModel? = nil,
                     distillationWeight: Float = 0) throws -> StepResult {
        let batch = captions.count
        precondition(pixels.shape[0] == batch, "trainer: \(pixels.shape[0]) images for \(batch) captions")
        let tokens = try tokenizer.tokenize(captions, truncate: true)
        optimizer.zeroGrad()
        let readsNeurons = neuronConcepts != nil && neuronHead != nil && neuronHeadWeight > 0
        let (features, tapped) = model.visual.trunk(pixels, tap: readsNeurons ? .conv3 : nil, mode: .training)
        let embeddings = model.visual.embedding(features: features)
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
        if let teacher, distillationWeight > 0 {
            // Keep each image's embedding where the teacher puts it (1 - cosine).
            let target = teacher.encodeImages(pixels).l2Normalized()
            loss = loss + (images * target).sum(axis: 1).negated().adding(1).mean() * distillationWeight
        }
        if readsNeurons, let tapped, let neuronConcepts, let neuronHead, let neuronHeadBias {
            loss = loss + neuronHeadLoss(tapped, concepts: neuronConcepts, head: neuronHead, bias: neuronHeadBias) * neuronHeadWeight
                + neuronHead.sum() * neuronHeadL1
            if neuronHeadConcentration > 0 {
                let effective = neuronHead.sum(axis: 1).squared() / neuronHead.squared().sum(axis: 1).adding(1e-12)
                loss = loss + effective.adding(1e-6).log().mean() * neuronHeadConcentration
            }
        }
        loss.backward()
        optimizer.step()
        neuronHead?.withUnsafeMutableBufferPointer { p in for i in 0..<p.count where p[i] < 0 { p[i] = 0 } }
        model.logitScale.withUnsafeMutableBufferPointer { $0[0] = min($0[0], Self.maximumLogScale) }
        model.weightsDidChange()
        let scores = logits.values
        return StepResult(loss: loss.scalar,
                          imageToTextAccuracy: Self.diagonalAccuracy(scores, batch, rowsAreImages: true),
                          textToImageAccuracy: Self.diagonalAccuracy(scores, batch, rowsAreImages: false),
                          temperature: Foundation.exp(model.logitScale.scalar))
    }

    /// Binary cross-entropy of the neuron head's concept scores against the concepts shown.
    func neuronHeadLoss(_ map: Tensor, concepts: [[Int]], head: Tensor, bias: Tensor) -> Tensor {
        let pooled = map.spatialMax()
        let centred = pooled - pooled.mean(axis: 0, keepingDimension: true)
        let spread = centred.squared().mean(axis: 0, keepingDimension: true).adding(1e-5).sqrt()
        let scores = (centred / spread).relu().linear(weight: head, bias: bias)
        let classes = head.shape[0]
        var targets = [Float](repeating: 0, count: concepts.count * classes)
        for (row, shown) in concepts.enumerated() { for c in shown { targets[row * classes + c] = 1 } }
        let y = Tensor(shape: scores.shape, values: targets)
        // log(1 + e^z) - y z, written to stay finite for large |z|.
        return (scores.relu() + scores.abs().negated().exp().adding(1).log() - scores * y).mean()
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
