import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor
import Weights

/// The numbers of Deep Dream (the paper's Algorithm 1, the spec's values).
public struct DreamSettings: Codable, Sendable, Equatable {
    public var levels = 4
    /// Each level's side is this many times the previous one's.
    public var ratio = 1.8
    public var iterations = 10
    public var learningRate: Float = 0.09
    /// Largest random circular shift per iteration, in pixels.
    public var maxShift = 32
    public var seed: UInt64 = 10
    public var tap: NeuronTap = .conv3
    /// The last level's side (default: the model's input resolution).
    public var size: Int?

    public init() {}

    public func validate() throws {
        if let invalid = InvalidParameter.nonFinite(["ratio": ratio, "learningRate": Double(learningRate)]) { throw invalid }
        if levels < 1 { throw InvalidParameter("levels", "must be at least 1, got \(levels)") }
        if !(ratio >= 1) { throw InvalidParameter("ratio", "must be at least 1, got \(ratio)") }
        if iterations < 1 { throw InvalidParameter("iterations", "must be at least 1, got \(iterations)") }
        if !(learningRate > 0) { throw InvalidParameter("learningRate", "must be positive, got \(learningRate)") }
        if maxShift < 0 { throw InvalidParameter("maxShift", "cannot be negative, got \(maxShift)") }
        if let size, size < 32 || size % 32 != 0 { throw InvalidParameter("size", "must be a multiple of 32 pixels, got \(size)") }
    }

    /// The side of each level, smallest first, the last one `size`; sides are multiples of 32,
    /// what the ResNet's five halvings need.
    func sides(size: Int) -> [Int] {
        (0..<levels).map { level in
            let exact = Double(size) / Foundation.pow(ratio, Double(levels - 1 - level))
            return max(32, Int((exact / 32).rounded()) * 32)
        }
    }
}

/// Deep Dream of one neuron: gradient ascent on the mean square of its activation map,
/// from noise (or an image) through a pyramid of sizes; each iteration shifts the image
/// circularly, smooths the gradient with three Gaussian blurs, normalizes it, steps, and
/// shifts back. Shifts come from (seed, level, iteration), so a run resumed at a level
/// continues exactly.
public final class DeepDreamer {
    public let model: CLIPModel
    public let neuron: Int
    public let settings: DreamSettings
    public let sides: [Int]
    /// The image, [3, side, side] in 0...1.
    public private(set) var pixels: [Float]
    public private(set) var side: Int
    /// The next level to run.
    public private(set) var level = 0

    public init(model: CLIPModel, neuron: Int, settings: DreamSettings, start: Image? = nil) throws {
        try settings.validate()
        let count = model.config.neuronCount
        guard (0..<count).contains(neuron) else {
            throw InvalidParameter("neuron", "\(neuron) is out of range: this model has neurons 0-\(count - 1)")
        }
        self.model = model
        self.neuron = neuron
        self.settings = settings
        sides = settings.sides(size: settings.size ?? model.config.imageResolution)
        // The last level is the largest: refused before any buffer is made.
        try model.config.checkStepFits(size: sides[sides.count - 1])
        side = sides[0]
        if let start {
            let rgb = start.converted(toChannels: 3).resized(width: side, height: side)
            pixels = DeepDreamer.planes(rgb)
        } else {
            var generator = SeededGenerator(seed: settings.seed)
            pixels = (0..<(3 * side * side)).map { _ in generator.nextUniform() }
        }
    }

    static func planes(_ image: Image) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { out[c * plane + i] = Float(image.pixels[i * 3 + c]) / 255 } }
        return out
    }

    /// The objective at pixels [1, 3, s, s] in 0...1: the mean square of the neuron's map.
    public func objective(_ x: Tensor) -> Tensor {
        let mean = Tensor(shape: [3, 1, 1], values: CLIPModel.pixelMean)
        let inverseStd = Tensor(shape: [3, 1, 1], values: CLIPModel.pixelStd.map { 1 / $0 })
        let map = model.visual.neuronMap((x - mean) * inverseStd, tap: settings.tap)      // [1, neurons, g, g]
        return map.sliced(axis: 1, neuron..<(neuron + 1)).squared().mean()
    }

    /// Runs one level (resizing up to it first); returns the objective of each iteration.
    /// `iteration` hears each one, and may stop the level by throwing.
    public func runLevel(iteration: (Int, Float) throws -> Void = { _, _ in }) rethrows -> [Float] {
        precondition(level < sides.count, "every level has run")
        if side != sides[level] {
            pixels = DeepDreamer.resizedBilinear(pixels, from: side, to: sides[level])
            side = sides[level]
        }
        var losses: [Float] = []
        for step in 0..<settings.iterations {
            var generator = SeededGenerator(seed: FeatureVisualizer.mix(settings.seed, UInt64(level), UInt64(step)))
            let span = UInt64(2 * settings.maxShift + 1)
            let dy = Int(generator.next() % span) - settings.maxShift, dx = Int(generator.next() % span) - settings.maxShift
            let shifted = Tensor(shape: [1, 3, side, side], values: pixels).shifted(rows: [dy], columns: [dx], circular: true).detached()
            shifted.requiresGrad = true
            let loss = objective(shifted)
            loss.backward()
            var gradient = shifted.grad!.values
            shifted.zeroGrad()
            // Three Gaussian blurs whose sigma grows over the level, averaged, then normalized.
            let sigma = (Double(step + 1) / Double(settings.iterations)) * 2 + 0.5
            let blurs = [0.5, 1, 2].map { DeepDreamer.gaussianBlur(gradient, side: side, sigma: sigma * $0) }
            gradient = (0..<gradient.count).map { (blurs[0][$0] + blurs[1][$0] + blurs[2][$0]) / 3 }
            let mean = gradient.reduce(0, +) / Float(gradient.count)
            let std = max(1e-8, (gradient.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(gradient.count)).squareRoot())
            var moved = shifted.values
            for i in moved.indices { moved[i] += settings.learningRate * (gradient[i] - mean) / std }
            pixels = Tensor(shape: [1, 3, side, side], values: moved).shifted(rows: [-dy], columns: [-dx], circular: true).values
            for i in pixels.indices { pixels[i] = min(1, max(0, pixels[i])) }
            let value = loss.values[0]
            losses.append(value)
            try iteration(step, value)
        }
        level += 1
        return losses
    }

    /// A 9x9 Gaussian blur of each of the three planes (separable, zero padding, as a depthwise conv).
    static func gaussianBlur(_ planes: [Float], side: Int, sigma: Double) -> [Float] {
        let taps = (-4...4).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = taps.reduce(0, +)
        let kernel = taps.map { Float($0 / total) }
        var across = [Float](repeating: 0, count: planes.count), out = across
        let plane = side * side
        for c in 0..<3 {
            for y in 0..<side {
                for x in 0..<side {
                    var sum: Float = 0
                    for k in -4...4 where x + k >= 0 && x + k < side { sum += kernel[k + 4] * planes[c * plane + y * side + x + k] }
                    across[c * plane + y * side + x] = sum
                }
            }
            for y in 0..<side {
                for x in 0..<side {
                    var sum: Float = 0
                    for k in -4...4 where y + k >= 0 && y + k < side { sum += kernel[k + 4] * across[c * plane + (y + k) * side + x] }
                    out[c * plane + y * side + x] = sum
                }
            }
        }
        return out
    }

    /// Bilinear resize of three planes (half-pixel centres, as PyTorch's align_corners=False).
    static func resizedBilinear(_ planes: [Float], from a: Int, to b: Int) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * b * b)
        let scale = Double(a) / Double(b)
        func source(_ i: Int) -> (Int, Int, Float) {
            let position = max(0, (Double(i) + 0.5) * scale - 0.5)
            let low = min(a - 1, Int(position)), high = min(a - 1, low + 1)
            return (low, high, Float(position - Double(low)))
        }
        for c in 0..<3 {
            for y in 0..<b {
                let (y0, y1, fy) = source(y)
                for x in 0..<b {
                    let (x0, x1, fx) = source(x)
                    let top = planes[c * a * a + y0 * a + x0] * (1 - fx) + planes[c * a * a + y0 * a + x1] * fx
                    let bottom = planes[c * a * a + y1 * a + x0] * (1 - fx) + planes[c * a * a + y1 * a + x1] * fx
                    out[c * b * b + y * b + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return out
    }

    /// The current image as 8-bit RGB.
    public var image: Image {
        let plane = side * side
        var bytes = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { bytes[i * 3 + c] = UInt8((pixels[c * plane + i] * 255).rounded()) } }
        return Image(width: side, height: side, channels: 3, pixels: bytes)
    }

    /// Continues from a saved level.
    public func restore(pixels values: [Float], side: Int, level: Int) throws {
        guard values.count == 3 * side * side, level <= sides.count else {
            throw JobFailure(message: "a dream checkpoint of another size")
        }
        pixels = values
        self.side = side
        self.level = level
    }
}

/// Deep Dream of a neuron into a run folder: `dream-N.png`, `metrics.csv`
/// (level, iteration, objective), `parameters.json`, and `checkpoint.safetensors` after
/// each level (a killed run continues from its last finished level, exactly).
public struct DreamJob: JobSpec, Equatable, ClaimsRunFolder {
    static let runName = "a dream"
    public static let kind = "dream"
    public static let unit = "iterations"

    public var model: String
    public var neuron: Int
    public var settings: DreamSettings
    /// An image to start from instead of noise.
    public var start: String?
    public var output: String

    public init(model: String, neuron: Int, settings: DreamSettings, start: String?, output: String) {
        self.model = model
        self.neuron = neuron
        self.settings = settings
        self.start = start
        self.output = output
    }

    public var runFolder: String? { output }

    public typealias Result = VisualizeJob.Result

    public static func summary(of result: Result) -> String { "dreamed into \(result.image)" }

    var checkpointPath: String { (output as NSString).appendingPathComponent("checkpoint.safetensors") }
    var metricsPath: String { (output as NSString).appendingPathComponent("metrics.csv") }
    var identity: DreamJob {
        var job = self
        job.output = ""
        return job
    }

    public var picturePath: String { (output as NSString).appendingPathComponent("dream-\(neuron).png") }

    public func run(_ context: JobContext) throws -> Result {
        try settings.validate()
        if output.isEmpty { throw InvalidParameter("output", "is empty") }
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        var first: Image?
        if let start {
            do { first = try Image.load(path: start) } catch { throw JobFailure(message: "\(start): \(ImageBatches.reason(error, path: start))") }
        }
        let dreamer = try context.compute { try DeepDreamer(model: model, neuron: neuron, settings: settings, start: first) }
        try claimFolder()
        if let archive = Checkpoint.open(checkpointPath, damaged: { context.log($0, level: .warning) }) {
            guard let level = archive.metadata["level"].flatMap(Int.init), let side = archive.metadata["side"].flatMap(Int.init) else {
                throw JobFailure(message: "\(archive.path): no level in the checkpoint's metadata")
            }
            try dreamer.restore(pixels: try archive.floats("pixels"), side: side, level: level)
            context.log("resuming at level \(level + 1) (\(archive.path))")
        }
        let resumedAt = dreamer.level
        let metrics = try MetricsCSV(path: metricsPath) { fields in Int(fields.first ?? "").map { $0 < resumedAt } ?? false }
        context.setTotal(settings.levels * settings.iterations)
        context.restartClock()
        var timed = (steps: 0, seconds: 0.0)
        while dreamer.level < settings.levels {
            try context.checkCancellation()
            let level = dreamer.level
            let started = DispatchTime.now().uptimeNanoseconds
            let losses = try context.compute {
                try dreamer.runLevel { step, value in
                    // The checkpoint of the last level stays the last good one.
                    guard value.isFinite else {
                        throw JobFailure.diverged(Self.kind, step: level * settings.iterations + step, loss: Double(value), checkpoint: checkpointPath)
                    }
                    context.progress(step: level * settings.iterations + step + 1, metrics: [JobMetric("objective", Double(value))])
                    context.preview { VisualizeJob.preview(dreamer.image, step: level * settings.iterations + step + 1) }
                }
            }
            timed.seconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            timed.steps += losses.count
            try metrics.append(losses.enumerated().map { ["\(level)", "\($0.offset)", "\($0.element)"] }, header: ["level", "iteration", "objective"])
            try Checkpoint.write([SafetensorsWriter.Tensor(key: "pixels", shape: [3, dreamer.side, dreamer.side], floats: dreamer.pixels)],
                                        to: checkpointPath, metadata: ["level": String(dreamer.level), "side": String(dreamer.side)])
        }
        context.preview(force: true) { VisualizeJob.preview(dreamer.image, step: settings.levels * settings.iterations) }
        try dreamer.image.writePNG(path: picturePath)
        Checkpoint.remove(checkpointPath)
        context.artefact(JobArtefact(name: "neuron \(neuron) dream", path: picturePath, step: settings.levels * settings.iterations))
        let losses = MetricsCSV.rows(path: metricsPath).compactMap { $0.last.flatMap { Float($0) } }
        return Result(run: output, image: picturePath, images: [VisualizeJob.Picture(neuron: neuron, path: picturePath, loss: losses.last ?? .nan)],
                      losses: losses, secondsPerStep: timed.steps > 0 ? timed.seconds / Double(timed.steps) : 0)
    }
}
