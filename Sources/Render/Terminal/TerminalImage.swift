import Imaging

/// Images as terminal bytes, fitted into a rectangle of cells.
public enum TerminalImage {
    /// The pixel size an image of `width` x `height` gets inside `columns` x `rows` cells of
    /// `cell` pixels, keeping its aspect ratio; never larger than the image unless `upscale`.
    public static func fittedSize(width: Int, height: Int, columns: Int, rows: Int, cell: CellSize,
                                  upscale: Bool = true) -> (width: Int, height: Int) {
        guard columns > 0, rows > 0 else { return (0, 0) }
        return Image.fittedSize(width: width, height: height, boxWidth: columns * cell.width, boxHeight: rows * cell.height,
                                upscale: upscale)
    }

    /// The largest sixel image xterm draws (its default maxGraphicSize); larger ones vanish.
    public static let maximumSixelSide = 1000

    /// `size` scaled down, aspect kept, to fit `maximumSixelSide` on both sides.
    public static func clampedToSixelLimit(_ size: (width: Int, height: Int)) -> (width: Int, height: Int) {
        let longest = max(size.width, size.height)
        guard longest > maximumSixelSide else { return size }
        let scale = Double(maximumSixelSide) / Double(longest)
        return (max(1, Int(Double(size.width) * scale)), max(1, Int(Double(size.height) * scale)))
    }

    /// The cells an image of `width` x `height` pixels covers once shown at that size.
    public static func cellsCovered(width: Int, height: Int, cell: CellSize) -> (columns: Int, rows: Int) {
        ((width + cell.width - 1) / max(1, cell.width), (height + cell.height - 1) / max(1, cell.height))
    }

    /// The image resized for block graphics in `columns` x `rows` cells: each cell holds
    /// `shape.pixelsPerCell` pixels, whose on-screen aspect comes from the real cell size.
    public static func blockPixels(_ image: Image, columns: Int, rows: Int, cell: CellSize,
                                   shape: Blocks.Shape, upscale: Bool = true) -> Image {
        let (px, py) = shape.pixelsPerCell
        // One block pixel is cell.width/px wide and cell.height/py tall on screen.
        let pixelWidth = Double(cell.width) / Double(px), pixelHeight = Double(cell.height) / Double(py)
        let onScreen = fittedSize(width: image.width, height: image.height, columns: columns, rows: rows,
                                  cell: cell, upscale: upscale)
        let w = max(1, min(columns * px, Int((Double(onScreen.width) / pixelWidth).rounded())))
        let h = max(1, min(rows * py, Int((Double(onScreen.height) / pixelHeight).rounded())))
        return image.resizedForDisplay(width: w, height: h)
    }

    /// Bytes that draw `image` fitted into `columns` x `rows` cells with the given graphics.
    /// With `origin` (1-based row, column) the image is placed there; without, it starts at
    /// the cursor. Sixel, kitty and iTerm2 output leave the cursor below the image; blocks
    /// leave it on the last row.
    public static func render(_ image: Image, columns: Int, rows: Int, capabilities: TerminalCapabilities,
                              shape: Blocks.Shape = .halfBlocks, origin: (row: Int, column: Int)? = nil,
                              upscale: Bool = true) throws -> [UInt8] {
        guard columns > 0, rows > 0, image.width > 0, image.height > 0 else { return [] }
        switch capabilities.graphics {
        case .none:
            return []
        case .sixel:
            let size = clampedToSixelLimit(fittedSize(width: image.width, height: image.height, columns: columns,
                                                      rows: rows, cell: capabilities.cellSize, upscale: upscale))
            let fitted = image.resizedForDisplay(width: size.width, height: size.height)
            var bytes: [UInt8] = []
            if let origin { bytes += Array("\u{1B}[\(origin.row);\(origin.column)H".utf8) }
            bytes += try sixel(fitted, capabilities: capabilities)
            return bytes
        case .kitty, .iterm:
            let size = fittedSize(width: image.width, height: image.height, columns: columns, rows: rows,
                                  cell: capabilities.cellSize, upscale: upscale)
            let png = try image.resizedForDisplay(width: size.width, height: size.height).pngData()
            let cells = cellsCovered(width: size.width, height: size.height, cell: capabilities.cellSize)
            var bytes: [UInt8] = []
            if let origin { bytes += Array("\u{1B}[\(origin.row);\(origin.column)H".utf8) }
            // A measured cell size lets the picture keep its own pixels; a guessed one could
            // overflow the rectangle, so the terminal scales it into the cells instead.
            let measured = capabilities.cellSizeMeasured
            if capabilities.graphics == .kitty {
                bytes += capabilities.forTerminal(KittyGraphics.display(png: png, columns: measured ? nil : cells.columns,
                                                                        rows: measured ? nil : cells.rows))
                // The picture leaves the cursor where it was (C=1); at the cursor, lines below
                // it as sixel does (newlines scroll where a cursor move would stop).
                if origin == nil { bytes += Array(String(repeating: "\r\n", count: cells.rows).utf8) }
            } else {
                bytes += capabilities.forTerminal(ITermImages.inline(png: png, width: measured ? size.width : cells.columns,
                                                                     height: measured ? size.height : cells.rows, pixels: measured))
            }
            return bytes
        case .blocks:
            var pixels = blockPixels(image, columns: columns, rows: rows, cell: capabilities.cellSize,
                                     shape: shape, upscale: upscale)
            if capabilities.blockPalette == .xterm256 { pixels = Blocks.ditheredToXterm256(pixels) }
            return Blocks.encode(Blocks.cells(pixels, shape: shape), palette: capabilities.blockPalette, origin: origin)
        }
    }

    /// Pictures of at most this many pixels (a card's or the list's thumbnails) take a
    /// palette of 128 colours: at their size it looks the same and costs a third less.
    public static let sixelThumbnailPixels = 160 * 160

    /// A fitted picture as sixel with the capabilities' palette size: the full 256 colours
    /// (128 for a thumbnail) with Atkinson's diffusion, which leaves less noise for the same
    /// fidelity than Floyd-Steinberg's (the bytes are the runs of the noise); fewer colours
    /// (for slow links) without dithering, whose noise would cost the bytes saved.
    public static func sixel(_ image: Image, capabilities: TerminalCapabilities) throws -> [UInt8] {
        let colors = min(256, max(2, capabilities.sixelColors))
        guard colors >= 256 else { return try Sixel.encode(image, colors: colors, diffusion: .none, smallest: true) }
        let thumbnail = image.width * image.height <= sixelThumbnailPixels
        return try Sixel.encode(image, colors: thumbnail ? 128 : 256, diffusion: .atkinson, exactUpTo: 256, smallest: true)
    }
}
