import CNCurses
import Foundation
import Terminal

/// The terminal through ncurses: the one writer of text to the screen (pictures go out
/// through the compositor right after `refresh`, on the same thread).
final class CursesScreen: Canvas {
    private(set) var rows: Int
    private(set) var columns: Int
    private var ended = false

    // ncurses' attribute bits (macros Swift does not import): NCURSES_BITS(mask, shift) = mask << (shift + 8).
    static let bold: Int32 = 1 << 21, reverse: Int32 = 1 << 18, dim: Int32 = 1 << 20, underline: Int32 = 1 << 17
    static func pair(_ n: Int32) -> Int32 { n << 8 }

    init() {
        setlocale(LC_ALL, "")
        initscr()
        cbreak()
        noecho()
        nonl()
        keypad(clipscope_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
        if has_colors() {
            start_color()
            use_default_colors()
            // Accents on the terminal's own background: readable on dark and light themes.
            init_pair(1, Int16(COLOR_CYAN), -1)
            init_pair(2, Int16(COLOR_GREEN), -1)
            init_pair(3, Int16(COLOR_YELLOW), -1)
            init_pair(4, Int16(COLOR_RED), -1)
            init_pair(5, Int16(COLOR_BLUE), -1)
        }
        rows = Int(clipscope_lines())
        columns = Int(clipscope_cols())
    }

    func attributes(_ style: Style) -> Int32 {
        switch style {
        case .plain: 0
        case .dim: Self.dim
        case .bold: Self.bold
        case .title: Self.bold | Self.pair(1)
        case .accent: Self.pair(1)
        case .good: Self.pair(2)
        case .warning: Self.bold | Self.pair(3)
        case .bad: Self.bold | Self.pair(4)
        case .selected: Self.reverse | Self.bold
        case .inverse: Self.reverse
        }
    }

    func put(_ row: Int, _ column: Int, _ text: String, _ style: Style) {
        guard row >= 0, row < rows, column < columns, !text.isEmpty else { return }
        var text = text.terminalSafe(keepingLineBreaks: false)
        var column = column
        if column < 0 {
            text = String(text.dropFirst(-column))
            column = 0
        }
        // Never the bottom-right cell: writing there would scroll the screen.
        var room = columns - column - (row == rows - 1 ? 1 : 0)
        guard room > 0 else { return }
        if text.count > room { text = String(text.prefix(room)) }
        room = text.count
        wattr_set(clipscope_stdscr(), attr_t(UInt32(bitPattern: attributes(style) & ~Self.pair(255))), Int16((attributes(style) >> 8) & 255), nil)
        wmove(clipscope_stdscr(), Int32(row), Int32(column))
        waddnstr(clipscope_stdscr(), text, -1)
        wattr_set(clipscope_stdscr(), 0, 0, nil)
    }

    func clear() { werase(clipscope_stdscr()) }

    /// Sends what changed since the last refresh.
    func refresh() { wrefresh(clipscope_stdscr()) }

    /// Rows whose real content ncurses must forget and repaint (where a picture was).
    func repaint(top: Int, count: Int) {
        let top = max(0, min(rows, top)), count = max(0, min(rows - top, count))
        if count > 0 { wredrawln(clipscope_stdscr(), Int32(top), Int32(count)) }
    }

    /// The next frame repaints everything.
    func repaintAll() { clearok(clipscope_curscr(), true) }

    /// Reads one key, waiting at most `milliseconds` (0: no wait); nil when none came.
    func readKey(milliseconds: Int) -> RawKey? {
        wtimeout(clipscope_stdscr(), Int32(milliseconds))
        var character: wint_t = 0
        let result = wget_wch(clipscope_stdscr(), &character)
        if result == ERR { return nil }
        if result == KEY_CODE_YES {
            if Int32(character) == KEY_RESIZE {
                rows = Int(clipscope_lines())
                columns = Int(clipscope_cols())
                return .resize
            }
            return Self.functionKey(Int32(character)).map(RawKey.key)
        }
        return Self.characterKey(UInt32(character)).map(RawKey.key)
    }

    enum RawKey { case key(Key), resize }

    static func functionKey(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: .up
        case KEY_DOWN: .down
        case KEY_LEFT: .left
        case KEY_RIGHT: .right
        case KEY_NPAGE: .pageDown
        case KEY_PPAGE: .pageUp
        case KEY_HOME: .home
        case KEY_END: .end
        case KEY_ENTER: .enter
        case KEY_BACKSPACE: .backspace
        case KEY_DC: .delete
        case KEY_BTAB: .backTab
        default: nil
        }
    }

    static func characterKey(_ code: UInt32) -> Key? {
        switch code {
        case 10, 13: return .enter
        case 27: return .escape
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .control(Character(UnicodeScalar(code + 96)!))
        default: return UnicodeScalar(code).map { .character(Character($0)) }
        }
    }

    /// Gives the terminal back as it was: ncurses' modes, a visible cursor, sixel scrolling on.
    func end() {
        guard !ended else { return }
        ended = true
        wattr_set(clipscope_stdscr(), 0, 0, nil)
        curs_set(1)
        // Input the app did not read (the rest of a paste after a quit key) must not run in the shell.
        flushinp()
        endwin()
        Self.discardTypedInput()
        try? TerminalRestore.write()
    }

    /// Drops what was typed and not yet read from the terminal.
    static func discardTypedInput() {
        if isatty(STDIN_FILENO) != 0 { tcflush(STDIN_FILENO, TCIFLUSH) }
    }
}

/// What leaving the app writes after ncurses has ended: the cursor shown, attributes reset,
/// sixel scrolling back to its default.
enum TerminalRestore {
    static let sequence = "\u{1B}[?25h\u{1B}[0m\u{1B}[?80l"

    static func write() throws {
        _ = sequence.withCString { Glibc.write(STDOUT_FILENO, $0, strlen($0)) }
    }
}
