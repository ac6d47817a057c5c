import CFreeType
import Foundation

/// A font that cannot be opened or used; the message names the file.
public struct FontError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How text looks: pixel size, fill colour and an optional outline around each glyph.
public struct TextStyle: Sendable, Equatable {
    /// Em size in pixels (the font's nominal height).
    public var size: Double
    public var color: Color
    /// Outline radius in pixels; 0 draws no outline.
    public var outline: Double
    public var outlineColor: Color
    /// Distance between baselines as a multiple of the font's line height.
    public var lineSpacing: Double

    public init(size: Double, color: Color = .black, outline: Double = 0,
                outlineColor: Color = .black, lineSpacing: Double = 1) {
        self.size = size
        self.color = color
        self.outline = outline
        self.outlineColor = outlineColor
        self.lineSpacing = lineSpacing
    }

    /// White text with a black outline, the look of the paper's typographic attacks.
    public static func outlined(size: Double) -> TextStyle {
        TextStyle(size: size, color: .white, outline: max(1, size / 12), outlineColor: .black)
    }
}

/// The box text occupies when drawn with its top-left corner at the origin.
public struct TextBox: Sendable, Equatable {
    /// Width and height in whole pixels; every drawn pixel lies inside.
    public let width: Int
    public let height: Int
    /// Distance from the top of the box to the first line's baseline.
    public let baseline: Int
    /// Distance between consecutive baselines.
    public let lineHeight: Int
}

/// A TrueType/OpenType face opened with FreeType. Not thread-safe: one per thread.
public final class Font {
    /// DejaVu Sans from Debian's fonts-dejavu-core, the default face.
    public static let defaultPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    /// Places DejaVu Sans lives on other systems, tried after `defaultPath`.
    static let defaultCandidates = [
        defaultPath,
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/local/share/fonts/DejaVuSans.ttf",
    ]

    /// The file the face was read from.
    public let path: String
    private var library: FT_Library?
    private var face: FT_Face?
    /// Faces tried, in order, for characters the main face lacks (e.g. CJK).
    private var fallbackFaces: [FT_Face] = []
    /// The fallback files that opened.
    public private(set) var fallbackPaths: [String] = []
    private var stroker: FT_Stroker?
    private var currentSize: Double = -1
    private var currentStroke: Double = -1

    /// Opens the face in a .ttf/.otf file; throws a one-line error naming the file.
    public init(path: String) throws {
        self.path = path
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FontError("font not found or unreadable: \(path)")
        }
        guard FT_Init_FreeType(&library) == 0, let library else {
            throw FontError("cannot initialise FreeType for font \(path)")
        }
        let error = FT_New_Face(library, path, 0, &face)
        guard error == 0, face != nil else {
            FT_Done_FreeType(library)
            self.library = nil
            throw FontError("not a font FreeType can read (error \(error)): \(path)")
        }
        guard FT_Stroker_New(library, &stroker) == 0 else {
            FT_Done_Face(face)
            FT_Done_FreeType(library)
            self.library = nil
            throw FontError("cannot create a FreeType stroker for font \(path)")
        }
    }

    /// Fonts with wide coverage (CJK and more) that `standard()` falls back to when installed.
    static let fallbackCandidates = [
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/unifont/unifont.ttf",
    ]

    /// Adds a face used for characters this font lacks; throws naming the file.
    public func addFallback(path: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FontError("fallback font not found or unreadable: \(path)")
        }
        var fallback: FT_Face?
        let error = FT_New_Face(library, path, 0, &fallback)
        guard error == 0, let fallback else {
            throw FontError("not a font FreeType can read (error \(error)): \(path)")
        }
        fallbackFaces.append(fallback)
        fallbackPaths.append(path)
        currentSize = -1  // size the new face on next use
    }

    /// DejaVu Sans from the usual system locations, with any installed wide-coverage
    /// fallback faces; throws naming the package to install.
    public static func standard() throws -> Font {
        for candidate in defaultCandidates where FileManager.default.isReadableFile(atPath: candidate) {
            if let font = try? Font(path: candidate) {
                for fallback in fallbackCandidates where FileManager.default.isReadableFile(atPath: fallback) {
                    try? font.addFallback(path: fallback)
                }
                return font
            }
        }
        throw FontError("font not found: \(defaultPath) (install the fonts-dejavu-core package)")
    }

    /// The font the user named, or the standard face when none was: a file that cannot be
    /// opened is an error naming it, never a silent fallback (jobs record the path they were given).
    public static func chosen(path: String?) throws -> Font {
        try path.map { try Font(path: $0) } ?? standard()
    }

    /// The font at `path`, or the standard face with a one-line warning when it cannot be opened.
    public static func load(path: String?) throws -> (font: Font, warning: String?) {
        guard let path else { return (try standard(), nil) }
        do {
            return (try Font(path: path), nil)
        } catch let error as FontError {
            let fallback = try standard()
            return (fallback, "\(error.description); using \(fallback.path)")
        }
    }

    deinit {
        if let stroker { FT_Stroker_Done(stroker) }
        for fallback in fallbackFaces { FT_Done_Face(fallback) }
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    /// The family name the file declares, e.g. "DejaVu Sans".
    public var familyName: String {
        guard let name = face?.pointee.family_name else { return "" }
        return String(cString: name)
    }

    /// Whether the main face has a glyph for every character of `text` (newlines aside).
    public func hasGlyphs(for text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || FT_Get_Char_Index(face, FT_ULong($0.value)) != 0 }
    }

    /// Whether the main face or a fallback has a glyph for every character of `text`.
    public func canDraw(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || faceAndGlyph(for: $0).index != 0 }
    }

    /// The first face holding the character, with its glyph index (the main face's
    /// missing-glyph box, index 0, when none has it).
    private func faceAndGlyph(for scalar: Unicode.Scalar) -> (face: FT_Face?, index: FT_UInt) {
        let index = FT_Get_Char_Index(face, FT_ULong(scalar.value))
        if index != 0 { return (face, index) }
        for fallback in fallbackFaces {
            let other = FT_Get_Char_Index(fallback, FT_ULong(scalar.value))
            if other != 0 { return (fallback, other) }
        }
        return (face, 0)
    }

    /// The box `text` occupies in `style`, the same one `Image.draw(text:)` fills.
    public func measure(_ text: String, style: TextStyle) -> TextBox {
        layout(text, style: style, render: false).box
    }

    /// Coverage masks (0...255, row-major over the text box) of the glyph fills and outlines.
    public func masks(_ text: String, style: TextStyle) -> (box: TextBox, fill: [UInt8], outline: [UInt8]) {
        let result = layout(text, style: style, render: true)
        return (result.box, result.fill, result.outline)
    }

    // MARK: - Layout

    private struct PlacedGlyph {
        var glyph: FT_Glyph
        var stroked: FT_Glyph?
        var x: Int  // pen position in pixels
        var baseline: Int  // baseline offset from the first line
    }

    private func setSize(_ style: TextStyle) {
        let size = max(1, style.size)
        if size != currentSize {
            FT_Set_Char_Size(face, 0, FT_F26Dot6((size * 64).rounded()), 72, 72)
            for fallback in fallbackFaces { FT_Set_Char_Size(fallback, 0, FT_F26Dot6((size * 64).rounded()), 72, 72) }
            currentSize = size
        }
        if style.outline != currentStroke {
            FT_Stroker_Set(stroker, FT_Fixed((max(0, style.outline) * 64).rounded()),
                           FT_STROKER_LINECAP_ROUND, FT_STROKER_LINEJOIN_ROUND, 0)
            currentStroke = style.outline
        }
    }

    private func layout(_ text: String, style: TextStyle, render: Bool)
        -> (box: TextBox, fill: [UInt8], outline: [UInt8]) {
        setSize(style)
        guard let face, let metrics = face.pointee.size?.pointee.metrics else {
            return (TextBox(width: 0, height: 0, baseline: 0, lineHeight: 0), [], [])
        }
        let ascender = Double(metrics.ascender) / 64
        let descender = Double(metrics.descender) / 64  // negative
        let lineHeight = Int((Double(metrics.height) / 64 * style.lineSpacing).rounded())
        let stroke = max(0, style.outline)
        let hasKerning = face.pointee.face_flags & FT_Long(FT_FACE_FLAG_KERNING) != 0
        let loadFlags = FT_Int32(FT_LOAD_NO_BITMAP) | FT_Int32(FT_RENDER_MODE_LIGHT.rawValue) << 16

        var placed: [PlacedGlyph] = []
        defer {
            for p in placed {
                FT_Done_Glyph(p.glyph)
                if let s = p.stroked { FT_Done_Glyph(s) }
            }
        }
        // The nominal box: each line's advance, ascender to descender, grown by the outline.
        var left = -stroke, right = stroke
        var top = -ascender - stroke
        var bottom = -descender + stroke
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (lineIndex, line) in lines.enumerated() {
            let baseline = lineIndex * lineHeight
            bottom = max(bottom, Double(baseline) - descender + stroke)
            var pen = 0  // 26.6
            var previous: FT_UInt = 0
            var previousFace: FT_Face?
            for scalar in line.unicodeScalars {
                let (glyphFace, index) = faceAndGlyph(for: scalar)
                guard let glyphFace else { continue }
                // Kerning pairs exist only within the main face.
                if hasKerning, glyphFace == face, previousFace == face, previous != 0, index != 0 {
                    var kerning = FT_Vector()
                    FT_Get_Kerning(face, previous, index, FT_KERNING_DEFAULT.rawValue, &kerning)
                    pen += Int(kerning.x)
                }
                previous = index
                previousFace = glyphFace
                guard FT_Load_Glyph(glyphFace, index, loadFlags) == 0, let slot = glyphFace.pointee.glyph else { continue }
                var glyph: FT_Glyph?
                guard FT_Get_Glyph(slot, &glyph) == 0, let glyph else { continue }
                var stroked: FT_Glyph?
                if stroke > 0 {
                    var copy: FT_Glyph?
                    if FT_Glyph_Copy(glyph, &copy) == 0, copy != nil,
                       FT_Glyph_StrokeBorder(&copy, stroker, 0, 1) == 0 {
                        stroked = copy
                    } else if let copy {
                        FT_Done_Glyph(copy)
                    }
                }
                let x = (pen + 32) >> 6
                placed.append(PlacedGlyph(glyph: glyph, stroked: stroked, x: x, baseline: baseline))
                // Ink bounds (grid-fitted pixels) widen the box where glyphs overhang it.
                for g in [glyph, stroked].compactMap({ $0 }) {
                    var cbox = FT_BBox()
                    FT_Glyph_Get_CBox(g, FT_GLYPH_BBOX_PIXELS.rawValue, &cbox)
                    if cbox.xMax > cbox.xMin {
                        left = min(left, Double(x + Int(cbox.xMin)))
                        right = max(right, Double(x + Int(cbox.xMax)))
                        top = min(top, Double(baseline - Int(cbox.yMax)))
                        bottom = max(bottom, Double(baseline - Int(cbox.yMin)))
                    }
                }
                pen += Int(slot.pointee.advance.x)
                right = max(right, Double(pen) / 64 + stroke)
            }
        }
        let originX = -Int(left.rounded(.down))
        let originY = -Int(top.rounded(.down))
        let width = Int(right.rounded(.up)) + originX
        let height = Int(bottom.rounded(.up)) + originY
        let box = TextBox(width: width, height: height, baseline: originY, lineHeight: lineHeight)
        guard render, width > 0, height > 0 else { return (box, [], []) }

        var fill = [UInt8](repeating: 0, count: width * height)
        var outline = stroke > 0 ? [UInt8](repeating: 0, count: width * height) : []
        for p in placed {
            rasterize(p.glyph, atX: originX + p.x, baselineY: originY + p.baseline, into: &fill, width: width, height: height)
            if let s = p.stroked {
                rasterize(s, atX: originX + p.x, baselineY: originY + p.baseline, into: &outline, width: width, height: height)
            }
        }
        return (box, fill, outline)
    }

    /// Renders one glyph (a copy; the original stays an outline) and max-combines its coverage.
    private func rasterize(_ glyph: FT_Glyph, atX x: Int, baselineY y: Int,
                           into mask: inout [UInt8], width: Int, height: Int) {
        var copy: FT_Glyph? = glyph
        guard FT_Glyph_To_Bitmap(&copy, FT_RENDER_MODE_NORMAL, nil, 0) == 0, let copy else { return }
        defer { FT_Done_Glyph(copy) }
        let bitmapGlyph = UnsafeMutableRawPointer(copy).assumingMemoryBound(to: FT_BitmapGlyphRec.self)
        let bitmap = bitmapGlyph.pointee.bitmap
        guard let buffer = bitmap.buffer, bitmap.pixel_mode == UInt8(FT_PIXEL_MODE_GRAY.rawValue) else { return }
        let left = x + Int(bitmapGlyph.pointee.left)
        let top = y - Int(bitmapGlyph.pointee.top)
        let pitch = Int(bitmap.pitch)
        mask.withUnsafeMutableBufferPointer { m in
            for row in 0..<Int(bitmap.rows) {
                let my = top + row
                guard my >= 0, my < height else { continue }
                let source = buffer + row * pitch
                for column in 0..<Int(bitmap.width) {
                    let mx = left + column
                    guard mx >= 0, mx < width else { continue }
                    let value = source[column]
                    if value > m[my * width + mx] { m[my * width + mx] = value }
                }
            }
        }
    }
}

extension Image {
    /// Draws `text` with its box's top-left corner at (x, y) and returns the box it filled.
    @discardableResult
    public mutating func draw(text: String, x: Int, y: Int, font: Font, style: TextStyle) -> TextBox {
        let (box, fill, outline) = font.masks(text, style: style)
        let w = width, h = height, channels = self.channels
        let layers: [([UInt8], Color)] = [(outline, style.outlineColor), (fill, style.color)]
        pixels.withUnsafeMutableBufferPointer { p in
            for (mask, color) in layers where !mask.isEmpty {
                let baseAlpha = Float(color.a) / 255 / 255
                for row in 0..<box.height {
                    let py = y + row
                    guard py >= 0, py < h else { continue }
                    for column in 0..<box.width {
                        let px = x + column
                        guard px >= 0, px < w else { continue }
                        let coverage = mask[row * box.width + column]
                        guard coverage > 0 else { continue }
                        Image.blendPixel(p, at: (py * w + px) * channels, channels: channels,
                                         color: color, alpha: Float(coverage) * baseAlpha)
                    }
                }
            }
        }
        return box
    }

    /// Draws `text` centred on (centerX, centerY) and returns the box's top-left corner.
    @discardableResult
    public mutating func draw(text: String, centerX: Int, centerY: Int, font: Font, style: TextStyle) -> (x: Int, y: Int) {
        let box = font.measure(text, style: style)
        let x = centerX - box.width / 2, y = centerY - box.height / 2
        draw(text: text, x: x, y: y, font: font, style: style)
        return (x, y)
    }
}

extension FontError {
    public var errorDescription: String? { description }
}
