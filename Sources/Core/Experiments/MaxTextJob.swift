import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor

/// Maximal text for the mean embedding of some images (one image, a neuron's top images,
/// or a feature visualization) into a run folder: `texts.json` (every text met, best
/// first), `state.json` after each epoch (a killed run continues from its last epoch,
/// exactly), `parameters.json`.
public struct MaxTextJob: JobSpec, Equatable, ClaimsRunFolder {
    static let runName = "a maxtext run"
    public static let kind = "maxtext"
    public static let unit = "steps"

    public var model: String
    /// The target is the normalized mean of these images' normalized embeddings.
    public var images: [String]
    public var settings: MaximalTextSettings
    /// Words whose tokens the texts may use (nil: the whole vocabulary).
    public var vocabulary: [String]?
    public var output: String

    public init(model: String, images: [String], settings: MaximalTextSettings, vocabulary: [String]?, output: String) {
        self.model = model
        self.images = images
        self.settings = settings
        self.vocabulary = vocabulary
        self.output = output
    }

    public var runFolder: String? { output }

    public struct Text: Codable, Sendable, Equatable {
        public let text: String
        public let cosine: Float
    }

    public struct Result: Codable, Sendable {
        public let run: String
        public let texts: [Text]
        public let secondsPerStep: Double
        /// Images that could not be read; the target is the mean of the others.
        public let skipped: [SkippedFile]

        enum CodingKeys: String, CodingKey {
            case run, texts, skipped
            case secondsPerStep = "seconds_per_step"
        }
    }

    public static func summary(of result: Result) -> String {
        result.texts.first.map { String(format: "best text \"%@\" (cosine %.3f) of %d", $0.text, $0.cosine, result.texts.count) }
            ?? "no text"
    }

    struct State: Codable {
        var epoch: Int
        var tokens: [Int]
        var candidates: [String: Float]
    }

    var statePath: String { (output as NSString).appendingPathComponent("state.json") }
    var textsPath: String { (output as NSString).appendingPathComponent("texts.json") }

    public func validate() throws {
        try settings.validate()
        if images.isEmpty { throw InvalidParameter("images", "none given") }
        if output.isEmpty { throw InvalidParameter("output", "is empty") }
    }

    public func run(_ context: JobContext) throws -> Result {
        try validate()
        // Like the other batches: an unreadable image is skipped and named, unless none is left.
        var decoded: [DecodedImage] = [], skipped: [SkippedFile] = []
        for path in images {
            do { decoded.append(try DecodedImage.load(path: path)) } catch {
                let reason = ImageBatches.reason(error, path: path)
                if images.count == 1 { throw JobFailure(message: "\(path): \(reason)") }
                context.log("skipped \(path): \(reason)", level: .warning)
                skipped.append(SkippedFile(path: path, error: reason))
            }
        }
        if decoded.isEmpty { throw JobFailure(message: "none of the \(images.count) images could be read") }
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let target = try context.compute { () -> [Float] in
            let embeddings = model.encodeImages(model.pixels(decoded)).l2Normalized().rows()
            var mean = [Float](repeating: 0, count: model.config.embedDim)
            for row in embeddings { for i in mean.indices { mean[i] += row[i] / Float(embeddings.count) } }
            return mean
        }
        let search = try context.compute { try MaximalText(model: model, target: target, settings: settings, vocabulary: vocabulary) }
        try claimFolder()
        if let data = FileManager.default.contents(atPath: statePath) {
            if let state = try? JSONDecoder().decode(State.self, from: data) {
                search.restore(tokens: state.tokens, epoch: state.epoch, candidates: state.candidates)
                context.log("resuming at epoch \(state.epoch + 1) (\(statePath))")
            } else {
                context.log("\(statePath) is damaged and was not used (not a maxtext state); starting again from the beginning", level: .warning)
            }
        }
        let steps = settings.stepsPerEpoch
        context.setTotal(settings.epochs * steps)
        context.restartClock()
        var timed = (steps: 0, seconds: 0.0)
        while search.epoch < settings.epochs {
            try context.checkCancellation()
            let base = search.epoch * steps
            let started = DispatchTime.now().uptimeNanoseconds
            let (text, cosine) = try context.compute {
                try search.runEpoch { step, cosine in
                    // The state of the last epoch stays the last good one.
                    guard cosine.isFinite else {
                        throw JobFailure.diverged(Self.kind, step: base + step, loss: Double(-cosine), checkpoint: statePath)
                    }
                    if step % 10 == 9 { context.progress(step: base + step + 1, metrics: [JobMetric("cosine", Double(cosine))]) }
                }
            }
            timed.seconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            timed.steps += steps
            let best = search.ranked.first!
            context.log(String(format: "epoch %d: \"%@\" %.3f (best \"%@\" %.3f)", search.epoch, text, cosine, best.text, best.cosine))
            context.progress(step: search.epoch * steps, metrics: [JobMetric("best cosine", Double(best.cosine))])
            try save(search)
        }
        context.artefact(JobArtefact(name: "texts", path: textsPath, step: settings.epochs * steps))
        return Result(run: output, texts: search.ranked.map { Text(text: $0.text, cosine: $0.cosine) },
                      secondsPerStep: timed.steps > 0 ? timed.seconds / Double(timed.steps) : 0, skipped: skipped)
    }

    var identity: MaxTextJob {
        var job = self
        job.output = ""
        return job
    }

    func save(_ search: MaximalText) throws {
        try JSONFiles.write(search.ranked.map { Text(text: $0.text, cosine: $0.cosine) }, to: textsPath)
        try JSONFiles.write(State(epoch: search.epoch, tokens: search.tokens, candidates: search.candidates), to: statePath)
    }
}
