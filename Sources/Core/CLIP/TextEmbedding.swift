import Foundation
import Tensor
import Tokenizer

extension CLIPModel {
    /// Captions per text-tower pass (bounds memory for long lists such as ImageNet's labels).
    public static let textBatchSize = 64

    /// Text embeddings [texts, D] (not normalized), a batch at a time. A text too long for
    /// the context keeps its start, as `clip.tokenize(truncate=True)`.
    public func embedTexts(_ texts: [String]) throws -> Tensor {
        let tokenizer = try Tokenizer.shared()
        let tokens = try tokenizer.tokenize(texts, contextLength: config.contextLength, truncate: true)
        var values: [Float] = []
        values.reserveCapacity(texts.count * config.embedDim)
        for start in stride(from: 0, to: tokens.count, by: Self.textBatchSize) {
            values += encodeTexts(Array(tokens[start..<min(tokens.count, start + Self.textBatchSize)])).values
        }
        return Tensor(shape: [texts.count, config.embedDim], values: values)
    }

    /// `template` with `{}` replaced by each label.
    public static func prompts(_ labels: [String], template: String) -> [String] {
        labels.map { template.replacingOccurrences(of: "{}", with: $0) }
    }
}

/// Zero-shot classification: one unit embedding per class (the normalized mean of its
/// prompts' unit embeddings, as CLIP's prompt ensembling), scored against images by
/// cosine, and as probabilities by softmax(exp(logit_scale) * cosine).
public struct ZeroShotClassifier {
    public let labels: [String]
    /// [classes, D], unit rows.
    public let classEmbeddings: Tensor
    public let logitScale: Float

    /// Each class described by its own prompts (at least one each).
    public init(model: CLIPModel, labels: [String], prompts: [[String]]) throws {
        precondition(labels.count == prompts.count && prompts.allSatisfy { !$0.isEmpty },
                     "ZeroShotClassifier: one non-empty prompt list per label")
        let embedded = try model.embedTexts(prompts.flatMap { $0 }).l2Normalized()
        var rows: [Tensor] = [], start = 0
        for group in prompts {
            rows.append(group.count == 1 ? embedded.sliced(axis: 0, start..<(start + 1))
                        : embedded.sliced(axis: 0, start..<(start + group.count)).mean(axis: 0, keepingDimension: true))
            start += group.count
        }
        self.labels = labels
        classEmbeddings = Tensor.concatenate(rows, axis: 0).reshaped([labels.count, model.config.embedDim]).l2Normalized()
        logitScale = Foundation.exp(model.logitScale.scalar)
    }

    /// Each label put into `template` at `{}` ("This is a photo of a {}").
    public init(model: CLIPModel, labels: [String], template: String) throws {
        try self.init(model: model, labels: labels, prompts: CLIPModel.prompts(labels, template: template).map { [$0] })
    }

    /// Cosine of each image embedding [N, D] to each class: [N, classes].
    public func cosines(_ imageEmbeddings: Tensor) -> Tensor {
        imageEmbeddings.l2Normalized().matmul(classEmbeddings, transposeOther: true)
    }

    /// softmax(exp(logit_scale) * cosine) over the classes: [N, classes].
    public func probabilities(_ imageEmbeddings: Tensor) -> Tensor {
        (cosines(imageEmbeddings) * logitScale).softmax()
    }

    /// The index of each image's best class (the first on ties).
    public func predictions(_ imageEmbeddings: Tensor) -> [Int] {
        cosines(imageEmbeddings).rows().map(Self.topClass)
    }

    /// The class with the highest score (the first on ties).
    public static func topClass(_ row: [Float]) -> Int {
        row.indices.max { row[$0] < row[$1] }!
    }

    /// A row of probabilities as (label, probability), highest first (equal ones keep label order), `k` at most.
    public func ranked(_ row: [Float], top k: Int) -> [(label: String, probability: Float)] {
        let order = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k)
        return order.map { (labels[$0], row[$0]) }
    }
}
