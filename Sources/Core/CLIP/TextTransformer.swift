import Tensor
import Weights

/// One pre-LN residual block of the text transformer.
final class ResidualAttentionBlock {
    let inProjection: Linear, outProjection: Linear
    let norm1: LayerNorm, norm2: LayerNorm
    let fc: Linear, projection: Linear
    let heads: Int

    init(width: Int, heads: Int) {
        inProjection = Linear(input: width, output: 3 * width)
        outProjection = Linear(input: width, output: width)
        norm1 = LayerNorm(width)
        norm2 = LayerNorm(width)
        fc = Linear(input: width, output: 4 * width)
        projection = Linear(input: 4 * width, output: width)
        self.heads = heads
    }

    func parameters(_ prefix: String) -> [NamedParameter] {
        [(prefix + ".attn.in_proj_weight", inProjection.weight), (prefix + ".attn.in_proj_bias", inProjection.bias!)]
            + outProjection.parameters(prefix + ".attn.out_proj") + norm1.parameters(prefix + ".ln_1")
            + fc.parameters(prefix + ".mlp.c_fc") + projection.parameters(prefix + ".mlp.c_proj")
            + norm2.parameters(prefix + ".ln_2")
    }

    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let width = x.shape[2]
        let qkv = inProjection(norm1(x))
        let attended = MultiHeadAttention.attend(query: qkv.sliced(axis: 2, 0..<width),
                                                 key: qkv.sliced(axis: 2, width..<(2 * width)),
                                                 value: qkv.sliced(axis: 2, (2 * width)..<(3 * width)),
                                                 heads: heads, mask: mask)
        let h = x + outProjection(attended)
        return h + projection(fc(norm2(h)).quickGELU())
    }
}

/// CLIP's text tower: a causal transformer read out at the end-of-text token.
public final class TextTransformer {
    public let config: CLIPConfig
    let tokenEmbedding: Tensor
    let positionalEmbedding: Tensor
    let blocks: [ResidualAttentionBlock]
    let finalNorm: LayerNorm
    let textProjection: Tensor

    init(config: CLIPConfig) {
        self.config = config
        tokenEmbedding = Tensor.zeros([config.vocabSize, config.textWidth])
        positionalEmbedding = Tensor.zeros([config.contextLength, config.textWidth])
        blocks = (0..<config.textLayers).map { _ in ResidualAttentionBlock(width: config.textWidth, heads: config.textHeads) }
        finalNorm = LayerNorm(config.textWidth)
        textProjection = Tensor.zeros([config.textWidth, config.embedDim])
    }

    func parameters() -> [NamedParameter] {
        var result: [NamedParameter] = [("token_embedding.weight", tokenEmbedding), ("positional_embedding", positionalEmbedding)]
        for (i, block) in blocks.enumerated() { result += block.parameters("transformer.resblocks.\(i)") }
        return result + finalNorm.parameters("ln_final") + [("text_projection", textProjection)]
    }

    /// Text embeddings [N, embedDim] for token rows of context length (SOT ... EOT,
    /// zero-padded). Positions after the last end-of-text token of the batch cannot
    /// influence it under the causal mask, so they are not computed.
    public func callAsFunction(tokens: [[Int32]]) -> Tensor {
        let endPositions = tokens.map(Self.endOfTextPosition)
        let length = (endPositions.max() ?? 0) + 1
        let ids = tokens.flatMap { row in row.prefix(length).map(Int.init) }
        let x = tokenEmbedding.gatherRows(ids).reshaped([tokens.count, length, config.textWidth])
        return encode(embedded: x, endPositions: endPositions)
    }

    /// The token embedding table [vocabulary, width] (read it; maximal text starts from its rows).
    public var tokenEmbeddingTable: Tensor { tokenEmbedding }

    /// The tower from token embeddings [N, L, W] on (what maximal-text optimises).
    public func encode(embedded x: Tensor, endPositions: [Int]) -> Tensor {
        let (n, length) = (x.shape[0], x.shape[1])
        precondition(length <= config.contextLength, "text tower: \(length) tokens for a context of \(config.contextLength)")
        var h = x + positionalEmbedding.sliced(axis: 0, 0..<length)
        let mask = Self.causalMask(length)
        for block in blocks { h = block(h, mask: mask) }
        h = finalNorm(h)
        let rows = h.reshaped([n * length, config.textWidth]).gatherRows(endPositions.enumerated().map { $0.offset * length + $0.element })
        return rows.matmul(textProjection)
    }

    /// The index of the end-of-text token: the largest id, as CLIP's argmax reads it.
    static func endOfTextPosition(_ row: [Int32]) -> Int {
        var best = 0
        for (i, id) in row.enumerated() where id > row[best] { best = i }
        return best
    }

    static func causalMask(_ length: Int) -> Tensor {
        Tensor(shape: [length, length]) { p in
            for i in 0..<length { for j in 0..<length { p[i * length + j] = j > i ? -.infinity : 0 } }
        }
    }

    func initialize(_ generator: inout SeededGenerator) {
        let width = Float(config.textWidth)
        Initializer.normal(tokenEmbedding, std: 0.02, &generator)
        Initializer.normal(positionalEmbedding, std: 0.01, &generator)
        let projectionStd = 1 / width.squareRoot() / Float(2 * config.textLayers).squareRoot()
        for block in blocks {
            Initializer.normal(block.inProjection.weight, std: 1 / width.squareRoot(), &generator)
            Initializer.normal(block.outProjection.weight, std: projectionStd, &generator)
            Initializer.normal(block.fc.weight, std: 1 / (2 * width).squareRoot(), &generator)
            Initializer.normal(block.projection.weight, std: projectionStd, &generator)
        }
        Initializer.normal(textProjection, std: 1 / width.squareRoot(), &generator)
    }
}
