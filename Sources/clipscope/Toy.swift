import ArgumentParser
import Foundation
import Imaging
import Index
import Support
import TUI
import ToyWorld

struct Toy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The toy world: a small CLIP trained by clipscope on synthetic scenes.",
        subcommands: [ToyTrain.self, ToyEval.self, ToyPurity.self, ToyMerge.self, ToyGalleryCommand.self])
}

struct ToyTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a toy-world CLIP on freshly generated scenes of shapes, colours and written words.",
        discussion: """
            A reading curriculum first (word-only batches, one scene per distinct word), then \
            the full mix of objects, words and both, with captions de-duplicated per batch. \
            During the first half an auxiliary concept head (a drawn shape and its written \
            name share a class) speeds up reading and seeing shapes; it is not part of the \
            model. After --steps, a web-caption phase of --web-steps: captions name a picture \
            by what it says, as web alt-text does, which is what makes writing override a \
            drawing. AdamW with warm-up and cosine decay (the web phase has its own), a \
            learnable temperature that learns faster than the weights, batch norm in training \
            mode. The embedded toy model merges the towers of two runs of these defaults (web \
            phases of 2000 and 3000 steps; see `toy merge`). Checkpoints go to \
            DIR/checkpoint.safetensors every 100 steps; run the same command again to continue \
            an interrupted run exactly (or a finished one into a web phase). The result is \
            DIR/model.safetensors (float16), usable as --model DIR/model.safetensors.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Where checkpoints and the model go.", valueName: "DIR"))
    var output = "toy-run"

    @Option(help: "Training steps before the web-caption phase (default 5000, or 1000 with --quick).")
    var steps: Int?

    @Option(help: "Seed of the weights and of every generated batch.")
    var seed: UInt64 = 1

    @Option(help: "Scenes per step.")
    var batchSize = 64

    @Option(help: "Steps of the reading curriculum (default a twelfth of the steps).")
    var readingSteps: Int?

    @Flag(help: "A smaller run, 1000 steps and a 200-step web phase (about 17 minutes on 2 cores): colours, some shapes and the modality gap, no reading yet.")
    var quick = false

    @Option(help: ArgumentHelp(
        "Weight of an auxiliary which-concept loss on the image embedding (0: none).",
        discussion: "A drawn shape and its written name share a class; scenes with both carry no label. Not saved with the model."))
    var conceptHeadWeight: Float = 1

    @Option(help: "Steps from the start during which the concept head trains (default half the steps).")
    var conceptHeadSteps: Int?

    @Option(help: ArgumentHelp(
        "Steps of a final web-caption phase after --steps (default two fifths of --steps; 200 with --quick).",
        discussion: "Captions as web alt-text writes them: a picture is named by what it says. Adding it to a finished run continues from its checkpoint."))
    var webSteps: Int?

    @Option(help: "Peak learning rate of the web-caption phase.")
    var webLearningRate: Float = 1e-3

    @Option(help: ArgumentHelp(
        "Pairs per web-phase batch of one non-colour word written in two inks, each captioned with its ink.",
        discussion: "Reading alone cannot tell such a pair apart, so the ink of writing has to be seen."))
    var webInkTwins = 0

    @Option(help: ArgumentHelp(
        "Pairs per web-phase batch of two colour words written in one ink, each named by what it says.",
        discussion: "Their shared ink cannot tell them apart, so a colour word's colour has to be read."))
    var webColourTwins = 0

    @Option(help: ArgumentHelp(
        "Steps of a last stage after the web phase in which only the image tower learns (default 0).",
        discussion: "The text tower and the temperature are locked; the batches are the web phase's. Adding it to a finished run continues from its checkpoint."))
    var lockedTextSteps = 0

    @Option(help: "Peak learning rate of the locked-text stage.")
    var lockedTextLearningRate: Float = 1e-3

    @Option(help: "How many times faster than the weights the temperature learns.")
    var temperatureLearningRateScale: Float = 10

    @Option(help: ArgumentHelp(
        "Start from this model's weights (a file or toy) instead of random ones; only the concept phase runs.",
        valueName: "M"))
    var start: String?

    @Option(help: ArgumentHelp(
        "Steps of a last concept phase (default 0, 1500 with --start): the web phase's batches with only the image tower learning and a read-out of the shapes from the neurons.",
        discussion: "The read-out is a multi-label classifier (a drawn star and the word \"star\" share a label) on the last block's conv3 neurons with non-negative weights and an L1 penalty, so each shape is read from a few neurons that stay quiet for everything else. The network picks the neurons; the read-out is not saved with the model."))
    var conceptSteps: Int?

    @Option(help: "Peak learning rate of the concept phase.")
    var conceptLearningRate: Float = 5e-4

    @Option(help: "Weight of the concept read-out's cross-entropy in the concept phase.")
    var neuronHeadWeight: Float = 3

    @Option(help: "Weight of the L1 penalty on the concept read-out's weights.")
    var neuronHeadL1: Float = 1e-3

    @Option(help: ArgumentHelp(
        "Weight of the concept read-out's concentration penalty: the mean log of each shape's effective number of neurons.",
        discussion: "L1 alone costs the same whether a shape is read from one neuron or from a drawn-shape neuron plus a written-name neuron; this term makes one neuron for both pay."))
    var neuronHeadConcentration: Float = 0

    @Option(help: ArgumentHelp(
        "Weight of keeping the image embeddings where the --start model puts them (mean cosine distance) in the concept phase (default 10 with --start).",
        discussion: "What the embeddings say (zero-shot, attacks, Stroop) stays while the neurons reorganise."))
    var distillation: Float?

    @Option(help: "Steps between checkpoints (a resumed run needs the same value).")
    var checkpointEvery = 100

    @Flag(help: "Print the run's settings (its phases) as JSON and exit without training.")
    var dryRun = false

    @OptionGroup var json: JSONOption

    func validate() throws {
        if let steps, steps < 1 { throw CommandFailure("--steps must be at least 1, got \(steps)") }
        if checkpointEvery < 1 { throw CommandFailure("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        if batchSize < 2 { throw CommandFailure("--batch-size must be at least 2, got \(batchSize)") }
        if let readingSteps, readingSteps < 0 { throw CommandFailure("--reading-steps cannot be negative") }
        if conceptHeadWeight < 0 { throw CommandFailure("--concept-head-weight cannot be negative") }
        if let conceptHeadSteps, conceptHeadSteps < 0 { throw CommandFailure("--concept-head-steps cannot be negative") }
        if let webSteps, webSteps < 0 { throw CommandFailure("--web-steps cannot be negative") }
        if webInkTwins < 0 { throw CommandFailure("--web-ink-twins cannot be negative") }
        if webColourTwins < 0 { throw CommandFailure("--web-colour-twins cannot be negative") }
        if webInkTwins + webColourTwins > batchSize / 2 {
            throw CommandFailure("--web-ink-twins and --web-colour-twins: \(webInkTwins + webColourTwins) pairs do not fit a batch of \(batchSize)")
        }
        if lockedTextSteps < 0 { throw CommandFailure("--locked-text-steps cannot be negative") }
        if !(lockedTextLearningRate > 0) {
            throw CommandFailure("--locked-text-learning-rate must be positive, got \(lockedTextLearningRate)")
        }
        if !(webLearningRate > 0) { throw CommandFailure("--web-learning-rate must be positive, got \(webLearningRate)") }
        if !(temperatureLearningRateScale > 0) {
            throw CommandFailure("--temperature-learning-rate-scale must be positive, got \(temperatureLearningRateScale)")
        }
        if let conceptSteps, conceptSteps < 0 { throw CommandFailure("--concept-steps cannot be negative") }
        if start != nil, conceptSteps == 0 { throw CommandFailure("--start needs --concept-steps of at least 1") }
        if !(conceptLearningRate > 0) { throw CommandFailure("--concept-learning-rate must be positive, got \(conceptLearningRate)") }
        if !(neuronHeadWeight >= 0) { throw CommandFailure("--neuron-head-weight cannot be negative") }
        if !(neuronHeadL1 >= 0) { throw CommandFailure("--neuron-head-l1 cannot be negative") }
        if !(neuronHeadConcentration >= 0) { throw CommandFailure("--neuron-head-concentration cannot be negative") }
        if let distillation, !(distillation >= 0) { throw CommandFailure("--distillation cannot be negative") }
        if (distillation ?? 0) > 0, start == nil { throw CommandFailure("--distillation needs --start (the model whose embeddings to keep)") }
    }

    func run() throws {
        let total = steps ?? (quick ? 1000 : 5000)
        var job = ToyTrainJob.recipe(
            output: output, seed: seed, steps: total, readingSteps: readingSteps ?? total / 12,
            webSteps: webSteps ?? (quick ? 200 : total * 2 / 5), webLearningRate: webLearningRate,
            inkTwins: webInkTwins, colourTwins: webColourTwins,
            lockedTextSteps: lockedTextSteps, lockedTextLearningRate: lockedTextLearningRate)
        job.batchSize = batchSize
        job.checkpointEvery = checkpointEvery
        job.conceptHeadWeight = conceptHeadWeight
        job.conceptHeadSteps = conceptHeadSteps ?? total / 2
        job.temperatureLearningRateScale = temperatureLearningRateScale
        let concepts = ToyTrainJob.Phase(.concepts, steps: conceptSteps ?? (start == nil ? 0 : 1500),
                                         learningRate: conceptLearningRate, warmupSteps: 20)
        if let start {
            // Everything before the concept phase is in the starting model.
            job.phases = [concepts]
            job.start = start
            job.conceptHeadWeight = 0
            job.conceptHeadSteps = 0
        } else if concepts.steps > 0 {
            job.phases.append(concepts)
        }
        if concepts.steps > 0 { job.neuronHead = .init(weight: neuronHeadWeight, l1: neuronHeadL1, concentration: neuronHeadConcentration,
                                                 distillation: distillation ?? (start == nil ? 0 : 10)) }
        if dryRun { return try Output.printJSON(job) }
        let result = try runCommandJob(job, token: InterruptCancels.installedToken(), interrupted:
            "training interrupted; the last checkpoint in \(output) is kept: run the same command to continue")
        if json.json {
            try Output.printJSON(result)
        } else {
            print(ToyTrainJob.summary(of: result))
        }
    }
}

struct ToyEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "The toy model's report card on freshly generated held-out scenes.",
        discussion: """
            Zero-shot shape and colour accuracy on object-only scenes (prompt ensembles over \
            "a {colour} {shape}"), reading (word-only scenes of shape and colour names against \
            "the word '{}'"), typographic attacks (another shape's name written on an object: \
            how often the shape prediction flips to the written name, among objects recognised \
            without the writing), Stroop (colour words in another ink against "my favorite \
            word, written in the color {}": how often the word's colour scores above the ink's, \
            and how often it is the top colour of all; a neutral word's ink accuracy), \
            concept neurons over the demo gallery (per shape, the conv3 neuron whose top 20 \
            show it most often, drawn or written; clean with at least 16, 4 only drawn and 4 \
            only written: see `toy purity`) and the modality \
            gap (nearest-centroid separability of image and caption embeddings, and the \
            centroid distance).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Seed of the held-out scenes.")
    var seed: UInt64 = 2024

    @Option(help: "Scenes per class in each test.")
    var samples = 8

    @OptionGroup var json: JSONOption

    func validate() throws {
        if samples < 1 { throw CommandFailure("--samples must be at least 1, got \(samples)") }
    }

    func run() throws {
        let model = try modelOptions.load()
        let card = try ToyEvaluator(model: model, seed: seed, samples: samples).evaluate()
        if json.json {
            try Output.printJSON(card)
            return
        }
        print(Self.lines(card).joined(separator: "\n"))
    }
}

extension ToyEval {
    /// The report card as aligned text lines.
    static func lines(_ card: ToyReportCard) -> [String] {
        func percent(_ value: Double) -> String { String(format: "%5.1f%%", value * 100) }
        var lines = [
            "shape accuracy         \(percent(card.shapeAccuracy))",
            "colour accuracy        \(percent(card.colourAccuracy))",
            "reading accuracy       \(percent(card.readingAccuracy))",
            "attack flip rate       \(percent(card.attackFlipRate))",
            "Stroop: word beats ink \(percent(card.stroopWordAboveInk))   word is top colour \(percent(card.stroopWordTop1))",
            "neutral ink accuracy   \(percent(card.neutralInkAccuracy))",
            "modality separability  \(percent(card.modalitySeparability))   centroid distance \(String(format: "%.3f", card.centroidDistance))",
        ]
        return lines + ToyPurity.lines(card.conceptNeurons)
    }
}

struct ToyMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "One toy model from two runs: the image tower of one, the text tower of the other.",
        discussion: """
            Every visual weight (batch-norm statistics included) comes from --image-tower; \
            the text transformer, its embeddings, projection and the temperature from \
            --text-tower. Both must be of one architecture. The result is float16 \
            safetensors whose metadata records each tower's training settings. The embedded \
            toy model is made this way (README, "Toy world").
            """)

    @Option(help: ArgumentHelp("The model whose image tower is taken.", valueName: "FILE"))
    var imageTower: String

    @Option(help: ArgumentHelp("The model whose text tower and temperature are taken.", valueName: "FILE"))
    var textTower: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Where the merged model goes.", valueName: "FILE"))
    var output: String

    @Option(help: ArgumentHelp(
        "How much of the image tower comes from --image-tower, the rest from --text-tower's file (0...1).",
        discussion: "Below 1, every visual weight is that mix of the two files' (for a fine-tune of --text-tower's model: part of the way back to its start)."))
    var imageTowerWeight: Float = 1

    func validate() throws {
        if !(0...1).contains(imageTowerWeight) { throw CommandFailure("--image-tower-weight must be in 0...1, got \(imageTowerWeight)") }
    }

    func run() throws {
        for path in [imageTower, textTower] where !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure("\(path): no such file")
        }
        try ToyTowerMerge.merge(imageTower: imageTower, textTower: textTower, output: output, imageTowerWeight: imageTowerWeight)
        print("merged the image tower of \(imageTower) and the text tower of \(textTower) into \(output)")
    }
}

struct ToyGalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Generate a folder of toy-world scenes to scan: shapes, words, both, and typographic attacks.",
        discussion: """
            Each kind of scene goes in its own sub-folder (the category `scan` records), \
            files are named after what they show, and DIR/captions.json maps each file to \
            its caption. Then: clipscope scan --model M DIR.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Where the scenes go.", valueName: "DIR"))
    var output = "toy-gallery"

    @Option(help: "How many scenes.")
    var count = 2000

    @Option(help: "Seed of the scenes.")
    var seed: UInt64 = 7

    @OptionGroup var json: JSONOption

    func validate() throws {
        if count < 1 { throw CommandFailure("--count must be at least 1, got \(count)") }
    }

    func run() throws {
        let result = try runCommandJob(ToyGallery(output: output, count: count, seed: seed), token: InterruptCancels.installedToken())
        if json.json { try Output.printJSON(result) } else { print(ToyGallery.summary(of: result)) }
    }
}

struct ToyPurity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purity",
        abstract: "How cleanly single neurons hold the shape concepts, over the demo gallery or a folder of scenes.",
        discussion: """
            For each of the 12 shapes, the neuron whose top images (conv3, spatial maximum: \
            what `clipscope top` ranks by) show that shape most often, drawn or written. A \
            clean concept neuron has at least 16 of its top 20 showing the concept, at least \
            4 of them only drawn and 4 only written. Without --folder the scenes are the demo \
            gallery's (2400 scenes of seed 7, drawn in memory). A folder's files must be named \
            as the gallery names them (00012-red-star+word-moon.png: a drawn star and the word \
            moon; "star.png" or "word-star.png" also do); other files are skipped and counted. \
            With --folder, the demo gallery's concept neurons are measured over the folder too: \
            do the same neurons hold their shape on other scenes (tools/other_renderer.py draws \
            such a folder)?
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Image files named by what they show, searched recursively.", valueName: "DIR"))
    var folder: String?

    @Option(help: "Seed of the generated gallery (without --folder; the demo's by default).")
    var seed: UInt64 = ToyDemo.gallerySeed

    @Option(help: "Scenes in the generated gallery (without --folder).")
    var count = ToyDemo.galleryCount

    @Flag(help: "Also visualize each shape's neuron (the toy's default visualization) and name the pictures with the toy's zero-shot shape classifier.")
    var visualize = false

    @Option(help: ArgumentHelp("With --visualize: changes to the toy's default visualization, as :visualize takes them (\"steps=256 scale=0.4 rotate=45 reduce=max lr=0.03 jitter=0.2 decay=1.5 seed=10\").", valueName: "WORDS"))
    var tweaks = ""

    @Option(help: ArgumentHelp("With --visualize: a sheet of the pictures, captioned with what the classifier names them (PNG).", valueName: "FILE"))
    var sheet: String?

    @OptionGroup var json: JSONOption

    func validate() throws {
        if count < 20 { throw CommandFailure("--count must be at least 20, got \(count)") }
        if !visualize, sheet != nil || !tweaks.isEmpty { throw CommandFailure("--sheet and --tweaks need --visualize") }
        var parsed = VisualizeTweaks()
        for word in tweaks.split(separator: " ") where !parsed.read(String(word)) {
            throw CommandFailure("--tweaks: '\(word)' is not a setting=value the visualization takes")
        }
    }

    /// The measured purity, with --folder the demo's neurons over the folder, and with
    /// --visualize how the pictures are named.
    struct Report: Encodable {
        var purity: ConceptPurity
        var demoNeurons: [ConceptPurity.Concept]?
        var visualizations: ConceptVisualizations?

        enum CodingKeys: String, CodingKey {
            case purity, visualizations
            case demoNeurons = "demo_neurons"
        }
    }

    func run() throws {
        let model = try modelOptions.load()
        let gallery = ToyGallery(output: "", count: count, seed: seed, resolution: model.config.imageResolution)
        let demo = try ConceptPurity.measure(model: model, scenes: gallery.scenes().map(\.scene.spec))
        var report = Report(purity: demo)
        if let folder {
            let files = try ImageFolders.walk([folder]).files.map(\.path)
            let (values, shown, skipped) = try ConceptPurity.activations(model: model, files: files)
            if !skipped.isEmpty { Output.warn("\(skipped.count) file(s) skipped: their names say no shape or word (first: \(skipped[0]))") }
            guard shown.count >= ConceptPurity.defaultTop else {
                throw CommandFailure("\(folder): \(shown.count) named scene(s), fewer than the top \(ConceptPurity.defaultTop)")
            }
            let neurons = model.config.neuronCount
            report.purity = ConceptPurity(activations: values, neurons: neurons, shown: shown)
            report.demoNeurons = demo.same(neuronsOver: values, neurons: neurons, shown: shown)
        }
        let purity = report.purity
        if visualize {
            var parsed = VisualizeTweaks()
            for word in tweaks.split(separator: " ") { _ = parsed.read(String(word)) }
            let settings = parsed.applied(to: ToyVisualization.settings)
            try settings.validate()
            let (named, pictures) = try ConceptVisualizations.measure(model: model, concepts: demo.concepts, settings: settings) { step in
                if !json.json, step % 64 == 0 || step == settings.steps {
                    FileHandle.standardError.write(Data("\rvisualizing the shapes' neurons: step \(step)/\(settings.steps)".utf8))
                }
            }
            if !json.json { FileHandle.standardError.write(Data("\n".utf8)) }
            report.visualizations = named
            if let sheet {
                let tiles = zip(named.items, pictures).map { item, picture in
                    Montage.Tile(picture, caption: "\(item.neuron) \(item.concept)\n→ \(item.named) \(String(format: "%.0f%%", item.probability * 100))")
                }
                try Montage(columns: 6, cellSize: 128, gap: 8, title: "concept neurons visualized; named by the zero-shot shape classifier")
                    .render(tiles, font: try Font.standard()).writePNG(path: sheet)
            }
        }
        if json.json { return try Output.printJSON(report) }
        print(Self.lines(purity).joined(separator: "\n"))
        if let same = report.demoNeurons {
            print("the demo gallery's concept neurons over \(folder ?? ""): \(same.filter(\.clean).count) of \(same.count) clean")
            print(Self.conceptLines(same, top: purity.top).joined(separator: "\n"))
        }
        if let named = report.visualizations {
            print("visualizations named as their shape  \(named.recognised) of \(named.items.count)")
            for item in named.items {
                print("  \(item.concept.padding(toLength: 8, withPad: " ", startingAt: 0)) neuron \(String(format: "%4d", item.neuron))  named \(item.named) (\(String(format: "%.0f%%", item.probability * 100)))\(item.recognised ? "  ✓" : "")")
            }
        }
    }

    static func lines(_ purity: ConceptPurity) -> [String] {
        var lines = [String(format: "clean concept neurons  %d of %d shapes (>= %d of the top %d, >= %d only drawn and >= %d only written); mean %.1f of %d",
                            purity.cleanConcepts.count, purity.concepts.count, purity.cleanCount, purity.top, purity.minimumEach,
                            purity.minimumEach, purity.meanShowing, purity.top)]
        return lines + conceptLines(purity.concepts, top: purity.top)
    }

    static func conceptLines(_ concepts: [ConceptPurity.Concept], top: Int) -> [String] {
        concepts.map { concept in
            let name = concept.concept.padding(toLength: 8, withPad: " ", startingAt: 0)
            return "  \(name) neuron \(String(format: "%4d", concept.neuron))  \(String(format: "%2d", concept.showing))/\(top)  only drawn \(String(format: "%2d", concept.onlyDrawn))  only written \(String(format: "%2d", concept.onlyWritten))\(concept.clean ? "  clean" : "")"
        }
    }
}
