import ArgumentParser
import Foundation
import Tokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show CLIP's BPE token ids for each text (no start/end tokens, no padding).")

    @Argument(help: "Texts to tokenize, one result per argument.")
    var texts: [String]

    @Flag(help: "Keep the first 75 ids of a text that does not fit CLIP's 77-token context, as clip.tokenize(truncate=True) does, instead of failing.")
    var truncate = false

    @Flag(help: "Print one JSON document: {\"tokens\": [{\"text\": T, \"ids\": [N]}]}.")
    var json = false

    func validate() throws {
        if texts.isEmpty { throw CommandFailure("give at least one TEXT to tokenize") }
    }

    /// Text in double quotes, with the characters that would break the table escaped.
    private func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    struct Entry: Encodable {
        let text: String
        let ids: [Int]
    }

    func run() throws {
        let tokenizer = try Tokenizer.shared()
        var entries = [Entry]()
        for text in texts {
            // The model input decides what fits; strip its start, end and padding.
            let input = try tokenizer.tokenize(text, truncate: truncate)
            let end = input.lastIndex(of: Tokenizer.endOfText) ?? input.count
            entries.append(Entry(text: text, ids: input[1..<end].map { Int($0) }))
        }
        if json {
            return try Output.printJSON(["tokens": entries])
        }
        for (index, entry) in entries.enumerated() {
            if index > 0 { print() }
            print("\(quoted(entry.text)): \(entry.ids.count) token\(entry.ids.count == 1 ? "" : "s")")
            guard !entry.ids.isEmpty else { continue }
            print("     id  token                 text")
            for id in entry.ids {
                let token = tokenizer.vocabulary[id]
                let text = (try? tokenizer.decode([id])) ?? ""
                let padded = token.padding(toLength: max(20, token.count), withPad: " ", startingAt: 0)
                print(String(repeating: " ", count: max(0, 7 - String(id).count)) + "\(id)  \(padded)  \(quoted(text))")
            }
        }
    }
}
