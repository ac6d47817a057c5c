import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor
import Weights

/// Feature visualization of one or many neurons (B per batch) into a run folder:
/// `neuron-N.png` per neuron, `metrics.csv` (every step's loss terms), `parameters.json`,
/// and a checkpoint of the pixels and optimizer every `checkpointEvery` steps, so that a
/// killed run resumes bit for bit and a cancelled one keeps what it made.
public struct VisualizeJob: JobSpec, Equatable, ClaimsRunFolder {
    static let runName = "a visualization"
    public static let kind = "visualize"
    public static let unit = "steps"

    public var model: String
    public var neurons: [Int]
    public var settings: VisualizationSettings
    public var output: String
    /// Neurons optimized together (one per batch item).
    public var batchSize = 1
    /// A preview (the first item's image) every this many steps.
    public var previewEvery = 10
    public var checkpointEvery = 50

    public init(model: String, neurons: [Int], settings: VisualizationSettings, output: String) {
        self.model = model
        self.neurons = neurons
        self.settings = settings
        self.output = output
    }

    public var runFolder: String? { output }

    public struct Picture: Codable, Sendable, Equatable {
        public let neuron: Int
        public let path: String
        /// The last step's loss.
        public let loss: Float
    }

    public struct Result: Codable, Sendable {
        public let run: String
        /// The first neuron's picture.
        public let image: String
        public let images: [Picture]
        /// The first neuron's loss at every step.
        public let losses: [Float]
        /// Seconds per optimization step of this session (a batch step counts once).
        public let secondsPerStep: Double

        enum CodingKeys: String, CodingKey {
            case run, image, images, losses
            case secondsPerStep = "seconds_per_step"
        }
    }

    public static func summary(of result: Result) -> String {
        "visualized \(result.images.count) neuron(s) into \(result.run)" + (result.images.count == 1 ? " (\(result.image))" : "")
    }

    /// The run folder's name under the runs directory: `visualize-N-variant` (a range
    /// `N-M` for several neurons, `-shard-KofN` for a shard) with the spec's settings, and a
    /// hash of the settings after it otherwise, so a tweaked run gets its own folder and the
    /// same tweak continues it.
    public static func folderName(neurons: [Int], settings: VisualizationSettings, shard: String? = nil) -> String {
        var name = "visualize-\(neurons[0])" + (neurons.count > 1 ? "-\(neurons[neurons.count - 1])" : "") + "-\(settings.variant.rawValue)"
        if let shard { name += "-shard-" + shard.replacingOccurrences(of: "/", with: "of") }
        if settings != VisualizationSettings(variant: settings.variant) {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let json = (try? encoder.encode(settings)) ?? Data()
            var hash = FNV1a()
            hash.add(bytes: json)
            name += "-" + String(String(hash.value, radix: 16).suffix(8))
        }
        return name
    }

    public static func picturePath(folder: String, neuron: Int) -> String {
        (folder as NSString).appendingPathComponent("neuron-\(neuron).png")
    }

    var checkpointPath: String { (output as NSString).appendingPathComponent("checkpoint.safetensors") }
    var metricsPath: String { (output as NSString).appendingPathComponent("metrics.csv") }

    public func validate() throws {
        try settings.validate()
        if neurons.isEmpty { throw InvalidParameter("neurons", "none given") }
        if Set(neurons).count != neurons.count { throw InvalidParameter("neurons", "lists a neuron twice") }
        if batchSize < 1 { throw InvalidParameter("batchSize", "must be at least 1, got \(batchSize)") }
        if previewEvery < 1 { throw InvalidParameter("previewEvery", "must be at least 1, got \(previewEvery)") }
        if checkpointEvery < 1 { throw InvalidParameter("checkpointEvery", "must be at least 1, got \(checkpointEvery)") }
        if output.isEmpty { throw InvalidParameter("output", "is empty") }
    }

    /// What ties a folder to a run: everything but where the folder is.
    var identity: VisualizeJob {
        var job = self
        job.output = ""
        job.previewEvery = 0
        return job
    }

    public func run(_ context: JobContext) throws -> Result {
        try validate()
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let config = context.executor.run(.interactive) { model.config }
        let count = config.neuronCount
        if let bad = neurons.first(where: { !(0..<count).contains($0) }) {
            throw InvalidParameter("neuron", "\(bad) is out of range: \(self.model) has neurons 0-\(count - 1)")
        }
        // Before the folder is claimed, so that the same folder takes a size that fits.
        try config.checkStepFits(size: settings.size ?? config.imageResolution, batch: min(batchSize, neurons.count))
        try claimFolder()
        let chunks = stride(from: 0, to: neurons.count, by: batchSize).map { Array(neurons[$0..<min(neurons.count, $0 + batchSize)]) }
        context.setTotal(chunks.count * settings.steps)
        context.restartClock()
        var images: [Picture] = []
        var timed = (steps: 0, seconds: 0.0)
        for (index, chunk) in chunks.enumerated() {
            let done = chunk.map { Self.picturePath(folder: output, neuron: $0) }
            if done.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) {
                let losses = lastLosses(chunk)
                images += chunk.map { Picture(neuron: $0, path: Self.picturePath(folder: output, neuron: $0), loss: losses[$0] ?? .nan) }
                context.progress(step: (index + 1) * settings.steps)
                continue
            }
            images += try optimize(chunk, index: index, model: model, context: context, timed: &timed)
        }
        let first = neurons[0]
        return Result(run: output, image: Self.picturePath(folder: output, neuron: first), images: images,
                      losses: lossHistory(neuron: first), secondsPerStep: timed.steps > 0 ? timed.seconds / Double(timed.steps) : 0)
    }

    func optimize(_ chunk: [Int], index: Int, model: CLIPModel, context: JobContext,
                  timed: inout (steps: Int, seconds: Double)) throws -> [Picture] {
        let visualizer = try context.compute { try FeatureVisualizer(model: model, neurons: chunk, settings: settings) }
        if let (step, path) = try restore(visualizer, chunk: chunk, context: context) {
            context.log("resuming neurons \(chunk.map(String.init).joined(separator: ",")) from step \(step) (\(path))")
        }
        // `step,neuron,loss,<term>...`; a resumed batch logs its steps from the checkpoint's on again.
        let resumedAt = visualizer.step, batch = Set(chunk)
        let metrics = try MetricsCSV(path: metricsPath) { fields in
            guard fields.count >= 2, let step = Int(fields[0]), let neuron = Int(fields[1]) else { return false }
            return !(batch.contains(neuron) && step >= resumedAt)
        }
        var lastTerms: [(name: String, values: [Float])] = []
        let base = index * settings.steps
        while visualizer.step < settings.steps {
            if context.isCancelled {
                try saveCheckpoint(visualizer, chunk: chunk)
                for (item, neuron) in chunk.enumerated() {
                    try visualizer.image(item).writePNG(path: (output as NSString).appendingPathComponent("neuron-\(neuron).partial.png"))
                }
                throw JobCancelled()
            }
            let started = DispatchTime.now().uptimeNanoseconds
            lastTerms = context.compute { visualizer.advance() }
            timed.seconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            timed.steps += 1
            if let loss = lastTerms.first?.values.first(where: { !$0.isFinite }) {
                throw JobFailure.diverged(Self.kind, step: visualizer.step - 1, loss: Double(loss), checkpoint: checkpointPath)
            }
            try metrics.append(chunk.enumerated().map { item, neuron in
                ["\(visualizer.step - 1)", "\(neuron)"] + lastTerms.map { "\($0.values[item])" }
            }, header: ["step", "neuron"] + lastTerms.map(\.name))
            context.progress(step: base + visualizer.step, metrics: lastTerms.map { JobMetric($0.name, Double($0.values[0])) })
            // Every K steps (at most four a second), and the last step's always.
            if visualizer.step % previewEvery == 0 || visualizer.step == settings.steps {
                context.preview(force: visualizer.step == settings.steps) { Self.preview(visualizer.image(0), step: base + visualizer.step) }
            }
            if visualizer.step % checkpointEvery == 0, visualizer.step < settings.steps {
                try saveCheckpoint(visualizer, chunk: chunk)
            }
        }
        var images: [Picture] = []
        for (item, neuron) in chunk.enumerated() {
            let path = Self.picturePath(folder: output, neuron: neuron)
            try visualizer.image(item).writePNG(path: path)
            try? FileManager.default.removeItem(atPath: (output as NSString).appendingPathComponent("neuron-\(neuron).partial.png"))
            let loss = lastTerms.first { $0.name == "loss" }?.values[item] ?? .nan
            images.append(Picture(neuron: neuron, path: path, loss: loss))
            context.artefact(JobArtefact(name: "neuron \(neuron)", path: path, step: base + settings.steps))
        }
        Checkpoint.remove(checkpointPath)
        return images
    }

    static func preview(_ image: Image, step: Int) -> JobPreview {
        let rgb = image.channels == 3 ? image : image.converted(toChannels: 3)
        return JobPreview(step: step, width: rgb.width, height: rgb.height, rgb: rgb.pixels)
    }

    /// Pixels, optimizer moments and the step of the current batch (renamed into place, so
    /// a kill never leaves half a checkpoint).
    func saveCheckpoint(_ visualizer: FeatureVisualizer, chunk: [Int]) throws {
        let state = visualizer.checkpointState
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let spec = String(decoding: try encoder.encode(identity), as: UTF8.self)
        var tensors: [SafetensorsWriter.Tensor] = []
        for (index, parameter) in visualizer.parameters.enumerated() {
            tensors += [
                SafetensorsWriter.Tensor(key: "parameter.\(index)", shape: parameter.shape, floats: state.parameters[index]),
                SafetensorsWriter.Tensor(key: "adam.m.\(index)", shape: parameter.shape, floats: state.firstMoment[index]),
                SafetensorsWriter.Tensor(key: "adam.v.\(index)", shape: parameter.shape, floats: state.secondMoment[index]),
            ]
        }
        guard Checkpoint.isFinite(tensors) else { throw JobFailure.diverged(Self.kind, step: state.step, checkpoint: checkpointPath) }
        try Checkpoint.write(tensors, to: checkpointPath, metadata: [
            "clipscope.job": Self.kind, "clipscope.spec": spec, "neurons": chunk.map(String.init).joined(separator: ","),
            "step": String(state.step), "optimizer.step": String(state.optimizerSteps),
        ])
    }

    /// Loads the newest intact checkpoint when it is this batch's; returns its step and file.
    func restore(_ visualizer: FeatureVisualizer, chunk: [Int], context: JobContext) throws -> (step: Int, path: String)? {
        guard let archive = Checkpoint.open(checkpointPath, damaged: { context.log($0, level: .warning) }) else { return nil }
        guard archive.metadata["neurons"] == chunk.map(String.init).joined(separator: ",") else { return nil }
        guard let step = archive.metadata["step"].flatMap(Int.init), let optimizerSteps = archive.metadata["optimizer.step"].flatMap(Int.init) else {
            throw JobFailure(message: "\(archive.path): no step in the checkpoint's metadata")
        }
        let indices = visualizer.parameters.indices
        try visualizer.restore(parameters: try indices.map { try archive.floats("parameter.\($0)") },
                               firstMoment: try indices.map { try archive.floats("adam.m.\($0)") },
                               secondMoment: try indices.map { try archive.floats("adam.v.\($0)") },
                               optimizerSteps: optimizerSteps, step: step)
        return (step, archive.path)
    }

    /// Every logged (step, neuron, loss).
    func loggedLosses() -> [(step: Int, neuron: Int, loss: Float)] {
        MetricsCSV.rows(path: metricsPath).compactMap { fields in
            guard fields.count >= 3, let step = Int(fields[0]), let neuron = Int(fields[1]), let loss = Float(fields[2]) else { return nil }
            return (step, neuron, loss)
        }
    }

    /// The loss of each neuron's last logged step (for batches done in an earlier session).
    func lastLosses(_ chunk: [Int]) -> [Int: Float] {
        var losses: [Int: Float] = [:]
        for row in loggedLosses() where chunk.contains(row.neuron) { losses[row.neuron] = row.loss }
        return losses
    }

    func lossHistory(neuron: Int) -> [Float] {
        loggedLosses().filter { $0.neuron == neuron }.sorted { $0.step < $1.step }.map(\.loss)
    }
}
