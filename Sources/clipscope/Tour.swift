import ArgumentParser
import Foundation
import Imaging
import Index
import Terminal
import ToyWorld

/// What `make run` opens until the TUI exists: the toy world's phenomena, shown in the terminal.
struct Tour: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A guided tour of the toy world: its report card, a multimodal neuron, a typographic attack.",
        discussion: """
            Uses the embedded toy CLIP unless --model says otherwise. On first use it builds \
            the demo: a gallery of generated scenes (shapes, words, both, attacks) and an \
            activation index of it, in $CLIPSCOPE_DEMO or ~/.cache/clipscope/demo (under a \
            minute; later runs reuse it). Pictures are drawn inline (sixel or Unicode \
            blocks); with --graphics none, or when stdout is not a terminal (and --graphics is auto), they are \
            written as PNG files into the demo folder instead.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var graphicsOptions: GraphicsOptions

    @Option(help: ArgumentHelp("Where the demo gallery and index live (default $CLIPSCOPE_DEMO or ~/.cache/clipscope/demo).",
                               valueName: "DIR"))
    var demo: String?

    func run() throws {
        let mode = graphicsOptions.graphics
        // Pictures into a pipe would be noise: without a terminal, auto means files.
        let capabilities = TerminalQuery.detect(mode: mode == .auto && isatty(STDOUT_FILENO) != 1 ? .none : mode)
        let demo = ToyDemo(directory: self.demo ?? ToyDemo.defaultDirectory())
        let model = try modelOptions.load()
        let font = try Font.standard()

        heading("clipscope: a tour of the toy world")
        print("""
            The model is a small ResNet CLIP (\(model.config.neuronCount) neurons in its last conv layer) that clipscope \
            trained itself on generated scenes of shapes, colours and written words. At toy scale it looks \
            for what the paper found in CLIP: neurons that answer to a drawn star and to the word "star", \
            typographic attacks, a Stroop effect, a modality gap. The report card says how much of it \
            this model shows.
            """)

        heading("1. The report card (on freshly generated held-out scenes)")
        let card = try ToyEvaluator(model: model).evaluate()
        print(ToyEval.lines(card).joined(separator: "\n"))

        heading("2. A concept neuron's top images in the demo gallery")
        try buildDemo(demo, model: modelOptions.model)
        let index = try ActivationIndex(path: demo.indexPath, readOnly: true)
        let scan = try index.scan()
        guard let best = card.conceptNeurons.strongest else {
            print("This model has no concept neuron by the card's measure; nothing to show here.")
            return
        }
        let neuron = best.neuron
        let top = try index.ranking(scan: scan, neuron: neuron, k: 12)
        var tiles: [Montage.Tile] = []
        for (entry, value) in top {
            guard let image = try? Image.load(path: entry.path) else { continue }
            let name = URL(fileURLWithPath: entry.path).deletingPathExtension().lastPathComponent
            let shown = name.split(separator: "-", maxSplits: 1).last.map(String.init) ?? name
            tiles.append(Montage.Tile(image, caption: "\(shown)\n\(String(format: "%.2f", value))"))
        }
        let concept = best.concept
        print("Neuron \(neuron) (\(concept) in the card) over the \(scan.imageCount) scenes of \(demo.galleryPath):")
        try show(Montage(columns: 6, cellSize: 96, gap: 6, title: "neuron \(neuron): top 12").render(tiles, font: font),
                 name: "tour-neuron-\(neuron).png", demo: demo, capabilities: capabilities)
        print("Browse more: clipscope top --index \(demo.indexPath) --neuron \(neuron) --k 20")

        heading("3. A typographic attack")
        let attack = try ToyTypographicAttack.demonstrate(model: model)
        func describe(_ ranked: [(label: String, probability: Double)]) -> String {
            ranked.map { "\($0.label) \(String(format: "%.0f%%", $0.probability * 100))" }.joined(separator: ", ")
        }
        let pair = Montage(columns: 2, cellSize: 192, gap: 12, title: "before / after").render([
            Montage.Tile(attack.clean, caption: "before: \(describe(Array(attack.before.prefix(1))))"),
            Montage.Tile(attack.attacked, caption: "after: \(describe(Array(attack.after.prefix(1))))"),
        ], font: font)
        try show(pair, name: "tour-attack.png", demo: demo, capabilities: capabilities)
        print("A \(attack.shape.rawValue) alone:              \(describe(attack.before))")
        print("The same with \"\(attack.written.rawValue)\" written on it: \(describe(attack.after))")
        print(attack.flipped
              ? "Writing the word turned the zero-shot answer into \"\(attack.written.rawValue)\" (try \(attack.tries) of the demo's scenes; the card's rate over many is above)."
              : "The written word did not win here (\(attack.tries) tries); the card's rate over many scenes is above.")

        heading("Next")
        print("""
              clipscope toy eval                      the report card (--json for scripts)
              clipscope top --index \(demo.indexPath) --neuron N
              clipscope classify --labels circle,star,moon IMAGE
              clipscope toy train -o my-toy           train your own (about 2 hours; --quick: 17 min)
              clipscope --help                        everything else
            """)
    }

    func heading(_ text: String) {
        // Swift's own print: the bold is ours, and the headings are the tour's own words.
        Swift.print(isatty(STDOUT_FILENO) == 1 ? "\n\u{1B}[1m\(text)\u{1B}[0m" : "\n\(text)")
    }

    /// Builds what is missing of the demo, with progress.
    func buildDemo(_ demo: ToyDemo, model: String) throws {
        let token = InterruptCancels.installedToken()
        let interrupted = "interrupted; what was built so far is kept in \(demo.directory): run again to continue"
        if !demo.galleryIsComplete {
            print("First use: generating \(ToyDemo.galleryCount) scenes into \(demo.galleryPath) ...")
            _ = try runCommandJob(demo.galleryJob, token: token, interrupted: interrupted)
        }
        let result = try runCommandJob(demo.scanJob(model: model), token: token, interrupted: interrupted)
        if result.scanned > 0 { print(ScanJob.summary(of: result)) }
    }

    /// Draws a picture inline, or writes it into the demo folder when there is no terminal graphics.
    func show(_ picture: Image, name: String, demo: ToyDemo, capabilities: TerminalCapabilities) throws {
        if capabilities.graphics == .none {
            let path = (demo.directory as NSString).appendingPathComponent(name)
            try picture.writePNG(path: path)
            print("(picture written to \(path))")
            return
        }
        let columns = min(capabilities.columns, 100)
        let rows = max(8, capabilities.rows - 4)
        var bytes = try TerminalImage.render(picture, columns: columns, rows: rows, capabilities: capabilities)
        bytes += Array("\n".utf8)
        try TerminalOutput.write(bytes)
    }
}
