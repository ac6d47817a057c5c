import CLIP
import Foundation
import Imaging
import Jobs
import Support

/// One typographic attack on one image: the attacked image and its scores into a run folder
/// (`attacked.png`, `scores.json`), the zero-shot top labels before and after with their deltas.
public struct AttackJob: JobSpec, Equatable {
    public static let kind = "attack"
    public static let unit = "images"

    public var model: String
    public var image: String
    public var text: String
    public var style: AttackStyle
    public var labels: [String]
    public var template: String
    public var top: Int
    /// A font file (nil: DejaVu Sans).
    public var font: String?
    /// The run folder (nil: nothing written).
    public var output: String?

    public init(model: String, image: String, text: String, style: AttackStyle, labels: [String], template: String,
                top: Int = 5, font: String? = nil, output: String? = nil) {
        self.model = model
        self.image = image
        self.text = text
        self.style = style
        self.labels = labels
        self.template = template
        self.top = top
        self.font = font
        self.output = output
    }

    public var runFolder: String? { output }

    public struct Result: Codable, Sendable, Equatable {
        public var before: [LabelScore]
        public var after: [LabelScore]
        public var coverage: Double
        public var changedPixels: Double
        public var image: String?
        public var run: String?

        enum CodingKeys: String, CodingKey {
            case before, after, coverage, image, run
            case changedPixels = "changed_pixels"
        }
    }

    public static func summary(of result: Result) -> String {
        let top = { (scores: [LabelScore]) in scores.first.map { String(format: "%@ %.1f%%", $0.label, 100 * $0.probability) } ?? "-" }
        return "before: \(top(result.before)), after: \(top(result.after)); coverage "
            + String(format: "%.2f%%, changed pixels %.2f%%", 100 * result.coverage, 100 * result.changedPixels)
    }

    public func validate() throws {
        if labels.isEmpty { throw InvalidParameter("labels", "is empty") }
        if top < 1 { throw InvalidParameter("top", "must be at least 1, got \(top)") }
        try style.validate()
    }

    public func run(_ context: JobContext) throws -> Result {
        try validate()
        let painter = AttackPainter(font: try Font.chosen(path: font))
        let clean: Image
        do { clean = try DecodedImage.load(path: image).convertedToRGB() } catch {
            throw InvalidParameter("image", "\(image): \(ImageBatches.reason(error, path: image))")
        }
        try painter.check(text, style: style, width: clean.width, height: clean.height)
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        context.setTotal(1)
        let scorer = try context.compute { try AttackScorer(model: model, labels: labels, template: template) }
        try context.checkCancellation()
        let attacked = try painter.attack(clean, text: text, style: style)
        let rows = context.compute { scorer.probabilities([clean, attacked]) }
        let comparison = scorer.comparison(clean: rows[0], attacked: rows[1], top: top)
        let coverage = AttackCoverage(clean: clean, attacked: attacked)
        var result = Result(before: comparison.before, after: comparison.after, coverage: coverage.coverage,
                            changedPixels: coverage.changedPixels, image: nil, run: output)
        if let output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let path = (output as NSString).appendingPathComponent("attacked.png")
            try attacked.writePNG(path: path)
            result.image = path
            context.artefact(JobArtefact(name: "attacked", path: path))
            try JSONFiles.write(result, to: (output as NSString).appendingPathComponent("scores.json"))
        }
        context.progress(step: 1)
        return result
    }
}

/// One attack of a batch: the label it aims for and the text written ("iPod" for iPod).
public struct AttackPair: Codable, Sendable, Equatable, Hashable {
    public var target: String
    public var text: String

    public init(target: String, text: String) {
        self.target = target
        self.text = text
    }

    /// "label=text" (or just "label", which writes the label itself).
    public init(parsing item: String) throws {
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let target = parts.first, !target.isEmpty else { throw InvalidParameter("pairs", "'\(item)' is not label=text") }
        let text = parts.count > 1 ? parts[1] : target
        guard !text.isEmpty else { throw InvalidParameter("pairs", "'\(item)' has an empty text") }
        self.init(target: target, text: text)
    }
}

/// Table II over a folder: every attack text written on every image, the paper's success
/// rate (clean top-1 not the target, attacked top-1 the target, over all images) and
/// coverage per text. Each image's outcome is appended to `results.jsonl` as it comes, so
/// a killed batch resumes without redoing finished images; shards split a folder like `scan`.
public struct AttackBatchJob: JobSpec, Equatable, ClaimsRunFolder {
    static let runName = "an attack batch"
    public static let kind = "attack-batch"
    public static let unit = "images"

    public var model: String
    public var folders: [String]
    public var labels: [String]
    public var template: String
    public var attacks: [AttackPair]
    public var style: AttackStyle
    public var font: String?
    public var shard: Shard?
    /// Images per forward pass (the clean image and its attacked copies share batches).
    public var batchSize: Int
    public var output: String

    public init(model: String, folders: [String], labels: [String], template: String, attacks: [AttackPair],
                style: AttackStyle, font: String? = nil, shard: Shard? = nil, batchSize: Int = 16, output: String) {
        self.model = model
        self.folders = folders
        self.labels = labels
        self.template = template
        self.attacks = attacks
        self.style = style
        self.font = font
        self.shard = shard
        self.batchSize = batchSize
        self.output = output
    }

    public var runFolder: String? { output }
    var identity: AttackBatchJob { var copy = self; copy.output = ""; copy.batchSize = 0; return copy }

    /// One image's outcome, a line of `results.jsonl`.
    public struct ImageOutcome: Codable, Sendable, Equatable {
        public var file: String
        public var clean: String?
        /// The attacked image's top-1 label, per attack (in the job's order).
        public var attacked: [String]?
        public var coverage: [Double]?
        public var changedPixels: [Double]?
        /// Why the image was skipped.
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case file, clean, attacked, coverage, error
            case changedPixels = "changed_pixels"
        }
    }

    /// A row of the table: one attack text over all images.
    public struct Row: Codable, Sendable, Equatable {
        public var target: String
        public var text: String
        public var coverage: Double
        public var changedPixels: Double
        public var successRate: Double
        public var images: Int

        enum CodingKeys: String, CodingKey {
            case target, text, coverage, images
            case changedPixels = "changed_pixels"
            case successRate = "success_rate"
        }
    }

    public struct Skipped: Codable, Sendable, Equatable {
        public var file: String
        public var error: String
    }

    public struct Result: Codable, Sendable, Equatable {
        public var attacks: [Row]
        public var images: Int
        public var skipped: [Skipped]
        public var run: String?
    }

    public static func summary(of result: Result) -> String {
        let best = result.attacks.first.map { String(format: ", best \"%@\" %.1f%%", $0.text, 100 * $0.successRate) } ?? ""
        return "\(result.attacks.count) attacks on \(result.images) images\(best)"
            + (result.skipped.isEmpty ? "" : ", \(result.skipped.count) skipped")
    }

    var resultsPath: String { (output as NSString).appendingPathComponent("results.jsonl") }

    public func validate() throws {
        if labels.isEmpty { throw InvalidParameter("labels", "is empty") }
        if attacks.isEmpty { throw InvalidParameter("pairs", "no attacks given") }
        if batchSize < 1 { throw InvalidParameter("batch-size", "must be at least 1, got \(batchSize)") }
        let known = Set(labels)
        for pair in attacks where !known.contains(pair.target) {
            throw InvalidParameter("pairs", "target '\(pair.target)' is not one of the labels")
        }
        try style.validate()
    }

    public func run(_ context: JobContext) throws -> Result {
        try validate()
        let painter = AttackPainter(font: try Font.chosen(path: font))
        let walk: ImageFolders.Walk
        do { walk = try ImageFolders.walk(folders) } catch { throw InvalidParameter("dir", "\(error)") }
        let walked = walk.files
        let files = shard.map { shard in walked.filter { shard.contains(relativePath: $0.relativePath) } } ?? walked
        guard !files.isEmpty else {
            throw InvalidParameter("dir", "\(folders.joined(separator: ", ")) holds no images (jpg, jpeg, png)"
                                   + (shard.map { " in shard \($0)" } ?? ""))
        }
        try claimFolder()
        var outcomes = try Self.readOutcomes(resultsPath)
        // Links the walk could not follow are listed each run (they are not in results.jsonl).
        for link in walk.skipped {
            context.log("skipped \(link.path): \(link.error)", level: .warning)
            outcomes.append(ImageOutcome(file: link.path, error: link.error))
        }
        let done = Set(outcomes.map(\.file))
        let remaining = files.filter { !done.contains($0.relativePath) }
        context.setTotal(files.count)
        if !done.isEmpty { context.log("resuming: \(files.count - remaining.count) of \(files.count) images done") }
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let scorer = try context.compute { try AttackScorer(model: model, labels: labels, template: template) }
        let writer = try OutcomeWriter(path: resultsPath)
        var step = files.count - remaining.count
        context.restartClock()
        for file in remaining {
            try context.checkCancellation()
            let outcome = try outcome(of: file, painter: painter, scorer: scorer, context: context)
            if let error = outcome.error { context.log("skipped \(file.relativePath): \(error)", level: .warning) }
            try writer.append(outcome)
            outcomes.append(outcome)
            step += 1
            context.progress(step: step, rateSteps: step - (files.count - remaining.count))
        }
        let table = Self.table(outcomes, attacks: attacks)
        var result = table
        result.run = output
        try JSONFiles.write(result, to: (output as NSString).appendingPathComponent("table.json"))
        try Self.csv(table).write(toFile: (output as NSString).appendingPathComponent("table.csv"), atomically: true, encoding: .utf8)
        return result
    }

    func outcome(of file: ImageFile, painter: AttackPainter, scorer: AttackScorer, context: JobContext) throws -> ImageOutcome {
        let clean: Image
        do { clean = try DecodedImage.load(path: file.path).convertedToRGB() } catch {
            return ImageOutcome(file: file.relativePath, error: ImageBatches.reason(error, path: file.path))
        }
        var attackedImages: [Image] = [], coverage: [Double] = [], changed: [Double] = []
        for pair in attacks {
            try painter.checkPlacement(pair.text, style: style, width: clean.width, height: clean.height)
            let attacked = try painter.attack(clean, text: pair.text, style: style)
            let measured = AttackCoverage(clean: clean, attacked: attacked)
            coverage.append(measured.coverage)
            changed.append(measured.changedPixels)
            attackedImages.append(attacked)
        }
        let all = [clean] + attackedImages
        var tops: [String] = []
        for start in stride(from: 0, to: all.count, by: batchSize) {
            try context.checkCancellation()
            let rows = context.compute { scorer.probabilities(Array(all[start..<min(all.count, start + batchSize)])) }
            tops += rows.map { scorer.classifier.labels[ZeroShotClassifier.topClass($0)] }
        }
        return ImageOutcome(file: file.relativePath, clean: tops[0], attacked: Array(tops.dropFirst()), coverage: coverage,
                            changedPixels: changed)
    }

    /// The table from per-image outcomes (the last outcome of a file wins), sorted like Table II:
    /// highest success rate first.
    public static func table(_ outcomes: [ImageOutcome], attacks: [AttackPair]) -> Result {
        var byFile: [String: ImageOutcome] = [:]
        for outcome in outcomes { byFile[outcome.file] = outcome }
        // In file order, so that sums (and so the table) do not depend on how the work was split.
        let scored = byFile.values.filter { $0.error == nil && $0.attacked?.count == attacks.count }.sorted { $0.file < $1.file }
        let skipped = byFile.values.compactMap { o in o.error.map { Skipped(file: o.file, error: $0) } }.sorted { $0.file < $1.file }
        let n = Double(max(1, scored.count))
        let rows = attacks.enumerated().map { k, pair -> Row in
            let successes = scored.filter { $0.clean != pair.target && $0.attacked![k] == pair.target }.count
            return Row(target: pair.target, text: pair.text,
                       coverage: scored.reduce(0) { $0 + ($1.coverage?[k] ?? 0) } / n,
                       changedPixels: scored.reduce(0) { $0 + ($1.changedPixels?[k] ?? 0) } / n,
                       successRate: Double(successes) / n, images: scored.count)
        }.sorted { ($0.successRate, $1.text) > ($1.successRate, $0.text) }
        return Result(attacks: rows, images: scored.count, skipped: skipped, run: nil)
    }

    /// Reads `results.jsonl`, dropping a torn last line (a kill mid-write) from the file too.
    static func readOutcomes(_ path: String) throws -> [ImageOutcome] {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return [] }
        var complete = data
        if data.last != UInt8(ascii: "\n") {
            let cut = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.startIndex
            complete = data[data.startIndex..<cut]
            try complete.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        let decoder = JSONDecoder()
        return complete.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(ImageOutcome.self, from: Data($0)) }
    }

    /// Merges shard run folders of one batch (the same settings but the shard) into one table.
    public static func merge(runs: [String]) throws -> Result {
        guard let first = runs.first else { throw InvalidParameter("runs", "none given") }
        var reference: AttackBatchJob?
        var outcomes: [ImageOutcome] = []
        for run in runs {
            let parameters = (run as NSString).appendingPathComponent("parameters.json")
            guard let data = FileManager.default.contents(atPath: parameters),
                  var job = try? JSONDecoder().decode(AttackBatchJob.self, from: data) else {
                throw InvalidParameter("runs", "\(run) is not an attack batch run (no readable parameters.json)")
            }
            job.shard = nil
            if let reference, reference != job {
                throw InvalidParameter("runs", "\(run) ran other settings than \(first)")
            }
            reference = job
            outcomes += try readOutcomes((run as NSString).appendingPathComponent("results.jsonl"))
        }
        return table(outcomes, attacks: reference!.attacks)
    }

    public static func csv(_ result: Result) -> String {
        CSV.document(header: ["target", "text", "coverage", "changed_pixels", "success_rate", "images"], rows: result.attacks.map {
            [$0.target, $0.text, "\($0.coverage)", "\($0.changedPixels)", "\($0.successRate)", "\($0.images)"]
        })
    }
}

/// Appends one JSON line per outcome and flushes it to disk before the next image.
final class OutcomeWriter {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw JobFailure(message: "\(path): cannot open for writing")
        }
        self.handle = handle
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func append(_ outcome: AttackBatchJob.ImageOutcome) throws {
        // The one JSON policy: a non-finite number (a broken model) is null, not a failed write.
        var line = try JSONValue.encode(outcome)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }
}
