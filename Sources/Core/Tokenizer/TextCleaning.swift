import Foundation

/// The text clean-up that OpenAI's SimpleTokenizer runs before splitting, on code point
/// arrays so that results match Python's `str` semantics exactly (Swift's String compares
/// by canonical equivalence, Python's by code point).
enum TextCleaning {
    /// SimpleTokenizer's `whitespace_clean(basic_clean(text)).lower()`.
    static func clean(_ text: [UInt32]) -> [UInt32] {
        var text = FTFY.fixText(text)
        text = htmlUnescape(htmlUnescape(text))
        text = strip(text)
        text = collapseWhitespace(text)
        text = strip(text)
        return lowercase(text)
    }

    /// Python's `str.strip()` (str.isspace characters at both ends).
    static func strip(_ text: [UInt32]) -> [UInt32] {
        let spaces = UnicodeTables.pythonSpaces
        guard let first = text.firstIndex(where: { !spaces.contains($0) }),
              let last = text.lastIndex(where: { !spaces.contains($0) }) else { return [] }
        return Array(text[first...last])
    }

    /// `re.sub(r'\s+', ' ', text)` with the `regex` module's `\s`.
    static func collapseWhitespace(_ text: [UInt32]) -> [UInt32] {
        let spaces = UnicodeTables.regexSpaces
        var out = [UInt32]()
        out.reserveCapacity(text.count)
        var inSpace = false
        for c in text {
            if spaces.contains(c) {
                if !inSpace { out.append(0x20) }
                inSpace = true
            } else {
                out.append(c)
                inSpace = false
            }
        }
        return out
    }

    /// Python's `str.lower()`: full lowercase mappings plus the Final_Sigma rule for U+03A3.
    static func lowercase(_ text: [UInt32]) -> [UInt32] {
        var out = [UInt32]()
        out.reserveCapacity(text.count)
        for (index, c) in text.enumerated() {
            if c < 0x80 {
                out.append(c >= 0x41 && c <= 0x5A ? c + 0x20 : c)
            } else if c == 0x3A3 {
                out.append(isFinalSigma(text, at: index) ? 0x3C2 : 0x3C3)
            } else if let mapped = UnicodeTables.lowercase[c] {
                out.append(contentsOf: mapped)
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// CPython's handle_capital_sigma: cased (case-ignorable)* SIGMA !((case-ignorable)* cased).
    private static func isFinalSigma(_ text: [UInt32], at index: Int) -> Bool {
        let ignorable = UnicodeTables.caseIgnorable
        var before = index - 1
        while before >= 0 && ignorable.contains(text[before]) { before -= 1 }
        guard before >= 0 && UnicodeTables.cased.contains(text[before]) else { return false }
        var after = index + 1
        while after < text.count && ignorable.contains(text[after]) { after += 1 }
        return after == text.count || !UnicodeTables.cased.contains(text[after])
    }

    // MARK: html.unescape

    /// Python's `html.unescape`: HTML5 named references (longest prefix, with or without
    /// ';'), decimal and hex references with HTML5's replacements for invalid code points.
    static func htmlUnescape(_ text: [UInt32]) -> [UInt32] {
        guard text.contains(0x26) else { return text }
        var out = [UInt32]()
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == 0x26, let (replacement, end) = charref(text, at: i + 1) {
                out.append(contentsOf: replacement)
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// Matches `#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?` at `start` (just after
    /// '&') and returns the replacement and the end of the match.
    private static func charref(_ text: [UInt32], at start: Int) -> ([UInt32], Int)? {
        guard start < text.count else { return nil }
        if text[start] == 0x23 {  // '#'
            var i = start + 1
            var radix: UInt32 = 10
            if i < text.count, text[i] == 0x78 || text[i] == 0x58 { radix = 16; i += 1 }
            let digitsStart = i
            var value: UInt64 = 0
            while i < text.count, let digit = digitValue(text[i], radix: radix) {
                value = min(value * UInt64(radix) + UInt64(digit), 0x1_0000_0000)  // saturates above U+10FFFF
                i += 1
            }
            guard i > digitsStart else { return nil }
            if i < text.count && text[i] == 0x3B { i += 1 }
            return (numericReference(value), i)
        }
        let excluded: Set<UInt32> = [0x09, 0x0A, 0x0C, 0x20, 0x3C, 0x26, 0x23, 0x3B]
        var end = start
        while end < text.count && end - start < 32 && !excluded.contains(text[end]) { end += 1 }
        guard end > start else { return nil }
        if end < text.count && text[end] == 0x3B { end += 1 }
        let name = text[start..<end]
        if let value = entity(name) { return (value, end) }
        // The longest prefix (at least two characters) that is an entity name.
        var length = name.count - 1
        while length > 1 {
            if let value = entity(name.prefix(length)) {
                return (value + name.dropFirst(length), end)
            }
            length -= 1
        }
        return ([0x26] + name, end)
    }

    private static func entity(_ name: ArraySlice<UInt32>) -> [UInt32]? {
        // Entity names are ASCII; building a String only from ASCII keeps the lookup
        // exact (a Swift String would match U+212A KELVIN SIGN to "K").
        guard name.allSatisfy({ $0 < 0x80 }) else { return nil }
        let key = String(decoding: name.map { UInt8($0) }, as: UTF8.self)
        return UnicodeTables.html5Entities[key]
    }

    private static func numericReference(_ value: UInt64) -> [UInt32] {
        if value <= 0x10FFFF, let replacement = UnicodeTables.invalidCharrefs[UInt32(value)] { return replacement }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return [0xFFFD] }
        if UnicodeTables.invalidCodepoints.contains(UInt32(value)) { return [] }
        return [UInt32(value)]
    }

    static func digitValue(_ c: UInt32, radix: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46 where radix == 16: return c - 0x41 + 10
        case 0x61...0x66 where radix == 16: return c - 0x61 + 10
        default: return nil
        }
    }

    // MARK: conversions

    static func scalars(_ string: String) -> [UInt32] { string.unicodeScalars.map(\.value) }

    static func string(_ scalars: [UInt32]) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars.compactMap(Unicode.Scalar.init))
        return String(view)
    }
}
