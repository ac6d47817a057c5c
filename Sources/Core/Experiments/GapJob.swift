import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Tensor

/// The modality gap of a model on image-caption pairs (Liang et al. 2022), into a run
/// folder: `gap.json` (the result), `points.csv` (each embedding's UMAP and PCA point),
/// `gap.png` (UMAP: images and texts in two colours, a line per pair) and `gap-pca.png`.
/// The pairs come from one of: a folder of images captioned "This is a " + the file's
/// name (as the paper's), a CSV of `path,caption`, or a list (the toy's own scenes).
public struct GapJob: JobSpec, Equatable {
    public static let kind = "gap"
    public static let unit = "steps"
    /// UMAP needs some neighbours to speak of.
    public static let minimumPairs = 3

    /// An image and its caption.
    public struct Pair: Codable, Sendable, Equatable {
        public var image: String
        public var caption: String
        public init(image: String, caption: String) { self.image = image; self.caption = caption }
    }

    public var model: String
    /// A folder of images, captioned by their names.
    public var directory: String?
    /// A CSV of `path,caption` (header optional; relative paths from the CSV's folder).
    public var csv: String?
    /// Pairs given directly.
    public var pairs: [Pair]?
    public var output: String
    public var neighbours = 15
    public var minimumDistance = 0.1
    public var seed: UInt64 = 42
    public var batchSize = 16

    public init(model: String, directory: String? = nil, csv: String? = nil, pairs: [Pair]? = nil, output: String) {
        self.model = model
        self.directory = directory
        self.csv = csv
        self.pairs = pairs
        self.output = output
    }

    public var runFolder: String? { output }

    /// A point of a 2-D view: one embedding.
    public struct Point: Codable, Sendable, Equatable {
        /// "image" or "text".
        public let kind: String
        public let x: Double
        public let y: Double
        /// The pair it belongs to (its position in `pairs`).
        public let pair: Int
    }

    /// An image left out, and why.
    public struct Skipped: Codable, Sendable, Equatable {
        public let path: String
        public let error: String
    }

    public struct Result: Codable, Sendable {
        public let run: String
        /// Pairs the numbers are over (the readable ones).
        public let pairs: Int
        public let centroidDistance: Double
        public let matchedCosine: Double
        public let unmatchedCosine: Double
        /// Share of embeddings nearer their own modality's centroid than the other's.
        public let nearestCentroidAccuracy: Double
        /// UMAP, images first then texts, pair by pair.
        public let points: [Point]
        public let pcaPoints: [Point]
        public let figure: String
        public let pcaFigure: String
        public let skipped: [Skipped]

        enum CodingKeys: String, CodingKey {
            case run, pairs, points, figure, skipped
            case centroidDistance = "centroid_distance", matchedCosine = "matched_cosine", unmatchedCosine = "unmatched_cosine"
            case nearestCentroidAccuracy = "nearest_centroid_accuracy", pcaPoints = "pca_points", pcaFigure = "pca_figure"
        }
    }

    public static func summary(of result: Result) -> String {
        String(format: "centroid distance %.3f, matched cosine %.3f, unmatched %.3f over %d pairs (%@)",
               result.centroidDistance, result.matchedCosine, result.unmatchedCosine, result.pairs, result.figure)
    }

    func path(_ name: String) -> String { (output as NSString).appendingPathComponent(name) }

    public func validate() throws {
        let sources = [directory != nil, csv != nil, pairs != nil].filter { $0 }.count
        if sources != 1 { throw InvalidParameter("directory", "or csv or pairs: give exactly one, got \(sources)") }
        if output.isEmpty { throw InvalidParameter("output", "is empty") }
        if neighbours < 2 { throw InvalidParameter("neighbours", "must be at least 2, got \(neighbours)") }
        if !(minimumDistance >= 0) || !minimumDistance.isFinite { throw InvalidParameter("minimumDistance", "must be at least 0, got \(minimumDistance)") }
        if batchSize < 1 { throw InvalidParameter("batchSize", "must be at least 1, got \(batchSize)") }
    }

    /// The pairs the job runs on, checked before any work: a folder without images, a CSV
    /// line without a caption, or fewer than `minimumPairs` pairs fail naming the option.
    public func resolvedPairs() throws -> [Pair] {
        try validate()
        let found: [Pair], parameter: String
        if let directory {
            (found, parameter) = (try Self.folderPairs(directory), "directory")
        } else if let csv {
            (found, parameter) = (try Self.csvPairs(csv), "csv")
        } else {
            (found, parameter) = (pairs ?? [], "pairs")
            if let bad = found.firstIndex(where: { $0.caption.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw InvalidParameter("pairs", "\(found[bad].image): no caption")
            }
        }
        if found.count < Self.minimumPairs {
            let source = directory ?? csv ?? "given"
            throw InvalidParameter(parameter, "\(source): \(found.count) pair(s); the gap needs at least \(Self.minimumPairs)")
        }
        return found
    }

    /// "This is a " + the name without extension, underscores and dashes as spaces.
    public static func caption(forFile path: String) -> String {
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let words = stem.map { $0 == "_" || $0 == "-" ? " " : $0 }
        return "This is a " + String(words).split(separator: " ").joined(separator: " ")
    }

    /// The folder's images (not its subfolders'), by name, captioned by `caption(forFile:)`.
    public static func folderPairs(_ folder: String) throws -> [Pair] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw InvalidParameter("directory", "\(folder): no such folder")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let images = names.filter { ImageFolders.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
        if images.isEmpty { throw InvalidParameter("directory", "\(folder): no images (.jpg, .jpeg, .png)") }
        return images.map { name in
            Pair(image: (folder as NSString).appendingPathComponent(name), caption: caption(forFile: name))
        }
    }

    /// `path,caption` records (a first record `path,caption` is a header), RFC 4180: fields may be quoted
    /// ("a caption, with a comma", or one spanning lines); a byte order mark and blank lines are skipped.
    public static func csvPairs(_ file: String) throws -> [Pair] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InvalidParameter("csv", "\(file): cannot read it")
        }
        let records: [CSV.Record]
        do { records = try CSV.records(String(decoding: data, as: UTF8.self)) } catch {
            throw InvalidParameter("csv", "\(file) line \(error.line): \(error.reason)")
        }
        let folder = (file as NSString).deletingLastPathComponent
        var pairs: [Pair] = []
        for record in records {
            let fields = record.fields
            if fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            if pairs.isEmpty, fields.count == 2, fields[0].lowercased() == "path", fields[1].lowercased() == "caption" { continue }
            let path = fields[0].trimmingCharacters(in: .whitespaces)
            // Unquoted commas after the first belong to the caption.
            let caption = fields.dropFirst().joined(separator: ",").trimmingCharacters(in: .whitespaces)
            if path.isEmpty { throw InvalidParameter("csv", "\(file) line \(record.line): no image path") }
            if caption.isEmpty { throw InvalidParameter("csv", "\(file) line \(record.line): no caption (want path,caption)") }
            let resolved = path.hasPrefix("/") ? path : (folder.isEmpty ? path : (folder as NSString).appendingPathComponent(path))
            pairs.append(Pair(image: resolved, caption: caption))
        }
        return pairs
    }

    public func run(_ context: JobContext) throws -> Result {
        let pairs = try resolvedPairs()
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let umap = UMAP(neighbours: neighbours, minimumDistance: minimumDistance, seed: seed)
        let epochs = umap.epochCount(points: 2 * pairs.count)
        context.setTotal(2 * pairs.count + epochs)
        context.restartClock()

        // Images, a batch at a time; an unreadable one is left out with its caption.
        let dimension = context.compute { model.config.embedDim }
        var imageRows: [Int: [Float]] = [:]
        var skipped: [Skipped] = []
        let token = context.token
        try ImageBatches(paths: pairs.map(\.image), batchSize: batchSize, preprocessing: model.preprocessing, prefetch: true)
            .forEach(isCancelled: { token.isCancelled }, skipped: { failure in
                skipped.append(Skipped(path: failure.path, error: failure.reason))
                context.log("skipped \(failure.path): \(failure.reason)", level: .warning)
            }, { indices, pixels in
                let rows = context.compute { model.encodeImages(pixels).l2Normalized().rows() }
                for (index, row) in zip(indices, rows) { imageRows[index] = row }
                context.progress(step: imageRows.count + skipped.count)
            })
        try context.checkCancellation()
        let kept = pairs.indices.filter { imageRows[$0] != nil }
        if kept.count < Self.minimumPairs {
            throw JobFailure(message: "only \(kept.count) of \(pairs.count) images could be read; the gap needs at least \(Self.minimumPairs) pairs")
        }
        let images = kept.flatMap { imageRows[$0]! }
        let texts = try context.compute { try model.embedTexts(kept.map { pairs[$0].caption }).l2Normalized().values }
        context.progress(step: 2 * pairs.count)
        let gap = ModalityGap(images: images, texts: texts, dimension: dimension)

        // Images first, then texts: row i and row n + i are a pair.
        let n = kept.count
        let both = images + texts
        let layout = try context.compute {
            try umap.embed(both, dimension: dimension) { done, _ in
                try context.checkCancellation()
                if done % 10 == 0 || done == epochs { context.progress(step: 2 * pairs.count + done) }
            }
        }
        let pca = context.compute { PCA.project(both, dimension: dimension) }
        func points(_ xy: [Float]) -> [Point] {
            (0..<(2 * n)).map { Point(kind: $0 < n ? "image" : "text", x: Double(xy[2 * $0]), y: Double(xy[2 * $0 + 1]), pair: $0 % n) }
        }
        let (umapPoints, pcaPoints) = (points(layout), points(pca))

        let font = try Font.standard()
        let figure = path("gap.png"), pcaFigure = path("gap-pca.png")
        let umapFigure = Self.figure(umapPoints, gap: gap, method: "UMAP", font: font)
        try umapFigure.writePNG(path: figure)
        context.artefact(JobArtefact(name: "figure", path: figure))
        try Self.figure(pcaPoints, gap: gap, method: "PCA", font: font, equalAspect: true).writePNG(path: pcaFigure)
        context.artefact(JobArtefact(name: "PCA figure", path: pcaFigure))
        try writePoints(umapPoints, pcaPoints, pairs: kept.map { pairs[$0] })
        context.artefact(JobArtefact(name: "points", path: path("points.csv")))

        let result = Result(run: output, pairs: n, centroidDistance: gap.centroidDistance, matchedCosine: gap.matchedCosine,
                            unmatchedCosine: gap.unmatchedCosine, nearestCentroidAccuracy: gap.nearestCentroidAccuracy,
                            points: umapPoints, pcaPoints: pcaPoints, figure: figure, pcaFigure: pcaFigure,
                            skipped: skipped)
        try JSONValue.encode(result, formatting: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: URL(fileURLWithPath: path("gap.json")), options: .atomic)
        context.artefact(JobArtefact(name: "result", path: path("gap.json")))
        context.progress(step: 2 * pairs.count + epochs, metrics: [
            JobMetric("centroid distance", gap.centroidDistance), JobMetric("matched cosine", gap.matchedCosine),
            JobMetric("unmatched cosine", gap.unmatchedCosine),
        ])
        return result
    }

    /// The paper's figure: images and texts in two colours, a thin line joining each pair.
    static func figure(_ points: [Point], gap: ModalityGap, method: String, font: Font, equalAspect: Bool = false) -> Image {
        let n = points.count / 2
        let chartPoints = points.map { Chart.Point(x: $0.x, y: $0.y, group: $0.kind == "image" ? 0 : 1) }
        let title = String(format: "Modality gap (%@): centroid distance %.3f, %d pairs", method, gap.centroidDistance, n)
        let style = ChartStyle(width: 760, height: 560, palette: [Color(hex: 0xE15759), Color(hex: 0x4E79A7)])
        return Chart.scatter(chartPoints, groups: ["image", "text"], pairs: (0..<n).map { ($0, n + $0) },
                             labels: ChartLabels(title: title, x: "\(method) 1", y: "\(method) 2"), equalAspect: equalAspect,
                             pointRadius: 3, style: style, font: font)
    }

    /// `pair,kind,umap_x,umap_y,pca_x,pca_y,source` (the image's path or the caption).
    func writePoints(_ umap: [Point], _ pca: [Point], pairs: [Pair]) throws {
        let rows = zip(umap, pca).map { u, p in
            ["\(u.pair)", u.kind, "\(u.x)", "\(u.y)", "\(p.x)", "\(p.y)", u.kind == "image" ? pairs[u.pair].image : pairs[u.pair].caption]
        }
        try CSV.document(header: ["pair", "kind", "umap_x", "umap_y", "pca_x", "pca_y", "source"], rows: rows)
            .write(toFile: path("points.csv"), atomically: true, encoding: .utf8)
    }
}
