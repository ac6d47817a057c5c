import Assets
import Foundation

/// A tokenizer failure: a bad vocabulary file, an id out of range, or text too long.
public struct TokenizerError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
}

/// CLIP's byte-level BPE tokenizer, token for token the same as OpenAI's SimpleTokenizer
/// (ftfy + html.unescape clean-up, lower-casing, regex split, BPE with `</w>`).
/// Load it once and share it: the tables are immutable and the word cache is locked.
public final class Tokenizer: @unchecked Sendable {
    /// `<|startoftext|>`.
    public static let startOfText: Int32 = 49406
    /// `<|endoftext|>`.
    public static let endOfText: Int32 = 49407
    /// CLIP's text context length.
    public static let defaultContextLength = 77

    /// Token strings by id, as SimpleTokenizer's `decoder` has them (byte-unicode
    /// characters, `</w>` marking the end of a word), e.g. `photo</w>` for 1125.
    public let vocabulary: [String]
    /// The number of tokens (49408).
    public var vocabularySize: Int { vocabulary.count }

    /// id -> the raw bytes it stands for, with a literal "</w>" where the token ends a word.
    private let tokenBytes: [[UInt8]]
    /// Token string -> id.
    private let ids: [String: Int32]
    /// byte -> id of its single-byte token.
    private let byteToken: [Int32]
    /// (left id << 32 | right id) -> merge rank; the merged token's id is 512 + rank.
    private let mergeRanks: [UInt64: Int32]

    private let cacheLock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]
    private static let cacheLimit = 100_000

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedInstance: Tokenizer?

    /// One tokenizer for the embedded vocabulary, loaded on first use and then reused.
    public static func shared() throws -> Tokenizer {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let sharedInstance { return sharedInstance }
        let loaded = try Tokenizer()
        sharedInstance = loaded
        return loaded
    }

    /// A new tokenizer for the vocabulary embedded in the binary (about 80 ms in release);
    /// everything else uses `shared()`, loaded once.
    convenience init() throws {
        try self.init(gzippedMerges: EmbeddedAssets.bpeVocabGzip, name: "embedded bpe_simple_vocab_16e6.txt.gz")
    }

    /// A tokenizer from a gzipped merges file like `bpe_simple_vocab_16e6.txt.gz`.
    public convenience init(gzippedMerges data: Data, name: String) throws {
        try self.init(merges: try Gzip.decompress(data, name: name), name: name)
    }

    /// A tokenizer from the merges file's bytes: a header line, then 48894 "left right" lines.
    public init(merges text: [UInt8], name: String) throws {
        let mergeCount = 49152 - 256 - 2
        // bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for
        // U+0100 onwards, in byte order.
        var byteOrder = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var characters = byteOrder.map { UInt32($0) }
        var next: UInt32 = 256
        for byte in 0..<256 where !byteOrder.contains(byte) {
            byteOrder.append(byte)
            characters.append(next)
            next += 1
        }
        var byteToken = [Int32](repeating: 0, count: 256)
        for (index, byte) in byteOrder.enumerated() {
            byteToken[byte] = Int32(index)
        }

        var vocabulary = [String]()
        var tokenBytes = [[UInt8]]()
        vocabulary.reserveCapacity(49408)
        tokenBytes.reserveCapacity(49408)
        let endOfWord = Array("</w>".utf8)
        for (index, byte) in byteOrder.enumerated() {
            vocabulary.append(String(Character(Unicode.Scalar(characters[index])!)))
            tokenBytes.append([UInt8(byte)])
        }
        for (index, byte) in byteOrder.enumerated() {
            vocabulary.append(String(Character(Unicode.Scalar(characters[index])!)) + "</w>")
            tokenBytes.append([UInt8(byte)] + endOfWord)
        }
        var ids = [String: Int32](minimumCapacity: 49408)
        for (index, token) in vocabulary.enumerated() { ids[token] = Int32(index) }

        // Lines 1...48894; line 0 is a version header.
        var lines = text.split(separator: 0x0A, maxSplits: mergeCount + 1, omittingEmptySubsequences: false)
        guard lines.count > mergeCount else {
            throw TokenizerError(description: "\(name): \(lines.count - 1) merges, expected at least \(mergeCount)")
        }
        lines = Array(lines[1...mergeCount])
        var mergeRanks = [UInt64: Int32](minimumCapacity: mergeCount)
        for (rank, line) in lines.enumerated() {
            let parts = line.split(separator: 0x20)
            guard parts.count == 2 else {
                throw TokenizerError(description: "\(name): line \(rank + 2) is not a merge \"left right\"")
            }
            let left = String(decoding: parts[0], as: UTF8.self)
            let right = String(decoding: parts[1], as: UTF8.self)
            guard let leftID = ids[left], let rightID = ids[right] else {
                throw TokenizerError(description: "\(name): line \(rank + 2) merges an unknown token")
            }
            let merged = left + right
            let mergedID = Int32(vocabulary.count)
            guard ids[merged] == nil else {
                throw TokenizerError(description: "\(name): line \(rank + 2) repeats the token \(merged)")
            }
            ids[merged] = mergedID
            vocabulary.append(merged)
            tokenBytes.append(tokenBytes[Int(leftID)] + tokenBytes[Int(rightID)])
            mergeRanks[UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))] = Int32(rank)
        }
        for special in ["<|startoftext|>", "<|endoftext|>"] {
            ids[special] = Int32(vocabulary.count)
            vocabulary.append(special)
            tokenBytes.append(Array(special.utf8))
        }
        self.vocabulary = vocabulary
        self.tokenBytes = tokenBytes
        self.byteToken = byteToken
        self.mergeRanks = mergeRanks
        self.ids = ids
    }

    /// BPE ids of `text`, without start/end tokens or padding (SimpleTokenizer.encode).
    public func encode(_ text: String) -> [Int] {
        encodeIDs(text).map { Int($0) }
    }

    /// The model input for `text`: start token, ids, end token, zero-padded to
    /// `contextLength` (clip.tokenize). Too long text is an error unless `truncate`,
    /// which keeps the first `contextLength` ids and ends them with the end token.
    public func tokenize(_ text: String, contextLength: Int = Tokenizer.defaultContextLength,
                         truncate: Bool = false) throws -> [Int32] {
        var ids = [Tokenizer.startOfText] + encodeIDs(text) + [Tokenizer.endOfText]
        if ids.count > contextLength {
            guard truncate else {
                let shown = text.count > 60 ? String(text.prefix(57)) + "..." : text
                throw TokenizerError(description:
                    "text is \(ids.count) tokens, more than the context length \(contextLength): \"\(shown)\"")
            }
            ids.removeLast(ids.count - contextLength)
            ids[contextLength - 1] = Tokenizer.endOfText
        }
        return ids + [Int32](repeating: 0, count: contextLength - ids.count)
    }

    /// Model inputs for several texts, one row of `contextLength` ids each.
    public func tokenize(_ texts: [String], contextLength: Int = Tokenizer.defaultContextLength,
                         truncate: Bool = false) throws -> [[Int32]] {
        try texts.map { try tokenize($0, contextLength: contextLength, truncate: truncate) }
    }

    /// The text of `ids` (SimpleTokenizer.decode): "</w>" becomes a space, invalid UTF-8
    /// becomes U+FFFD.
    public func decode(_ ids: [Int]) throws -> String {
        var bytes = [UInt8]()
        for id in ids {
            guard id >= 0 && id < tokenBytes.count else {
                throw TokenizerError(description: "token id \(id) is outside the vocabulary 0..<\(tokenBytes.count)")
            }
            bytes.append(contentsOf: tokenBytes[id])
        }
        // Replacing "</w>" before UTF-8 decoding equals replacing it after: ASCII bytes
        // always end an invalid sequence and decode as themselves.
        var spaced = [UInt8]()
        spaced.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x3C && i + 3 < bytes.count && bytes[i + 1] == 0x2F && bytes[i + 2] == 0x77 && bytes[i + 3] == 0x3E {
                spaced.append(0x20)
                i += 4
            } else {
                spaced.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: spaced, as: UTF8.self)
    }

    /// The text of `ids` given as model inputs (Int32).
    public func decode(_ ids: [Int32]) throws -> String {
        try decode(ids.map { Int($0) })
    }

    /// The id of a token string such as `photo</w>`, if it is in the vocabulary.
    public func id(ofToken token: String) -> Int? {
        ids[token].map { Int($0) }
    }

    // MARK: encoding

    func encodeIDs(_ text: String) -> [Int32] {
        let cleaned = TextCleaning.clean(TextCleaning.scalars(text))
        var ids = [Int32]()
        for piece in Self.split(cleaned) {
            let scalars = cleaned[piece]
            if scalars.elementsEqual(Self.startOfTextScalars) {
                ids.append(Tokenizer.startOfText)
            } else if scalars.elementsEqual(Self.endOfTextScalars) {
                ids.append(Tokenizer.endOfText)
            } else {
                ids.append(contentsOf: bpe(utf8(scalars)))
            }
        }
        return ids
    }

    private static let startOfTextScalars = Array("<|startoftext|>".unicodeScalars.map(\.value))
    private static let endOfTextScalars = Array("<|endoftext|>".unicodeScalars.map(\.value))

    private func utf8(_ scalars: ArraySlice<UInt32>) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(scalars.count)
        for c in scalars {
            switch c {
            case ..<0x80:
                bytes.append(UInt8(c))
            case ..<0x800:
                bytes.append(UInt8(0xC0 | (c >> 6)))
                bytes.append(UInt8(0x80 | (c & 0x3F)))
            case ..<0x10000:
                bytes.append(UInt8(0xE0 | (c >> 12)))
                bytes.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
                bytes.append(UInt8(0x80 | (c & 0x3F)))
            default:
                bytes.append(UInt8(0xF0 | (c >> 18)))
                bytes.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
                bytes.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
                bytes.append(UInt8(0x80 | (c & 0x3F)))
            }
        }
        return bytes
    }

    /// The split pattern `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
    /// [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (IGNORECASE), alternatives tried in order.
    static func split(_ text: [UInt32]) -> [Range<Int>] {
        var pieces = [Range<Int>]()
        var i = 0
        while i < text.count {
            if let length = literalMatch(text, at: i) {
                pieces.append(i..<i + length)
                i += length
                continue
            }
            let c = text[i]
            let set: ScalarSet
            if UnicodeTables.letters.contains(c) {
                set = UnicodeTables.letters
            } else if UnicodeTables.numbers.contains(c) {
                pieces.append(i..<i + 1)
                i += 1
                continue
            } else if UnicodeTables.others.contains(c) {
                set = UnicodeTables.others
            } else {
                i += 1
                continue
            }
            var end = i + 1
            while end < text.count && set.contains(text[end]) { end += 1 }
            pieces.append(i..<end)
            i = end
        }
        return pieces
    }

    private static let literals: [[UInt32]] = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
        .map { $0.unicodeScalars.map(\.value) }

    /// The length of the first literal alternative that matches at `start`, if any.
    private static func literalMatch(_ text: [UInt32], at start: Int) -> Int? {
        let first = text[start]
        guard first == 0x3C || first == 0x27 else { return nil }
        for literal in literals where start + literal.count <= text.count {
            var matches = true
            for (offset, expected) in literal.enumerated() {
                let c = text[start + offset]
                if c != expected && UnicodeTables.caselessLiterals[c]?.first != expected {
                    matches = false
                    break
                }
            }
            if matches { return literal.count }
        }
        return nil
    }

    /// BPE of one word's bytes: the last symbol carries `</w>`; merges the lowest-rank
    /// adjacent pair, all its occurrences left to right, until no pair is a merge.
    func bpe(_ bytes: [UInt8]) -> [Int32] {
        cacheLock.lock()
        let cached = cache[bytes]
        cacheLock.unlock()
        if let cached { return cached }

        var word = bytes.map { byteToken[Int($0)] }
        word[word.count - 1] += 256
        while word.count > 1 {
            var bestRank = Int32.max
            for index in 0..<word.count - 1 {
                if let rank = mergeRanks[UInt64(UInt32(word[index])) << 32 | UInt64(UInt32(word[index + 1]))],
                   rank < bestRank {
                    bestRank = rank
                }
            }
            guard bestRank != .max else { break }
            // Find the pair again by rank (ranks are unique).
            var first: Int32 = 0
            var second: Int32 = 0
            for index in 0..<word.count - 1
            where mergeRanks[UInt64(UInt32(word[index])) << 32 | UInt64(UInt32(word[index + 1]))] == bestRank {
                first = word[index]
                second = word[index + 1]
                break
            }
            let merged = 512 + bestRank
            var next = [Int32]()
            next.reserveCapacity(word.count - 1)
            var index = 0
            while index < word.count {
                if index + 1 < word.count && word[index] == first && word[index + 1] == second {
                    next.append(merged)
                    index += 2
                } else {
                    next.append(word[index])
                    index += 1
                }
            }
            word = next
        }

        cacheLock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[bytes] = word
        cacheLock.unlock()
        return word
    }
}

extension TokenizerError {
    public var errorDescription: String? { description }
}
