import CLIP
import Experiments
import Foundation
import Index
import Jobs
import Support
import ToyWorld

/// The jobs a front end asks for, built the same way for the command line and the app: one
/// model profile, one runs directory, one rule per kind for naming its run folder (so either
/// front end continues the other's run of the same request).
public struct Workbench: Sendable {
    public let profile: ModelProfile
    /// Where run folders are made (`--runs`, `$CLIPSCOPE_RUNS`, ...).
    public let runs: String

    public init(model: String, runs: String = RunFolder.defaultRunsDirectory()) {
        profile = ModelProfile(model: model)
        self.runs = runs
    }

    public var model: String { profile.model }

    /// `name` under the runs directory, or `folder` when one was given.
    public func runFolder(_ name: String, given folder: String? = nil) -> String {
        folder ?? (runs as NSString).appendingPathComponent(name)
    }

    // MARK: Feature visualization

    /// A visualization of `neurons` into `<runs>/visualize-N[-M]-variant[-shard-KofN][-hash]`.
    public func visualize(neurons: [Int], settings: VisualizationSettings, shard: String? = nil, folder: String? = nil) -> VisualizeJob {
        VisualizeJob(model: model, neurons: neurons, settings: settings,
                     output: runFolder(RunNames.visualize(neurons: neurons, settings: settings, shard: shard), given: folder))
    }

    /// A visualization starting from a named preset (`VisualizationPresets`), e.g. the app's `v`.
    public func visualize(neuron: Int, preset: String, adjust: (inout VisualizationSettings) -> Void = { _ in }) -> VisualizeJob? {
        guard var settings = VisualizationPresets.settings(named: preset) else { return nil }
        adjust(&settings)
        return visualize(neurons: [neuron], settings: settings)
    }

    /// Every neuron of a range visualized with the direct variant, 16 a batch (the app's `:atlas`).
    public func atlas(neurons: ClosedRange<Int>, steps: Int) -> VisualizeJob {
        var settings = VisualizationSettings(variant: .direct)
        settings.steps = steps
        var job = VisualizeJob(model: model, neurons: Array(neurons), settings: settings,
                               output: runFolder(RunNames.atlas(model: model, neurons: neurons, steps: steps)))
        job.batchSize = 16
        return job
    }

    /// Deep Dream of a neuron into `<runs>/dream-N`.
    public func dream(neuron: Int, settings: DreamSettings = DreamSettings(), start: String? = nil, folder: String? = nil) -> DreamJob {
        DreamJob(model: model, neuron: neuron, settings: settings, start: start, output: runFolder(RunNames.dream(neuron: neuron), given: folder))
    }

    // MARK: Maximal text

    /// What maximal text aims at: images, or a neuron's top images (found in an index).
    public enum MaxTextTarget: Sendable {
        case images([String])
        case neuron(Int, topImages: [String])

        var images: [String] {
            switch self {
            case let .images(paths), let .neuron(_, paths): paths
            }
        }
    }

    /// Maximal text into `<runs>/maxtext-neuron-N` or `<runs>/maxtext-<first image>`; the
    /// profile's vocabulary unless one is given.
    public func maxText(_ target: MaxTextTarget, settings: MaximalTextSettings = MaximalTextSettings(), vocabulary: [String]? = nil,
                        folder: String? = nil) -> MaxTextJob {
        MaxTextJob(model: model, images: target.images, settings: settings, vocabulary: vocabulary ?? profile.maxTextVocabulary,
                   output: runFolder(RunNames.maxText(target), given: folder))
    }

    /// A neuron's top `k` images in an index's latest scan, for `maxText(.neuron(...))`.
    public static func topImages(index: ActivationIndex, scan: ScanInfo, neuron: Int, k: Int = 10) throws -> [String] {
        try index.ranking(scan: scan, neuron: neuron, k: k).map(\.entry.path)
    }

    // MARK: Attacks

    /// An attack on one image into `<runs>/attack-<image>-<text>`; labels and prompt from the
    /// profile unless given.
    public func attack(image: String, text: String, style: AttackStyle, labels: [String]? = nil, template: String? = nil,
                       top: Int = 5, font: String? = nil, folder: String? = nil) -> AttackJob {
        AttackJob(model: model, image: image, text: text, style: style, labels: labels ?? profile.attackLabels(batch: false),
                  template: template ?? profile.zeroShotTemplate, top: top, font: font,
                  output: runFolder(RunNames.attack(image: image, text: text), given: folder))
    }

    /// A batch attack over folders into `<runs>/attack-batch-<first folder>[-shardKofN]`.
    public func attackBatch(folders: [String], attacks: [AttackPair], style: AttackStyle, labels: [String]? = nil, template: String? = nil,
                            font: String? = nil, shard: Shard? = nil, batchSize: Int = 16, folder: String? = nil) -> AttackBatchJob {
        AttackBatchJob(model: model, folders: folders, labels: labels ?? profile.attackLabels(batch: true),
                       template: template ?? profile.zeroShotTemplate, attacks: attacks, style: style, font: font, shard: shard,
                       batchSize: batchSize, output: runFolder(RunNames.attackBatch(folders: folders, shard: shard), given: folder))
    }

    /// The Stroop test into `<runs>/stroop-<model>`, the profile's preset unless one is asked for.
    public func stroop(_ preset: ModelProfile.StroopPreset? = nil, adjust: (inout StroopSettings) -> Void = { _ in },
                       top: Int = 3, font: String? = nil, folder: String? = nil) throws -> StroopJob {
        var settings = profile.stroopSettings(preset)
        adjust(&settings)
        try settings.validate()
        return StroopJob(model: model, settings: settings, top: top, font: font, output: runFolder(RunNames.stroop(model: model), given: folder))
    }

    // MARK: Modality gap

    /// Where a gap's image-caption pairs come from.
    public enum GapSource: Sendable, Equatable {
        case directory(String)
        case csv(String)
        /// The toy world's captioned scenes, drawn into the run folder (toy profile only).
        case toyScenes(count: Int)

        /// A folder, or a CSV file by its extension (the app's `:gap PATH`).
        public init(path: String) {
            self = (path as NSString).pathExtension.lowercased() == "csv" ? .csv(path) : .directory(path)
        }
    }

    /// The modality gap into `<runs>/gap-<folder, CSV or toy>`. Its pairs are resolved (toy
    /// scenes drawn at `resolution`, by default the toy's, the folder or CSV read) so bad input fails here, before
    /// any model work: `InvalidParameter("directory" | "csv" | "source", ...)`.
    public func gap(_ source: GapSource, adjust: (inout GapJob) -> Void = { _ in },
                    resolution: Int? = nil, folder: String? = nil) throws -> GapJob {
        let output = runFolder(RunNames.gap(source), given: folder)
        var job = GapJob(model: model, output: output)
        adjust(&job)
        switch source {
        case let .directory(path): job.directory = path
        case let .csv(path): job.csv = path
        case let .toyScenes(count):
            guard profile.hasOwnScenes else {
                throw InvalidParameter("source", "is needed: only the toy model has captioned scenes of its own")
            }
            // Seeded with the layout's seed, so one number repeats the whole figure.
            job.pairs = try ToyGapScenes.write(count: count, seed: job.seed, resolution: resolution ?? ToyTrainJob.defaultConfig.imageResolution,
                                               folder: (output as NSString).appendingPathComponent("scenes"))
        }
        _ = try job.resolvedPairs()
        return job
    }

    // MARK: Index

    /// A scan of folders into an index (`<first folder>/clipscope.index` unless given one); by
    /// default with embeddings stored, for search by meaning (the app's; the command line asks).
    public func scan(folders: [String], index: String? = nil, tap: NeuronTap = .conv3, reduce: ActivationReduce = .max,
                     batchSize: Int = 16, shard: Shard? = nil, storeEmbeddings: Bool = true) -> ScanJob {
        ScanJob(model: model, folders: folders,
                index: index ?? ((folders.first ?? ".") as NSString).appendingPathComponent("clipscope.index"),
                tap: tap, reduce: reduce, batchSize: batchSize, shard: shard, storeEmbeddings: storeEmbeddings)
    }

    /// The app's `:scan DIR`.
    public func scan(folder: String, index: String? = nil) -> ScanJob {
        scan(folders: [folder], index: index)
    }
}

/// The one rule per kind for naming a run folder (the command line and the app both use it,
/// so the same request lands in the same folder and continues there). Older folders named
/// otherwise still open: runs are found by their `run.json`, never by name.
public enum RunNames {
    public static func visualize(neurons: [Int], settings: VisualizationSettings, shard: String? = nil) -> String {
        VisualizeJob.folderName(neurons: neurons, settings: settings, shard: shard)
    }

    public static func atlas(model: String, neurons: ClosedRange<Int>, steps: Int, defaultSteps: Int = 100) -> String {
        let name = (model as NSString).lastPathComponent.split(separator: ".").first.map(String.init) ?? "model"
        return "atlas-\(name)-\(neurons.lowerBound)-\(neurons.upperBound)" + (steps == defaultSteps ? "" : "-steps-\(steps)")
    }

    public static func dream(neuron: Int) -> String { "dream-\(neuron)" }

    public static func maxText(_ target: Workbench.MaxTextTarget) -> String {
        switch target {
        case let .neuron(neuron, _): "maxtext-neuron-\(neuron)"
        case let .images(paths): "maxtext-" + stem(paths.first ?? "images")
        }
    }

    /// `attack-<image>-<text>`: one folder per image and text, so a second text on the same
    /// image keeps the first one's run (the text is lowercased, other than letters and digits
    /// made dashes, 24 characters at most).
    public static func attack(image: String, text: String) -> String {
        "attack-\(stem(image))-" + String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(24))
    }

    public static func attackBatch(folders: [String], shard: Shard?) -> String {
        "attack-batch-" + ((folders.first ?? "images") as NSString).lastPathComponent + (shard.map { "-shard\($0.index)of\($0.count)" } ?? "")
    }

    public static func stroop(model: String) -> String { "stroop-" + stem(model) }

    public static func gap(_ source: Workbench.GapSource) -> String {
        switch source {
        case let .directory(path): "gap-" + (path as NSString).lastPathComponent
        case let .csv(path): "gap-" + stem(path)
        case .toyScenes: "gap-toy"
        }
    }

    /// A file's name without folder and extension.
    static func stem(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
