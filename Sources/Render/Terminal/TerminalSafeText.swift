extension String {
    /// The text as a terminal should show it, not obey it: control characters (C0, DEL and C1,
    /// ESC among them) from file names, labels, arguments and error messages are written in
    /// caret notation, as `cat -v` does (ESC as `^[`, DEL as `^?`, C1 0x9B as `M-^[`), so a
    /// hostile name cannot move the cursor, recolour the screen or retitle the window.
    /// Tabs and line feeds are kept where `keepingLineBreaks` (the command line's multi-line
    /// output) and shown as `^I` and `^J` otherwise (one row of the app's canvas).
    public func terminalSafe(keepingLineBreaks: Bool) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            if keepingLineBreaks, scalar == "\n" || scalar == "\t" { return false }
            return scalar.value < 0x20 || (0x7F ... 0x9F).contains(scalar.value)
        }
        guard unicodeScalars.contains(where: isControl) else { return self }
        var safe = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            guard isControl(scalar) else { safe.append(scalar); continue }
            switch scalar.value {
            case 0x7F: safe.append(contentsOf: "^?".unicodeScalars)
            case 0x80...: safe.append(contentsOf: "M-^".unicodeScalars); safe.append(Unicode.Scalar(UInt8(scalar.value - 0x80 + 0x40)))
            default: safe.append("^"); safe.append(Unicode.Scalar(UInt8(scalar.value + 0x40)))
            }
        }
        return String(safe)
    }
}
