import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
@testable import TUI
import Terminal
import ToyWorld
import XCTest

/// The state and the panes without a terminal: keys in, effects and frames out.
final class AppStateTests: XCTestCase {
    func catalog(neurons: Int = 40) -> NeuronCatalog { sampleCatalog(neurons: neurons) }

    func state(rows: Int = 30, columns: Int = 100) -> AppState {
        var state = AppState(rows: rows, columns: columns, modelName: "toy", graphics: .blocks)
        _ = state.apply(.catalogLoaded(catalog()))
        return state
    }

    /// Without an index the list says why (a bad --index, a model without a demo), not that a demo is
    /// being built; the demo's line shows only while it is; escapes in the message are shown, not obeyed.
    func testTheNeuronListSaysWhyNoIndexIsOpen() {
        func screen(_ events: [AppEvent]) -> String {
            var state = AppState(rows: 20, columns: 100, modelName: "RN50", graphics: .blocks)
            for event in events { _ = state.apply(event) }
            let canvas = TextCanvas(rows: 20, columns: 100)
            _ = Panes.draw(state, on: canvas)
            return canvas.text
        }
        let opening = screen([])
        XCTAssertTrue(opening.contains("Opening the index (opening) ..."), opening)
        XCTAssertFalse(opening.contains("Building the demo"), opening)

        let failed = screen([.catalogFailed("/x/\u{1B}[2Jbad.index: no such index")])
        XCTAssertTrue(failed.contains("No index is open: /x/^[[2Jbad.index: no such index"), failed)
        XCTAssertTrue(failed.contains(":scan DIR"), failed)
        XCTAssertFalse(failed.contains("Building the demo"), failed)
        XCTAssertFalse(failed.unicodeScalars.contains { $0.value == 0x1B }, failed)

        let building = screen([.demoBuilding])
        XCTAssertTrue(building.contains("Building the demo runs as jobs"), building)
        XCTAssertFalse(building.contains("No index is open"), building)
    }

    func testConceptNeuronsComeFirstAndFilter() {
        var catalog = self.catalog()
        catalog.rows[5].concept = "star"
        catalog.rows[2].concept = "moon"
        var state = AppState(rows: 30, columns: 100, modelName: "toy", graphics: .blocks)
        _ = state.apply(.catalogLoaded(catalog))
        XCTAssertEqual(state.sort, .concept, "a catalog with concept neurons opens with them first")
        XCTAssertEqual(state.visibleRows.prefix(3).map(\.neuron), [2, 5, 0], "by concept, then the rest by id")
        _ = state.apply(.key(.character(":")))
        for character in "filter concepts" { _ = state.apply(.key(.character(character))) }
        _ = state.apply(.key(.enter))
        XCTAssertEqual(state.visibleRows.map(\.neuron), [2, 5])
        let canvas = TextCanvas(rows: 30, columns: 100)
        _ = Panes.draw(state, on: canvas)
        XCTAssertTrue((0..<30).contains { canvas.line($0).contains("[star neuron]") }, "the list marks them")
        // A later catalog (a rescan) keeps the order the user chose.
        _ = state.apply(.key(.character("o")))
        XCTAssertEqual(state.sort, .id)
        _ = state.apply(.catalogLoaded(catalog))
        XCTAssertEqual(state.sort, .id)
        // Without concept neurons the list opens by id.
        XCTAssertEqual(self.state().sort, .id)
    }

    func testMovingOpeningAndJumpingAskForCards() {
        var state = state()
        _ = state.apply(.key(.down))
        _ = state.apply(.key(.character("j")))
        XCTAssertEqual(state.selectedRow?.neuron, 2)
        XCTAssertEqual(state.apply(.key(.enter)), [.loadCard(2)])
        XCTAssertEqual(state.screen, .card)
        _ = state.apply(.key(.character(":")))
        for c in "17" { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.apply(.key(.enter)), [.loadCard(17)])
        XCTAssertEqual(state.cardNeuron, 17)
        _ = state.apply(.key(.character(":")))
        for c in "400" { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.apply(.key(.enter)), [], "no such neuron")
        XCTAssertEqual(state.message?.isError, true)
    }

    func testSearchFiltersLiveAndRanksByMeaningOnceTheModelAnswers() {
        var state = state()
        _ = state.apply(.key(.character("/")))
        for c in "word 1" { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.visibleRows.map(\.neuron), [12, 15, 18], "labels containing the text")
        XCTAssertEqual(state.apply(.key(.enter)), [], "no ranking while the model loads")
        _ = state.apply(.modelLoaded(name: "toy", neurons: 40))
        _ = state.apply(.key(.character("/")))
        XCTAssertEqual(state.apply(.key(.enter)), [.searchByMeaning("word 1")])
        _ = state.apply(.searchResults(query: "word 1", neurons: [(5, 0.9), (30, 0.8)]))
        XCTAssertEqual(state.visibleRows.prefix(2).map(\.neuron), [5, 30])
        _ = state.apply(.key(.escape))
        XCTAssertEqual(state.visibleRows.count, 40, "Esc clears the search")
    }

    func testTheListFollowsEveryChangeOfItsInputsAndACopyKeepsItsOwnRows() {
        var state = state()
        _ = state.apply(.key(.character("/")))
        for c in "WORD 1 " { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.visibleRows.map(\.neuron), [12, 15, 18], "trimmed and lowercased like the labels")
        let before = state
        // A label typed in the card reaches the filtered list at once.
        _ = state.apply(.key(.escape))
        state.catalog!.rows[4].label = "word 19"
        state.query = "word 1"
        XCTAssertEqual(state.visibleRows.map(\.neuron), [4, 12, 15, 18])
        state.sort = .top
        XCTAssertEqual(state.visibleRows.map(\.neuron), [12, 4, 18, 15], "by top activation, then id")
        state.filter = .starred
        XCTAssertEqual(state.visibleRows.map(\.neuron), [])
        XCTAssertEqual(before.visibleRows.map(\.neuron), [12, 15, 18], "the copy still answers for its own inputs")
    }

    func testAPasteOfThousandsOfCharactersKeepsTheInputLinesEndInView() {
        var state = state(rows: 24, columns: 80)
        _ = state.apply(.key(.character("/")))
        let pasted = String(repeating: "a photo of ", count: 455) + "the end"
        for c in pasted { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.query, pasted)
        XCTAssertTrue(state.visibleRows.isEmpty)
        let canvas = TextCanvas(rows: 24, columns: 80)
        _ = Panes.draw(state, on: canvas)
        XCTAssertTrue(canvas.line(23).hasSuffix("of the end█"), canvas.line(23))
        XCTAssertTrue(canvas.line(23).hasPrefix("…"), canvas.line(23))
        XCTAssertTrue(canvas.text.contains("0 of 40 · sort id · all · /a photo of a photo of a…"), canvas.text)
        _ = state.apply(.key(.control("u")))
        XCTAssertEqual(state.visibleRows.count, 40)
    }

    func testEscOnTheNeuronListNeverQuitsButQStill() {
        var state = state()
        let info = JobInfo(id: UUID(), kind: "scan", parameters: Data("{}".utf8), unit: "images")
        for jobsRunning in [false, true] {
            if jobsRunning { _ = state.apply(.job(info.id, .started(info))) }
            XCTAssertEqual(state.apply(.key(.escape)), [], "jobs running: \(jobsRunning)")
            XCTAssertFalse(state.quitting)
            XCTAssertNil(state.input, "nothing to confirm: Esc does not ask to quit either")
            XCTAssertEqual(state.screen, .neurons)
            XCTAssertEqual(state.message?.text, "q quits")
        }
        _ = state.apply(.job(info.id, .finished(summary: "", result: Data())))
        XCTAssertEqual(state.apply(.key(.character("q"))), [.quit])
    }

    func testALabelOrNoteTooLongIsRefusedNamingTheLimitAndStaysOpenToShorten() {
        var state = state()
        _ = state.apply(.key(.character("r")))
        _ = state.apply(.key(.control("u")))
        for _ in 0...NeuronLabel.maximumLabelLength { _ = state.apply(.key(.character("x"))) }
        XCTAssertEqual(state.apply(.key(.enter)), [], "nothing saved")
        XCTAssertEqual(state.message?.text, "a label is at most \(NeuronLabel.maximumLabelLength) characters; this one has \(NeuronLabel.maximumLabelLength + 1)")
        XCTAssertEqual(state.message?.isError, true)
        XCTAssertEqual(state.input, .label(neuron: 0, text: String(repeating: "x", count: NeuronLabel.maximumLabelLength + 1)))
        _ = state.apply(.key(.backspace))
        let label = String(repeating: "x", count: NeuronLabel.maximumLabelLength)
        XCTAssertEqual(state.apply(.key(.enter)), [.saveLabel(neuron: 0, label: label, note: nil)], "the limit itself is kept")

        _ = state.apply(.key(.character("n")))
        for _ in 0...NeuronLabel.maximumNoteLength { _ = state.apply(.key(.character("y"))) }
        XCTAssertEqual(state.apply(.key(.enter)), [])
        XCTAssertEqual(state.message?.text, "a note is at most \(NeuronLabel.maximumNoteLength) characters; this one has \(NeuronLabel.maximumNoteLength + 1)")
        XCTAssertNotNil(state.input)
    }

    func testEditingALabelSavesItAndQuittingWithJobsAsksFirst() {
        var state = state()
        _ = state.apply(.key(.character("r")))
        _ = state.apply(.key(.control("u")))
        for c in "stripes" { _ = state.apply(.key(.character(c))) }
        XCTAssertEqual(state.apply(.key(.enter)), [.saveLabel(neuron: 0, label: "stripes", note: nil)])
        XCTAssertEqual(state.selectedRow?.label, "stripes")
        XCTAssertEqual(state.apply(.key(.character("s"))), [.setStar(neuron: 0, starred: true)])

        let info = JobInfo(id: UUID(), kind: "scan", parameters: Data("{}".utf8), unit: "images")
        _ = state.apply(.job(info.id, .started(info)))
        XCTAssertEqual(state.apply(.key(.character("q"))), [])
        XCTAssertEqual(state.input, .confirmQuit)
        XCTAssertEqual(state.apply(.key(.character("n"))), [])
        XCTAssertFalse(state.quitting)
        _ = state.apply(.key(.character("q")))
        XCTAssertEqual(state.apply(.key(.character("y"))), [.quit])
    }

    func testFramesDrawTheListTheCardAndATooSmallWindow() {
        var state = state(rows: 40, columns: 120)
        let canvas = TextCanvas(rows: 40, columns: 120)
        XCTAssertEqual(Panes.draw(state, on: canvas), [])
        XCTAssertTrue(canvas.line(1).contains("40 of 40"), canvas.text)
        XCTAssertEqual(canvas.style(2, 5), .selected)
        XCTAssertTrue(canvas.line(39).contains("model toy"), canvas.line(39))

        _ = state.apply(.key(.enter))
        let images = (0..<25).map { RankedImage(path: "/img/\($0).png", category: "c\($0 % 3)", value: Float(25 - $0)) }
        let stats = ActivationStats(values: images.map(\.value))
        _ = state.apply(.cardLoaded(CardData(neuron: 0, top: images, bottom: images.reversed(), stats: stats,
                                             categories: [], bins: [])))
        let placements = Panes.draw(state, on: canvas)
        XCTAssertEqual(placements.count, 25, "a 5x5 grid")
        XCTAssertTrue(placements.allSatisfy { $0.rect.bottom <= 39 }, "never the last row")
        XCTAssertEqual(Set(placements.map(\.rect)).count, 25, "no two pictures share a place")
        XCTAssertTrue(canvas.text.contains("25.00 c0"), canvas.text)

        var small = state
        _ = small.apply(.resize(rows: 10, columns: 20))
        let tiny = TextCanvas(rows: 10, columns: 20)
        XCTAssertEqual(Panes.draw(small, on: tiny), [])
        XCTAssertTrue(tiny.text.contains("too small"))
    }

    /// The card's side panel is a chart in every pixel protocol, text bars in half blocks.
    func testTheCardsChartIsAPictureInEveryPixelProtocol() {
        for graphics in [TerminalCapabilities.Graphics.sixel, .kitty, .iterm, .blocks, .none] {
            var state = AppState(rows: 40, columns: 160, modelName: "toy", graphics: graphics)
            _ = state.apply(.catalogLoaded(catalog()))
            _ = state.apply(.key(.enter))
            let images = (0..<4).map { RankedImage(path: "/img/\($0).png", category: "c", value: Float(4 - $0)) }
            _ = state.apply(.cardLoaded(CardData(neuron: 0, top: images, bottom: images, stats: ActivationStats(values: images.map(\.value)),
                                                 categories: [], bins: [])))
            let chart = Panes.draw(state, on: TextCanvas(rows: 40, columns: 160)).contains { $0.source == .cardPanel(neuron: 0) }
            XCTAssertEqual(chart, state.drawsPixels, "\(graphics)")
            XCTAssertEqual(state.drawsPixels, [.sixel, .kitty, .iterm].contains(graphics), "\(graphics)")
        }
    }

    func testTheJobsPaneShowsTheLivePictureBesideTheListOrBelowItOnNarrowWindows() {
        for (rows, columns) in [(40, 120), (24, 80)] {
            var state = state(rows: rows, columns: columns)
            let info = JobInfo(id: UUID(), kind: "visualize", parameters: Data("{}".utf8), unit: "steps")
            _ = state.apply(.job(info.id, .started(info)))
            _ = state.apply(.job(info.id, .preview(JobPreview(step: 10, width: 2, height: 2, rgb: [UInt8](repeating: 90, count: 12)))))
            state.show(.jobs)
            let canvas = TextCanvas(rows: rows, columns: columns)
            let placements = Panes.draw(state, on: canvas)
            XCTAssertEqual(placements.map(\.source), [.preview(info.id, step: 10)], "\(columns) columns")
            let rect = try! XCTUnwrap(placements.first?.rect)
            XCTAssertTrue(rect.top + rect.height <= rows - 1 && rect.left + rect.width <= columns, "inside, never the last row: \(rect)")
            XCTAssertGreaterThanOrEqual(rect.height, 8, "\(rect)")
            let text = (0..<rows).map { canvas.line($0) }
            let jobLine = try! XCTUnwrap(text.firstIndex { $0.contains("visualize  running") })
            if columns >= 120 {
                XCTAssertGreaterThan(rect.left, 60, "beside the list")
            } else {
                XCTAssertGreaterThan(rect.top, jobLine + 1, "below the job's lines")
                XCTAssertTrue(text[rect.top..<(rect.top + rect.height)].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty },
                              "no text under the picture")
            }
        }
    }

    func testTheSelectedJobsProgressBarStaysVisibleNotReversed() {
        var state = state(rows: 40, columns: 120)
        let info = JobInfo(id: UUID(), kind: "scan", parameters: Data("{}".utf8), unit: "images")
        _ = state.apply(.job(info.id, .started(info)))
        _ = state.apply(.job(info.id, .progress(JobProgress(step: 99, total: 100, rate: 5, eta: 1, elapsed: 20, metrics: []))))
        state.show(.jobs)
        let canvas = TextCanvas(rows: 40, columns: 120)
        _ = Panes.draw(state, on: canvas)
        let row = try! XCTUnwrap((0..<40).first { canvas.line($0).contains("scan  running") }, canvas.text)
        let line = Array(canvas.line(row))
        let open = try! XCTUnwrap(line.firstIndex(of: "["), String(line))
        XCTAssertEqual(canvas.style(row, 0), .selected, "the row is selected")
        XCTAssertEqual(line[open + 1], "█", String(line))
        for column in (open + 1)...(open + 11) {
            XCTAssertEqual(canvas.style(row, column), .accent, "the bar's block at \(column) is not reversed (reversed, it reads as blank)")
        }
    }

    func testTheListMarksVisualizedNeuronsShowsTheSelectedOnesPictureAndOffersAnAtlasOnce() {
        // Below 120 columns the list keeps its one side picture (wider windows: the next test).
        var state = state(rows: 40, columns: 100)
        _ = state.apply(.visualizationsFound([:]))
        XCTAssertTrue(state.message?.text.contains(":atlas") ?? false, "\(String(describing: state.message))")
        state.message = nil
        _ = state.apply(.visualizationsFound([:]))
        XCTAssertNil(state.message, "offered once")
        _ = state.apply(.visualizationsFound([0: "/runs/v/neuron-0.png", 2: "/runs/v/neuron-2.png"]))
        let canvas = TextCanvas(rows: 40, columns: 100)
        var placements = Panes.draw(state, on: canvas)
        XCTAssertEqual(placements.map(\.source), [.file("/runs/v/neuron-0.png")], "the selected neuron's picture")
        XCTAssertTrue(placements[0].rect.left >= 70 && placements[0].rect.right <= 100, "\(placements[0].rect)")
        XCTAssertTrue(canvas.line(2).hasPrefix(" ◆     0"), canvas.line(2))
        XCTAssertTrue(canvas.line(3).hasPrefix("       1"), canvas.line(3))
        _ = state.apply(.key(.down))
        placements = Panes.draw(state, on: canvas)
        XCTAssertEqual(placements, [], "no picture for neuron 1")
        XCTAssertTrue(canvas.text.contains("no visualization"), canvas.text)
        var text = state
        text.graphics = .none
        XCTAssertEqual(Panes.draw(text, on: canvas), [])
    }

    func testTheListShowsTheSelectedNeuronsTopImagesAndAsksForOneAtATime() {
        var state = state(rows: 40, columns: 120)
        // The catalog asked for neuron 0's pictures; keys move on while that is out.
        XCTAssertEqual(state.neurons.previewAsked, 0)
        XCTAssertEqual(state.apply(.key(.character("j"))), [], "one request at a time")
        XCTAssertEqual(state.apply(.key(.character("j"))), [])
        func data(_ neuron: Int, images: Int = 12) -> CardData {
            let top = (0..<images).map { RankedImage(path: "/n\(neuron)/\($0).png", category: "c\($0)", value: Float(20 - $0)) }
            return CardData(neuron: neuron, top: top, bottom: [], stats: ActivationStats(values: [1]), categories: [], bins: [])
        }
        // Neuron 0's answer is stale: not kept, and the newest selection (2) is asked for, not 1.
        XCTAssertEqual(state.apply(.cardLoaded(data(0))), [.loadCard(2)])
        let canvas = TextCanvas(rows: 40, columns: 120)
        XCTAssertEqual(Panes.draw(state, on: canvas), [], "nothing stale while 2 loads")
        XCTAssertTrue(canvas.text.contains("top images of 2 ..."), canvas.text)
        _ = state.apply(.visualizationsFound([2: "/runs/v/neuron-2.png"]))
        XCTAssertEqual(state.apply(.cardLoaded(data(2))), [])
        let placements = Panes.draw(state, on: canvas)
        XCTAssertEqual(placements.map(\.source), [.file("/runs/v/neuron-2.png")] + (0..<9).map { .file("/n2/\($0).png") },
                       "the visualization and the top 9 as a 3x3 grid")
        XCTAssertEqual(Set(placements.map(\.rect)).count, 10, "no two share a place")
        for rect in placements.map(\.rect) {
            XCTAssertTrue(rect.left > 60 && rect.right <= 120 && rect.top >= 2 && rect.bottom <= 39 && rect.height >= 3, "\(rect)")
        }
        XCTAssertTrue(canvas.line(4).hasPrefix(" ◆     2"), "the list keeps the left half: \(canvas.line(4))")
        XCTAssertTrue(canvas.text.contains("20.00 c0"), canvas.text)
        // The next key asks for 3 at once, and 2's pictures go.
        XCTAssertEqual(state.apply(.key(.character("j"))), [.loadCard(3)])
        XCTAssertFalse(Panes.draw(state, on: canvas).contains { $0.source == .file("/n2/0.png") })
        // Opening the card asks for it once; a failed load does not stop the previews.
        XCTAssertEqual(state.apply(.message("neuron 3: broken", isError: true)), [], "not asked again and again")
        XCTAssertEqual(state.apply(.key(.character("j"))), [.loadCard(4)], "moving on asks again")
        XCTAssertNil(state.neurons.previewFailed)
        var narrow = state
        _ = narrow.apply(.resize(rows: 24, columns: 80))
        _ = narrow.apply(.cardLoaded(data(3)))
        XCTAssertTrue(Panes.draw(narrow, on: TextCanvas(rows: 24, columns: 80)).isEmpty, "no previews at 80 columns")
        var none = state
        none.graphics = .none
        XCTAssertEqual(none.apply(.key(.character("j"))), [], "no pictures to load without graphics")
    }

    func testVisualizeTakesTweaksAndATweakedRunGetsItsOwnFolder() {
        var state = state()
        func command(_ text: String) -> [Effect] {
            _ = state.apply(.key(.character(":")))
            for c in text { _ = state.apply(.key(.character(c))) }
            return state.apply(.key(.enter))
        }
        var tweaks = VisualizeTweaks()
        for word in ["steps=300", "scale=0.4", "rotate=45", "decay=1.5", "reduce=max", "lr=0.03", "jitter=0.2"] {
            XCTAssertTrue(tweaks.read(word), word)
        }
        XCTAssertEqual(command("visualize 7 direct steps=300 scale=0.4 rotate=45 decay=1.5 reduce=max lr=0.03 jitter=0.2"),
                       [.visualize(neuron: 7, recipe: .variant(.direct), tweaks: tweaks)])
        let settings = tweaks.applied(to: VisualizationSettings(variant: .direct))
        XCTAssertEqual(settings.transforms, RandomTransforms(scale: 0.4, rotation: 45))
        XCTAssertEqual(settings.reduce, .max)
        XCTAssertEqual(settings.fourierDecay, 1.5)
        XCTAssertEqual(settings.learningRate, 0.03)
        // Only the rotation given: the scale keeps the variant's default.
        var turn = VisualizeTweaks()
        XCTAssertTrue(turn.read("rotate=20"))
        XCTAssertEqual(turn.applied(to: VisualizationSettings(variant: .direct)).transforms, RandomTransforms(scale: 0.1, rotation: 20))
        // The spec's settings keep the plain folder name; any tweak adds a hash of the settings, the same for the same tweak.
        XCTAssertEqual(VisualizeJob.folderName(neurons: [7], settings: VisualizationSettings(variant: .direct)), "visualize-7-direct")
        let tweaked = VisualizeJob.folderName(neurons: [7], settings: settings)
        XCTAssertTrue(tweaked.hasPrefix("visualize-7-direct-") && tweaked.count == "visualize-7-direct-".count + 8, tweaked)
        XCTAssertEqual(tweaked, VisualizeJob.folderName(neurons: [7], settings: tweaks.applied(to: VisualizationSettings(variant: .direct))))
        XCTAssertNotEqual(tweaked, VisualizeJob.folderName(neurons: [7], settings: turn.applied(to: VisualizationSettings(variant: .direct))))
        // v on a card pre-fills the command; the status line lists the fields after the cursor.
        var card = self.state(rows: 30, columns: 160)
        _ = card.apply(.key(.enter))
        _ = card.apply(.key(.character("v")))
        let canvas = TextCanvas(rows: 30, columns: 160)
        _ = Panes.draw(card, on: canvas)
        // The toy model's own recipe; other models the paper's code.
        XCTAssertTrue(canvas.line(29).hasPrefix(":visualize 0 toy█"), canvas.line(29))
        XCTAssertTrue(canvas.line(29).contains("scale= rotate= decay="), canvas.line(29))
        var other = AppState(rows: 30, columns: 160, modelName: "RN50x4", graphics: .blocks)
        _ = other.apply(.catalogLoaded(catalog()))
        _ = other.apply(.key(.enter))
        _ = other.apply(.key(.character("v")))
        XCTAssertEqual(other.input, .command("visualize 0 paper-code steps=1000"))
        XCTAssertEqual(card.apply(.key(.enter)), [.visualize(neuron: 0, recipe: .toy, tweaks: VisualizeTweaks())])
        XCTAssertEqual(VisualizeRecipe(word: "toy")?.settings, ToyVisualization.settings)
        _ = command("visualize 7 direct scale=1.5")
        XCTAssertEqual(state.message?.text, "scale=1.5? must be in 0..<1 (a fraction of the size), got 1.5", "the settings' own range")
        for bad in ["scale=1.5", "rotate=-3", "steps=0", "lr=-1", "reduce=median", "size=64"] {
            XCTAssertEqual(command("visualize 7 direct \(bad)"), [], bad)
            XCTAssertEqual(state.message?.isError, true, bad)
            XCTAssertTrue(state.message?.text.hasPrefix("\(bad)?") ?? false, "\(String(describing: state.message))")
        }
    }

    func testTheAttackLabAsksForEveryChangeAndKeepsOnlyTheNewestAnswer() {
        var state = state()
        _ = state.apply(.modelLoaded(name: "toy", neurons: 40))
        _ = state.apply(.key(.character(":")))
        for character in "attack /tmp" { _ = state.apply(.key(.character(character))) }
        let opened = state.apply(.key(.enter))
        XCTAssertEqual(state.screen, .lab)
        guard case let .rescoreAttack(first)? = opened.first else { return XCTFail("\(opened)") }
        XCTAssertEqual(first.text, "")
        var last: AttackLabRequest?
        for character in "q?:x" {
            let effects = state.apply(.key(.character(character)))
            guard case let .rescoreAttack(request)? = effects.first else { return XCTFail("\(effects)") }
            last = request
        }
        XCTAssertEqual(state.screen, .lab, "q, ? and : are typed, not commands")
        XCTAssertEqual(last?.text, "q?:x")
        XCTAssertEqual(last?.generation, 4)
        _ = state.apply(.key(.right))
        XCTAssertEqual(state.lab?.centerX ?? 0, 0.54, accuracy: 1e-9)
        func answer(_ generation: Int) -> AttackLabResult {
            AttackLabResult(generation: generation, image: Image(width: 4, height: 4, color: .white),
                            comparison: AttackComparison(before: [], after: []), coverage: nil, style: AttackStyle(), size: 20,
                            imageSize: (4, 4), problem: nil)
        }
        _ = state.apply(.attackScored(answer(3)))
        XCTAssertNil(state.lab?.result, "an answer to an older text is dropped")
        _ = state.apply(.attackScored(answer(5)))
        XCTAssertEqual(state.lab?.result?.generation, 5)
        XCTAssertTrue(state.lab?.isCurrent ?? false)
        _ = state.apply(.key(.escape))
        XCTAssertNotEqual(state.screen, .lab)
        // Another image: generations go on growing, so the last image's answers cannot pass for its.
        _ = state.apply(.key(.character(":")))
        for character in "attack /" { _ = state.apply(.key(.character(character))) }
        guard case let .rescoreAttack(reopened)? = state.apply(.key(.enter)).first else { return XCTFail("no request") }
        XCTAssertEqual(reopened.imagePath, "/")
        XCTAssertGreaterThan(reopened.generation, 5)
        _ = state.apply(.attackScored(answer(5)))
        XCTAssertNil(state.lab?.result)
    }

    func testTheLabWorkerHandsOutOnlyTheLastRequest() {
        let worker = AttackLabWorker(debounce: 0.01)
        var starts = 0
        for generation in [3, 4, 9] {
            worker.submit(AttackLabRequest(generation: generation, imagePath: "/a.png", text: "x", centerX: 0.5, centerY: 0.5,
                                           paperPlacement: false, size: nil, fill: "white")) { starts += 1 }
        }
        XCTAssertEqual(starts, 1, "one evaluator thread")
        XCTAssertEqual(worker.next().generation, 9)
        XCTAssertTrue(worker.isStale(4))
        XCTAssertFalse(worker.isStale(9))
    }
}
