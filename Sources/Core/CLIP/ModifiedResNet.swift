import Imaging
import Tensor
import Weights

/// Where in the image tower a neuron is read.
public enum NeuronTap: String, Codable, CaseIterable, Sendable {
    /// The last block's conv3 output, before its batch norm and the residual add:
    /// the paper's definition (and the default).
    case conv3
    /// The last block's output, after the add and ReLU: what Microscope shows.
    case block
}

/// ResNet bottleneck with anti-aliased downsampling: avg-pool instead of strides.
public final class Bottleneck {
    let conv1: ConvBatchNorm, conv2: ConvBatchNorm, conv3: ConvBatchNorm
    let downsample: ConvBatchNorm?
    let stride: Int

    init(inplanes: Int, planes: Int, stride: Int) {
        conv1 = ConvBatchNorm(input: inplanes, output: planes, kernel: 1)
        conv2 = ConvBatchNorm(input: planes, output: planes, kernel: 3, padding: 1)
        conv3 = ConvBatchNorm(input: planes, output: planes * 4, kernel: 1)
        downsample = stride > 1 || inplanes != planes * 4
            ? ConvBatchNorm(input: inplanes, output: planes * 4, kernel: 1) : nil
        self.stride = stride
    }

    var units: [ConvBatchNorm] { [conv1, conv2, conv3] + (downsample.map { [$0] } ?? []) }

    func parameters(_ prefix: String) -> [NamedParameter] {
        conv1.parameters(conv: prefix + ".conv1", norm: prefix + ".bn1")
            + conv2.parameters(conv: prefix + ".conv2", norm: prefix + ".bn2")
            + conv3.parameters(conv: prefix + ".conv3", norm: prefix + ".bn3")
            + (downsample?.parameters(conv: prefix + ".downsample.0", norm: prefix + ".downsample.1") ?? [])
    }

    /// The residual branch up to conv3's input (after conv2, ReLU and pooling).
    func branchBeforeConv3(_ x: Tensor, mode: ForwardMode) -> Tensor {
        conv2(conv1(x, mode: mode, relu: true), mode: mode, relu: true).avgPool2d(stride)
    }

    func shortcut(_ x: Tensor, mode: ForwardMode) -> Tensor {
        guard let downsample else { return x }
        return downsample(x.avgPool2d(stride), mode: mode)
    }

    func callAsFunction(_ x: Tensor, mode: ForwardMode) -> Tensor {
        conv3(branchBeforeConv3(x, mode: mode), mode: mode, residual: shortcut(x, mode: mode), relu: true)
    }

    /// The block with its conv3 output (pre-norm) exposed.
    func forwardExposingConv3(_ x: Tensor, mode: ForwardMode) -> (conv3: Tensor, output: Tensor) {
        let raw = conv3.convolve(branchBeforeConv3(x, mode: mode))
        return (raw, conv3.normalize(raw, mode: mode).addingReLU(shortcut(x, mode: mode)))
    }
}

/// Attention pooling of the last feature map into one embedding: the mean token
/// queries all tokens (mean + spatial positions).
public final class AttentionPool2d {
    let positionalEmbedding: Tensor
    let query: Linear, key: Linear, value: Linear, output: Linear
    let heads: Int

    init(grid: Int, channels: Int, heads: Int, outputDim: Int) {
        positionalEmbedding = Tensor.zeros([grid * grid + 1, channels])
        query = Linear(input: channels, output: channels)
        key = Linear(input: channels, output: channels)
        value = Linear(input: channels, output: channels)
        output = Linear(input: channels, output: outputDim)
        self.heads = heads
    }

    func parameters(_ prefix: String) -> [NamedParameter] {
        [(prefix + ".positional_embedding", positionalEmbedding)] + query.parameters(prefix + ".q_proj")
            + key.parameters(prefix + ".k_proj") + value.parameters(prefix + ".v_proj") + output.parameters(prefix + ".c_proj")
    }

    /// [N, C, H, W] -> [N, outputDim].
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        precondition(hw + 1 == positionalEmbedding.shape[0],
                     "attention pool: a \(x.shape[2])x\(x.shape[3]) feature map for a positional embedding of \(positionalEmbedding.shape[0]) tokens")
        let spatial = x.reshaped([n, c, hw]).transposed()                    // [N, HW, C]
        let tokens = Tensor.concatenate([spatial.mean(axis: 1, keepingDimension: true), spatial], axis: 1) + positionalEmbedding
        let q = query(tokens.sliced(axis: 1, 0..<1))                         // [N, 1, C]
        let attended = MultiHeadAttention.attend(query: q, key: key(tokens), value: value(tokens), heads: heads)
        return output(attended).reshaped([n, -1])
    }
}

/// CLIP's ResNet image tower.
public final class ModifiedResNet {
    public let config: CLIPConfig
    let stem: [ConvBatchNorm]
    let layers: [[Bottleneck]]
    let attentionPool: AttentionPool2d

    init(config: CLIPConfig) {
        self.config = config
        let width = config.visionWidth
        stem = [ConvBatchNorm(input: 3, output: width / 2, kernel: 3, stride: 2, padding: 1),
                ConvBatchNorm(input: width / 2, output: width / 2, kernel: 3, padding: 1),
                ConvBatchNorm(input: width / 2, output: width, kernel: 3, padding: 1)]
        var inplanes = width
        layers = config.visionLayers.enumerated().map { index, blocks in
            let planes = width << index
            return (0..<blocks).map { b in
                defer { inplanes = planes * 4 }
                return Bottleneck(inplanes: inplanes, planes: planes, stride: b == 0 && index > 0 ? 2 : 1)
            }
        }
        attentionPool = AttentionPool2d(grid: config.featureGrid, channels: width * 32, heads: config.visionHeads,
                                        outputDim: config.embedDim)
    }

    var units: [ConvBatchNorm] { stem + layers.flatMap { $0.flatMap(\.units) } }

    func parameters(_ prefix: String) -> [NamedParameter] {
        var result: [NamedParameter] = []
        for (i, unit) in stem.enumerated() {
            result += unit.parameters(conv: "\(prefix).conv\(i + 1)", norm: "\(prefix).bn\(i + 1)")
        }
        for (l, layer) in layers.enumerated() {
            for (b, block) in layer.enumerated() { result += block.parameters("\(prefix).layer\(l + 1).\(b)") }
        }
        return result + attentionPool.parameters(prefix + ".attnpool")
    }

    func stemForward(_ x: Tensor, mode: ForwardMode) -> Tensor {
        var h = x
        for unit in stem { h = unit(h, mode: mode, relu: true) }
        return h.avgPool2d(2)
    }

    /// Input of the last block (everything before it).
    func beforeLastBlock(_ images: Tensor, mode: ForwardMode) -> Tensor {
        precondition(images.rank == 4 && images.shape[1] == 3,
                     "image tower: expected [N, 3, H, W] pixels, got \(images.shape)")
        var h = stemForward(images, mode: mode)
        for (l, layer) in layers.enumerated() {
            for (b, block) in layer.enumerated() where !(l == layers.count - 1 && b == layer.count - 1) {
                h = block(h, mode: mode)
            }
        }
        return h
    }

    var lastBlock: Bottleneck { layers[layers.count - 1][layers[layers.count - 1].count - 1] }

    /// The trunk up to the neuron tap, with no attention pool: [N, neurons, g, g].
    public func neuronMap(_ images: Tensor, tap: NeuronTap, mode: ForwardMode = .inference) -> Tensor {
        let h = beforeLastBlock(images, mode: mode)
        switch tap {
        case .conv3: return lastBlock.conv3.convolve(lastBlock.branchBeforeConv3(h, mode: mode))
        case .block: return lastBlock(h, mode: mode)
        }
    }

    /// The last block's conv3 input [N, planes, g, g] (after its conv2, ReLU and pooling):
    /// the truncated network the paper's feature-visualization code optimizes against.
    public func conv3Input(_ images: Tensor, mode: ForwardMode = .inference) -> Tensor {
        lastBlock.branchBeforeConv3(beforeLastBlock(images, mode: mode), mode: mode)
    }

    /// Row `neuron` of the last block's conv3 weight (a 1x1 conv): how that neuron weighs
    /// each channel of `conv3Input`.
    public func conv3WeightRow(_ neuron: Int) -> [Float] {
        let weight = lastBlock.conv3.weight
        let inputs = weight.shape[1] * weight.shape[2] * weight.shape[3]
        precondition(neuron >= 0 && neuron < weight.shape[0], "conv3WeightRow: no neuron \(neuron) of \(weight.shape[0])")
        return weight.withUnsafeBufferPointer { Array($0[(neuron * inputs)..<((neuron + 1) * inputs)]) }
    }

    /// The image embedding of the trunk's features (the attention pool).
    public func embedding(features: Tensor) -> Tensor { attentionPool(features) }

    /// The whole trunk (layer4's output) and, when asked, the tapped map too.
    public func trunk(_ images: Tensor, tap: NeuronTap? = nil, mode: ForwardMode = .inference) -> (features: Tensor, tapped: Tensor?) {
        let h = beforeLastBlock(images, mode: mode)
        switch tap {
        case .conv3?:
            let (raw, out) = lastBlock.forwardExposingConv3(h, mode: mode)
            return (out, raw)
        case .block?:
            let out = lastBlock(h, mode: mode)
            return (out, out)
        case nil:
            return (lastBlock(h, mode: mode), nil)
        }
    }

    /// Image embeddings [N, embedDim] (not normalised).
    public func callAsFunction(_ images: Tensor, mode: ForwardMode = .inference) -> Tensor {
        attentionPool(trunk(images, mode: mode).features)
    }

    func initialize(_ generator: inout SeededGenerator) {
        for unit in units {
            Initializer.kaiming(unit.weight, &generator)
            // Non-trivial statistics so that a random model exercises every term.
            Initializer.normal(unit.runningMean, std: 0.1, &generator)
            unit.runningVariance.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = 0.5 + generator.nextUniform() }
            }
            unit.invalidateFolding()
        }
        // Residual branches start small (OpenAI zero-initialises bn3.weight), so that
        // a random model's activations stay bounded through all the blocks.
        for block in layers.joined() {
            block.conv3.bnWeight.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = 0.1 * generator.nextUniform() }
            }
        }
        let c = config.neuronCount
        Initializer.normal(attentionPool.positionalEmbedding, std: 1 / Float(c).squareRoot(), &generator)
        for linear in [attentionPool.query, attentionPool.key, attentionPool.value, attentionPool.output] {
            Initializer.normal(linear.weight, std: 1 / Float(c).squareRoot(), &generator)
        }
    }
}
