import Foundation
import Render
import Tensor

/// A file a scan could not read, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public let path: String
    public let error: String
}

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
    /// Sleep after each committed batch (lets tests interrupt a scan mid-way).
    public var pauseAfterBatchMilliseconds: Int

    public init(model: String, folders: [String], index: String, tap: NeuronTap = .conv3, reduce: ActivationReduce = .max,
                batchSize: Int = 8, shard: Shard? = nil, storeEmbeddings: Bool = false, pauseAfterBatchMilliseconds: Int = 0) {
        self.model = model
        self.folders = folders
        self.index = index
        self.tap = tap
        self.reduce = reduce
        self.batchSize = batchSize
        self.shard = shard
        self.storeEmbeddings = storeEmbeddings
        self.pauseAfterBatchMilliseconds = pauseAfterBatchMilliseconds
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

    /// What the decoder thread hands to the compute thread.
    enum Decoded: Sendable {
        case image(ImageFile, [Float])
        case skipped(ImageFile, String)
    }

    public func run(_ context: JobContext) throws -> Result {
        guard batchSize >= 1 else { throw IndexError("--batch must be at least 1, got \(batchSize)") }
        let walked = try ImageFolders.walk(folders)
        let roots = folders.map(ImageFolders.absolute)
        try context.checkCancellation()
        let model = try CLIPModel.load(model: model)
        let identity = model.identity
        let index = try ActivationIndex(path: index, create: true)
        var scan = try index.scan(model: identity, tap: tap, reduce: reduce)
        let states = try index.fileStates(scan: scan.id)

        // Files gone from disk under the scanned folders leave the scan.
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
        let unchanged = mine.count - pending.count
        context.setTotal(pending.count)
        context.log("\(pending.count) new or changed file(s), \(unchanged) unchanged, \(removed) removed"
                    + (shard.map { " (shard \($0) of \(walked.count) files)" } ?? ""))

        context.restartClock()
        let queue = BoundedQueue<Decoded>(capacity: 2 * batchSize)
        let decoderDone = DispatchSemaphore(value: 0)
        let preprocessing = model.preprocessing
        let token = context.token
        if !pending.isEmpty {
            let decoder = Thread {
                for file in pending {
                    if token.isCancelled { break }
                    let item: Decoded
                    do {
                        item = .image(file, preprocessing.tensor(try DecodedImage.load(path: file.path)))
                    } catch {
                        // Render's errors start with the path; the record has it already.
                        let message = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
                        item = .skipped(file, message.hasPrefix(file.path + ": ") ? String(message.dropFirst(file.path.count + 2)) : message)
                    }
                    if !queue.put(item) { break }
                }
                queue.close()
                decoderDone.signal()
            }
            decoder.name = "clipscope.scan.decode"
            decoder.start()
        } else {
            queue.close()
            decoderDone.signal()
        }
        defer {
            queue.close()
            decoderDone.wait()
        }

        var processed = 0, scanned = 0
        var batchFiles: [ImageFile] = []
        var batchPixels: [[Float]] = []
        var records: [EntryRecord] = []
        let resolution = model.config.imageResolution
        let plane = 3 * resolution * resolution
        let neurons = model.config.neuronCount

        func flush() throws {
            if !batchFiles.isEmpty {
                let pixels = Tensor(shape: [batchFiles.count, 3, resolution, resolution]) { p in
                    for (i, values) in batchPixels.enumerated() {
                        values.withUnsafeBufferPointer { (p.baseAddress! + i * plane).update(from: $0.baseAddress!, count: plane) }
                    }
                }
                let map: Tensor
                var embeddings: [Float]? = nil
                if storeEmbeddings {
                    let (features, tapped) = model.visual.trunk(pixels, tap: tap)
                    map = tapped!
                    embeddings = model.visual.attentionPool(features).values
                } else {
                    map = model.visual.neuronMap(pixels, tap: tap)
                }
                let values = (reduce == .max ? map.spatialMax() : map.spatialMean()).values
                let embedDim = model.config.embedDim
                for (i, file) in batchFiles.enumerated() {
                    records.append(EntryRecord(
                        path: file.path, category: file.category, size: file.size, mtimeNanoseconds: file.mtimeNanoseconds,
                        activations: Array(values[(i * neurons)..<((i + 1) * neurons)]),
                        embedding: embeddings.map { Array($0[(i * embedDim)..<((i + 1) * embedDim)]) }))
                }
                scanned += batchFiles.count
            }
            guard !records.isEmpty else { return }
            try index.commit(scan: scan.id, records: records)
            processed += records.count
            records.removeAll(keepingCapacity: true)
            batchFiles.removeAll(keepingCapacity: true)
            batchPixels.removeAll(keepingCapacity: true)
            context.progress(step: processed, metrics: [JobMetric("images/s", Double(scanned) / max(context.elapsed, 1e-9))],
                             rateSteps: scanned)
            if pauseAfterBatchMilliseconds > 0 { Thread.sleep(forTimeInterval: Double(pauseAfterBatchMilliseconds) / 1000) }
        }

        while let item = queue.take() {
            try context.checkCancellation()
            switch item {
            case let .image(file, pixels):
                batchFiles.append(file)
                batchPixels.append(pixels)
                if batchFiles.count == batchSize { try flush() }
            case let .skipped(file, reason):
                context.log("skipped \(file.path): \(reason)", level: .warning)
                records.append(EntryRecord(path: file.path, category: file.category, size: file.size,
                                           mtimeNanoseconds: file.mtimeNanoseconds, activations: nil, error: reason))
            }
        }
        try context.checkCancellation()
        try flush()
        let seconds = context.elapsed

        scan = try index.scan(scan.id.description)
        if scan.stale {
            context.log("summarising \(neurons) neurons over \(scan.imageCount) images")
            try index.summarize(scan: scan, isCancelled: { token.isCancelled })
        }
        let skipped = try index.entries(scan: scan.id, status: .skipped).map { SkippedFile(path: $0.path, error: $0.error ?? "unreadable") }
        return Result(index: index.path, scan: scan.id, scanned: scanned, skipped: skipped,
                      imagesPerSecond: scanned > 0 ? Double(scanned) / max(seconds, 1e-9) : 0,
                      unchanged: unchanged, removed: removed, images: scan.imageCount)
    }
}
