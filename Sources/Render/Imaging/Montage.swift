
/// A grid of images with captions under each (neuron id, activation value, file name...).
public struct Montage: Sendable {
    /// Images per row.
    public var columns: Int
    /// Each image is fitted, aspect kept and centred, into a square of this many pixels.
    public var cellSize: Int
    /// Space between cells and around the edge.
    public var gap: Int
    public var background: Color
    public var captionStyle: TextStyle
    /// An optional heading above the grid.
    public var title: String?
    public var titleStyle: TextStyle

    public init(columns: Int = 5, cellSize: Int = 160, gap: Int = 8, background: Color = .white,
                captionStyle: TextStyle = TextStyle(size: 13, color: Color(30, 30, 30)),
                title: String? = nil, titleStyle: TextStyle = TextStyle(size: 18, color: .black)) {
        self.columns = max(1, columns)
        self.cellSize = max(1, cellSize)
        self.gap = max(0, gap)
        self.background = background
        self.captionStyle = captionStyle
        self.title = title
        self.titleStyle = titleStyle
    }

    /// One image and its caption (lines separated by "\n").
    public struct Tile: Sendable {
        public var image: Image
        public var caption: String?
        public init(_ image: Image, caption: String? = nil) { self.image = image; self.caption = caption }
    }

    /// A rectangle in pixels.
    public struct Rect: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) { self.x = x; self.y = y; self.width = width; self.height = height }
        /// Whether the point lies inside.
        public func contains(x px: Int, y py: Int) -> Bool { px >= x && py >= y && px < x + width && py < y + height }
    }

    /// Where everything goes: the canvas size, each cell's image square and caption strip.
    public struct Layout: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var imageRects: [Rect]
        public var captionRects: [Rect]
    }

    /// The layout for `count` tiles whose longest caption has `captionLines` lines.
    public func layout(count: Int, captionLines: Int, font: Font) -> Layout {
        let rows = max(1, (count + columns - 1) / columns)
        let lineBox = font.measure("Ag", style: captionStyle)
        let captionHeight = captionLines > 0 ? lineBox.height + (captionLines - 1) * lineBox.lineHeight + 4 : 0
        let titleHeight = title.map { font.measure($0, style: titleStyle).height + gap } ?? 0
        let usedColumns = min(columns, max(1, count))
        let width = gap + usedColumns * (cellSize + gap)
        let height = gap + titleHeight + rows * (cellSize + captionHeight + gap)
        var images: [Rect] = [], captions: [Rect] = []
        for index in 0..<count {
            let x = gap + index % columns * (cellSize + gap)
            let y = gap + titleHeight + index / columns * (cellSize + captionHeight + gap)
            images.append(Rect(x: x, y: y, width: cellSize, height: cellSize))
            captions.append(Rect(x: x, y: y + cellSize, width: cellSize, height: captionHeight))
        }
        return Layout(width: width, height: height, imageRects: images, captionRects: captions)
    }

    /// Draws the grid.
    public func render(_ tiles: [Tile], font: Font) -> Image {
        let captionLines = tiles.map { $0.caption.map { $0.split(separator: "\n", omittingEmptySubsequences: false).count } ?? 0 }.max() ?? 0
        let layout = layout(count: tiles.count, captionLines: captionLines, font: font)
        var canvas = Image(width: layout.width, height: layout.height, color: background.withAlpha(255))
        if let title {
            canvas.draw(text: fitted(title, width: layout.width - 2 * gap, style: titleStyle, font: font),
                        x: gap, y: gap, font: font, style: titleStyle)
        }
        for (index, tile) in tiles.enumerated() {
            let cell = layout.imageRects[index]
            if tile.image.width > 0, tile.image.height > 0 {
                let size = Image.fittedSize(width: tile.image.width, height: tile.image.height,
                                            boxWidth: cellSize, boxHeight: cellSize)
                let picture = tile.image.resizedForDisplay(width: size.width, height: size.height)
                    .flattenedRGB(over: background)
                canvas.paste(picture, x: cell.x + (cellSize - size.width) / 2, y: cell.y + (cellSize - size.height) / 2)
            }
            guard let caption = tile.caption else { continue }
            let strip = layout.captionRects[index]
            var y = strip.y + 2
            for line in caption.split(separator: "\n", omittingEmptySubsequences: false) {
                let text = fitted(String(line), width: cellSize, style: captionStyle, font: font)
                let box = font.measure(text, style: captionStyle)
                canvas.draw(text: text, x: strip.x + (cellSize - box.width) / 2, y: y, font: font, style: captionStyle)
                y += box.lineHeight
            }
        }
        return canvas
    }

    /// `text` shortened with an ellipsis until it fits `width` pixels.
    func fitted(_ text: String, width: Int, style: TextStyle, font: Font) -> String {
        if font.measure(text, style: style).width <= width { return text }
        var characters = Array(text)
        while !characters.isEmpty {
            characters.removeLast()
            let candidate = String(characters) + "…"
            if font.measure(candidate, style: style).width <= width { return candidate }
        }
        return ""
    }
}

extension Image {
    /// RGB pixels with any alpha composited over `background`.
    public func flattenedRGB(over background: Color) -> Image {
        switch channels {
        case 3: return self
        case 1: return converted(toChannels: 3)
        case 2: return converted(toChannels: 4).flattened(onto: [background.r, background.g, background.b])
        default: return flattened(onto: [background.r, background.g, background.b])
        }
    }
}
