import ArgumentParser
import CLIP
import Experiments
import Foundation
import Index
import Jobs
import Support
import Workbench

struct MaxText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maxtext",
        abstract: "Maximal text: the texts CLIP finds closest to an image, to a neuron's top images, or to a visualization.",
        discussion: """
            The target is the normalized mean embedding of the images (a feature visualization's \
            neuron-N.png is an image too). Free token embeddings start from --start, SGD (lr 2) moves \
            the word slots for --steps a epoch, then each slot snaps to its nearest token, the text is \
            re-tokenized and the next epoch starts from it; every distinct text is ranked by its own \
            cosine to the target. --vocabulary restricts the tokens to those of a word list (the toy \
            model uses its own words unless given one). Run the same command again to continue.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: ArgumentHelp("Images whose mean embedding is the target.", valueName: "IMAGE"))
    var images: [String] = []

    @Option(help: ArgumentHelp("An index whose neuron's top images are the target (with --neuron).", valueName: "PATH"))
    var index: String?

    @Option(parsing: .unconditional, help: "The neuron of --index.")
    var neuron: Int?

    @Option(help: "How many of the neuron's top images.")
    var k = 10

    @Option(help: "Epochs (a snap to tokens after each).")
    var epochs = 20

    @Option(help: "SGD steps per epoch.")
    var steps = 100

    @Option(help: "SGD's learning rate.")
    var learningRate: Float = 2

    @Option(help: "The text the first epoch starts from.")
    var start = "This is a sentence"

    @Option(help: "Tokens kept between start and end after re-tokenizing.")
    var maxTokens = 6

    @Option(help: ArgumentHelp("A file of words, one per line: texts use only their tokens.", valueName: "FILE"))
    var vocabulary: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("The run folder (default: <runs>/maxtext-<neuron or image>).", valueName: "DIR"))
    var output: String?

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

    func settings() -> MaximalTextSettings {
        var settings = MaximalTextSettings()
        settings.epochs = epochs
        settings.stepsPerEpoch = steps
        settings.learningRate = learningRate
        settings.start = start
        settings.maxTokens = maxTokens
        return settings
    }

    func validate() throws {
        if images.isEmpty == (index == nil) { throw CommandFailure("give IMAGE... or --index I --neuron N") }
        if index != nil, neuron == nil { throw CommandFailure("--index needs --neuron N") }
        try checkNeuron(neuron)
        if k < 1 { throw CommandFailure("--k must be at least 1, got \(k)") }
        do { try settings().validate() } catch let error as InvalidParameter { throw CommandFailure(error) }
    }

    func run() throws {
        let target: Workbench.MaxTextTarget
        if let index, let neuron {
            let (opened, scan) = try failing {
                let opened = try ActivationIndex(path: index, readOnly: true)
                return (opened, try opened.scan(nil))
            }
            let model = try CLIPModel.shared(model: modelOptions.model)
            let identity = ComputeExecutor.shared.run(.interactive) { model.identity }
            if identity.fingerprint != scan.model.fingerprint {
                throw CommandFailure("--index \(index) was scanned with model \(scan.model.name) (\(scan.model.fingerprint)), not with --model \(modelOptions.model) (\(identity.fingerprint))")
            }
            guard neuron >= 0, neuron < scan.model.neurons else {
                throw CommandFailure("--neuron \(neuron) is out of range: the index has neurons 0-\(scan.model.neurons - 1)")
            }
            target = .neuron(neuron, topImages: try Workbench.topImages(index: opened, scan: scan, neuron: neuron, k: k))
        } else {
            target = .images(images)
        }
        var words: [String]?
        if let vocabulary {
            guard let text = try? String(contentsOfFile: vocabulary, encoding: .utf8) else {
                throw CommandFailure("--vocabulary \(vocabulary): cannot read it")
            }
            words = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if words!.isEmpty { throw CommandFailure("--vocabulary \(vocabulary): no words") }
        }
        let job = Workbench(model: modelOptions.model, runs: runsOption.directory)
            .maxText(target, settings: settings(), vocabulary: words, folder: output)
        let result = try runCommandJob(job, token: InterruptCancels.installedToken(), interrupted:
            "maxtext interrupted; the epochs so far are in \(job.output): run the same command to continue")
        if json.json {
            try Output.printJSON(result)
        } else {
            if vocabulary == nil { modelOptions.noteImplicitModel(.maxText, json: false) }
            print(Output.table([["cosine", "text"]] + result.texts.prefix(10).map { [String(format: "%.3f", $0.cosine), $0.text] },
                               rightAligned: [0]))
        }
    }
}
