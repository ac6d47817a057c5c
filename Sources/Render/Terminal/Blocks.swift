import Imaging

/// Unicode block graphics: images as coloured half-block (2 pixels per cell) or
/// quadrant (2x2 pixels per cell) characters, for terminals without sixel and for tmux.
public enum Blocks {
    /// How cells split into pixels.
    public enum Shape: Sendable, Equatable {
        /// "▀" with the top pixel as foreground, the bottom as background: 1x2 pixels per cell.
        case halfBlocks
        /// The 16 quadrant characters, two colours per cell: 2x2 pixels per cell.
        case quadrants

        /// Pixels per cell, horizontally and vertically.
        public var pixelsPerCell: (x: Int, y: Int) { self == .halfBlocks ? (1, 2) : (2, 2) }
    }

    /// How colours are written.
    public enum Palette: Sendable, Equatable {
        /// 24-bit SGR (`38;2;r;g;b`).
        case truecolor
        /// The xterm 256-colour palette (`38;5;n`), nearest of the 6x6x6 cube and the gray ramp.
        case xterm256
    }

    /// One terminal cell: a character with foreground and background colours.
    public struct Cell: Sendable, Equatable {
        public var character: Character
        public var foreground: Color
        public var background: Color

        public init(_ character: Character, foreground: Color, background: Color) {
            self.character = character
            self.foreground = foreground
            self.background = background
        }
    }

    /// A grid of cells, row-major.
    public struct Grid: Sendable, Equatable {
        public let columns: Int
        public let rows: Int
        public var cells: [Cell]

        public subscript(column: Int, row: Int) -> Cell { cells[row * columns + column] }
    }

    /// Quadrant characters indexed by mask: top-left 1, top-right 2, bottom-left 4, bottom-right 8.
    static let quadrantCharacters: [Character] = [
        " ", "▘", "▝", "▀", "▖", "▌", "▞", "▛", "▗", "▚", "▐", "▜", "▄", "▙", "▟", "█",
    ]

    /// Cells for an image already sized to whole cells: width = columns x pixelsPerCell.x,
    /// height = rows x pixelsPerCell.y (a trailing odd row or column is padded with black).
    public static func cells(_ image: Image, shape: Shape = .halfBlocks) -> Grid {
        let (px, py) = shape.pixelsPerCell
        let columns = (image.width + px - 1) / px, rows = (image.height + py - 1) / py
        var cells: [Cell] = []
        cells.reserveCapacity(columns * rows)
        // Translucent pixels are shown over black, like sixel's default background.
        @inline(__always) func pixel(_ x: Int, _ y: Int) -> Color {
            guard x < image.width && y < image.height else { return .black }
            let c = image.color(x: x, y: y)
            if c.a == 255 { return c }
            let a = UInt32(c.a)
            return Color(UInt8((UInt32(c.r) * a + 127) / 255), UInt8((UInt32(c.g) * a + 127) / 255),
                         UInt8((UInt32(c.b) * a + 127) / 255))
        }
        for row in 0..<rows {
            for column in 0..<columns {
                switch shape {
                case .halfBlocks:
                    let top = pixel(column, 2 * row), bottom = pixel(column, 2 * row + 1)
                    cells.append(top == bottom ? Cell(" ", foreground: top, background: bottom)
                                               : Cell("▀", foreground: top, background: bottom))
                case .quadrants:
                    let quad = [pixel(2 * column, 2 * row), pixel(2 * column + 1, 2 * row),
                                pixel(2 * column, 2 * row + 1), pixel(2 * column + 1, 2 * row + 1)]
                    cells.append(bestQuadrant(quad))
                }
            }
        }
        return Grid(columns: columns, rows: rows, cells: cells)
    }

    /// The two-colour split of a 2x2 block with the least squared error.
    static func bestQuadrant(_ quad: [Color]) -> Cell {
        if quad.allSatisfy({ $0 == quad[0] }) { return Cell(" ", foreground: quad[0], background: quad[0]) }
        var best = (error: Int.max, mask: 0, fg: Color.black, bg: Color.black)
        // Masks 1...7 leave the bottom-right pixel in the background: every split once.
        for mask in 1...7 {
            var fr = 0, fgG = 0, fb = 0, fn = 0, br = 0, bgG = 0, bb = 0, bn = 0
            for i in 0..<4 {
                if mask >> i & 1 == 1 {
                    fr += Int(quad[i].r); fgG += Int(quad[i].g); fb += Int(quad[i].b); fn += 1
                } else {
                    br += Int(quad[i].r); bgG += Int(quad[i].g); bb += Int(quad[i].b); bn += 1
                }
            }
            let fg = Color(UInt8(fr / fn), UInt8(fgG / fn), UInt8(fb / fn))
            let bg = Color(UInt8(br / bn), UInt8(bgG / bn), UInt8(bb / bn))
            var error = 0
            for i in 0..<4 {
                let m = mask >> i & 1 == 1 ? fg : bg
                let dr = Int(quad[i].r) - Int(m.r), dg = Int(quad[i].g) - Int(m.g), db = Int(quad[i].b) - Int(m.b)
                error += dr * dr + dg * dg + db * db
            }
            if error < best.error { best = (error, mask, fg, bg) }
        }
        return Cell(quadrantCharacters[best.mask], foreground: best.fg, background: best.bg)
    }

    /// The xterm 256-colour index nearest to `color` (cube 16...231 or gray ramp 232...255).
    public static func xterm256Index(_ color: Color) -> Int {
        let levels = [0, 95, 135, 175, 215, 255]
        func nearestLevel(_ v: UInt8) -> Int {
            var best = 0
            for i in 1..<6 where abs(levels[i] - Int(v)) < abs(levels[best] - Int(v)) { best = i }
            return best
        }
        let r = nearestLevel(color.r), g = nearestLevel(color.g), b = nearestLevel(color.b)
        func distance(_ a: (Int, Int, Int)) -> Int {
            let dr = a.0 - Int(color.r), dg = a.1 - Int(color.g), db = a.2 - Int(color.b)
            return dr * dr + dg * dg + db * db
        }
        let cubeDistance = distance((levels[r], levels[g], levels[b]))
        let mean = (Int(color.r) + Int(color.g) + Int(color.b)) / 3
        let grayStep = max(0, min(23, (mean - 8 + 5) / 10))
        let gray = 8 + 10 * grayStep
        return distance((gray, gray, gray)) < cubeDistance ? 232 + grayStep : 16 + 36 * r + 6 * g + b
    }

    /// The image reduced to xterm palette colours with Floyd-Steinberg error diffusion, so
    /// that 256-colour blocks keep the average colour of photos instead of posterising;
    /// `strength` below 1 passes on part of the error (less speckle at block resolution).
    public static func ditheredToXterm256(_ image: Image, strength: Float = 0.6) -> Image {
        let rgb = image.channels == 3 ? image : image.flattenedRGB(over: .black)
        let w = rgb.width, h = rgb.height
        var error = [Float](repeating: 0, count: (w + 2) * 3 * 2)  // this row and the next, with margins
        var out = [UInt8](repeating: 0, count: w * h * 3)
        rgb.pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                error.withUnsafeMutableBufferPointer { e in
                    let rowLength = (w + 2) * 3
                    for y in 0..<h {
                        let current = (y % 2) * rowLength, next = ((y + 1) % 2) * rowLength
                        for i in 0..<rowLength { e[next + i] = 0 }
                        for x in 0..<w {
                            let i = (y * w + x) * 3, k = (x + 1) * 3
                            let r = min(255, max(0, Float(source[i]) + e[current + k]))
                            let g = min(255, max(0, Float(source[i + 1]) + e[current + k + 1]))
                            let b = min(255, max(0, Float(source[i + 2]) + e[current + k + 2]))
                            let chosen = xterm256Color(xterm256Index(Color(UInt8(r), UInt8(g), UInt8(b))))
                            target[i] = chosen.r; target[i + 1] = chosen.g; target[i + 2] = chosen.b
                            @inline(__always) func spread(_ c: Int, _ error: Float) {
                                let residual = error * strength
                                e[current + k + 3 + c] += residual * 7 / 16
                                e[next + k - 3 + c] += residual * 3 / 16
                                e[next + k + c] += residual * 5 / 16
                                e[next + k + 3 + c] += residual * 1 / 16
                            }
                            spread(0, r - Float(chosen.r))
                            spread(1, g - Float(chosen.g))
                            spread(2, b - Float(chosen.b))
                        }
                    }
                }
            }
        }
        return Image(width: w, height: h, channels: 3, pixels: out)
    }

    /// The RGB value of an xterm 256-colour index at or above 16.
    public static func xterm256Color(_ index: Int) -> Color {
        if index >= 232 { let v = UInt8(8 + 10 * (index - 232)); return Color(v, v, v) }
        let levels: [UInt8] = [0, 95, 135, 175, 215, 255]
        let i = index - 16
        return Color(levels[i / 36], levels[i / 6 % 6], levels[i % 6])
    }

    /// Terminal bytes for the grid: SGR colours, the characters, a reset at the end of each row.
    /// With `origin` (1-based row and column) each row is placed with a cursor move;
    /// without, rows are separated by CR LF starting at the cursor.
    public static func encode(_ grid: Grid, palette: Palette = .truecolor, origin: (row: Int, column: Int)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(grid.columns * grid.rows * 24)
        func append(_ s: String) { out.append(contentsOf: s.utf8) }
        func sgr(_ layer: Int, _ color: Color) {
            switch palette {
            case .truecolor: append("\u{1B}[\(layer);2;\(color.r);\(color.g);\(color.b)m")
            case .xterm256: append("\u{1B}[\(layer);5;\(xterm256Index(color))m")
            }
        }
        for row in 0..<grid.rows {
            if let origin {
                append("\u{1B}[\(origin.row + row);\(origin.column)H")
            } else if row > 0 {
                append("\r\n")
            }
            var foreground: Color?, background: Color?
            var fgCode = -1, bgCode = -1
            for column in 0..<grid.columns {
                let cell = grid.cells[row * grid.columns + column]
                var character = cell.character
                let needsForeground = character != " "
                switch palette {
                case .truecolor:
                    if cell.background != background { sgr(48, cell.background); background = cell.background }
                    if needsForeground, cell.foreground != foreground { sgr(38, cell.foreground); foreground = cell.foreground }
                case .xterm256:
                    // Compare after quantising so that near colours do not repeat codes.
                    let bg = xterm256Index(cell.background)
                    if bg != bgCode { append("\u{1B}[48;5;\(bg)m"); bgCode = bg }
                    if needsForeground {
                        let fg = xterm256Index(cell.foreground)
                        if fg == bg {
                            character = " "  // both halves became one palette colour
                        } else if fg != fgCode {
                            append("\u{1B}[38;5;\(fg)m"); fgCode = fg
                        }
                    }
                }
                out.append(contentsOf: String(character).utf8)
            }
            append("\u{1B}[0m")
        }
        return out
    }
}
