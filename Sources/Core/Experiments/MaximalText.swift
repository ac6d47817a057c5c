import CLIP
import Foundation
import Jobs
import Support
import Tensor
import Tokenizer

/// The numbers of maximal text (the spec's procedure).
public struct MaximalTextSettings: Codable, Sendable, Equatable {
    /// The first text; its token count (with start and end) fixes the first epoch's slots.
    public var start = "This is a sentence"
    public var epochs = 20
    public var stepsPerEpoch = 100
    /// Plain SGD, no momentum, a fresh optimizer each epoch.
    public var learningRate: Float = 2
    /// Tokens kept between start and end after re-tokenizing (the paper: about 5).
    public var maxTokens = 6

    public init() {}

    public func validate() throws {
        if let invalid = InvalidParameter.nonFinite(["learningRate": Double(learningRate)]) { throw invalid }
        if epochs < 1 { throw InvalidParameter("epochs", "must be at least 1, got \(epochs)") }
        if stepsPerEpoch < 1 { throw InvalidParameter("steps", "must be at least 1, got \(stepsPerEpoch)") }
        if !(learningRate > 0) { throw InvalidParameter("learningRate", "must be positive, got \(learningRate)") }
        if maxTokens < 1 { throw InvalidParameter("maxTokens", "must be at least 1, got \(maxTokens)") }
        if start.trimmingCharacters(in: .whitespaces).isEmpty { throw InvalidParameter("start", "is empty") }
    }
}

/// Finds texts whose embedding is close to a target (an image's normalized embedding):
/// free token embeddings are optimized by SGD on -cos(text, target) with the start and
/// end positions held, then snapped to the nearest vocabulary tokens, decoded and
/// re-tokenized for the next epoch. Every distinct text met is kept with its cosine (of the
/// text itself, re-encoded).
public final class MaximalText {
    public let model: CLIPModel
    public let settings: MaximalTextSettings
    /// The normalized target embedding.
    public let target: Tensor
    let tokenizer: Tokenizer
    let startToken: Int, endToken: Int
    /// Token ids the snapping may choose (nil: any but start and end).
    let allowed: [Int]?
    /// The current text's tokens, start and end included.
    public private(set) var tokens: [Int]
    public private(set) var epoch = 0
    /// Every distinct text met, with its cosine to the target.
    public private(set) var candidates: [String: Float] = [:]

    public init(model: CLIPModel, target: [Float], settings: MaximalTextSettings, vocabulary: [String]? = nil) throws {
        try settings.validate()
        guard target.count == model.config.embedDim else {
            throw InvalidParameter("target", "has \(target.count) values for a \(model.config.embedDim)-dimensional model")
        }
        self.model = model
        self.settings = settings
        self.target = Tensor(shape: [1, target.count], values: target).l2Normalized()
        let tokenizer = try Tokenizer.shared()
        self.tokenizer = tokenizer
        startToken = tokenizer.id(ofToken: "<|startoftext|>") ?? 49406
        endToken = tokenizer.id(ofToken: "<|endoftext|>") ?? 49407
        if let vocabulary {
            let ids = Set(vocabulary.flatMap { tokenizer.encode($0) })
            guard !ids.isEmpty else { throw InvalidParameter("vocabulary", "has no words") }
            allowed = ids.sorted()
        } else {
            allowed = nil
        }
        tokens = [startToken] + Array(tokenizer.encode(settings.start).prefix(settings.maxTokens)) + [endToken]
    }

    /// The loss -cos(text, target) of token embeddings [1, L, W] (end token last).
    public func loss(_ embedded: Tensor) -> Tensor {
        let text = model.text.encode(embedded: embedded, endPositions: [embedded.shape[1] - 1]).l2Normalized()
        return (text * target).sum().negated()
    }

    /// One epoch: `stepsPerEpoch` SGD steps from the current tokens, then the snap to
    /// tokens; `progress` hears each step's cosine (and may stop the epoch by throwing).
    /// Returns the epoch's text and its cosine.
    @discardableResult
    public func runEpoch(progress: (Int, Float) throws -> Void = { _, _ in }) throws -> (text: String, cosine: Float) {
        let table = model.text.tokenEmbeddingTable
        let width = table.shape[1]
        let length = tokens.count
        let initial = table.gatherRows(tokens).detached()                    // [L, W]
        let free = Tensor(shape: [1, length, width], values: initial.values)
        free.requiresGrad = true
        for step in 0..<settings.stepsPerEpoch {
            free.zeroGrad()
            let loss = loss(free)
            loss.backward()
            let gradient = free.grad!.values
            let lr = settings.learningRate
            free.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] -= lr * gradient[i] }
                // The start and end positions hold their tokens' embeddings: only the words move.
                let first = initial.values
                for i in 0..<width {
                    p[i] = first[i]
                    p[(length - 1) * width + i] = first[(length - 1) * width + i]
                }
            }
            try progress(step, -loss.values[0])
        }
        free.zeroGrad()
        // Snap each word slot to its nearest token by L2 distance.
        let slots = Tensor(shape: [length - 2, width], values: Array(free.values[width..<((length - 1) * width)]))
        let ids = nearestTokens(slots)
        var text = (try? tokenizer.decode(ids))?.trimmingCharacters(in: .whitespaces) ?? ""
        if text.isEmpty { text = try tokenizer.decode(Array(tokens[1..<(length - 1)])).trimmingCharacters(in: .whitespaces) }
        let next = Array(tokenizer.encode(text).prefix(settings.maxTokens))
        if !next.isEmpty { tokens = [startToken] + next + [endToken] }
        let cosine = cosine(of: text)
        candidates[text] = cosine
        epoch += 1
        return (text, cosine)
    }

    /// The nearest allowed token id to each row of [K, W].
    func nearestTokens(_ rows: Tensor) -> [Int] {
        let table = model.text.tokenEmbeddingTable
        let candidates = allowed.map { table.gatherRows($0) } ?? table
        let norms = candidates.squared().sum(axis: 1).values
        let products = rows.matmul(candidates, transposeOther: true).values   // [K, V]
        let count = norms.count
        return (0..<rows.shape[0]).map { k in
            var best = -1, bestDistance = Float.infinity
            for v in 0..<count {
                let id = allowed?[v] ?? v
                if allowed == nil, id == startToken || id == endToken { continue }
                let distance = norms[v] - 2 * products[k * count + v]
                if distance < bestDistance { bestDistance = distance; best = id }
            }
            return best
        }
    }

    /// The cosine between a text's embedding and the target.
    public func cosine(of text: String) -> Float {
        guard let tokens = try? tokenizer.tokenize(text, contextLength: model.config.contextLength, truncate: true) else { return -1 }
        return (model.encodeTexts([tokens]).l2Normalized() * target).sum().values[0]
    }

    /// Every text met, best first.
    public var ranked: [(text: String, cosine: Float)] {
        candidates.map { ($0.key, $0.value) }.sorted { ($0.1, $1.0) > ($1.1, $0.0) }
    }

    /// Continues from a saved state.
    public func restore(tokens: [Int], epoch: Int, candidates: [String: Float]) {
        self.tokens = tokens
        self.epoch = epoch
        self.candidates = candidates
    }
}
