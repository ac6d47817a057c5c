import ArgumentParser
import CLIP
import Foundation
import Support

extension NeuronTap: ExpressibleByArgument {}

struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print chosen neurons' activations for each image.",
        discussion: """
            A neuron is a channel of the last block of the image tower. --tap conv3 (default) \
            reads the output of that block's conv3, before its batch norm (the paper's neurons); \
            --tap block reads the block's output after the residual add and ReLU (Microscope's). \
            Each neuron's map over the feature grid is reduced to its maximum (default) or mean. \
            An image that cannot be read is reported on stderr and listed under "skipped".
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Neuron ids: a comma-separated list, ranges allowed (89,2191 or 0-9).", valueName: "N,N..."))
    var neurons: [String]

    @Option(help: "Where to read the neurons: conv3 or block.")
    var tap: NeuronTap = .conv3

    @Option(help: "Reduce each neuron's map by max or mean.")
    var reduce: ActivationReduce = .max

    @Argument(help: ArgumentHelp("PNG or JPEG images.", valueName: "FILE"))
    var files: [String] = []

    @OptionGroup var batching: BatchOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if files.isEmpty { throw CommandFailure("give at least one image FILE") }
        _ = try failing { try NeuronList.parse(neurons) }
    }

    struct ImageActivations: Encodable {
        let path: String
        let activations: [String: Float]
    }
    struct Report: Encodable {
        let tap: String
        let reduce: String
        var images: [ImageActivations] = []
        var skipped: [SkippedItem] = []
    }

    func run() throws {
        let ids = try failing { try NeuronList.parse(neurons) }
        let model = try modelOptions.load()
        let count = model.config.neuronCount
        if let bad = ids.first(where: { $0 >= count }) {
            throw CommandFailure("--neurons: neuron \(bad) does not exist; \(modelOptions.model) has \(count) neurons (0-\(count - 1))")
        }
        var report = Report(tap: tap.rawValue, reduce: reduce.rawValue)
        var values: [[Float]] = []  // per image, in the order of `ids`
        let skipped = try model.forEachImageBatch(files, batchSize: batching.batchSize) { paths, pixels in
            let reduced = reduce.apply(model.visual.neuronMap(pixels, tap: tap)).values
            for (i, path) in paths.enumerated() {
                let row = ids.map { reduced[i * count + $0] }
                values.append(row)
                report.images.append(ImageActivations(
                    path: path, activations: Dictionary(uniqueKeysWithValues: zip(ids.map(String.init), row))))
            }
        }
        report.skipped = skipped
        if report.images.isEmpty { throw nothingRead(files.count) }

        if output.json { return try Output.printJSON(report) }
        print("\(tap.rawValue) tap, \(reduce.rawValue) over the \(model.config.featureGrid)x\(model.config.featureGrid) grid")
        var rows: [[String]] = [["image"] + ids.map { "#\($0)" }]
        for (image, row) in zip(report.images, values) { rows.append([image.path] + row.map { Output.fixed($0) }) }
        print(Output.table(rows, rightAligned: Set(1...ids.count)))
        if !report.skipped.isEmpty { print("\(report.skipped.count) skipped (see stderr)") }
    }
}
