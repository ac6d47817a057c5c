import CLIP
import Foundation

/// Why an index could not be opened, read or written: one line naming the file.
public struct IndexError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    /// What would mend it, when that is a scan: each front end says how in its own terms
    /// after `problem` (`message` says it in neutral words).
    public let remedy: Remedy?
    /// The message without the remedy.
    public let problem: String

    public enum Remedy: Sendable, Equatable {
        case scanToCreate, scanToFinish, finishBeforeMerging

        /// The remedy as words that name no front end's command.
        public var neutralWords: String {
            switch self {
            case .scanToCreate: " (scan a folder of images to make one)"
            case .scanToFinish: "; scan its folders again to finish it"
            case .finishBeforeMerging: "; finish it (scan its folders again) before merging"
            }
        }
    }

    public init(_ message: String) {
        self.message = message
        problem = message
        remedy = nil
    }

    public init(_ problem: String, remedy: Remedy) {
        self.problem = problem
        self.remedy = remedy
        message = problem + remedy.neutralWords
    }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// One scan held by an index: a model, a tap and a reduction, over a set of images.
public struct ScanInfo: Codable, Sendable, Equatable {
    public let id: Int64
    public let model: ModelIdentity
    public let tap: NeuronTap
    public let reduce: ActivationReduce
    /// Images with activations.
    public let imageCount: Int
    /// Files recorded as skipped (unreadable).
    public let skippedCount: Int
    /// True while per-neuron summaries lag behind the images (an interrupted scan).
    public let stale: Bool
    /// Images that also have an image embedding stored.
    public let embeddingCount: Int
    /// Seconds since 1970 of the last change.
    public let updated: Double

    public init(id: Int64, model: ModelIdentity, tap: NeuronTap, reduce: ActivationReduce, imageCount: Int,
                skippedCount: Int = 0, stale: Bool = false, embeddingCount: Int = 0, updated: Double = 0) {
        self.id = id
        self.model = model
        self.tap = tap
        self.reduce = reduce
        self.imageCount = imageCount
        self.skippedCount = skippedCount
        self.stale = stale
        self.embeddingCount = embeddingCount
        self.updated = updated
    }

    /// "RN50x4 conv3 max (#1)".
    public var label: String { "\(model.name) \(tap.rawValue) \(reduce.rawValue) (#\(id))" }
}

/// Whether an indexed file has activations.
public enum EntryStatus: String, Codable, Sendable { case ok, skipped }

/// One file of a scan.
public struct IndexEntry: Codable, Sendable, Equatable {
    public let id: Int64
    public let path: String
    public let category: String
    public let size: Int64
    public let mtimeNanoseconds: Int64
    public let status: EntryStatus
    /// Why it was skipped.
    public let error: String?
}

/// What a scan writes for one file.
public struct EntryRecord: Sendable {
    public var path: String
    public var category: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    /// One value per neuron; nil when skipped.
    public var activations: [Float]?
    public var embedding: [Float]?
    public var error: String?

    public init(path: String, category: String, size: Int64, mtimeNanoseconds: Int64, activations: [Float]?,
                embedding: [Float]? = nil, error: String? = nil) {
        self.path = path
        self.category = category
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.activations = activations
        self.embedding = embedding
        self.error = error
    }
}

/// Count, moments, extremes and quantiles of a set of activations.
public struct ActivationStats: Codable, Sendable, Equatable {
    /// The levels of `quantiles`.
    public static let quantileLevels: [Double] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    public let count: Int
    public let mean: Double
    /// Population standard deviation.
    public let std: Double
    public let min: Double
    public let max: Double
    /// At `quantileLevels`, linearly interpolated between order statistics (numpy's default).
    public let quantiles: [Double]

    /// Stats of values sorted in ascending order.
    public init(sorted values: UnsafeBufferPointer<Float>) {
        count = values.count
        guard !values.isEmpty else {
            mean = .nan; std = .nan; min = .nan; max = .nan
            quantiles = Self.quantileLevels.map { _ in .nan }
            return
        }
        var sum = 0.0
        for value in values { sum += Double(value) }
        let mean = sum / Double(values.count)
        var squares = 0.0
        for value in values { squares += (Double(value) - mean) * (Double(value) - mean) }
        self.mean = mean
        std = (squares / Double(values.count)).squareRoot()
        min = Double(values[0])
        max = Double(values[values.count - 1])
        quantiles = Self.quantileLevels.map { Self.quantile($0, sorted: values) }
    }

    public init(values: [Float]) {
        let sorted = values.sorted()
        self = sorted.withUnsafeBufferPointer { ActivationStats(sorted: $0) }
    }

    /// The q-quantile of ascending values, interpolated linearly.
    public static func quantile(_ q: Double, sorted values: UnsafeBufferPointer<Float>) -> Double {
        let position = q * Double(values.count - 1)
        let below = Int(position.rounded(.down))
        let above = Swift.min(values.count - 1, below + 1)
        let fraction = position - Double(below)
        return Double(values[below]) + (Double(values[above]) - Double(values[below])) * fraction
    }

    /// Stats values as JSON-friendly numbers (NaN for an empty set becomes nil).
    public var median: Double { quantiles[3] }
}

/// An image in a ranking.
public struct RankedEntry: Codable, Sendable, Equatable {
    public let entry: Int64
    public let value: Float
}

/// A bin of a neuron's activation histogram with the image nearest its centre.
public struct HistogramBin: Codable, Sendable, Equatable {
    public let low: Double
    public let high: Double
    public let count: Int
    /// The entry whose activation is closest to the bin's centre; nil for an empty bin.
    public let example: Int64?

    public init(low: Double, high: Double, count: Int, example: Int64?) {
        self.low = low
        self.high = high
        self.count = count
        self.example = example
    }
}

/// Everything precomputed for one neuron of one scan, so that queries read one row.
public struct NeuronSummary: Codable, Sendable, Equatable {
    /// How many images `top` and `bottom` keep.
    public static let rankedCount = 100
    /// Bins of `bins` (equal width over [min, max]).
    public static let histogramBins = 20
    public let stats: ActivationStats
    /// Highest first.
    public let top: [RankedEntry]
    /// Lowest first.
    public let bottom: [RankedEntry]
    public let bins: [HistogramBin]
}

/// One category's share of a neuron's activations.
public struct CategorySummary: Codable, Sendable, Equatable {
    /// Bins of `density` (equal width over the neuron's [min, max] over all categories).
    public static let densityBins = 32
    public let name: String
    public let stats: ActivationStats
    /// Counts per bin, for density curves.
    public let density: [Int]

    public init(name: String, stats: ActivationStats, density: [Int]) {
        self.name = name
        self.stats = stats
        self.density = density
    }
}

/// A per-neuron label, proposed from text embeddings or set by a person.
public struct NeuronLabel: Codable, Sendable, Equatable {
    public let neuron: Int
    public let label: String
    /// Cosine of the proposal; nil for a person's label.
    public let score: Double?
    /// "user" or "proposed".
    public let source: String
    public let note: String?

    public init(neuron: Int, label: String, score: Double?, source: String, note: String?) {
        self.neuron = neuron
        self.label = label
        self.score = score
        self.source = source
        self.note = note
    }

    /// A label is a name shown in one row of a list, a note a few sentences: longer text
    /// is refused (it made listings crawl and fills no screen).
    public static let maximumLabelLength = 200
    public static let maximumNoteLength = 2000

    /// Why a person's label or note is refused, in one line naming the limit; nil when both fit.
    public static func lengthProblem(label: String?, note: String?) -> String? {
        if let label, label.count > maximumLabelLength {
            return "a label is at most \(maximumLabelLength) characters; this one has \(label.count)"
        }
        if let note, note.count > maximumNoteLength {
            return "a note is at most \(maximumNoteLength) characters; this one has \(note.count)"
        }
        return nil
    }
}
