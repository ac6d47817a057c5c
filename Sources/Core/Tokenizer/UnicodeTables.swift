
// Parsed forms of the generated TokenizerTables: sets of code points and code point maps.

/// A set of Unicode code points stored as sorted, disjoint ranges.
struct ScalarSet: Sendable {
    private var ascii = [Bool](repeating: false, count: 128)
    private var lows: [UInt32] = []
    private var highs: [UInt32] = []

    /// Parses "LO-HI,LO-HI" (hex), the generated table format.
    init(ranges text: String) {
        for item in TableText.records(text, separator: ",") {
            let bounds = item.split(separator: "-")
            guard bounds.count == 2, let low = UInt32(bounds[0], radix: 16), let high = UInt32(bounds[1], radix: 16)
            else { continue }
            lows.append(low)
            highs.append(high)
            if low < 128 { for c in low...min(high, 127) { ascii[Int(c)] = true } }
        }
    }

    func contains(_ c: UInt32) -> Bool {
        if c < 128 { return ascii[Int(c)] }
        // The last range whose low bound is <= c.
        var lower = 0
        var upper = lows.count
        while lower < upper {
            let middle = (lower + upper) / 2
            if lows[middle] <= c { lower = middle + 1 } else { upper = middle }
        }
        return lower > 0 && c <= highs[lower - 1]
    }
}

/// A map from one code point to a sequence of code points.
struct ScalarMap: Sendable {
    private var table: [UInt32: [UInt32]] = [:]

    /// Parses "KEY=HEX HEX|..." with a hex code point key.
    init(_ text: String) {
        for (key, value) in TableText.pairs(text) {
            if let code = UInt32(key, radix: 16) { table[code] = value }
        }
    }

    subscript(_ c: UInt32) -> [UInt32]? { table[c] }
}

/// Splits the generated table strings (newlines in the literals are line wrapping only).
enum TableText {
    static func records(_ text: String, separator: Character) -> [Substring] {
        let joined = text.filter { $0 != "\n" }
        return joined.split(separator: separator)
    }

    /// "KEY=HEX HEX|..." -> (KEY, code points).
    static func pairs(_ text: String) -> [(String, [UInt32])] {
        records(text, separator: "|").compactMap { record in
            guard let equals = record.firstIndex(of: "=") else { return nil }
            let value = record[record.index(after: equals)...].split(separator: " ").compactMap { UInt32($0, radix: 16) }
            return (String(record[..<equals]), value)
        }
    }
}

/// The parsed tables, built once on first use.
enum UnicodeTables {
    static let letters = ScalarSet(ranges: TokenizerTables.letters)
    static let numbers = ScalarSet(ranges: TokenizerTables.numbers)
    static let others = ScalarSet(ranges: TokenizerTables.others)
    static let regexSpaces = ScalarSet(ranges: TokenizerTables.regexSpaces)
    static let pythonSpaces = ScalarSet(ranges: TokenizerTables.pythonSpaces)
    static let decimalDigits = ScalarSet(ranges: TokenizerTables.decimalDigits)
    static let caseIgnorable = ScalarSet(ranges: TokenizerTables.caseIgnorable)
    static let cased = ScalarSet(ranges: TokenizerTables.cased)
    static let lowercase = ScalarMap(TokenizerTables.lowercase)
    static let caselessLiterals = ScalarMap(TokenizerTables.caselessLiterals)
    static let invalidCharrefs = ScalarMap(TokenizerTables.invalidCharrefs)
    static let invalidCodepoints = ScalarSet(ranges: TokenizerTables.invalidCodepoints)
    static let ftfyWidth = ScalarMap(TokenizerTables.ftfyWidth)
    static let ftfyLigatures = ScalarMap(TokenizerTables.ftfyLigatures)
    static let ftfyControls = ScalarSet(ranges: TokenizerTables.ftfyControls)
    static let windows1252C1 = ScalarMap(TokenizerTables.windows1252C1)
    /// html.entities.html5, keyed by the ASCII name.
    static let html5Entities: [String: [UInt32]] = Dictionary(
        TableText.pairs(TokenizerTables.html5Entities), uniquingKeysWith: { first, _ in first })
    /// ftfy's HTML_ENTITIES, keyed by "&name;".
    static let ftfyEntities: [String: [UInt32]] = Dictionary(
        TableText.pairs(TokenizerTables.ftfyEntities), uniquingKeysWith: { first, _ in first })
    /// The longest key of html5Entities, in characters.
    static let longestEntityName = 32
}
