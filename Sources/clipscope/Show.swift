import ArgumentParser
import Foundation
import Imaging
import Terminal

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print images in the terminal: sixel where the terminal has it, Unicode blocks otherwise.",
        discussion: """
            --graphics auto asks the terminal once (the kitty graphics query and DA1, 150 ms at \
            most): kitty's protocol when it answers OK, iTerm2's inline images where TERM_PROGRAM \
            or LC_TERMINAL name iTerm2 or WezTerm, sixel when DA1 lists attribute 4, blocks otherwise. Blocks use 24-bit colour when COLORTERM says truecolor \
            or 24bit, the 256-colour palette otherwise (override with --colors). An image that \
            cannot be read is reported on stderr and the others are still shown.
            """)

    @Argument(help: "PNG or JPEG files.")
    var images: [String] = []

    @Option(help: "Images per row.")
    var cols: Int = 1

    @OptionGroup var graphicsOptions: GraphicsOptions

    @Option(help: "Width of each image in terminal columns (default: the terminal's width shared by --cols).")
    var width: Int?

    @Option(help: "Height of each image in terminal rows at most (default: the terminal's height less 3).")
    var height: Int?

    @Option(help: "Block colours: auto, truecolor or 256.")
    var colors: String = "auto"

    @Flag(help: "Blocks with quadrant characters (2x2 pixels per cell) instead of half blocks.")
    var quadrants = false

    @Flag(help: "Do not print file names under the images.")
    var noNames = false

    func validate() throws {
        if images.isEmpty { throw CommandFailure("give at least one IMAGE to show") }
        if cols < 1 { throw CommandFailure("--cols must be at least 1, got \(cols)") }
        if !["auto", "truecolor", "256"].contains(colors) {
            throw CommandFailure("--colors must be auto, truecolor or 256, got '\(colors)'")
        }
        if let width, width < 1 { throw CommandFailure("--width must be at least 1, got \(width)") }
        if let height, height < 1 { throw CommandFailure("--height must be at least 1, got \(height)") }
    }

    func run() throws {
        var capabilities = graphicsOptions.detect()
        if colors != "auto" { capabilities.truecolor = colors == "truecolor" }
        let loaded = ImageBatch.load(images)
        guard !loaded.isEmpty else { throw CommandFailure("none of the \(images.count) image(s) could be read") }
        try Self.display(loaded, cols: cols, width: width, height: height, capabilities: capabilities,
                         shape: quadrants ? .quadrants : .halfBlocks, names: !noNames)
    }

    /// Prints images `cols` to a row in slots of `width` x `height` cells (defaults: the
    /// terminal's width shared by the row, its height less 3), with their file names; with no
    /// graphics, one line of size per image. What `show` and `top --show` print.
    static func display(_ loaded: [(path: String, image: Image)], cols: Int, width: Int? = nil, height: Int? = nil,
                        capabilities: TerminalCapabilities, shape: Blocks.Shape = .halfBlocks, names: Bool = true) throws {
        if capabilities.graphics == .none {
            for (path, image) in loaded { print("\(path): \(image.width)x\(image.height), \(image.channels) channel(s)") }
            return
        }
        let gap = 1
        let perRow = min(cols, loaded.count)
        let slotColumns = width ?? max(4, (capabilities.columns - (perRow - 1) * gap) / perRow)
        let slotRows = min(height ?? max(2, capabilities.rows - 3), max(1, capabilities.rows - 1))
        // Sixel shows pixels 1:1 unless asked for a size; blocks always fill their cells.
        let upscale = width != nil || height != nil || capabilities.graphics == .blocks

        for start in stride(from: 0, to: loaded.count, by: perRow) {
            let row = Array(loaded[start..<min(loaded.count, start + perRow)])
            var bytes: [UInt8]
            switch capabilities.graphics {
            case .sixel, .kitty, .iterm:
                bytes = try pictureRow(row.map(\.image), slotColumns: slotColumns, slotRows: slotRows, gap: gap,
                                       capabilities: capabilities, upscale: upscale)
            default:
                bytes = blockRow(row.map(\.image), slotColumns: slotColumns, slotRows: slotRows, gap: gap,
                                 capabilities: capabilities, shape: shape, upscale: upscale)
            }
            if names {
                let names = row.map { URL(fileURLWithPath: $0.path).lastPathComponent }
                bytes += Array(namesLine(names, slotColumns: slotColumns, gap: gap).utf8)
            }
            try TerminalOutput.write(bytes)
        }
    }

    /// The row's pictures (sixel, kitty or iTerm2) side by side: room is made first (so the
    /// screen scrolls before the cursor is saved), then each image starts from the saved
    /// cursor moved right to its slot; the cursor ends below the tallest.
    static func pictureRow(_ images: [Image], slotColumns: Int, slotRows: Int, gap: Int, capabilities: TerminalCapabilities,
                         upscale: Bool) throws -> [UInt8] {
        let cell = capabilities.cellSize
        var pictures: [Image] = []
        for image in images {
            var size = TerminalImage.fittedSize(width: image.width, height: image.height, columns: slotColumns,
                                                rows: slotRows, cell: cell, upscale: upscale)
            if capabilities.graphics == .sixel { size = TerminalImage.clampedToSixelLimit(size) }
            pictures.append(image.resized(width: size.width, height: size.height,
                                          filter: size.width < image.width ? .box : .bicubic))
        }
        let rows = pictures.map { TerminalImage.cellsCovered(width: $0.width, height: $0.height, cell: cell).rows }.max() ?? 1
        var out = Array("\(String(repeating: "\n", count: rows))\u{1B}[\(rows)A\r\u{1B}7".utf8)
        for (index, picture) in pictures.enumerated() {
            out += Array("\u{1B}8".utf8)
            if index > 0 { out += Array("\u{1B}[\(index * (slotColumns + gap))C".utf8) }
            out += try encoded(picture, capabilities: capabilities)
        }
        out += Array("\u{1B}8\u{1B}[\(rows)B\r".utf8)
        return out
    }

    /// One fitted picture in the terminal's protocol, the cursor left where it was drawn from
    /// (sixel's moves, but the next picture starts from the saved cursor).
    static func encoded(_ picture: Image, capabilities: TerminalCapabilities) throws -> [UInt8] {
        switch capabilities.graphics {
        case .kitty:
            return capabilities.forTerminal(KittyGraphics.display(png: try picture.pngData()))
        case .iterm:
            return capabilities.forTerminal(ITermImages.inline(png: try picture.pngData(), width: picture.width,
                                                               height: picture.height, pixels: true))
        default:
            return try TerminalImage.sixel(picture, capabilities: capabilities)
        }
    }

    /// Block cells of the row's pictures side by side; slots are padded with blank cells.
    static func blockRow(_ images: [Image], slotColumns: Int, slotRows: Int, gap: Int,
                  capabilities: TerminalCapabilities, shape: Blocks.Shape, upscale: Bool) -> [UInt8] {
        let grids = images.map { image in
            var pixels = TerminalImage.blockPixels(image, columns: slotColumns, rows: slotRows,
                                                   cell: capabilities.cellSize, shape: shape, upscale: upscale)
            if capabilities.blockPalette == .xterm256 { pixels = Blocks.ditheredToXterm256(pixels) }
            return Blocks.cells(pixels, shape: shape)
        }
        let rows = grids.map { grid in
            String(decoding: Blocks.encode(grid, palette: capabilities.blockPalette), as: UTF8.self)
                .components(separatedBy: "\r\n")
        }
        let height = grids.map(\.rows).max() ?? 0
        var out = ""
        for line in 0..<height {
            for (index, grid) in grids.enumerated() {
                let last = index == grids.count - 1
                if line < rows[index].count {
                    out += rows[index][line]
                    if !last { out += String(repeating: " ", count: slotColumns - grid.columns + gap) }
                } else if !last {
                    out += String(repeating: " ", count: slotColumns + gap)
                }
            }
            out += "\r\n"
        }
        return Array(out.utf8)
    }

    /// File names under their slots, cut to the slot width.
    static func namesLine(_ names: [String], slotColumns: Int, gap: Int) -> String {
        var line = ""
        for (index, name) in names.enumerated() {
            var text = name
            if text.count > slotColumns { text = String(text.prefix(max(0, slotColumns - 1))) + "…" }
            line += text
            if index < names.count - 1 { line += String(repeating: " ", count: slotColumns - text.count + gap) }
        }
        return line + "\r\n"
    }
}

/// `--graphics auto|sixel|blocks|none`, shared by every command that draws in the terminal.
struct GraphicsOptions: ParsableArguments {
    @Option(help: "auto (ask the terminal), sixel, kitty (the kitty graphics protocol), iterm (iTerm2's inline images), blocks or none (no pictures).")
    var graphics: GraphicsMode = .auto

    @Option(help: ArgumentHelp("Colours of each sixel picture, 2-256: fewer send fewer bytes over a slow link (64: about half), undithered.",
                               valueName: "N"))
    var sixelColors = 256

    func validate() throws {
        if !(2...256).contains(sixelColors) { throw CommandFailure("--sixel-colors must be 2-256, got \(sixelColors)") }
    }

    /// What the terminal can show, as these options narrow it.
    func detect() -> TerminalCapabilities {
        var capabilities = TerminalQuery.detect(mode: graphics)
        capabilities.sixelColors = sixelColors
        return capabilities
    }
}

extension GraphicsMode: ExpressibleByArgument {}

/// Shared by `show` and `grid`: reading a batch of images and reporting the bad ones.
enum ImageBatch {
    /// Reads every image it can; each unreadable one gets one line on stderr naming it.
    static func load(_ paths: [String]) -> [(path: String, image: Image)] {
        paths.compactMap { path in
            do {
                return (path, try Image.load(path: path))
            } catch {
                _ = Output.skip(path, error)
                return nil
            }
        }
    }
}
