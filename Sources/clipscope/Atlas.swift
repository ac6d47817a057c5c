import ArgumentParser
import Experiments
import Foundation
import Imaging

struct Atlas: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The contact sheet of visualization runs: every neuron-N.png of the given run folders, in neuron order.",
        discussion: """
            Give every shard's run folder of a sweep (or any runs): the sheet is the same as one run \
            over all the neurons would give. A neuron found in two runs is refused, naming both.
            """)

    @Argument(help: ArgumentHelp("Run folders of `clipscope visualize`.", valueName: "RUN"))
    var runs: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("The PNG to write.", valueName: "FILE"))
    var output: String

    @Option(help: "Pictures per row (default: a square sheet).")
    var cols: Int?

    @Option(help: "Side of each picture in pixels.")
    var tile = 96

    @OptionGroup var json: JSONOption

    struct Answer: Encodable {
        let atlas: String
        let neurons: [Int]
        let skipped: [SkippedItem]
    }

    func validate() throws {
        if runs.isEmpty { throw CommandFailure("give at least one run folder") }
        if let cols, cols < 1 { throw CommandFailure("--cols must be at least 1, got \(cols)") }
        if !(16...1024).contains(tile) { throw CommandFailure("--tile must be 16-1024 pixels, got \(tile)") }
    }

    func run() throws {
        var found: [Int: String] = [:]
        for run in runs {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: run) else {
                throw CommandFailure("\(run): not a readable folder")
            }
            for name in names where name.hasPrefix("neuron-") && name.hasSuffix(".png") && !name.hasSuffix(".partial.png") {
                guard let neuron = Int(name.dropFirst("neuron-".count).dropLast(".png".count)) else { continue }
                let path = (run as NSString).appendingPathComponent(name)
                if let other = found[neuron] { throw CommandFailure("neuron \(neuron) is in two runs: \(other) and \(path)") }
                found[neuron] = path
            }
        }
        guard !found.isEmpty else { throw CommandFailure("no neuron-N.png in \(runs.joined(separator: ", "))") }
        var tiles: [Montage.Tile] = [], neurons: [Int] = [], skipped: [SkippedItem] = []
        for neuron in found.keys.sorted() {
            do {
                tiles.append(Montage.Tile(try Image.load(path: found[neuron]!), caption: "\(neuron)"))
                neurons.append(neuron)
            } catch {
                skipped.append(Output.skip(found[neuron]!, error))
            }
        }
        let columns = cols ?? Int(Double(tiles.count).squareRoot().rounded(.up))
        let (font, warning) = try Font.load(path: nil)
        if let warning { Output.warn(warning) }
        let sheet = Montage(columns: columns, cellSize: tile, gap: 4, captionStyle: TextStyle(size: 11, color: Color(30, 30, 30)))
            .render(tiles, font: font)
        try writeImage(sheet, to: output)
        if json.json {
            try Output.printJSON(Answer(atlas: output, neurons: neurons, skipped: skipped))
        } else {
            print("wrote \(output): \(neurons.count) neurons")
        }
    }
}
