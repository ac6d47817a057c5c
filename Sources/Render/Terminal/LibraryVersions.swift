import CSixel

/// The sixel library Terminal links, for `clipscope version`.
public enum TerminalLibraries {
    public static var sixelVersion: String { String(cString: LIBSIXEL_VERSION) }
}
