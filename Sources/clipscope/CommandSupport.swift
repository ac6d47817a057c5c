import ArgumentParser
import CLIP
import Foundation
import Index
import Support
import Terminal
import Jobs
import Tensor
import Weights
import Workbench

/// `--model M`: a weights file or a name looked up by `ModelLocator`.
struct ModelOptions: ParsableArguments {
    // Optional so that a command knows when the toy was chosen for the user (and says so).
    @Option(name: .customLong("model"), help: ArgumentHelp(
        "A weights file (.pt or .safetensors) or a name: toy (embedded), RN50, RN101, RN50x4, RN50x16, RN50x64. (default: toy)",
        discussion: "toy is the toy-world CLIP inside clipscope. Other names are looked up as <name>.pt or <name>.safetensors in $CLIPSCOPE_MODELS, then as ~/.cache/clip/<name>.pt (where OpenAI's clip package downloads).",
        valueName: "M"))
    var modelArgument: String?

    var model: String { modelArgument ?? ModelLocator.toyName }

    /// The model's presets (toy or ImageNet), resolved once.
    var profile: ModelProfile { ModelProfile(model: model) }

    /// Resolves and loads the model; failures are one line naming the file or the places searched.
    func load() throws -> CLIPModel {
        try CLIPModel.load(model: model)
    }

    /// Prints (people's output only) that the toy's presets are in use because no model was named.
    func noteImplicitModel(_ use: ModelProfile.PresetUse, json: Bool) {
        guard !json, modelArgument == nil, let note = profile.implicitModelNote(for: use) else { return }
        print(note)
    }
}

/// `--json`: one JSON document on stdout instead of a table.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout (warnings still go to stderr).")
    var json = false
}

/// A command failure whose reason is one line (printed as `clipscope: <reason>`).
struct CommandFailure: Error, CustomStringConvertible, LocalizedError {
    let description: String
    init(_ description: String) { self.description = description.asOneLine }

    /// Any error in one line; a parameter the libraries name is shown as its option
    /// (`batchSize` as `--batch-size`), or as `renaming` says where a command names it otherwise.
    init(_ error: Error, renaming: [String: String] = [:]) {
        let option = { (parameter: String) in renaming[parameter] ?? CLIPScope.option(for: parameter) }
        switch error {
        case let failure as CommandFailure: self = failure
        case let invalid as InvalidParameter: self.init("\(option(invalid.parameter)) \(invalid.detail(naming: option))")
        case let indexError as IndexError: self.init(Self.commandLineWording(indexError))
        case let failure as JobFailure: self = failure.invalidParameter.map { CommandFailure($0, renaming: renaming) } ?? CommandFailure(failure.message)
        default: self.init("\(error)")
        }
    }
    var errorDescription: String? { description }

    /// An index error whose remedy is a scan, told as the command that does it.
    static func commandLineWording(_ error: IndexError) -> String {
        switch error.remedy {
        case .scanToCreate?: error.problem + " (run `clipscope scan` to make one)"
        case .scanToFinish?: error.problem + "; run `clipscope scan` again to finish it"
        case .finishBeforeMerging?: error.problem + "; finish it with `clipscope scan` before merging"
        case nil: error.message
        }
    }
}

/// What every command prints: JSON documents on stdout, warnings on stderr.
enum Output {
    /// Prints one JSON document (keys sorted, so output is stable) on stdout.
    static func printJSON<Document: Encodable>(_ document: Document) throws {
        // A NaN or infinity (a broken model) is null rather than failing the whole document.
        let data = try JSONValue.encode(document, formatting: [.sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// One line on stderr: `clipscope: <message>`.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("clipscope: \(message.asOneLine)\n".terminalSafe(keepingLineBreaks: true).utf8))
    }

    /// Reports an item of a batch that was left out, on stderr, and returns its JSON entry.
    static func skip(_ path: String, _ error: Error) -> SkippedItem {
        skip(path, ImageBatches.reason(error, path: path))
    }

    /// Reports a left-out item whose reason is known (without the path).
    static func skip(_ path: String, _ reason: String) -> SkippedItem {
        let item = SkippedItem(path: path, error: reason)
        warn("skipped \(path): \(item.error)")
        return item
    }
}

/// An input left out of a batch and why (`{"path": F, "error": S}` in JSON).
struct SkippedItem: Encodable {
    let path: String
    let error: String

}

extension CLIPModel {
    /// Runs `body` over `paths` a batch at a time with each batch's readable paths and their
    /// pixels [n, 3, R, R]; unreadable files are warned about on stderr and returned.
    func forEachImageBatch(_ paths: [String], batchSize: Int,
                           _ body: (_ paths: [String], _ pixels: Tensor) throws -> Void) throws -> [SkippedItem] {
        var skipped: [SkippedItem] = []
        try ImageBatches(paths: paths, batchSize: batchSize, preprocessing: preprocessing).forEach(
            skipped: { skipped.append(Output.skip($0.path, $0.reason)) },
            { indices, pixels in try body(indices.map { paths[$0] }, pixels) })
        return skipped
    }
}

/// The failure when no image of a batch could be read at all.
func nothingRead(_ count: Int) -> CommandFailure {
    CommandFailure(count == 1 ? "the image could not be read" : "none of the \(count) images could be read")
}

/// Refuses a negative `--neuron` in words (`--neuron` is parsed unconditionally, so -1 reaches
/// here as a number instead of being taken for an option and reported as a missing value).
func checkNeuron(_ neuron: Int?) throws {
    if let neuron, neuron < 0 { throw CommandFailure("--neuron must be 0 or more (neurons are numbered from 0), got \(neuron)") }
}

/// `--batch-size N`: images per forward pass.
struct BatchOptions: ParsableArguments {
    @Option(help: "Images per forward pass (results do not depend on it).")
    var batchSize = 8

    func validate() throws {
        guard batchSize >= 1 else { throw CommandFailure("--batch-size must be at least 1, got \(batchSize)") }
    }
}

/// Every line printed for people goes through here, shadowing Swift's `print`: control characters
/// from file names, labels and arguments are shown, not obeyed (`String.terminalSafe`).
/// JSON needs nothing: its encoder escapes them.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(items.map { "\($0)" }.joined(separator: separator).terminalSafe(keepingLineBreaks: true), terminator: terminator)
}

extension String {
    /// The text with line breaks turned into spaces, for one-line messages.
    var asOneLine: String {
        split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

extension Output {
    /// Fixed-point text for tables.
    static func fixed(_ value: Float, digits: Int = 4) -> String {
        String(format: "%.\(digits)f", Double(value))
    }

    /// An integer with thousands separators: 178,300,601.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// Left-aligned columns, padded to the widest cell of each.
    static func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : (i == row.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ")
        }.map(withoutTrailingSpaces).joined(separator: "\n")
    }

    /// One backwards pass (a regular expression for trailing spaces was quadratic in a run of them).
    static func withoutTrailingSpaces(_ line: String) -> String {
        guard let last = line.lastIndex(where: { $0 != " " }) else { return "" }
        return String(line[...last])
    }
}
