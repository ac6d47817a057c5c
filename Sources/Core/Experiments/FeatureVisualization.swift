import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor

/// The objectives of feature visualization (see docs/visualize.md for each in full).
public enum VisualizationVariant: String, Codable, CaseIterable, Sendable {
    /// The paper's code: the network cut after the last block's conv2; 1 - cos(spatial max
    /// of that map, the neuron's conv3 weight row), times C; the code's range penalty; TV.
    case paperCode = "paper-code"
    /// The paper's formula: the same cosine with Mahendran & Vedaldi's alpha-norm and TV,
    /// pixels kept within the bound B+ = 2B, smaller jitter.
    case paperFormula = "paper-formula"
    /// The paper's gray-scale variant: a cross-channel penalty in place of TV.
    case gray
    /// The neuron's own activation (mean or max over positions), as lucid and Microscope.
    case direct
}

/// What the optimizer moves: the pixels themselves, or lucid's decorrelated Fourier
/// coefficients (scaled by 1/frequency, colours decorrelated, squashed by a sigmoid), which
/// favour natural-looking images over high-frequency patterns.
public enum ImageParameterization: String, Codable, CaseIterable, Sendable {
    case pixels, fourier
}

/// Every number of a feature visualization; the defaults are the spec's.
public struct VisualizationSettings: Codable, Sendable, Equatable {
    public var variant: VisualizationVariant
    public var steps: Int
    public var seed: UInt64 = 10
    public var learningRate: Float = 0.01
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    /// C, the weight of the neuron term.
    public var objectiveWeight: Float = 10
    /// The largest translation per step, as a fraction of the image side.
    public var jitter: Double
    /// alpha and B of the alpha-norm (B also sets V = B / 6.5 of TV and the gray term's scale).
    public var alpha: Float = 6
    public var bound: Float = 2.12
    /// beta of TV and of the gray term.
    public var beta: Float = 2
    /// Weight of the smoothness term (TV, or the cross-channel term of `gray`).
    public var smoothnessWeight: Float = 1
    /// How `direct` reads the neuron's map, and where.
    public var reduce: ActivationReduce = .mean
    public var tap: NeuronTap = .conv3
    /// Image side in pixels (default: the model's input resolution).
    public var size: Int?
    public var parameterization: ImageParameterization
    /// lucid's random scale and rotation on top of the jitter (nil: translations only).
    public var transforms: RandomTransforms?
    /// `fourier`: coefficients are scaled by 1 / frequency^decay (nil: 1, lucid's); larger
    /// values favour smoother images.
    public var fourierDecay: Double?
    public var spectrumDecay: Double { fourierDecay ?? 1 }

    /// The spec's settings of a variant.
    public init(variant: VisualizationVariant) {
        self.variant = variant
        parameterization = .pixels
        switch variant {
        case .paperCode: steps = 1000; jitter = 0.5
        case .paperFormula: steps = 1000; jitter = 0.125
        case .gray: steps = 200; jitter = 0.5
        case .direct: steps = 512; jitter = 0.0625; parameterization = .fourier; smoothnessWeight = 0; transforms = .lucid
        }
    }

    /// Sets the largest scale and/or turn of `transforms`, keeping the other as it was (both 0: none).
    public mutating func changeTransforms(scale: Double?, rotation: Double?) {
        guard scale != nil || rotation != nil else { return }
        let base = transforms ?? RandomTransforms(scale: 0, rotation: 0)
        let changed = RandomTransforms(scale: scale ?? base.scale, rotation: rotation ?? base.rotation)
        transforms = changed.isIdentity ? nil : changed
    }

    /// The code's range penalty applies past these (normalized units).
    public static let rangeHigh: Float = 2.1317, rangeLow: Float = -1.7923

    public func validate() throws {
        if let invalid = InvalidParameter.nonFinite([
            "learningRate": Double(learningRate), "beta1": Double(beta1), "beta2": Double(beta2),
            "objectiveWeight": Double(objectiveWeight), "jitter": jitter, "alpha": Double(alpha), "bound": Double(bound),
            "beta": Double(beta), "smoothnessWeight": Double(smoothnessWeight), "scale": transforms?.scale ?? 0,
            "rotate": transforms?.rotation ?? 0, "decay": fourierDecay ?? 1,
        ]) { throw invalid }
        if steps < 1 { throw InvalidParameter("steps", "must be at least 1, got \(steps)") }
        if !(learningRate > 0) { throw InvalidParameter("learningRate", "must be positive, got \(learningRate)") }
        if !(0...1).contains(jitter) { throw InvalidParameter("jitter", "must be in 0...1 (a fraction of the side), got \(jitter)") }
        if !(alpha > 0) || !(bound > 0) || !(beta > 0) {
            throw InvalidParameter(!(alpha > 0) ? "alpha" : !(bound > 0) ? "bound" : "beta", "must be positive")
        }
        if objectiveWeight < 0 || smoothnessWeight < 0 {
            throw InvalidParameter(objectiveWeight < 0 ? "objectiveWeight" : "smoothnessWeight", "cannot be negative")
        }
        if let transforms {
            if !(0..<1).contains(transforms.scale) { throw InvalidParameter("scale", "must be in 0..<1 (a fraction of the size), got \(transforms.scale)") }
            if !(0...180).contains(transforms.rotation) { throw InvalidParameter("rotate", "must be in 0...180 degrees, got \(transforms.rotation)") }
        }
        if let fourierDecay, !(0...4).contains(fourierDecay) { throw InvalidParameter("decay", "must be in 0...4, got \(fourierDecay)") }
        if let size, size < 32 || size % 32 != 0 { throw InvalidParameter("size", "must be a multiple of 32 pixels (the ResNet halves it five times), got \(size)") }
    }
}

/// Random scaling and rotation of the image at each step (lucid's `random_scale` and
/// `random_rotate`), so that what excites the neuron survives small changes of size and angle.
public struct RandomTransforms: Codable, Sendable, Equatable {
    /// The largest change of size, a fraction (0.1: from 0.9 to 1.1 times).
    public var scale: Double
    /// The largest turn either way, in degrees.
    public var rotation: Double

    public init(scale: Double, rotation: Double) {
        self.scale = scale
        self.rotation = rotation
    }

    /// lucid's defaults: sizes 0.9...1.1, angles -10...10 degrees.
    public static let lucid = RandomTransforms(scale: 0.1, rotation: 10)

    var isIdentity: Bool { scale == 0 && rotation == 0 }
}

/// Optimizes images (one neuron per batch item) to excite neurons of a model's last layer.
/// Only input gradients are computed; the model stays as it is. Each item's noise and
/// jitter come from (seed, neuron, step) alone, so a neuron's image does not depend on
/// the batch it is in, and a run resumed from a checkpoint continues bit for bit.
public final class FeatureVisualizer {
    public let model: CLIPModel
    public let settings: VisualizationSettings
    public let neurons: [Int]
    public let size: Int
    /// What the optimizer moves: the pixels, or per item and channel the Fourier
    /// coefficients of cosines and of sines ([N * 3, size, size] each).
    public let parameters: [Tensor]
    public private(set) var optimizer: Adam
    /// The Fourier bases and per-frequency scale (`fourier` only).
    private let basis: FourierBasis?
    /// Steps done.
    public private(set) var step = 0
    /// Per item, the conv3 weight row of its neuron (the paper variants' target).
    private let targets: Tensor?
    /// [N, neurons, 1, 1] one-hot of each item's neuron (`direct`).
    private let selector: Tensor?

    public init(model: CLIPModel, neurons: [Int], settings: VisualizationSettings) throws {
        try settings.validate()
        let count = model.config.neuronCount
        guard !neurons.isEmpty else { throw InvalidParameter("neurons", "none given") }
        if let bad = neurons.first(where: { !(0..<count).contains($0) }) {
            throw InvalidParameter("neuron", "\(bad) is out of range: this model has neurons 0-\(count - 1)")
        }
        self.model = model
        self.settings = settings
        self.neurons = neurons
        size = settings.size ?? model.config.imageResolution
        // Refused before the first buffer of that size is made.
        try model.config.checkStepFits(size: size, batch: neurons.count)
        switch settings.parameterization {
        case .pixels:
            parameters = [FeatureVisualizer.initialPixels(neurons: neurons, size: size, seed: settings.seed)]
            basis = nil
        case .fourier:
            parameters = FeatureVisualizer.initialCoefficients(neurons: neurons, size: size, seed: settings.seed)
            basis = FourierBasis(size: size, decay: settings.spectrumDecay)
        }
        for parameter in parameters { parameter.requiresGrad = true }
        optimizer = Adam(parameters: parameters, learningRate: settings.learningRate, beta1: settings.beta1, beta2: settings.beta2)
        if settings.variant == .direct {
            targets = nil
            selector = Tensor(shape: [neurons.count, count, 1, 1]) { (p: UnsafeMutableBufferPointer<Float>) in
                for i in 0..<p.count { p[i] = 0 }
                for (item, neuron) in neurons.enumerated() { p[item * count + neuron] = 1 }
            }
        } else {
            let rows = neurons.map { model.visual.conv3WeightRow($0) }
            targets = Tensor(shape: [neurons.count, rows[0].count], values: rows.flatMap { $0 })
            selector = nil
        }
    }

    /// Uniform 8-bit noise per item (seeded by the seed and its neuron), preprocessed.
    static func initialPixels(neurons: [Int], size: Int, seed: UInt64) -> Tensor {
        let plane = size * size
        return Tensor(shape: [neurons.count, 3, size, size]) { (p: UnsafeMutableBufferPointer<Float>) in
            for (item, neuron) in neurons.enumerated() {
                var generator = SeededGenerator(seed: mix(seed, UInt64(neuron), 0x1A17))
                for c in 0..<3 {
                    let (mean, std) = (CLIPModel.pixelMean[c], CLIPModel.pixelStd[c])
                    for i in 0..<plane {
                        let byte = Float(generator.next() >> 56)
                        p[(item * 3 + c) * plane + i] = (byte / 255 - mean) / std
                    }
                }
            }
        }
    }

    /// Small normal coefficients per item (seeded by the seed and its neuron): cosines, then sines.
    static func initialCoefficients(neurons: [Int], size: Int, seed: UInt64) -> [Tensor] {
        let plane = size * size
        let values = neurons.map { neuron -> [Float] in
            var generator = SeededGenerator(seed: mix(seed, UInt64(neuron), 0xF0F0))
            return (0..<(6 * plane)).map { _ in generator.nextNormal() * 0.01 }
        }
        return (0..<2).map { half in
            Tensor(shape: [neurons.count * 3, size, size], values: values.flatMap { $0[(half * 3 * plane)..<((half + 1) * 3 * plane)] })
        }
    }

    /// The images the model sees [N, 3, size, size], normalized as its input.
    public func render() -> Tensor {
        guard let basis else { return parameters[0] }
        let n = neurons.count
        // Decorrelated colours from the coefficients, then lucid's colour matrix, a sigmoid, and the model's normalization.
        let decorrelated = basis.image(cosines: parameters[0], sines: parameters[1]).reshaped([n, 3, size * size])
        let rgb = decorrelated.transposed().matmul(basis.colour, transposeOther: true).transposed().sigmoid()  // [N, 3, HW] in 0...1
        return ((rgb - basis.mean) * basis.inverseStd).reshaped([n, 3, size, size])
    }

    /// The move of item `neuron` at `step`: a translation uniform in +-jitter of the side (whole
    /// pixels), then, with `transforms`, a scale and an angle uniform in their ranges.
    func warp(neuron: Int, step: Int) -> ImageWarp {
        let limit = Int((settings.jitter * Double(size)).rounded(.down))
        var generator = SeededGenerator(seed: FeatureVisualizer.mix(settings.seed, UInt64(neuron), UInt64(step) &+ 1))
        var warp = ImageWarp()
        if limit > 0 {
            let span = UInt64(2 * limit + 1)
            warp.translation = (Double(Int(generator.next() % span) - limit), Double(Int(generator.next() % span) - limit))
        }
        if let transforms = settings.transforms, !transforms.isIdentity {
            warp.scale = 1 + transforms.scale * (2 * Double(generator.nextUniform()) - 1)
            warp.angle = transforms.rotation * (2 * Double(generator.nextUniform()) - 1) * Double.pi / 180
        }
        return warp
    }

    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        var hash = FNV1a()
        hash.add(a)
        hash.add(b)
        hash.add(c)
        return hash.value
    }

    /// The loss of the current pixels seen through each item's warp: each item's total, and its terms.
    public func loss(warps: [ImageWarp]) -> (total: Tensor, terms: [(name: String, values: [Float])]) {
        let x = render()
        let n = neurons.count
        // Whole-pixel moves alone take the exact shift (zeros moved in, like the warp's fill).
        let moved = warps.allSatisfy({ $0.scale == 1 && $0.angle == 0 })
            ? x.shifted(rows: warps.map { Int($0.translation.rows) }, columns: warps.map { Int($0.translation.columns) })
            : x.warped(warps, fill: [0, 0, 0])
        var perItem: Tensor
        var terms: [(name: String, values: [Float])] = []
        switch settings.variant {
        case .direct:
            let map = model.visual.neuronMap(moved, tap: settings.tap)
            let own = (map * selector!).sum(axis: 1)                            // [N, g, g]
            let flat = own.reshaped([n, -1])
            let activation = settings.reduce == .max ? flat.max(axis: 1) : flat.mean(axis: 1)
            terms.append(("activation", activation.values))
            perItem = activation.negated() * settings.objectiveWeight
        case .paperCode, .paperFormula, .gray:
            let phi = model.visual.conv3Input(moved).spatialMax()                 // [N, planes]
            let distance = phi.cosineSimilarity(targets!).negated() + 1
            terms.append(("1-cos", distance.values))
            perItem = distance * settings.objectiveWeight
        }
        // The Fourier images are bounded by their sigmoid: no range term.
        if settings.parameterization == .pixels {
            let range: Tensor
            if settings.variant == .paperFormula {
                range = alphaNorm(x)
                terms.append(("alpha-norm", range.values))
            } else {
                range = codeRange(x)
                terms.append(("range", range.values))
            }
            perItem = perItem + range
        }
        if settings.smoothnessWeight > 0 {
            let smooth = settings.variant == .gray ? crossChannel(x) : totalVariation(x)
            terms.append((settings.variant == .gray ? "gray" : "tv", smooth.values))
            perItem = perItem + smooth * settings.smoothnessWeight
        }
        terms.insert(("loss", perItem.values), at: 0)
        return (perItem.sum(), terms)
    }

    /// The code's range penalty per item: |mean(x)| when any value leaves the range.
    func codeRange(_ x: Tensor) -> Tensor {
        let n = x.shape[0]
        let flat = x.reshaped([n, -1])
        let per = flat.count / n
        let outside = x.withUnsafeBufferPointer { p in
            (0..<n).map { item -> Float in
                let values = p[(item * per)..<((item + 1) * per)]
                return values.contains { $0 > VisualizationSettings.rangeHigh || $0 < VisualizationSettings.rangeLow } ? 1 : 0
            }
        }
        return flat.mean(axis: 1).abs() * Tensor(shape: [n], values: outside)
    }

    /// Mahendran & Vedaldi's alpha-norm per item: sum over pixels of |x(v,u,:)|^alpha / (H W B^alpha).
    func alphaNorm(_ x: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let norms = x.squared().sum(axis: 1) + 1e-12                            // [N, H, W]
        let scale = 1 / (Float(h * w) * Foundation.pow(settings.bound, settings.alpha))
        return norms.pow(settings.alpha / 2).reshaped([n, -1]).sum(axis: 1) * scale
    }

    /// Total variation per item with circular differences along W and H:
    /// sum ((dx)^2 + (dy)^2)^(beta/2) / (H W V^beta), V = B / 6.5.
    func totalVariation(_ x: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let zeros = [Int](repeating: 0, count: n), ones = [Int](repeating: -1, count: n)
        let dx = x.shifted(rows: zeros, columns: ones, circular: true) - x
        let dy = x.shifted(rows: ones, columns: zeros, circular: true) - x
        var energy = dx.squared() + dy.squared()
        if settings.beta != 2 { energy = (energy + 1e-12).pow(settings.beta / 2) }
        let v = settings.bound / 6.5
        return energy.reshaped([n, -1]).sum(axis: 1) * (1 / (Float(h * w) * Foundation.pow(v, settings.beta)))
    }

    /// The gray variant's cross-channel term per item: sum (x(k+1) - x(k))^beta / (H W B^alpha).
    func crossChannel(_ x: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let difference = x.sliced(axis: 1, 1..<3) - x.sliced(axis: 1, 0..<2)
        var energy = difference.squared()
        if settings.beta != 2 { energy = (energy + 1e-12).pow(settings.beta / 2) }
        let scale = 1 / (Float(h * w) * Foundation.pow(settings.bound, settings.alpha))
        return energy.reshaped([n, -1]).sum(axis: 1) * scale
    }

    /// One optimization step; returns each item's loss terms before the step.
    @discardableResult
    public func advance() -> [(name: String, values: [Float])] {
        let warps = neurons.map { warp(neuron: $0, step: step) }
        optimizer.zeroGrad()
        let (total, terms) = loss(warps: warps)
        total.backward()
        optimizer.step()
        optimizer.zeroGrad()
        if settings.variant == .paperFormula, settings.parameterization == .pixels { clampPixelNorms(to: 2 * settings.bound) }
        step += 1
        return terms
    }

    /// Keeps every pixel's colour vector within `limit` (the formula's B+).
    func clampPixelNorms(to limit: Float) {
        let pixels = parameters[0]
        let (n, h, w) = (pixels.shape[0], pixels.shape[2], pixels.shape[3])
        let plane = h * w
        pixels.withUnsafeMutableBufferPointer { p in
            for item in 0..<n {
                for i in 0..<plane {
                    let base = item * 3 * plane + i
                    let norm = (p[base] * p[base] + p[base + plane] * p[base + plane] + p[base + 2 * plane] * p[base + 2 * plane]).squareRoot()
                    if norm > limit {
                        let scale = limit / norm
                        for c in 0..<3 { p[base + c * plane] *= scale }
                    }
                }
            }
        }
    }

    /// Item `item`'s pixels de-normalized to an 8-bit RGB image.
    public func image(_ item: Int) -> Image {
        let plane = size * size
        var bytes = [UInt8](repeating: 0, count: plane * 3)
        render().detached().withUnsafeBufferPointer { p in
            for c in 0..<3 {
                let (mean, std) = (CLIPModel.pixelMean[c], CLIPModel.pixelStd[c])
                for i in 0..<plane {
                    let value = (p[(item * 3 + c) * plane + i] * std + mean) * 255
                    bytes[i * 3 + c] = UInt8(max(0, min(255, value.rounded())))
                }
            }
        }
        return Image(width: size, height: size, channels: 3, pixels: bytes)
    }

    /// The state a checkpoint keeps: the parameters, the optimizer's moments and step count.
    public var checkpointState: (parameters: [[Float]], firstMoment: [[Float]], secondMoment: [[Float]], optimizerSteps: Int, step: Int) {
        let state = optimizer.state
        return (parameters.map(\.values), state.firstMoment, state.secondMoment, state.stepCount, step)
    }

    /// Continues from a checkpoint's state.
    public func restore(parameters values: [[Float]], firstMoment: [[Float]], secondMoment: [[Float]], optimizerSteps: Int,
                        step: Int) throws {
        let counts = parameters.map(\.count)
        guard values.map(\.count) == counts, firstMoment.map(\.count) == counts, secondMoment.map(\.count) == counts else {
            throw JobFailure(message: "a checkpoint of another size (\(values.map(\.count)) values for \(counts))")
        }
        for (parameter, saved) in zip(parameters, values) {
            parameter.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = saved[i] } }
        }
        var state = optimizer.state
        state.firstMoment = firstMoment
        state.secondMoment = secondMoment
        state.stepCount = optimizerSteps
        optimizer.state = state
        self.step = step
    }
}

/// The real 2-D Fourier synthesis as matrix products (so the tape differentiates it):
/// x = C (A C' + B S') + S (B C' - A S') with C[m, k] = cos(2 pi k m / n), S likewise, and
/// the coefficients scaled by 1 / frequency^decay (lucid: decay 1).
final class FourierBasis {
    let cosine: Tensor, sine: Tensor
    /// [size, size]: (1 / (size max(frequency, 1 / size)))^decay, 1 at the lowest frequency.
    let scale: Tensor

    init(size: Int, decay: Double = 1) {
        let n = size
        cosine = Tensor(shape: [n, n]) { (p: UnsafeMutableBufferPointer<Float>) in
            for m in 0..<n { for k in 0..<n { p[m * n + k] = Float(Foundation.cos(2 * Double.pi * Double(k * m % n) / Double(n))) } }
        }
        sine = Tensor(shape: [n, n]) { (p: UnsafeMutableBufferPointer<Float>) in
            for m in 0..<n { for k in 0..<n { p[m * n + k] = Float(Foundation.sin(2 * Double.pi * Double(k * m % n) / Double(n))) } }
        }
        scale = Tensor(shape: [n, n]) { (p: UnsafeMutableBufferPointer<Float>) in
            for ky in 0..<n {
                for kx in 0..<n {
                    let fy = Double(min(ky, n - ky)) / Double(n), fx = Double(min(kx, n - kx)) / Double(n)
                    p[ky * n + kx] = Float(Foundation.pow(Double(n) * max((fy * fy + fx * fx).squareRoot(), 1 / Double(n)), -decay))
                }
            }
        }
    }

    /// [B, n, n] coefficients of cosines and sines -> [B, n, n] images.
    func image(cosines a: Tensor, sines b: Tensor) -> Tensor {
        let a = a * scale, b = b * scale
        let p = a.matmul(cosine, transposeOther: true) + b.matmul(sine, transposeOther: true)
        let q = b.matmul(cosine, transposeOther: true) - a.matmul(sine, transposeOther: true)
        return (p.matmul(cosine, transposeSelf: true, transposeOther: true) + q.matmul(sine, transposeSelf: true, transposeOther: true)).transposed()
    }

    /// lucid's colour correlation (the square root of ImageNet's colour covariance), by its largest column norm.
    let colour: Tensor = {
        let m: [Float] = [0.26, 0.09, 0.02, 0.27, 0.00, -0.05, 0.27, -0.09, 0.03]
        let largest = (0..<3).map { c in (0..<3).map { m[$0 * 3 + c] * m[$0 * 3 + c] }.reduce(0, +).squareRoot() }.max()!
        return Tensor(shape: [3, 3], values: m.map { $0 / largest })
    }()

    let mean = Tensor(shape: [3, 1], values: CLIPModel.pixelMean)
    let inverseStd = Tensor(shape: [3, 1], values: CLIPModel.pixelStd.map { 1 / $0 })
}
