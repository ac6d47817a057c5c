import ArgumentParser
import Foundation
import Imaging
import Terminal

struct Grid: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compose images into a captioned grid and write it as PNG.",
        discussion: """
            Each image is fitted, aspect kept, into a square cell. Captions go under the cells \
            in order (a caption may hold two lines separated by a literal \\n). An image that \
            cannot be read is reported on stderr and left out, with its caption.
            """)

    @Argument(help: "PNG or JPEG files.")
    var images: [String] = []

    @Option(name: .shortAndLong, help: "The PNG file to write.")
    var output: String

    @Option(help: "Images per row.")
    var cols: Int = 5

    @Option(help: "Cell size in pixels.")
    var cell: Int = 160

    @Option(parsing: .upToNextOption, help: "One caption per image, in order (e.g. --captions \"n89 3.2\" \"n12 1.1\").")
    var captions: [String] = []

    @Flag(help: "Caption each image with its file name (when no --captions are given).")
    var names = false

    @Option(help: "A title above the grid.")
    var title: String?

    @Option(help: "A .ttf/.otf font for the captions (default DejaVu Sans).")
    var font: String?

    func validate() throws {
        if images.isEmpty { throw CommandFailure("give at least one IMAGE for the grid") }
        if cols < 1 { throw CommandFailure("--cols must be at least 1, got \(cols)") }
        if !(16...4096).contains(cell) { throw CommandFailure("--cell must be within 16...4096, got \(cell)") }
        if captions.count > images.count {
            throw CommandFailure("\(captions.count) captions for \(images.count) images")
        }
    }

    func run() throws {
        let (face, warning) = try Font.load(path: font)
        if let warning { Output.warn(warning) }
        var tiles: [Montage.Tile] = []
        for (index, path) in images.enumerated() {
            let caption = index < captions.count
                ? captions[index].replacingOccurrences(of: "\\n", with: "\n")
                : names ? URL(fileURLWithPath: path).lastPathComponent : nil
            do {
                tiles.append(Montage.Tile(try Image.load(path: path), caption: caption))
            } catch {
                _ = Output.skip(path, error)
            }
        }
        guard !tiles.isEmpty else { throw CommandFailure("none of the \(images.count) image(s) could be read") }
        let montage = Montage(columns: cols, cellSize: cell, title: title)
        let picture = montage.render(tiles, font: face)
        do {
            try picture.writePNG(path: output)
        } catch {
            throw CommandFailure("cannot write \(output): \(error)")
        }
        print("wrote \(output) (\(picture.width)x\(picture.height), \(tiles.count) image\(tiles.count == 1 ? "" : "s"))")
    }
}
