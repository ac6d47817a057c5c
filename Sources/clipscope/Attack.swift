import ArgumentParser
import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import ToyWorld
import Workbench

/// The look and place of attack text, shared by `attack` and the app's attack lab.
struct AttackStyleOptions: ParsableArguments {
    // Unconditional: an origin left of or above the image (-20,-10) is a value, not an option.
    @Option(parsing: .unconditional, help: ArgumentHelp("Where the text goes: paper (its 8 origins, scaled), center, or X,Y (baseline-left, image pixels). Default: paper; center for the toy model.", valueName: "WHERE"))
    var position: String?

    @Option(help: ArgumentHelp("Em size in pixels (default: the paper's, scaled to the image; a fifth of the side for the toy model).", valueName: "PX"))
    var size: Double?

    @Option(help: ArgumentHelp("Text colour: a name or #RRGGBB.", valueName: "COLOUR"))
    var fill = "white"

    @Option(help: ArgumentHelp("Outline colour: a name or #RRGGBB.", valueName: "COLOUR"))
    var outline = "black"

    @Option(help: ArgumentHelp("Outline radius in pixels (default: a ninth of the size).", valueName: "PX"))
    var outlineWidth: Double?

    @Option(help: ArgumentHelp("A TrueType/OpenType font file (default DejaVu Sans).", valueName: "FILE"))
    var font: String?

    func validate() throws {
        try checkFont(font)
    }

    /// The style asked for, the rest from the model's profile.
    func style(_ profile: ModelProfile) throws -> AttackStyle {
        try failing { try profile.attackStyle(position: position, size: size, fill: fill, outline: outline, outlineWidth: outlineWidth) }
    }
}

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Typographic attacks: write a label on images and watch zero-shot flip (the paper's Table II).",
        discussion: """
            One image: --image F --text T prints the zero-shot top labels before and after the text \
            is written, with their changes, the paper's pixel coverage (changed channel values over \
            H*W) and the true changed-pixel fraction, and saves the attacked image (-o FILE, and \
            attacked.png in the run folder). A batch: --dir D with --pairs label=text,... (or --sweep: \
            every label written as itself) writes each text on each image, prompt "This is a photo of \
            a {}", and prints a table sorted by success rate (clean top-1 not the target, attacked \
            top-1 the target, over all images) with the mean coverage; -o writes it as CSV. A batch \
            keeps each image's outcome as it comes (results.jsonl in its run folder): run the same \
            command again to continue; --shard K/N splits a folder like scan, and `attack merge \
            RUN...` joins the shards. Labels: --labels imagenet, a file, a list a,b,c; the toy model \
            uses its own words (shape names for a batch) unless given some. Every option: \
            clipscope attack run --help.
            """,
        subcommands: [Run.self, Merge.self],
        defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Attack one image or a folder (the default).")

        @OptionGroup var modelOptions: ModelOptions

        @Option(help: ArgumentHelp("The image to attack.", valueName: "FILE"))
        var image: String?

        @Option(help: ArgumentHelp("The text to write on --image.", valueName: "T"))
        var text: String?

        @Option(help: ArgumentHelp("A folder of images to attack in a batch (repeat for more).", valueName: "DIR"))
        var dir: [String] = []

        @Option(help: ArgumentHelp("Batch attacks: label=text pairs (a bare label writes itself), comma-separated.", valueName: "L=T,..."))
        var pairs: String?

        @Flag(help: "Batch: attack with every label, each written as itself.")
        var sweep = false

        @Option(help: ArgumentHelp("A labels file, 'imagenet', or a comma-separated list a,b,c (default: imagenet; the toy's words, or its shape names in a batch).", valueName: "FILE|a,b,c"))
        var labels: String?

        @Option(help: ArgumentHelp("The caption each label is put into, at {} (default \"This is a photo of a {}\"; \"a drawing of a {}\" for the toy).", valueName: "T"))
        var template: String?

        @Option(help: "Labels shown before and after (one image).")
        var top = 5

        @OptionGroup var styleOptions: AttackStyleOptions

        @Option(help: ArgumentHelp("Batch: attack only shard K of N (K from 0), e.g. 0/4.", valueName: "K/N"))
        var shard: String?

        @Option(help: "Batch: images per forward pass.")
        var batchSize = 16

        @Option(name: .shortAndLong, help: ArgumentHelp("One image: the attacked PNG; a batch: the table as CSV.", valueName: "FILE"))
        var output: String?

        @Option(name: .customLong("run"), help: ArgumentHelp("The run folder (default <runs>/attack-<image>-<text> or attack-batch-<dir>).", valueName: "DIR"))
        var runFolder: String?

        @OptionGroup var runsOption: RunsOption
        @OptionGroup var json: JSONOption

        func validate() throws {
            if (image == nil) == dir.isEmpty { throw CommandFailure("give --image F --text T, or --dir D with --pairs or --sweep") }
            if image != nil {
                if text == nil { throw CommandFailure("--image needs --text T (the text to write)") }
                if pairs != nil || sweep { throw CommandFailure("--pairs and --sweep are for a batch (--dir)") }
            } else {
                if (pairs == nil) == !sweep { throw CommandFailure("a batch needs --pairs label=text,... or --sweep (not both)") }
                if text != nil { throw CommandFailure("--text is for one image; a batch takes --pairs label=text") }
            }
            if top < 1 { throw CommandFailure("--top must be at least 1, got \(top)") }
            if batchSize < 1 { throw CommandFailure("--batch-size must be at least 1, got \(batchSize)") }
            if let template, !template.contains("{}") { throw CommandFailure("--template must contain {} where the label goes, got '\(template)'") }
        }

        /// `--labels` read; nil: the profile's.
        func givenLabels() throws -> [String]? {
            try labels.map(Classify.readLabels)
        }

        var workbench: Workbench { Workbench(model: modelOptions.model, runs: runsOption.directory) }

        func run() throws {
            let style = try styleOptions.style(modelOptions.profile)
            if let image, let text { try single(image: image, text: text, style: style) } else { try batch(style: style) }
        }

        func single(image: String, text: String, style: AttackStyle) throws {
            guard FileManager.default.isReadableFile(atPath: image) else { throw CommandFailure("--image \(image): no such file") }
            let job = workbench.attack(image: image, text: text, style: style, labels: try givenLabels(), template: template,
                                       top: top, font: styleOptions.font, folder: runFolder)
            let result = try failing { try runCommandJob(job, token: InterruptCancels.installedToken()) }
            if let output, let attacked = result.image { try copyFile(attacked, to: output) }
            if json.json { return try Output.printJSON(result) }
            if labels == nil, template == nil { modelOptions.noteImplicitModel(.attack, json: false) }
            func rows(_ scores: [LabelScore]) -> [[String]] {
                scores.map { s in
                    [s.label, String(format: "%.1f%%", 100 * s.probability)] + (s.delta.map { [String(format: "%+.1f", 100 * $0)] } ?? [])
                }
            }
            print("before")
            print(Output.table([["label", "p"]] + rows(result.before), rightAligned: [1]))
            print("after \"\(text)\"")
            print(Output.table([["label", "p", "change"]] + rows(result.after), rightAligned: [1, 2]))
            print(String(format: "coverage %.2f%% (changed channel values / H*W), changed pixels %.2f%%",
                         100 * result.coverage, 100 * result.changedPixels))
            print("attacked image: \(output ?? result.image ?? "-")")
        }

        func batch(style: AttackStyle) throws {
            let labels = try givenLabels() ?? modelOptions.profile.attackLabels(batch: true)
            let attacks = try failing {
                try sweep ? labels.map { AttackPair(target: $0, text: $0) }
                    : pairs!.split(separator: ",").map { try AttackPair(parsing: String($0)) }
            }
            for folder in dir {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CommandFailure("--dir \(folder): no such folder")
                }
            }
            let shard = try failing { try self.shard.map(Shard.init(parsing:)) }
            let job = workbench.attackBatch(folders: dir, attacks: attacks, style: style, labels: labels, template: template,
                                            font: styleOptions.font, shard: shard, batchSize: batchSize, folder: runFolder)
            let folder = job.output
            let result: AttackBatchJob.Result
            do {
                result = try runCommandJob(job, token: InterruptCancels.installedToken(),
                                           interrupted: "attack interrupted; the images so far are in \(folder): run the same command to continue")
            } catch {
                throw CommandFailure(error, renaming: ["output": "--run"])
            }
            if self.labels == nil, template == nil { modelOptions.noteImplicitModel(.attackBatch, json: json.json) }
            try Attack.report(result, csv: output, json: json.json)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the run folders of a sharded attack batch into one table.")

        @Argument(help: ArgumentHelp("Run folders of one batch's shards.", valueName: "RUN"))
        var runs: [String] = []

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the table as CSV.", valueName: "FILE"))
        var output: String?

        @OptionGroup var json: JSONOption

        func validate() throws {
            if runs.isEmpty { throw CommandFailure("give the run folders of the shards") }
        }

        func run() throws {
            try Attack.report(try failing { try AttackBatchJob.merge(runs: runs) }, csv: output, json: json.json)
        }
    }

    static func report(_ result: AttackBatchJob.Result, csv: String?, json: Bool) throws {
        if let csv {
            do { try AttackBatchJob.csv(result).write(toFile: csv, atomically: true, encoding: .utf8) } catch {
                throw CommandFailure("-o \(csv): cannot write it")
            }
        }
        if json { return try Output.printJSON(result) }
        print(Output.table([["target", "text", "coverage", "changed px", "success"]] + result.attacks.map {
            [$0.target, "\"\($0.text)\"", String(format: "%.2f%%", 100 * $0.coverage), String(format: "%.2f%%", 100 * $0.changedPixels),
             String(format: "%.2f%%", 100 * $0.successRate)]
        }, rightAligned: [2, 3, 4]))
        print("\(result.images) images" + (result.skipped.isEmpty ? "" : ", \(result.skipped.count) skipped")
              + (result.run.map { "; outcomes in \($0)" } ?? ""))
    }
}

struct Stroop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Stroop test: colour words written in other colours; does CLIP read the word or the ink?",
        discussion: """
            The paper's images exactly: a 400x200 white canvas, each of 8 colour words centred in each \
            of the 8 inks (red 255,0,0; blue 0,0,255; green 0,255,0; yellow 255,255,0; orange \
            255,165,0; purple 128,0,128; black; pink 255,192,203), plus neutral words in each ink; \
            prompt "My favorite word, written in the color {}"; top-3 per image. Reports how often the \
            ink is named and how often the word wins on the conflicting images, and the ink accuracy \
            on neutral words. --toy draws the toy world's colours (but white) at its 96x96 resolution with \
            its own prompt (the default for the toy model). -o draws the figure: each image beside \
            its top-3 probabilities.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "The toy world's preset (its colours, resolution and prompt); default for the toy model.")
    var toy = false

    @Flag(help: "The paper's preset even for the toy model.")
    var paper = false

    @Option(help: ArgumentHelp("Neutral (non-colour) words, comma-separated.", valueName: "W,..."))
    var neutral: String?

    @Option(help: ArgumentHelp("Em size of the word in pixels (default 72; 20 for the toy preset).", valueName: "PX"))
    var fontSize: Double?

    @Option(help: ArgumentHelp("A TrueType/OpenType font file (default DejaVu Sans).", valueName: "FILE"))
    var font: String?

    @Option(help: "Labels per image.")
    var top = 3

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the figure here too.", valueName: "FILE"))
    var output: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("The run folder (default <runs>/stroop-<model>).", valueName: "DIR"))
    var runFolder: String?

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

    func validate() throws {
        if toy && paper { throw CommandFailure("--toy and --paper: choose one preset") }
        try checkFont(font)
        if top < 1 { throw CommandFailure("--top must be at least 1, got \(top)") }
    }

    func run() throws {
        let preset: ModelProfile.StroopPreset? = toy ? .toy : paper ? .paper : nil
        let job = try failing {
            try Workbench(model: modelOptions.model, runs: runsOption.directory).stroop(preset, adjust: { settings in
                if let neutral { settings.neutralWords = neutral.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
                if let fontSize { settings.fontSize = fontSize }
            }, top: top, font: font, folder: runFolder)
        }
        let result = try failing { try runCommandJob(job, token: InterruptCancels.installedToken()) }
        if let output, let figure = result.figure { try copyFile(figure, to: output) }
        if json.json { return try Output.printJSON(result) }
        if preset == nil { modelOptions.noteImplicitModel(.stroop, json: false) }
        print(Output.table([["word", "ink", "top"]] + result.images.map { item in
            [item.word, item.ink, item.top.map { String(format: "%@ %.0f%%", $0.label, 100 * $0.probability) }.joined(separator: ", ")]
        }))
        print(StroopJob.summary(of: result))
        print("figure: \(output ?? result.figure ?? "-")")
    }
}

/// Refuses a `--font` that cannot be opened before any work, naming the file (the jobs would
/// too, but only after loading the model).
func checkFont(_ path: String?) throws {
    if let path { _ = try failing { try Font(path: path) } }
}

/// Copies a run folder's file to where `-o` asked for it (replacing what is there, making its folder).
func copyFile(_ source: String, to output: String) throws {
    do {
        let folder = (output as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
        try FileManager.default.copyItem(atPath: source, toPath: output)
    } catch { throw CommandFailure("-o \(output): cannot write it") }
}
