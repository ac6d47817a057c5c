import ArgumentParser
import Assets
import CLIP
import Foundation
import Workbench

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Zero-shot classification: rank labels for each image.",
        discussion: """
            Each label is put into --template, embedded by the text tower, and scored against \
            each image by softmax(exp(logit_scale) * cosine) over all labels. --labels takes a \
            file (one label per line, blank lines ignored, or a JSON array of strings), the word \
            imagenet for the 1000 ImageNet class names built into clipscope, or a comma-separated \
            list (dog,cat,car). An image that cannot be read is reported on stderr and listed \
            under "skipped".
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("A labels file, 'imagenet', or a comma-separated list a,b,c.", valueName: "FILE|a,b,c"))
    var labels: String

    @Option(help: ArgumentHelp("The caption each label is put into, at {} (default \"This is a photo of a {}\"; \"a drawing of a {}\" for the toy, the captions it learnt).", valueName: "T"))
    var template: String?

    @Option(help: ArgumentHelp("How many labels to show per image.", valueName: "K"))
    var top = 5

    @Argument(help: ArgumentHelp("PNG or JPEG images.", valueName: "IMAGE"))
    var images: [String] = []

    @OptionGroup var batching: BatchOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if images.isEmpty { throw CommandFailure("give at least one IMAGE to classify") }
        if top < 1 { throw CommandFailure("--top must be at least 1, got \(top)") }
        if let template, !template.contains("{}") { throw CommandFailure("--template must contain {} where the label goes, got '\(template)'") }
    }

    /// The labels `--labels` names: a file, the embedded ImageNet classes, or a comma-separated list.
    static func readLabels(_ argument: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        let labels: [String]
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), !isDirectory.boolValue {
            labels = try readLabelsFile(argument)
        } else if argument.lowercased() == "imagenet" {
            labels = EmbeddedAssets.imageNetLabels
        } else if argument.contains(",") {
            labels = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            throw CommandFailure("--labels \(argument): no such file (give a file, imagenet, or at least two labels as a,b)")
        }
        guard labels.count >= 2 else {
            throw CommandFailure("--labels \(argument): \(labels.count) label\(labels.count == 1 ? "" : "s"); zero-shot needs at least two")
        }
        return labels
    }

    static func readLabelsFile(_ path: String) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CommandFailure("--labels \(path): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure("--labels \(path): not UTF-8 text")
        }
        if text.drop(while: \.isWhitespace).first == "[" {
            guard let array = try? JSONDecoder().decode([String].self, from: data) else {
                throw CommandFailure("--labels \(path): starts with '[' but is not a JSON array of strings")
            }
            return array
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    struct Score: Encodable { let label: String; let probability: Float }
    struct ImageResult: Encodable { let path: String; let top: [Score] }
    struct Report: Encodable {
        var images: [ImageResult] = []
        var skipped: [SkippedItem] = []
    }

    func run() throws {
        let labelList = try Self.readLabels(labels)
        let model = try modelOptions.load()
        let classifier = try ZeroShotClassifier(model: model, labels: labelList, template: template ?? modelOptions.profile.zeroShotTemplate)
        let k = min(top, labelList.count)
        var report = Report()
        let skipped = try model.forEachImageBatch(images, batchSize: batching.batchSize) { paths, pixels in
            let probabilities = classifier.probabilities(model.encodeImages(pixels)).rows()
            for (path, row) in zip(paths, probabilities) {
                report.images.append(ImageResult(path: path, top: classifier.ranked(row, top: k).map {
                    Score(label: $0.label, probability: $0.probability)
                }))
            }
        }
        report.skipped = skipped
        if report.images.isEmpty { throw nothingRead(images.count) }

        if output.json { return try Output.printJSON(report) }
        if template == nil { modelOptions.noteImplicitModel(.classify, json: false) }
        for (n, image) in report.images.enumerated() {
            if n > 0 { print() }
            print(image.path)
            print(Output.table(image.top.map { ["  " + Output.fixed($0.probability * 100, digits: 2) + "%", $0.label] },
                               rightAligned: [0]))
        }
        if !report.skipped.isEmpty { print("\n\(report.skipped.count) skipped (see stderr)") }
    }
}
