import Tensor
import Weights

/// How a forward pass treats batch norm.
public enum ForwardMode: Sendable {
    /// Running statistics, folded into the convolutions (frozen weights).
    case inference
    /// Batch statistics; running statistics are updated (training).
    case training
}

/// A named parameter tensor, keyed as in OpenAI's state dict.
public typealias NamedParameter = (key: String, tensor: Tensor)

/// A bias-free convolution followed by batch norm: the unit ModifiedResNet is
/// built from. In inference the norm is folded into the convolution's weight and
/// a bias, so that it costs nothing.
public final class ConvBatchNorm {
    public let weight: Tensor
    public let bnWeight: Tensor, bnBias: Tensor, runningMean: Tensor, runningVariance: Tensor
    public let stride: Int, padding: Int
    static let epsilon: Float = 1e-5
    static let momentum: Float = 0.1
    private var folded: (weight: Tensor, bias: Tensor)?

    init(input: Int, output: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        weight = Tensor.zeros([output, input, kernel, kernel])
        bnWeight = Tensor.ones([output])
        bnBias = Tensor.zeros([output])
        runningMean = Tensor.zeros([output])
        runningVariance = Tensor.ones([output])
        self.stride = stride
        self.padding = padding
    }

    func parameters(conv: String, norm: String) -> [NamedParameter] {
        [(conv + ".weight", weight), (norm + ".weight", bnWeight), (norm + ".bias", bnBias),
         (norm + ".running_mean", runningMean), (norm + ".running_var", runningVariance)]
    }

    /// The trainable tensors (running statistics are buffers).
    var trainable: [Tensor] { [weight, bnWeight, bnBias] }

    /// Forgets the folded weights after the parameters changed.
    func invalidateFolding() { folded = nil }

    /// conv -> batch norm (+ a residual) (-> ReLU), fused into one op in inference.
    func callAsFunction(_ x: Tensor, mode: ForwardMode, residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        switch mode {
        case .inference:
            let (w, b) = foldedWeights()
            return x.conv2d(weight: w, bias: b, stride: stride, padding: padding, residual: residual, relu: relu)
        case .training:
            var y = normalize(convolve(x), mode: .training)
            if let residual { y = y + residual }
            return relu ? y.relu() : y
        }
    }

    /// The convolution alone (the paper's neuron tap reads this, before the norm).
    func convolve(_ x: Tensor) -> Tensor { x.conv2d(weight: weight, stride: stride, padding: padding) }

    /// The batch norm alone, applied to this unit's convolution output.
    func normalize(_ y: Tensor, mode: ForwardMode) -> Tensor {
        switch mode {
        case .inference:
            return y.batchNorm(mean: runningMean, variance: runningVariance, weight: bnWeight, bias: bnBias,
                               epsilon: Self.epsilon)
        case .training:
            let result = y.batchNormTraining(weight: bnWeight, bias: bnBias, epsilon: Self.epsilon)
            let m = Self.momentum
            runningMean.withUnsafeMutableBufferPointer { r in
                for i in 0..<r.count { r[i] = (1 - m) * r[i] + m * result.mean[i] }
            }
            runningVariance.withUnsafeMutableBufferPointer { r in
                for i in 0..<r.count { r[i] = (1 - m) * r[i] + m * result.unbiasedVariance[i] }
            }
            return result.output
        }
    }

    private func foldedWeights() -> (Tensor, Tensor) {
        if let folded { return folded }
        let out = weight.shape[0], perFilter = weight.count / out
        let (gamma, beta, mean, variance) = (bnWeight.values, bnBias.values, runningMean.values, runningVariance.values)
        let scale = (0..<out).map { gamma[$0] / (variance[$0] + Self.epsilon).squareRoot() }
        let w = Tensor(shape: weight.shape) { p in
            weight.withUnsafeBufferPointer { src in
                for o in 0..<out { for i in 0..<perFilter { p[o * perFilter + i] = src[o * perFilter + i] * scale[o] } }
            }
        }
        let b = Tensor(shape: [out]) { p in
            for o in 0..<out { p[o] = beta[o] - mean[o] * scale[o] }
        }
        folded = (w, b)
        return (w, b)
    }
}

/// y = x Wᵀ + b.
public final class Linear {
    public let weight: Tensor, bias: Tensor?

    init(input: Int, output: Int, bias: Bool = true) {
        weight = Tensor.zeros([output, input])
        self.bias = bias ? Tensor.zeros([output]) : nil
    }

    func parameters(_ prefix: String) -> [NamedParameter] {
        [(prefix + ".weight", weight)] + (bias.map { [(prefix + ".bias", $0)] } ?? [])
    }

    func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }
}

/// Layer norm over the last dimension.
public final class LayerNorm {
    public let weight: Tensor, bias: Tensor

    init(_ width: Int) {
        weight = Tensor.ones([width])
        bias = Tensor.zeros([width])
    }

    func parameters(_ prefix: String) -> [NamedParameter] { [(prefix + ".weight", weight), (prefix + ".bias", bias)] }

    func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias) }
}

/// Multi-head attention over batch-first [N, L, C] inputs, with separate q/k/v
/// projections (the attention pool) or one packed in_proj (the text blocks).
enum MultiHeadAttention {
    /// Splits [N, L, heads*d] into [N*heads, L, d].
    static func splitHeads(_ x: Tensor, heads: Int) -> Tensor {
        let (n, l, c) = (x.shape[0], x.shape[1], x.shape[2])
        return x.reshaped([n, l, heads, c / heads]).permuted([0, 2, 1, 3]).reshaped([n * heads, l, c / heads])
    }

    /// Joins [N*heads, L, d] back into [N, L, heads*d].
    static func mergeHeads(_ x: Tensor, heads: Int) -> Tensor {
        let (nh, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        return x.reshaped([nh / heads, heads, l, d]).permuted([0, 2, 1, 3]).reshaped([nh / heads, l, heads * d])
    }

    static func attend(query: Tensor, key: Tensor, value: Tensor, heads: Int, mask: Tensor? = nil) -> Tensor {
        let out = Tensor.scaledDotProductAttention(query: splitHeads(query, heads: heads), key: splitHeads(key, heads: heads),
                                                   value: splitHeads(value, heads: heads), mask: mask)
        return mergeHeads(out, heads: heads)
    }
}

/// Weight initialisation for fresh (random or to-be-trained) models.
enum Initializer {
    static func normal(_ t: Tensor, std: Float, _ generator: inout SeededGenerator) {
        t.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = generator.nextNormal() * std } }
    }

    /// He initialisation for a conv feeding a ReLU.
    static func kaiming(_ conv: Tensor, _ generator: inout SeededGenerator) {
        normal(conv, std: (2 / Float(conv.count / conv.shape[0])).squareRoot(), &generator)
    }
}
