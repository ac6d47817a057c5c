import CLIP
import Foundation
import Jobs
import Support
import Tensor

/// Scans folders of images into an activation index: only new or changed files are
/// computed, removed files are dropped, unreadable ones are recorded as skipped.
/// Decoding and preprocessing run on their own thread, ahead of the model's batches.
public struct ScanJob: JobSpec {
    public static let kind = "scan"
    public static let unit = "images"

    /// `--model`: a path or a name (see `ModelLocator`).
    public var model: String
    public var folders: [String]
    public var index: String
    public var tap: NeuronTap
    public var reduce: ActivationReduce
    public var batchSize: Int
    public var shard: Shard?
    /// Also store each image's CLIP embedding (for labels).
    public var storeEmbeddings: Bool

    public init(model: String, folders: [String], index: String, tap: NeuronTap = .conv3, reduce: ActivationReduce = .max,
                batchSize: Int = 8, shard: Shard? = nil, storeEmbeddings: Bool = false) {
        self.model = model
        self.folders = folders
        self.index = index
        self.tap = tap
        self.reduce = reduce
        self.batchSize = batchSize
        self.shard = shard
        self.storeEmbeddings = storeEmbeddings
    }

    public struct Result: Codable, Sendable, Equatable {
        public let index: String
        /// Which scan of the index.
        public let scan: Int64
        /// Images computed by this run.
        public let scanned: Int
        /// Every file of the scan recorded as skipped, by path.
        public let skipped: [SkippedFile]
        public let imagesPerSecond: Double
        /// Files already indexed and unchanged.
        public let unchanged: Int
        /// Files dropped because they are gone.
        public let removed: Int
        /// Images in the scan now.
        public let images: Int

        enum CodingKeys: String, CodingKey {
            case index, scan, scanned, skipped, unchanged, removed, images
            case imagesPerSecond = "images_per_second"
        }
    }

    public static func summary(of result: Result) -> String {
        "scanned \(result.scanned) image(s) into \(result.index) (\(result.images) in the scan, \(result.unchanged) unchanged, "
            + "\(result.removed) removed, \(result.skipped.count) skipped), \(String(format: "%.1f", result.imagesPerSecond)) images/s"
    }

    /// What a scan has to do: the files to compute, and what it leaves as it is.
    struct Plan {
        var pending: [ImageFile]
        var unchanged: Int
        var removed: Int
        var walked: Int
    }

    public func run(_ context: JobContext) throws -> Result {
        guard batchSize >= 1 else { throw InvalidParameter("batchSize", "must be at least 1, got \(batchSize)") }
        let walk = try ImageFolders.walk(folders)
        let walked = walk.files
        for link in walk.skipped { context.log("skipped \(link.path): \(link.error)", level: .warning) }
        try context.checkCancellation()
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let identity = context.compute { model.identity }
        let index = try ActivationIndex(path: index, create: true)
        var scan = try index.scan(model: identity, tap: tap, reduce: reduce)
        let plan = try self.plan(walked: walked, index: index, scan: scan)
        context.setTotal(plan.pending.count)
        context.log("\(plan.pending.count) new or changed file(s), \(plan.unchanged) unchanged, \(plan.removed) removed"
                    + (shard.map { " (shard \($0) of \(plan.walked) files)" } ?? ""))

        context.restartClock()
        var writer = BatchWriter(index: index, scan: scan.id, context: context)
        let token = context.token
        try ImageBatches(paths: plan.pending.map(\.path), batchSize: batchSize, preprocessing: model.preprocessing, prefetch: true)
            .forEach(isCancelled: { token.isCancelled }, skipped: { failure in
                context.log("skipped \(failure.path): \(failure.reason)", level: .warning)
                writer.records.append(EntryRecord(file: plan.pending[failure.index], activations: nil, error: failure.reason))
            }) { indices, pixels in
                let (activations, embeddings) = context.compute { compute(model: model, pixels: pixels) }
                for (row, i) in indices.enumerated() {
                    writer.records.append(EntryRecord(file: plan.pending[i], activations: activations[row], embedding: embeddings?[row]))
                }
                try writer.commit(computed: indices.count)
            }
        try context.checkCancellation()
        try writer.commit(computed: 0)
        let seconds = context.elapsed

        scan = try index.scan(scan.id.description)
        if scan.stale {
            context.log("summarising \(model.config.neuronCount) neurons over \(scan.imageCount) images")
            try index.summarize(scan: scan, isCancelled: { token.isCancelled })
        }
        let unreadable = try index.entries(scan: scan.id, status: .skipped).map { SkippedFile(path: $0.path, error: $0.error ?? "unreadable") }
        let skipped = (unreadable + walk.skipped).sorted { $0.path < $1.path }
        return Result(index: index.path, scan: scan.id, scanned: writer.computed, skipped: skipped,
                      imagesPerSecond: writer.computed > 0 ? Double(writer.computed) / max(seconds, 1e-9) : 0,
                      unchanged: plan.unchanged, removed: plan.removed, images: scan.imageCount)
    }

    /// Drops files gone from disk under the scanned folders; keeps this shard's new or changed files.
    func plan(walked: [ImageFile], index: ActivationIndex, scan: ScanInfo) throws -> Plan {
        let roots = folders.map(ImageFolders.absolute)
        let states = try index.fileStates(scan: scan.id)
        let present = Set(walked.map(\.path))
        let gone = states.keys.filter { path in
            !present.contains(path) && roots.contains { path.hasPrefix($0 + "/") }
        }.sorted()
        let removed = try index.remove(scan: scan.id, paths: gone)
        let mine = shard.map { shard in walked.filter { shard.contains(relativePath: $0.relativePath) } } ?? walked
        let pending = mine.filter { file in
            guard let state = states[file.path] else { return true }
            return state.size != file.size || state.mtimeNanoseconds != file.mtimeNanoseconds
        }
        return Plan(pending: pending, unchanged: mine.count - pending.count, removed: removed, walked: walked.count)
    }

    /// Each image's reduced activations and, when stored, its embedding.
    func compute(model: CLIPModel, pixels: Tensor) -> (activations: [[Float]], embeddings: [[Float]]?) {
        guard storeEmbeddings else { return (reduce.apply(model.visual.neuronMap(pixels, tap: tap)).rows(), nil) }
        let (features, tapped) = model.visual.trunk(pixels, tap: tap)
        return (reduce.apply(tapped!).rows(), model.visual.embedding(features: features).rows())
    }

    /// Commits records a batch at a time and reports progress after each commit.
    struct BatchWriter {
        let index: ActivationIndex
        let scan: Int64
        let context: JobContext
        var records: [EntryRecord] = []
        /// Images computed (skipped files are committed but not counted).
        private(set) var computed = 0
        private var committed = 0

        init(index: ActivationIndex, scan: Int64, context: JobContext) {
            self.index = index
            self.scan = scan
            self.context = context
        }

        mutating func commit(computed newlyComputed: Int) throws {
            computed += newlyComputed
            guard !records.isEmpty else { return }
            try index.commit(scan: scan, records: records)
            committed += records.count
            records.removeAll(keepingCapacity: true)
            context.progress(step: committed, metrics: [JobMetric("images/s", Double(computed) / max(context.elapsed, 1e-9))],
                             rateSteps: computed)
        }
    }
}

extension EntryRecord {
    init(file: ImageFile, activations: [Float]?, embedding: [Float]? = nil, error: String? = nil) {
        self.init(path: file.path, category: file.category, size: file.size, mtimeNanoseconds: file.mtimeNanoseconds,
                  activations: activations, embedding: embedding, error: error)
    }
}
