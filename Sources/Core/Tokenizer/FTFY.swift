import Foundation

/// ftfy 6.3's `fix_text` with its default configuration, as SimpleTokenizer calls it:
/// per line, until stable: unescape_html ("auto": off from the first line with '<'),
/// fix_encoding (mojibake, see FTFYEncoding), fix_c1_controls, fix_latin_ligatures,
/// fix_character_width, uncurl_quotes, fix_line_breaks, remove_terminal_escapes,
/// remove_control_chars, NFC. Every table comes from ftfy/Python itself
/// (tools/make_tokenizer_tables.py). Known differences: fix_surrogates has nothing to do
/// (a Swift String cannot hold surrogates), and NFC uses the Swift runtime's Unicode
/// data, which may be newer than Python's for characters assigned after Unicode 14.
enum FTFY {
    /// ftfy.fix_text: fixes each line-terminated segment until nothing changes.
    static func fixText(_ text: [UInt32]) -> [UInt32] {
        var out = [UInt32]()
        out.reserveCapacity(text.count)
        // "auto": unescape HTML entities unless the text looks like HTML. ftfy turns this
        // off for the rest of the text once a segment contains '<'.
        var unescapeEntities = true
        var position = 0
        while position < text.count {
            var end = (text[position...].firstIndex(of: 0x0A) ?? text.count - 1) + 1
            end = min(end, position + 1_000_000)  // max_decode_length
            let segment = Array(text[position..<end])
            if unescapeEntities && segment.contains(0x3C) { unescapeEntities = false }
            out.append(contentsOf: fixSegment(segment, unescapeEntities: unescapeEntities))
            position = end
        }
        return out
    }

    /// ftfy.fix_and_explain without explanations.
    static func fixSegment(_ segment: [UInt32], unescapeEntities: Bool) -> [UInt32] {
        var text = segment
        while true {
            let original = text
            if unescapeEntities { text = unescapeHTML(text) }
            text = FTFYEncoding.fixEncoding(text)
            text = fixC1Controls(text)
            text = translate(text, UnicodeTables.ftfyLigatures)
            text = translate(text, UnicodeTables.ftfyWidth)
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            // fix_surrogates: a Swift String cannot hold surrogates.
            text = removeTerminalEscapes(text)
            text = text.filter { !UnicodeTables.ftfyControls.contains($0) }
            text = nfc(text)
            if text == original { return text }
        }
    }

    /// ftfy's unescape_html: `&#?[0-9A-Za-z]{1,24};` through its own entity table;
    /// numeric references through html.unescape when that consumes the whole match.
    static func unescapeHTML(_ text: [UInt32]) -> [UInt32] {
        guard text.contains(0x26) else { return text }
        var out = [UInt32]()
        var i = 0
        while i < text.count {
            if text[i] == 0x26, let end = entityMatchEnd(text, at: i) {
                let match = Array(text[i..<end])
                let key = String(decoding: match.map { UInt8($0) }, as: UTF8.self)
                if let value = UnicodeTables.ftfyEntities[key] {
                    out.append(contentsOf: value)
                } else if match.count > 1 && match[1] == 0x23 {
                    let unescaped = TextCleaning.htmlUnescape(match)
                    out.append(contentsOf: unescaped.contains(0x3B) ? match : unescaped)
                } else {
                    out.append(contentsOf: match)
                }
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    private static func isASCIIAlphanumeric(_ c: UInt32) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
    }

    private static func entityMatchEnd(_ text: [UInt32], at start: Int) -> Int? {
        var i = start + 1
        if i < text.count && text[i] == 0x23 { i += 1 }
        let nameStart = i
        while i < text.count && isASCIIAlphanumeric(text[i]) && i - nameStart < 25 { i += 1 }
        let length = i - nameStart
        guard length >= 1 && length <= 24, i < text.count, text[i] == 0x3B else { return nil }
        return i + 1
    }

    /// ftfy's fix_c1_controls: U+0080-U+009F as the Windows-1252 bytes they came from.
    static func fixC1Controls(_ text: [UInt32]) -> [UInt32] {
        guard text.contains(where: { (0x80...0x9F).contains($0) }) else { return text }
        return text.flatMap { c -> [UInt32] in
            (0x80...0x9F).contains(c) ? (UnicodeTables.windows1252C1[c] ?? [c]) : [c]
        }
    }

    private static func translate(_ text: [UInt32], _ map: ScalarMap) -> [UInt32] {
        guard text.contains(where: { $0 >= 0x80 && map[$0] != nil }) else { return text }
        return text.flatMap { c in c < 0x80 ? [c] : (map[c] ?? [c]) }
    }

    static func uncurlQuotes(_ text: [UInt32]) -> [UInt32] {
        text.map { c in
            if c == 0x2BC || (0x2018...0x201B).contains(c) { return 0x27 }
            if (0x201C...0x201F).contains(c) { return 0x22 }
            return c
        }
    }

    static func fixLineBreaks(_ text: [UInt32]) -> [UInt32] {
        var out = [UInt32]()
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == 0x0D && i + 1 < text.count && text[i + 1] == 0x0A {
                out.append(0x0A)
                i += 2
                continue
            }
            out.append(c == 0x0D || c == 0x2028 || c == 0x2029 || c == 0x85 ? 0x0A : c)
            i += 1
        }
        return out
    }

    /// ftfy's remove_terminal_escapes: `\033\[((?:\d|;)*)([a-zA-Z])`, `\d` being Unicode digits.
    static func removeTerminalEscapes(_ text: [UInt32]) -> [UInt32] {
        guard text.contains(0x1B) else { return text }
        var out = [UInt32]()
        var i = 0
        while i < text.count {
            if text[i] == 0x1B && i + 1 < text.count && text[i + 1] == 0x5B {
                var j = i + 2
                while j < text.count && (text[j] == 0x3B || UnicodeTables.decimalDigits.contains(text[j])) { j += 1 }
                if j < text.count, (0x41...0x5A).contains(text[j]) || (0x61...0x7A).contains(text[j]) {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// Unicode NFC. Code points below U+0300 are never changed by NFC and never combine
    /// with a preceding character, so text made only of them is already normalized.
    static func nfc(_ text: [UInt32]) -> [UInt32] {
        guard text.contains(where: { $0 >= 0x300 }) else { return text }
        return TextCleaning.scalars(TextCleaning.string(text).precomposedStringWithCanonicalMapping)
    }
}
