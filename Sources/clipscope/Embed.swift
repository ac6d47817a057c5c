import ArgumentParser
import CLIP
import Foundation
import Tensor
import Tokenizer
import Weights

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed images and texts with a model's two encoders.",
        discussion: """
            Prints the raw encoder outputs (encode_image, encode_text) unless --normalize, \
            which scales each to unit length. An image that cannot be read is reported on \
            stderr and listed under "skipped"; the others are still embedded.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("image"), help: ArgumentHelp("An image to embed (repeatable).", valueName: "F"))
    var images: [String] = []

    @Option(name: .customLong("text"), help: ArgumentHelp("A text to embed (repeatable).", valueName: "T"))
    var texts: [String] = []

    @Flag(help: "Scale every embedding to unit length.")
    var normalize = false

    @Flag(help: "Keep the start of a text longer than the context instead of failing (as clip.tokenize(truncate=True)).")
    var truncate = false

    @OptionGroup var batching: BatchOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if images.isEmpty && texts.isEmpty { throw CommandFailure("give at least one --image F or --text T") }
    }

    struct ImageEmbedding: Encodable { let path: String; let embedding: [Float] }
    struct TextEmbedding: Encodable { let text: String; let embedding: [Float] }
    struct Report: Encodable {
        var images: [ImageEmbedding] = []
        var texts: [TextEmbedding] = []
        var skipped: [SkippedItem] = []
    }

    /// Texts a forward pass at most (bounds the memory of the text tower).

    func run() throws {
        let model = try modelOptions.load()
        // Tokenize first: a text that does not fit is a mistake in the command, found before any work.
        let tokenizer = try Tokenizer.shared()
        let tokens = try texts.map { text in
            do {
                return try tokenizer.tokenize(text, contextLength: model.config.contextLength, truncate: truncate)
            } catch {
                throw CommandFailure("--text: \(error) (use --truncate to keep its start)")
            }
        }
        var report = Report()
        let skipped = try model.forEachImageBatch(images, batchSize: batching.batchSize) { paths, pixels in
            let rows = rowsOf(model.encodeImages(pixels))
            report.images += zip(paths, rows).map { ImageEmbedding(path: $0, embedding: $1) }
        }
        report.skipped = skipped
        if !images.isEmpty && report.images.isEmpty && texts.isEmpty { throw nothingRead(images.count) }
        for start in stride(from: 0, to: tokens.count, by: CLIPModel.textBatchSize) {
            let end = min(tokens.count, start + CLIPModel.textBatchSize)
            let rows = rowsOf(model.encodeTexts(Array(tokens[start..<end])))
            report.texts += zip(texts[start..<end], rows).map { TextEmbedding(text: $0, embedding: $1) }
        }

        if output.json { return try Output.printJSON(report) }
        let shown = 6
        func describe(_ embedding: [Float]) -> [String] {
            let norm = embedding.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let head = embedding.prefix(shown).map { Output.fixed($0) }.joined(separator: " ")
            return ["\(embedding.count)", Output.fixed(norm), head + (embedding.count > shown ? " ..." : "")]
        }
        var rows: [[String]] = [["kind", "input", "dims", "norm", "first values"]]
        rows += report.images.map { ["image", $0.path] + describe($0.embedding) }
        rows += report.texts.map { ["text", $0.text.debugDescription] + describe($0.embedding) }
        print(Output.table(rows, rightAligned: [2, 3]))
        if !report.skipped.isEmpty { print("\(report.skipped.count) skipped (see stderr)") }
    }

    /// Rows of an [N, D] embedding, unit length when --normalize.
    func rowsOf(_ embeddings: Tensor) -> [[Float]] {
        (normalize ? embeddings.l2Normalized() : embeddings).rows()
    }
}
