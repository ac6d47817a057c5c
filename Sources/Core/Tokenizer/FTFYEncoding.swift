
/// ftfy 6.3's fix_encoding: detects mojibake with BADNESS_RE and re-decodes text that
/// was UTF-8 read as a single-byte encoding (tables generated from ftfy itself).
enum FTFYEncoding {
    /// ftfy.fix_encoding with the default configuration: one step until nothing changes.
    static func fixEncoding(_ text: [UInt32]) -> [UInt32] {
        var text = text
        while true {
            let fixed = fixOneStep(text)
            if fixed == text { return text }
            text = fixed
        }
    }

    /// `_fix_encoding_one_step_and_explain` without explanations.
    static func fixOneStep(_ text: [UInt32]) -> [UInt32] {
        if text.isEmpty || text.allSatisfy({ $0 < 0x80 }) || !isBad(text) { return text }
        var possible = [String]()
        for charmap in charmaps {
            guard var bytes = charmap.encode(text) else { continue }
            possible.append(charmap.name)
            if charmap.name != "macroman" && BytePatterns.firstMatch(BytePatterns.alteredUTF8, in: bytes, from: 0) != nil {
                bytes = restoreByteA0(bytes)
            }
            if charmap.name.hasPrefix("sloppy") {
                bytes = BytePatterns.replaceAll(BytePatterns.lossyUTF8, in: bytes, with: [0xEF, 0xBF, 0xBD])
            }
            let variants = bytes.contains(0xED) || bytes.contains(0xC0)
            if let decoded = UTF8Decoding.decode(bytes, variants: variants) { return decoded }
        }
        let inconsistent = decodeInconsistentUTF8(text)
        if inconsistent != text { return inconsistent }
        // ftfy compares against "windows-1252", a name its list never holds (it holds
        // "sloppy-windows-1252"), so Latin-1 text is always re-read as strict Windows-1252.
        if possible.contains("latin-1"), let fixed = strictWindows1252(text), fixed != text { return fixed }
        if text.contains(where: { (0x80...0x9F).contains($0) }) { return FTFY.fixC1Controls(text) }
        return text
    }

    // MARK: BADNESS_RE

    private enum Atom {
        case set(Int)
        case optional(Int)
        case start
    }

    private static let badnessSets: [ScalarSet] = TokenizerTables.badnessSets.filter { $0 != "\n" }
        .split(separator: ";", omittingEmptySubsequences: false).map { ScalarSet(ranges: String($0)) }

    private static let badnessPatterns: [[Atom]] = TableText.records(TokenizerTables.badnessPatterns, separator: "|")
        .map { pattern in
            pattern.split(separator: " ").map { atom -> Atom in
                if atom == "^" { return .start }
                if atom.hasPrefix("?") { return .optional(Int(atom.dropFirst())!) }
                return .set(Int(atom)!)
            }
        }

    /// ftfy.badness.is_bad: does any BADNESS_RE alternative match anywhere?
    static func isBad(_ text: [UInt32]) -> Bool {
        for start in text.indices {
            for pattern in badnessPatterns where matches(pattern, text, at: start) { return true }
        }
        return false
    }

    private static func matches(_ pattern: [Atom], _ text: [UInt32], at start: Int) -> Bool {
        var i = start
        for atom in pattern {
            switch atom {
            case .start:
                if i != 0 { return false }
            case .set(let index):
                guard i < text.count, badnessSets[index].contains(text[i]) else { return false }
                i += 1
            case .optional(let index):
                // Only `[a-z]\s?[ÃÂ]` uses this; the class after it never holds whitespace,
                // so taking the optional character greedily never needs to backtrack.
                if i < text.count && badnessSets[index].contains(text[i]) { i += 1 }
            }
        }
        return true
    }

    // MARK: single-byte encodings

    struct Charmap {
        let name: String
        let bytes: [UInt32: UInt8]

        /// text.encode(name), or nil where ftfy's possible_encoding says no.
        func encode(_ text: [UInt32]) -> [UInt8]? {
            var out = [UInt8]()
            out.reserveCapacity(text.count)
            for c in text {
                if c < 0x80 && c != 0x1A {
                    out.append(UInt8(c))
                } else if let byte = bytes[c] {
                    out.append(byte)
                } else {
                    return nil
                }
            }
            return out
        }
    }

    static let charmaps: [Charmap] = TokenizerTables.charmapEncodings.filter { $0 != "\n" }
        .split(separator: ";").map { entry in
            let parts = entry.split(separator: ":", maxSplits: 1)
            var bytes = [UInt32: UInt8]()
            for pair in parts[1].split(separator: ",") {
                let sides = pair.split(separator: "=")
                bytes[UInt32(sides[0], radix: 16)!] = UInt8(sides[1], radix: 16)!
            }
            return Charmap(name: String(parts[0]), bytes: bytes)
        }

    /// text.encode("latin-1").decode("windows-1252"), nil on a byte Windows-1252 leaves undefined.
    private static func strictWindows1252(_ text: [UInt32]) -> [UInt32]? {
        var out = [UInt32]()
        for c in text {
            guard c <= 0xFF else { return nil }
            if (0x80...0x9F).contains(c) {
                if [0x81, 0x8D, 0x8F, 0x90, 0x9D].contains(c) { return nil }
                out.append(contentsOf: UnicodeTables.windows1252C1[c] ?? [c])
            } else {
                out.append(c)
            }
        }
        return out
    }

    // MARK: byte-level repairs

    /// ftfy.fixes.restore_byte_a0: spaces that stand for a lost 0xA0 byte inside UTF-8.
    static func restoreByteA0(_ bytes: [UInt8]) -> [UInt8] {
        // A_GRAVE_WORD_RE: b"\xc3 (?! |quele|quela|quilo|s )" -> b"\xc3\xa0 ".
        var graves = [UInt8]()
        var i = 0
        let exceptions: [[UInt8]] = [Array(" ".utf8), Array("quele".utf8), Array("quela".utf8), Array("quilo".utf8), Array("s ".utf8)]
        while i < bytes.count {
            if bytes[i] == 0xC3 && i + 1 < bytes.count && bytes[i + 1] == 0x20
                && !exceptions.contains(where: { bytes[(i + 2)...].starts(with: $0) }) {
                graves += [0xC3, 0xA0, 0x20]
                i += 2
            } else {
                graves.append(bytes[i])
                i += 1
            }
        }
        var out = [UInt8]()
        var position = 0
        while let match = BytePatterns.firstMatch(BytePatterns.alteredUTF8, in: graves, from: position) {
            out += graves[position..<match.lowerBound]
            out += graves[match].map { $0 == 0x20 ? 0xA0 : $0 }
            position = match.upperBound
        }
        return out + graves[position...]
    }

    // MARK: decode_inconsistent_utf8

    private static let firstOf2 = ScalarSet(ranges: TokenizerTables.utf8FirstOf2)
    private static let firstOf3 = ScalarSet(ranges: TokenizerTables.utf8FirstOf3)
    private static let firstOf4 = ScalarSet(ranges: TokenizerTables.utf8FirstOf4)
    private static let continuation = ScalarSet(ranges: TokenizerTables.utf8Continuation)
    private static let continuationStrict = ScalarSet(ranges: TokenizerTables.utf8ContinuationStrict)

    /// The end of UTF8_DETECTOR_RE's match at `start`, if it matches there.
    private static func detectorMatchEnd(_ text: [UInt32], at start: Int) -> Int? {
        if start > 0 && continuationStrict.contains(text[start - 1]) { return nil }
        var i = start
        while i < text.count {
            let c = text[i]
            var length = 0
            for (set, units) in [(firstOf2, 2), (firstOf3, 3), (firstOf4, 4)] where set.contains(c) {
                if i + units <= text.count && (1..<units).allSatisfy({ continuation.contains(text[i + $0]) }) {
                    length = units
                    break
                }
            }
            if length == 0 { break }
            i += length
        }
        return i > start ? i : nil
    }

    /// ftfy.fixes.decode_inconsistent_utf8: fixes each UTF-8-looking run on its own.
    static func decodeInconsistentUTF8(_ text: [UInt32]) -> [UInt32] {
        var out = [UInt32]()
        var i = 0
        while i < text.count {
            if let end = detectorMatchEnd(text, at: i) {
                let run = Array(text[i..<end])
                out += run.count < text.count && isBad(run) ? fixEncoding(run) : run
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}

/// The byte regexes of ftfy's chardata, as alternatives of byte classes.
enum BytePatterns {
    typealias Pattern = [[ClosedRange<UInt8>]]

    private static let continuation: [ClosedRange<UInt8>] = [0x80...0xBF]
    private static let sub: [ClosedRange<UInt8>] = [0x1A...0x1A]
    private static let question: [ClosedRange<UInt8>] = [0x3F...0x3F]
    private static let space: [ClosedRange<UInt8>] = [0x20...0x20]
    private static let notA0Or85: [ClosedRange<UInt8>] = [0x80...0x84, 0x86...0x9F, 0xA1...0xBF]

    /// ALTERED_UTF8_RE: UTF-8 sequences with a space where 0xA0 would belong.
    static let alteredUTF8: [Pattern] = [
        [[0xC2...0xC3, 0xC5...0xC5, 0xCE...0xCE, 0xD0...0xD0, 0xD9...0xD9], space],
        [[0xE2...0xE3], space, notA0Or85],
        [[0xE0...0xE3], notA0Or85, space],
        [[0xF0...0xF0], space, continuation, continuation],
        [[0xF0...0xF0], continuation, space, continuation],
        [[0xF0...0xF0], continuation, continuation, space],
    ]

    /// LOSSY_UTF8_RE: UTF-8 sequences partly replaced by 0x1A or '?'.
    static let lossyUTF8: [Pattern] = {
        let lost = sub + question
        let lostOrContinuation = sub + continuation
        return [
            [[0xC2...0xDF], sub],
            [[0xC2...0xC3], question],
            [[0xED...0xED], [0xA0...0xAF], lost, [0xED...0xED], [0xB0...0xBF], lost + continuation],
            [[0xED...0xED], [0xA0...0xAF], lost + continuation, [0xED...0xED], [0xB0...0xBF], lost],
            [[0xE0...0xEF], lost, lostOrContinuation],
            [[0xE0...0xEF], lostOrContinuation, lost],
            [[0xF0...0xF4], lost, lostOrContinuation, lostOrContinuation],
            [[0xF0...0xF4], lostOrContinuation, lost, lostOrContinuation],
            [[0xF0...0xF4], lostOrContinuation, lostOrContinuation, lost],
            [sub],
        ]
    }()

    /// The leftmost match at or after `from` (alternatives tried in order at each position).
    static func firstMatch(_ alternatives: [Pattern], in bytes: [UInt8], from: Int) -> Range<Int>? {
        var start = from
        while start < bytes.count {
            for pattern in alternatives where start + pattern.count <= bytes.count {
                if pattern.indices.allSatisfy({ offset in pattern[offset].contains { $0.contains(bytes[start + offset]) } }) {
                    return start..<start + pattern.count
                }
            }
            start += 1
        }
        return nil
    }

    static func replaceAll(_ alternatives: [Pattern], in bytes: [UInt8], with replacement: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var position = 0
        while let match = firstMatch(alternatives, in: bytes, from: position) {
            out += bytes[position..<match.lowerBound]
            out += replacement
            position = match.upperBound
        }
        return out + bytes[position...]
    }
}

/// Strict UTF-8 decoding as Python's codec does it, optionally with ftfy's
/// "utf-8-variants" (CESU-8 surrogate pairs, C0 80 for U+0000).
enum UTF8Decoding {
    static func decode(_ bytes: [UInt8], variants: Bool) -> [UInt32]? {
        var out = [UInt32]()
        out.reserveCapacity(bytes.count)
        var i = 0
        func continuation(_ offset: Int) -> UInt32? {
            guard i + offset < bytes.count, bytes[i + offset] & 0xC0 == 0x80 else { return nil }
            return UInt32(bytes[i + offset] & 0x3F)
        }
        while i < bytes.count {
            let lead = bytes[i]
            if lead < 0x80 {
                out.append(UInt32(lead))
                i += 1
            } else if variants && lead == 0xC0 && i + 1 < bytes.count && bytes[i + 1] == 0x80 {
                out.append(0)
                i += 2
            } else if variants && lead == 0xED && i + 5 < bytes.count
                        && (0xA0...0xAF).contains(bytes[i + 1]) && bytes[i + 2] & 0xC0 == 0x80
                        && bytes[i + 3] == 0xED && (0xB0...0xBF).contains(bytes[i + 4]) && bytes[i + 5] & 0xC0 == 0x80 {
                let high = (UInt32(bytes[i + 1] & 0x0F) << 16) + (UInt32(bytes[i + 2] & 0x3F) << 10)
                out.append(high + (UInt32(bytes[i + 4] & 0x0F) << 6) + UInt32(bytes[i + 5] & 0x3F) + 0x10000)
                i += 6
            } else if (0xC2...0xDF).contains(lead) {
                guard let c1 = continuation(1) else { return nil }
                out.append(UInt32(lead & 0x1F) << 6 | c1)
                i += 2
            } else if (0xE0...0xEF).contains(lead) {
                guard let c1 = continuation(1), let c2 = continuation(2) else { return nil }
                let value = UInt32(lead & 0x0F) << 12 | c1 << 6 | c2
                guard value >= 0x800, !(0xD800...0xDFFF).contains(value) else { return nil }
                out.append(value)
                i += 3
            } else if (0xF0...0xF4).contains(lead) {
                guard let c1 = continuation(1), let c2 = continuation(2), let c3 = continuation(3) else { return nil }
                let value = UInt32(lead & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                guard (0x10000...0x10FFFF).contains(value) else { return nil }
                out.append(value)
                i += 4
            } else {
                return nil
            }
        }
        return out
    }
}
