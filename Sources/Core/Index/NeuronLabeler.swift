import Assets
import CLIP
import Foundation
import Jobs
import Tensor

/// Word lists for proposing neuron labels.
public enum ConceptWords {
    /// Assets/concept-words.txt: colours, emotions, countries, brands, religions, holidays, people roles.
    public static var concepts: [String] {
        parse(EmbeddedAssets.conceptWordsText)
    }

    /// The default list: the ImageNet class names, then the concepts, without repeats.
    public static var defaultWords: [String] {
        var seen = Set<String>()
        return (EmbeddedAssets.imageNetLabels + concepts).filter { seen.insert($0.lowercased()).inserted }
    }

    /// One word or phrase per line; blank lines and '#' comments are ignored.
    public static func parse(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let word = line.trimmingCharacters(in: .whitespaces)
            return word.isEmpty || word.hasPrefix("#") ? nil : word
        }
    }

    /// A word list file (one per line); throws naming the file.
    public static func load(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw IndexError("\(path): cannot read the word list") }
        let words = parse(String(decoding: data, as: UTF8.self))
        guard !words.isEmpty else { throw IndexError("\(path): the word list is empty") }
        return words
    }
}

/// A proposed label: the word whose text embedding is nearest the centroid of a neuron's
/// top images' embeddings.
public struct ProposedLabel: Codable, Sendable, Equatable {
    public let neuron: Int
    public let label: String
    /// Cosine between the normalized centroid and the word's normalized embedding.
    public let score: Double
}

/// Proposes neuron labels from an index and the model that made it.
public struct NeuronLabeler {
    public let model: CLIPModel
    public let index: ActivationIndex
    public let scan: ScanInfo

    /// Fails unless `model` is the scan's model.
    public init(model: CLIPModel, index: ActivationIndex, scan: ScanInfo) throws {
        let identity = model.identity
        guard identity.fingerprint == scan.model.fingerprint else {
            throw IndexError("\(index.path): scan \(scan.label) was made with another model than \(identity.name) (fingerprint \(scan.model.fingerprint), not \(identity.fingerprint))")
        }
        self.model = model
        self.index = index
        self.scan = scan
    }

    /// Normalized image embeddings of entries: stored ones, else computed from the files
    /// (entries whose file can no longer be read are left out).
    public func imageEmbeddings(_ entries: [IndexEntry], isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> [Int64: [Float]] {
        var result = try index.embeddings(ids: entries.map(\.id)).mapValues(Self.normalized)
        let missing = entries.filter { result[$0.id] == nil }
        try ImageBatches(paths: missing.map(\.path), batchSize: 16, preprocessing: model.preprocessing).forEach(
            isCancelled: isCancelled, skipped: { _ in }
        ) { indices, pixels in
            for (i, row) in zip(indices, model.encodeImages(pixels).l2Normalized().rows()) { result[missing[i].id] = row }
        }
        if isCancelled() { throw JobCancelled() }
        return result
    }

    static func normalized(_ vector: [Float]) -> [Float] {
        Tensor(shape: [1, vector.count], values: vector).l2Normalized().values
    }

    /// The unit centroid of the unit embeddings of a neuron's `topK` images (summed in entry
    /// order, so it is the same every time); nil when none of them can be read.
    public func centroid(neuron: Int, topK: Int, isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> [Float]? {
        let top = try index.summary(scan: scan, neuron: neuron).top.prefix(topK)
        let entries = try index.entries(ids: top.map(\.entry))
        let embeddings = try imageEmbeddings(top.compactMap { entries[$0.entry] }, isCancelled: isCancelled)
        guard !embeddings.isEmpty else { return nil }
        var centroid = [Float](repeating: 0, count: model.config.embedDim)
        for id in embeddings.keys.sorted() { for (i, value) in embeddings[id]!.enumerated() { centroid[i] += value } }
        return Self.normalized(centroid)
    }

    /// For each neuron, the word nearest the centroid of its `topK` images.
    public func propose(neurons: [Int], words: [String], template: String = "a photo of {}.", topK: Int = 25,
                        progress: (Int) -> Void = { _ in }, isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> [ProposedLabel] {
        guard !words.isEmpty else { throw IndexError("no words to label with") }
        let texts = try ZeroShotClassifier(model: model, labels: words, template: template).classEmbeddings.rows()
        var proposals: [ProposedLabel] = []
        for (done, neuron) in neurons.enumerated() {
            if isCancelled() { throw JobCancelled() }
            guard let centroid = try centroid(neuron: neuron, topK: topK, isCancelled: isCancelled) else { continue }
            var best = (index: 0, score: -Float.infinity)
            for (w, text) in texts.enumerated() {
                var dot: Float = 0
                for i in centroid.indices { dot += centroid[i] * text[i] }
                if dot > best.score { best = (w, dot) }
            }
            proposals.append(ProposedLabel(neuron: neuron, label: words[best.index], score: Double(best.score)))
            progress(done + 1)
        }
        try index.storeProposedLabels(scan: scan.id, proposals.map { ($0.neuron, $0.label, $0.score) })
        return proposals
    }
}

/// Proposing labels as a job: loads the model and the index on the compute thread.
public struct LabelJob: JobSpec {
    public static let kind = "label"
    public static let unit = "neurons"

    public var model: String
    public var index: String
    /// `--scan` (nil: the only or latest).
    public var scan: String?
    public var neurons: [Int]?
    public var words: [String]
    public var template: String
    public var topK: Int

    public init(model: String, index: String, scan: String?, neurons: [Int]?, words: [String],
                template: String = "a photo of {}.", topK: Int = 25) {
        self.model = model
        self.index = index
        self.scan = scan
        self.neurons = neurons
        self.words = words
        self.template = template
        self.topK = topK
    }

    public struct Result: Codable, Sendable, Equatable {
        public let labels: [ProposedLabel]
    }

    public static func summary(of result: Result) -> String { "proposed \(result.labels.count) label(s)" }

    public func run(_ context: JobContext) throws -> Result {
        let index = try ActivationIndex(path: index)
        let scan = try index.scan(scan)
        let selected = neurons ?? Array(0..<scan.model.neurons)
        for neuron in selected { try index.checkNeuron(neuron, scan: scan) }
        context.setTotal(selected.count)
        let model = try CLIPModel.shared(model: model, executor: context.executor)
        let labels = try context.compute {
            try NeuronLabeler(model: model, index: index, scan: scan).propose(
                neurons: selected, words: words, template: template, topK: topK,
                progress: { context.progress(step: $0) }, isCancelled: { context.isCancelled })
        }
        return Result(labels: labels)
    }
}
