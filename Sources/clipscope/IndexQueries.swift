import ArgumentParser
import CLIP
import Foundation
import Imaging
import Index
import Support
import Terminal

/// An image in a query's answer.
struct RankedImage: Encodable {
    let path: String
    let category: String
    let activation: Float
}

/// Runs `body`, turning Core's errors into one-line command failures.
func failing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw CommandFailure(error) }
}

/// Writes a PNG, failing with one line naming the file.
func writeImage(_ image: Image, to path: String) throws {
    do { try image.writePNG(path: path) } catch { throw CommandFailure("cannot write \(path): \(error)") }
}

/// A captioned montage of indexed images (unreadable ones are grey tiles).
func montage(_ images: [(path: String, caption: String)], title: String, columns: Int = 5) throws -> Image {
    let (face, warning) = try Font.load(path: nil)
    if let warning { Output.warn(warning) }
    return NeuronPictures.grid(images, title: title, columns: columns, font: face)
}

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The images of an index that excite a neuron most (or least).",
        discussion: "Up to 100 images come from the precomputed ranking; more are ranked from the stored activations.")

    @OptionGroup var indexOptions: IndexOptions

    @Option(parsing: .unconditional, help: "The neuron.")
    var neuron: Int

    @Option(help: "How many images.")
    var k = 25

    @Flag(help: "The least activating images instead.")
    var bottom = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Write a captioned grid (5 per row) as PNG.", valueName: "grid.png"))
    var output: String?

    @Flag(help: "Show the images in the terminal.")
    var show = false

    @OptionGroup var graphicsOptions: GraphicsOptions

    @OptionGroup var json: JSONOption

    func validate() throws {
        try checkNeuron(neuron)
        if k < 1 { throw CommandFailure("--k must be at least 1, got \(k)") }
    }

    static func ranking(index: ActivationIndex, scan: ScanInfo, neuron: Int, k: Int, bottom: Bool) throws -> [RankedImage] {
        try index.ranking(scan: scan, neuron: neuron, k: k, bottom: bottom).map {
            RankedImage(path: $0.entry.path, category: $0.entry.category, activation: $0.value)
        }
    }

    struct Answer: Encodable {
        let neuron: Int
        let scan: String
        let images: [RankedImage]
    }

    func run() throws {
        let (index, scan) = try indexOptions.open()
        let images = try failing { try Self.ranking(index: index, scan: scan, neuron: neuron, k: k, bottom: bottom) }
        if let output {
            let title = NeuronPictures.title(neuron: neuron, bottom: bottom, count: images.count, scan: scan)
            let picture = try montage(images.map { ($0.path, NeuronPictures.caption(value: $0.activation, category: $0.category)) },
                                      title: title)
            try writeImage(picture, to: output)
            if !json.json { print("wrote \(output)") }
        }
        if json.json {
            try Output.printJSON(Answer(neuron: neuron, scan: scan.label, images: images))
        } else if output == nil || show {
            print(Output.table([["rank", "activation", "category", "path"]] + images.enumerated().map { i, image in
                [String(i + 1), Output.fixed(image.activation), image.category, image.path]
            }, rightAligned: [0, 1]))
        }
        if show {
            let loaded = ImageBatch.load(images.map(\.path))
            try Show.display(loaded, cols: 5, capabilities: graphicsOptions.detect())
        }
    }
}

struct Categories: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A neuron's activations per category (sub-folder): count, mean, max, quantiles.",
        discussion: "-o writes density curves per category above a bar chart of the means.")

    @OptionGroup var indexOptions: IndexOptions

    @Option(parsing: .unconditional, help: "The neuron.")
    var neuron: Int

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the plot as PNG.", valueName: "plot.png"))
    var output: String?

    @OptionGroup var json: JSONOption

    func validate() throws { try checkNeuron(neuron) }

    struct Row: Encodable {
        let name: String
        let count: Int
        let mean: Double
        let std: Double
        let min: Double
        let max: Double
        let quantiles: [String: Double]
    }

    struct Answer: Encodable {
        let neuron: Int
        let scan: String
        let categories: [Row]
    }

    func run() throws {
        let (index, scan) = try indexOptions.open()
        let categories = try failing { try index.categories(scan: scan, neuron: neuron) }
        let rows = categories.map { category in
            let stats = category.stats
            var quantiles: [String: Double] = [:]
            for (level, value) in zip(ActivationStats.quantileLevels, stats.quantiles) { quantiles[String(format: "%g", level)] = value }
            return Row(name: category.name, count: stats.count, mean: stats.mean, std: stats.std, min: stats.min, max: stats.max,
                       quantiles: quantiles)
        }
        if let output {
            let values = try failing { try index.values(scan: scan, neuron: neuron) }
            var groups: [String: [Double]] = [:]
            for value in values { groups[value.category, default: []].append(Double(value.value)) }
            let (face, warning) = try Font.load(path: nil)
            if let warning { Output.warn(warning) }
            let picture = NeuronPictures.categories(categories, values: groups, title: "neuron \(neuron) by category (\(scan.tap.rawValue), \(scan.reduce.rawValue))", font: face)
            try writeImage(picture, to: output)
            if !json.json { print("wrote \(output)") }
        }
        if json.json {
            try Output.printJSON(Answer(neuron: neuron, scan: scan.label, categories: rows))
        } else {
            print(Output.table([["category", "count", "mean", "std", "min", "median", "max"]] + categories.map { c in
                [c.name, String(c.stats.count)] + [c.stats.mean, c.stats.std, c.stats.min, c.stats.median, c.stats.max].map {
                    String(format: "%.4f", $0)
                }
            }, rightAligned: [1, 2, 3, 4, 5, 6]))
        }
    }
}

struct Histogram: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A neuron's activation distribution: equal-width bins, each with the image nearest its centre.",
        discussion: "-o writes the bins' example images as a captioned grid.")

    @OptionGroup var indexOptions: IndexOptions

    @Option(parsing: .unconditional, help: "The neuron.")
    var neuron: Int

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the example images as a grid PNG.", valueName: "examples.png"))
    var output: String?

    @OptionGroup var json: JSONOption

    func validate() throws { try checkNeuron(neuron) }

    struct Bin: Encodable {
        let low: Double
        let high: Double
        let count: Int
        let example: String?
    }

    struct Answer: Encodable {
        let neuron: Int
        let scan: String
        let bins: [Bin]
    }

    func run() throws {
        let (index, scan) = try indexOptions.open()
        let summary = try failing { try index.summary(scan: scan, neuron: neuron) }
        let examples = try failing { try index.entries(ids: summary.bins.compactMap(\.example)) }
        let bins = summary.bins.map { bin in
            Bin(low: bin.low, high: bin.high, count: bin.count, example: bin.example.flatMap { examples[$0]?.path })
        }
        if let output {
            let picture = try montage(bins.compactMap { bin in
                bin.example.map { ($0, String(format: "%.3f…%.3f\n%d images", bin.low, bin.high, bin.count)) }
            }, title: "neuron \(neuron): examples across the distribution", columns: 5)
            try writeImage(picture, to: output)
            if !json.json { print("wrote \(output)") }
        }
        if json.json {
            try Output.printJSON(Answer(neuron: neuron, scan: scan.label, bins: bins))
        } else {
            let most = max(1, bins.map(\.count).max() ?? 1)
            print(Output.table(bins.map { bin in
                [String(format: "%.4f", bin.low), String(format: "%.4f", bin.high), String(bin.count),
                 String(repeating: "█", count: (bin.count * 40 + most - 1) / most), bin.example ?? ""]
            }, rightAligned: [0, 1, 2]))
        }
    }
}

struct Neurons: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The neurons an image excites most.",
        discussion: "The image is looked up in the index; one not in it is computed when --model (the scan's model) is given.")

    @OptionGroup var indexOptions: IndexOptions

    @Option(help: ArgumentHelp("The image.", valueName: "FILE"))
    var image: String

    @Option(help: "How many neurons.")
    var k = 10

    @Option(help: ArgumentHelp("The scan's model, to compute an image that is not in the index.", valueName: "M"))
    var model: String?

    @OptionGroup var json: JSONOption

    struct Item: Encodable {
        let neuron: Int
        let activation: Float
        let label: String?
    }

    struct Answer: Encodable {
        let image: String
        let scan: String
        let neurons: [Item]
    }

    func validate() throws {
        if k < 1 { throw CommandFailure("--k must be at least 1, got \(k)") }
    }

    func run() throws {
        let (index, scan) = try indexOptions.open()
        let path = ImageFolders.absolute(image)
        var activations: [Float]
        if let found = try failing({ try index.activations(scan: scan.id, path: path) }) {
            guard let values = found.activations else {
                throw CommandFailure("\(image): skipped by the scan: \(found.entry.error ?? "unreadable")")
            }
            activations = values
        } else if let model {
            activations = try failing {
                let loaded = try CLIPModel.load(model: model)
                guard loaded.identity.fingerprint == scan.model.fingerprint else {
                    throw CommandFailure("--model \(model) is not the model of scan \(scan.label)")
                }
                let map = loaded.visual.neuronMap(loaded.pixels([try DecodedImage.load(path: image)]), tap: scan.tap)
                return scan.reduce.apply(map).values
            }
        } else {
            throw CommandFailure("\(image): not in scan \(scan.label) of \(indexOptions.index); give --model to compute it")
        }
        let labels = Dictionary(uniqueKeysWithValues: try failing { try index.labels(scan: scan) }.map { ($0.neuron, $0.label) })
        let order = activations.indices.sorted { activations[$0] != activations[$1] ? activations[$0] > activations[$1] : $0 < $1 }
        let items = order.prefix(k).map { Item(neuron: $0, activation: activations[$0], label: labels[$0]) }
        if json.json {
            try Output.printJSON(Answer(image: image, scan: scan.label, neurons: items))
        } else {
            print(Output.table([["neuron", "activation", "label"]] + items.map {
                [String($0.neuron), Output.fixed($0.activation), $0.label ?? ""]
            }, rightAligned: [0, 1]))
        }
    }
}

struct Label: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Propose a label per neuron, or set your own (yours always win).",
        discussion: """
            With --model (the scan's model): each neuron's top images' CLIP embeddings are \
            averaged, and the word whose text embedding ("a photo of {}.") is nearest becomes \
            its proposed label. Words: --words FILE (one per line) or the built-in list \
            (the ImageNet classes plus common concepts: colours, emotions, countries, brands, \
            religions, holidays, people roles). Embeddings stored by `scan --embeddings` are \
            used; others are computed from the files. `label --set N TEXT [--note NOTE]` stores \
            your label for neuron N; `--set N ""` clears it. Without --model or --set, the \
            stored labels are listed.
            """)

    @OptionGroup var indexOptions: IndexOptions

    @Option(help: ArgumentHelp("The scan's model, to propose labels.", valueName: "M"))
    var model: String?

    @Option(help: ArgumentHelp("A word list, one per line.", valueName: "FILE"))
    var words: String?

    @Option(help: ArgumentHelp("Neurons to label (comma-separated, ranges allowed; default all).", valueName: "N,N..."))
    var neurons: [String] = []

    @Option(help: "Top images averaged per neuron.")
    var top = 25

    @Option(help: "The text template ({} is the word).")
    var template = "a photo of {}."

    @Option(name: .customLong("set"), help: ArgumentHelp("Set your label for this neuron.", valueName: "N"))
    var setNeuron: Int?

    @Option(help: "A note to store with --set.")
    var note: String?

    @Argument(help: ArgumentHelp("The label text for --set.", valueName: "TEXT"))
    var text: String?

    @OptionGroup var json: JSONOption

    struct Answer: Encodable {
        let scan: String
        let labels: [NeuronLabel]
    }

    func validate() throws {
        if text != nil && setNeuron == nil { throw CommandFailure("TEXT is only for --set N TEXT") }
        if note != nil && setNeuron == nil { throw CommandFailure("--note goes with --set N") }
        if let problem = NeuronLabel.lengthProblem(label: text, note: note) { throw CommandFailure(problem) }
        if !(1...NeuronSummary.rankedCount).contains(top) { throw CommandFailure("--top must be within 1...\(NeuronSummary.rankedCount)") }
    }

    func run() throws {
        let (index, scan) = try indexOptions.open(writable: setNeuron != nil)
        if let neuron = setNeuron {
            try failing {
                try index.checkNeuron(neuron, scan: scan)
                let label = (text?.isEmpty ?? true) ? nil : text
                try index.setUserLabel(fingerprint: scan.model.fingerprint, neuron: neuron, label: label, note: note)
            }
            if !json.json { print(text?.isEmpty ?? true ? "cleared the label of neuron \(neuron)" : "neuron \(neuron): \(text!)") }
        } else if let model {
            let wordList = try failing { try words.map(ConceptWords.load) ?? ConceptWords.defaultWords }
            let selected = try neurons.isEmpty ? Array(0..<scan.model.neurons) : failing { try NeuronList.parse(neurons) }
            let job = LabelJob(model: model, index: indexOptions.index, scan: "\(scan.id)", neurons: selected,
                               words: wordList, template: template, topK: top)
            _ = try runCommandJob(job, token: InterruptCancels.installedToken())
        }
        let labels = try failing { try index.labels(scan: scan) }
        if json.json {
            try Output.printJSON(Answer(scan: scan.label, labels: labels))
        } else if setNeuron == nil {
            if labels.isEmpty { print("no labels yet: give --model to propose them, or --set N TEXT") }
            print(Output.table(labels.map { label in
                [String(label.neuron), label.label, label.score.map { String(format: "%.3f", $0) } ?? "(yours)", label.note ?? ""]
            }, rightAligned: [0]))
        }
    }
}
