import CNCurses

/// The ncurses build the TUI links, for `clipscope version`.
public enum TUILibraries {
    public static var ncursesVersion: String { String(cString: curses_version()) }
}
