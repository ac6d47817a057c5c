import Assets
import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import Tensor
import ToyWorld

/// What `clipscope bench` times, and how: the benchmarks of the core (tensors, the model,
/// scans, visualization, attacks, the toy world, UMAP, loading) and their measurement. The
/// front ends add their own (pictures in the terminal, the app's frames) through `display`.
public enum Benchmarks {
    /// The benchmarks whose name contains any of the comma-separated `filter` words (all without one).
    public static func selected(filter: String?, display: [Benchmark] = []) -> [Benchmark] {
        let wanted = filter?.split(separator: ",").map(String.init) ?? []
        return Benchmark.all(display: display).filter { benchmark in wanted.isEmpty || wanted.contains { benchmark.name.contains($0) } }
    }

    /// Which BLAS and how many workers the numbers were measured with.
    public static var blasLine: String {
        "BLAS: \(BLAS.description), one thread per call; \(Parallel.workers) workers share loops and GEMM parts"
    }

    /// How 3x3 convolutions were computed during the run (forced, measured or by the fixed
    /// rule), one line per shape after a heading; empty when none ran.
    public static func convolutionLines() -> [String] {
        let choices = ConvAlgorithmChoice.choices.sorted {
            ($0.key.batch, $0.key.inputChannels, $0.key.outputChannels, -$0.key.height) <
                ($1.key.batch, $1.key.inputChannels, $1.key.outputChannels, -$1.key.height)
        }
        if let forced = ConvAlgorithmChoice.forced {
            return ["3x3 convolutions: \(forced.rawValue) everywhere (\(ConvAlgorithmChoice.environmentVariable))"]
        }
        guard !choices.isEmpty else { return [] }
        let measured = ConvAlgorithmChoice.measures
        var lines = [measured ? "3x3 convolutions, measured once per shape (seconds of im2col / winograd2x2 / winograd4x4 -> choice):"
                              : "3x3 convolutions by spatial size (\(ConvAlgorithmChoice.environmentVariable)=measure times them instead):"]
        for (shape, choice) in choices {
            let t = ConvAlgorithmChoice.timings[shape] ?? [:]
            let seconds = measured ? ConvAlgorithm.allCases.map { String(format: "%.4f", t[$0] ?? .nan) }.joined(separator: " / ") + " " : ""
            lines.append("  \(shape.description.padding(toLength: 22, withPad: " ", startingAt: 0)) \(seconds)-> \(choice.rawValue)")
        }
        return lines
    }

    /// The report as `bench --json` prints it (pretty, keys sorted, non-finite numbers null).
    public static func json(_ results: [BenchResult]) throws -> Data {
        try JSONValue.encode(BenchReport(results: results, blas: blasLine), formatting: [.prettyPrinted, .sortedKeys])
    }
}

/// One benchmark's measurement (`clipscope bench --json` writes these).
public struct BenchResult: Codable, Sendable {
    public let name: String
    public let seconds: Double
    public let gflops: Double?
    /// Share of the time spent inside BLAS GEMM calls.
    public var gemmShare: Double = 0
    /// The process's peak resident memory while preparing and running it (the model included).
    public var peakResidentBytes: Int?

    private enum CodingKeys: String, CodingKey {
        case name, seconds, gflops, gemmShare = "gemm_share", peakResidentBytes = "peak_resident_bytes"
    }

    public init(name: String, seconds: Double, gflops: Double?, gemmShare: Double = 0, peakResidentBytes: Int? = nil) {
        self.name = name
        self.seconds = seconds
        self.gflops = gflops
        self.gemmShare = gemmShare
        self.peakResidentBytes = peakResidentBytes
    }

    /// The result as one line of the table.
    public var line: String {
        let name = self.name.padding(toLength: 30, withPad: " ", startingAt: 0)
        let rate = gflops.map { String(format: "%7.1f GFLOP/s", $0) } ?? String(repeating: " ", count: 14)
        let memory = peakResidentBytes.map { String(format: "  %5d MB peak RSS", $0 >> 20) } ?? ""
        return "\(name) \(String(format: "%9.4f s", seconds))  \(rate)  \(String(format: "%3.0f%% in GEMM", gemmShare * 100))\(memory)"
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(gflops, forKey: .gflops)   // null when not a FLOP count
        try container.encode(gemmShare, forKey: .gemmShare)
        try container.encode(peakResidentBytes, forKey: .peakResidentBytes)
    }
}

public struct BenchReport: Codable, Sendable {
    public let results: [BenchResult]
    /// The BLAS line (library, threads), so that a saved report says what it ran on.
    public var blas: String?
    public init(results: [BenchResult], blas: String?) {
        self.results = results
        self.blas = blas
    }
}

/// One timed operation: `prepare` builds its inputs once, and returns the closure
/// to time.
public struct Benchmark {
    public let name: String
    /// Floating-point operations of one run, when meaningful.
    public let flops: Double?
    /// Seconds for one run are divided by this (e.g. captions per batch).
    public var perItem: Double = 1
    public let prepare: () -> () -> Void

    public init(name: String, flops: Double?, perItem: Double = 1, prepare: @escaping () -> () -> Void) {
        self.name = name
        self.flops = flops
        self.perItem = perItem
        self.prepare = prepare
    }

    public func measure(runs: Int) -> BenchResult {
        ProcessMemory.resetPeak()
        let body = prepare()
        body()   // warm-up: allocator, caches, lazy folding
        var times: [Double] = []
        let gemmBefore = BLAS.secondsInGEMM
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / perItem)
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        let gemmShare = (BLAS.secondsInGEMM - gemmBefore) / perItem / times.reduce(0, +)
        return BenchResult(name: name, seconds: median, gflops: flops.map { $0 / perItem / median / 1e9 }, gemmShare: gemmShare,
                           peakResidentBytes: ProcessMemory.peakResidentBytes)
    }

    /// Every benchmark of the core, with the front ends' `display` ones (terminal pictures,
    /// the app's frames) before the model load, in the order `bench` prints them.
    public static func all(display: [Benchmark] = []) -> [Benchmark] {
        let rn50x4 = CLIPConfig.releasedModels["RN50x4"]!
        var generator = SeededGenerator(seed: 1)
        let image = Tensor.randomNormal([1, 3, 288, 288], generator: &generator)
        // Shared lazily: building RN50x4 with random weights takes a moment.
        let model = LazyModel(config: rn50x4)
        let trunkFlops = 2 * 19.5e9
        return [
            Benchmark(name: "gemm.2560x81x640", flops: 2 * 2560 * 81 * 640) {
                let a = Tensor.randomNormal([2560, 640], generator: &generator)
                let b = Tensor.randomNormal([640, 81], generator: &generator)
                return { _ = a.matmul(b) }
            },
            Benchmark(name: "conv3x3.80x72x72", flops: 2 * 80 * 80 * 9 * 72 * 72) {
                let x = Tensor.randomNormal([1, 80, 72, 72], generator: &generator)
                let w = Tensor.randomNormal([80, 80, 3, 3], generator: &generator)
                return { _ = x.conv2d(weight: w, padding: 1) }
            },
            Benchmark(name: "conv3x3.80x72x72.input_grad", flops: 4 * 80 * 80 * 9 * 72 * 72) {
                let x = Tensor.randomNormal([1, 80, 72, 72], generator: &generator)
                let w = Tensor.randomNormal([80, 80, 3, 3], generator: &generator)
                return {
                    x.requiresGrad = true
                    x.grad = nil
                    x.conv2d(weight: w, padding: 1).sum().backward()
                }
            },
            // One RN50x4 3x3 shape per algorithm (FLOPs of the direct convolution, as above).
            conv3x3(channels: 80, size: 72, .im2col), conv3x3(channels: 80, size: 72, .winograd2x2),
            conv3x3(channels: 80, size: 72, .winograd4x4),
            conv3x3(channels: 640, size: 9, .im2col), conv3x3(channels: 640, size: 9, .winograd2x2),
            conv3x3(channels: 640, size: 9, .winograd4x4),
            Benchmark(name: "relu.320x72x72", flops: nil) {
                let x = Tensor.randomNormal([1, 320, 72, 72], generator: &generator)
                return { _ = x.relu() }
            },
            Benchmark(name: "trunk.forward", flops: trunkFlops) {
                let visual = model.value.visual
                return { _ = visual.trunk(image).features }
            },
            Benchmark(name: "trunk.forward_batch8", flops: 8 * trunkFlops, perItem: 8) {
                // What a scan's batch costs the trunk: images on the workers instead of one image's ops.
                let visual = model.value.visual
                let batch = Tensor.concatenate(Array(repeating: image, count: 8), axis: 0)
                return { _ = visual.trunk(batch).features }
            },
            Benchmark(name: "trunk.forward_input_grad", flops: 2 * trunkFlops) {
                let visual = model.value.visual
                return {
                    let x = image.detached()
                    x.requiresGrad = true
                    visual.trunk(x).features.mean().backward()
                }
            },
            Benchmark(name: "visual.embed", flops: trunkFlops) {
                let visual = model.value.visual
                return { _ = visual(image) }
            },
            Benchmark(name: "text.embed", flops: nil, perItem: 8) {
                let text = model.value.text
                // Eight captions of ten word tokens each: SOT, ids, EOT, padding.
                let tokens: [[Int32]] = (0..<8).map { (i: Int) -> [Int32] in
                    var row = [Int32](repeating: 0, count: 77)
                    row[0] = 49406
                    for j in 1...10 { row[j] = Int32(1000 + i * 10 + j) }
                    row[11] = 49407
                    return row
                }
                return { _ = text(tokens: tokens) }
            },
            Benchmark(name: "text.embed_77_tokens", flops: nil, perItem: 8) {
                // Worst case: eight captions that fill the whole 77-token context.
                let text = model.value.text
                let tokens: [[Int32]] = (0..<8).map { (i: Int) -> [Int32] in
                    var row = (0..<77).map { Int32(1000 + i + $0) }
                    row[0] = 49406
                    row[76] = 49407
                    return row
                }
                return { _ = text(tokens: tokens) }
            },
            Benchmark(name: "scan.images_per_second", flops: nil, perItem: 32) {
                // A fresh scan of 32 photo-like 400x300 JPEG-free PNGs with the random
                // RN50x4: decoding, preprocessing, the trunk and the index writes.
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-bench-scan")
                let modelPath = directory.appendingPathComponent("RN50x4.safetensors").path
                let folder = directory.appendingPathComponent("images/cards").path
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                if !FileManager.default.fileExists(atPath: modelPath) { try? model.value.save(path: modelPath, halfPrecision: true) }
                for i in 0..<32 {
                    try? Image.testCard(width: 400, height: 300, seed: UInt64(i + 1)).writePNG(path: "\(folder)/\(i).png")
                }
                let index = directory.appendingPathComponent("bench.index").path
                return {
                    try? FileManager.default.removeItem(atPath: index)
                    let job = ScanJob(model: modelPath, folders: [directory.appendingPathComponent("images").path], index: index)
                    _ = JobRunner.run(job, sink: { _, _ in })
                }
            },
            Benchmark(name: "visualize.step", flops: nil) {
                // One paper-code step: truncated trunk forward, input gradient, regularizers, a translation, Adam.
                guard let visualizer = try? FeatureVisualizer(model: model.value, neurons: [89],
                                                              settings: VisualizationSettings(variant: .paperCode)) else { return {} }
                return { visualizer.advance() }
            },
            Benchmark(name: "visualize.step_batch8", flops: nil, perItem: 8) {
                guard let visualizer = try? FeatureVisualizer(model: model.value, neurons: Array(80..<88),
                                                              settings: VisualizationSettings(variant: .paperCode)) else { return {} }
                return { visualizer.advance() }
            },
            Benchmark(name: "visualize.step_toy", flops: nil, perItem: 16) {
                // The embedded toy model, 16 neurons a batch (an atlas of all 768 is 48 batches).
                guard let toy = try? CLIPModel.load(model: ModelProfile.defaultModel.model),
                      let visualizer = try? FeatureVisualizer(model: toy, neurons: Array(0..<16),
                                                              settings: VisualizationSettings(variant: .paperCode)) else { return {} }
                return { visualizer.advance() }
            },
            Benchmark(name: "maxtext.step", flops: nil) {
                // The RN50x4 text tower forward and backward to free token embeddings of all 77 positions.
                let text = model.value.text
                let embedded = Tensor.randomNormal([1, 77, text.config.textWidth], std: 0.02, generator: &generator)
                var target = Tensor.randomNormal([1, text.config.embedDim], generator: &generator)
                target = target.l2Normalized()
                return {
                    embedded.zeroGrad()
                    embedded.requiresGrad = true
                    (text.encode(embedded: embedded, endPositions: [76]).l2Normalized() * target).sum().negated().backward()
                }
            },
            Benchmark(name: "toy.train_step_b64", flops: nil) {
                // One contrastive step of a toy-world-sized CLIP on 64 fresh scenes.
                let config = CLIPConfig(embedDim: 128, imageResolution: 96, visionLayers: [1, 1, 1, 1], visionWidth: 24,
                                        textWidth: 64, textHeads: 1, textLayers: 4)
                let toy = CLIPModel(config: config, randomSeed: 1)
                guard let trainer = try? ContrastiveTrainer(model: toy), let font = try? Font.standard() else { return {} }
                let sampler = SceneSampler(resolution: 96)
                let batcher = SceneBatcher(renderer: SceneRenderer(font: font), preprocessing: toy.preprocessing)
                var sceneGenerator = SeededGenerator(seed: 2)
                return {
                    let scenes = (0..<64).map { _ in sampler.sample(&sceneGenerator) }
                    _ = try? trainer.step(pixels: batcher.pixels(scenes), captions: scenes.map(\.caption))
                }
            },
            Benchmark(name: "toy.render_64_scenes", flops: nil) {
                guard let font = try? Font.standard() else { return {} }
                let sampler = SceneSampler(resolution: 96)
                let batcher = SceneBatcher(renderer: SceneRenderer(font: font),
                                           preprocessing: ModelInputPreprocessing(size: 96, mean: CLIPModel.pixelMean, std: CLIPModel.pixelStd))
                var sceneGenerator = SeededGenerator(seed: 2)
                return {
                    let scenes = (0..<64).map { _ in sampler.sample(&sceneGenerator) }
                    _ = batcher.pixels(scenes)
                }
            },
            Benchmark(name: "attack.rescore", flops: trunkFlops) {
                // The attack lab's keystroke: text drawn on a 288x288 image, preprocessed, embedded and
                // scored against label embeddings made once (100 ImageNet classes; more only widen one matmul).
                guard let font = try? Font.standard(),
                      let scorer = try? AttackScorer(model: model.value, labels: Array(EmbeddedAssets.imageNetLabels.prefix(100)),
                                                     template: ModelProfile.paperTemplate) else { return {} }
                let painter = AttackPainter(font: font)
                let clean = Image.testCard(width: 288, height: 288, seed: 5)
                return { _ = scorer.probabilities([try! painter.attack(clean, text: "iPod", style: AttackStyle())]) }
            },
            Benchmark(name: "attack.rescore_toy", flops: nil) {
                // As the attack lab scores the toy: its profile's labels, prompt and style.
                let profile = ModelProfile.defaultModel
                guard let toy = try? CLIPModel.load(model: profile.model), let font = try? Font.standard(),
                      let scorer = try? AttackScorer(model: toy, labels: profile.attackLabels(batch: false), template: profile.zeroShotTemplate),
                      let style = try? profile.attackStyle()
                else { return {} }
                let painter = AttackPainter(font: font)
                let clean = Image.testCard(width: 96, height: 96, seed: 5)
                return { _ = scorer.probabilities([try! painter.attack(clean, text: "star", style: style)]) }
            },
            Benchmark(name: "umap.2000", flops: nil) {
                // One UMAP layout of 2,000 points in 512 dimensions (ten Gaussian clusters).
                var pointGenerator = SeededGenerator(seed: 3)
                let centres = (0..<10).map { _ in (0..<512).map { _ in 6 * pointGenerator.nextNormal() } }
                let points = (0..<2000).flatMap { i in centres[i % 10].map { $0 + pointGenerator.nextNormal() } }
                return { _ = UMAP().embed(points, dimension: 512) }
            },
        ] + display + [
            Benchmark(name: "load.safetensors_rn50x4", flops: nil) {
                // A float32 RN50x4 (713 MB), written once, then read from the page cache.
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-bench-RN50x4-f32.safetensors").path
                if !FileManager.default.fileExists(atPath: path) {
                    try? model.value.save(path: path, metadata: ["note": "random weights for clipscope bench"])
                }
                return { _ = try? CLIPModel.load(path: path) }
            },
        ]
    }
}

extension Benchmark {
    /// `conv3x3.ALGORITHM.CxSxS`: a C -> C 3x3 same-size convolution forced onto one algorithm.
    static func conv3x3(channels: Int, size: Int, _ algorithm: ConvAlgorithm) -> Benchmark {
        Benchmark(name: "conv3x3.\(algorithm.rawValue).\(channels)x\(size)x\(size)",
                  flops: 2 * Double(channels * channels * 9 * size * size)) {
            var generator = SeededGenerator(seed: UInt64(channels * 1000 + size))
            let x = Tensor.randomNormal([1, channels, size, size], generator: &generator)
            let w = Tensor.randomNormal([channels, channels, 3, 3], generator: &generator)
            return {
                let previous = ConvAlgorithmChoice.forced
                ConvAlgorithmChoice.forced = algorithm
                _ = x.conv2d(weight: w, padding: 1)
                ConvAlgorithmChoice.forced = previous
            }
        }
    }
}

/// A model built on first use, so that filtered runs skip it.
final class LazyModel {
    let config: CLIPConfig
    private var model: CLIPModel?
    init(config: CLIPConfig) { self.config = config }
    var value: CLIPModel {
        if let model { return model }
        let built = CLIPModel(config: config, randomSeed: 7)
        model = built
        return built
    }
}
