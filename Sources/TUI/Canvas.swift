import Terminal

/// A text style from the 16-colour-safe theme: readable on dark and light backgrounds
/// (colours only as accents on the terminal's own foreground and background).
public enum Style: Sendable, Equatable {
    case plain, dim, bold, title, accent, good, warning, bad, selected, inverse
}

/// A rectangle of cells: rows from `top`, columns from `left`.
public struct Rect: Sendable, Equatable, Hashable {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = max(0, height)
        self.width = max(0, width)
    }

    public var bottom: Int { top + height }
    public var right: Int { left + width }
    public var isEmpty: Bool { height <= 0 || width <= 0 }

    /// The rectangle less `n` cells on every side.
    public func inset(_ n: Int) -> Rect { Rect(top: top + n, left: left + n, height: height - 2 * n, width: width - 2 * n) }

    /// The top `rows` rows, and the rest below.
    public func splitTop(_ rows: Int) -> (Rect, Rect) {
        let rows = min(max(0, rows), height)
        return (Rect(top: top, left: left, height: rows, width: width),
                Rect(top: top + rows, left: left, height: height - rows, width: width))
    }

    /// The left `columns` columns, and the rest to the right.
    public func splitLeft(_ columns: Int) -> (Rect, Rect) {
        let columns = min(max(0, columns), width)
        return (Rect(top: top, left: left, height: height, width: columns),
                Rect(top: top, left: left + columns, height: height, width: width - columns))
    }
}

/// Where panes draw text: the terminal (through ncurses) or an off-screen buffer.
public protocol Canvas: AnyObject {
    var rows: Int { get }
    var columns: Int { get }
    /// Writes `text` from (row, column), cut at the right edge; one cell per character.
    /// Control characters are shown, not obeyed (`String.terminalSafe`).
    func put(_ row: Int, _ column: Int, _ text: String, _ style: Style)
    /// Blanks every cell.
    func clear()
}

extension Canvas {
    public func put(_ row: Int, _ column: Int, _ text: String) { put(row, column, text, .plain) }

    /// `text` padded or cut to exactly `width` cells (cut text ends in "…").
    public func put(_ row: Int, _ column: Int, _ text: String, width: Int, _ style: Style = .plain) {
        guard width > 0 else { return }
        // Made safe before fitting: ESC shows as two cells (^[).
        put(row, column, Self.fitted(text.terminalSafe(keepingLineBreaks: false), width: width), style)
    }

    /// Blanks a rectangle.
    public func fill(_ rect: Rect, _ style: Style = .plain) {
        let blank = String(repeating: " ", count: max(0, rect.width))
        for row in rect.top..<rect.bottom { put(row, rect.left, blank, style) }
    }

    /// A frame around `rect` with a title in its top edge.
    public func box(_ rect: Rect, title: String = "", focused: Bool = false) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        let style: Style = focused ? .accent : .dim
        let inner = max(0, rect.width - 2)
        put(rect.top, rect.left, "┌" + String(repeating: "─", count: inner) + "┐", style)
        for row in (rect.top + 1)..<(rect.bottom - 1) {
            put(row, rect.left, "│", style)
            put(row, rect.right - 1, "│", style)
        }
        put(rect.bottom - 1, rect.left, "└" + String(repeating: "─", count: inner) + "┘", style)
        if !title.isEmpty, inner > 4 {
            put(rect.top, rect.left + 2, Self.fitted(" \(title) ", width: min(inner - 2, title.count + 2)), focused ? .title : .bold)
        }
    }

    public static func fitted(_ text: String, width: Int) -> String {
        guard width > 0 else { return "" }
        let count = text.count
        if count == width { return text }
        if count < width { return text + String(repeating: " ", count: width - count) }
        return String(text.prefix(max(0, width - 1))) + "…"
    }

    /// `text` cut to at most `width` cells keeping its end (cut text starts with "…"): a line
    /// being typed shows its cursor however long it grows.
    public static func fittedEnd(_ text: String, width: Int) -> String {
        guard width > 0 else { return "" }
        guard text.count > width else { return text }
        return "…" + String(text.suffix(width - 1))
    }

    /// `text` cut to at most `width` cells (cut text ends in "…"), not padded.
    public static func shortened(_ text: String, width: Int) -> String {
        text.count > width ? String(text.prefix(max(0, width - 1))) + "…" : text
    }
}

/// An off-screen canvas: what a frame looks like without a terminal (tests, `bench`).
public final class TextCanvas: Canvas {
    public let rows: Int
    public let columns: Int
    private var cells: [[Character]]
    private var styles: [[Style]]

    public init(rows: Int, columns: Int) {
        self.rows = max(0, rows)
        self.columns = max(0, columns)
        cells = Array(repeating: Array(repeating: " ", count: self.columns), count: self.rows)
        styles = Array(repeating: Array(repeating: .plain, count: self.columns), count: self.rows)
    }

    public func put(_ row: Int, _ column: Int, _ text: String, _ style: Style) {
        guard row >= 0, row < rows else { return }
        var c = column
        for character in text.terminalSafe(keepingLineBreaks: false) {
            if c >= columns { break }
            if c >= 0 {
                cells[row][c] = character
                styles[row][c] = style
            }
            c += 1
        }
    }

    public func clear() {
        for r in 0..<rows {
            for c in 0..<columns {
                cells[r][c] = " "
                styles[r][c] = .plain
            }
        }
    }

    /// The text of a row, trailing blanks dropped.
    public func line(_ row: Int) -> String {
        String(cells[row]).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }

    /// Every row, joined by newlines.
    public var text: String { (0..<rows).map(line).joined(separator: "\n") }

    public func style(_ row: Int, _ column: Int) -> Style { styles[row][column] }
}
