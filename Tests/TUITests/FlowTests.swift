import Experiments
import Foundation
import Imaging
import Jobs
import Synchronization
@testable import TUI
import ToyWorld
import Workbench
import XCTest

/// Whole flows through the state and a fake backend: keys in, effects out, the backend's
/// answers back in; no model, no threads, no terminal.
final class FlowTests: XCTestCase {
    func state(rows: Int = 30, columns: Int = 120, readable: Set<String> = ["/a.png"]) -> AppState {
        var state = AppState(rows: rows, columns: columns, modelName: "toy", graphics: .blocks,
                             environment: AppEnvironment(isReadableFile: { readable.contains($0) }))
        _ = state.apply(.catalogLoaded(sampleCatalog()))
        _ = state.apply(.modelLoaded(name: "toy", neurons: 40))
        return state
    }

    func testAnInterruptedRunResumesFromTheJobsPaneAndTakesItsPlace() {
        let folder = "/runs/cut"
        var interrupted = JobState(info: JobInfo(id: UUID(), kind: JobKind.toyTrain.rawValue, parameters: Data("{}".utf8), unit: "steps"))
        interrupted.status = .interrupted
        var finished = JobState(info: JobInfo(id: UUID(), kind: JobKind.toyTrain.rawValue, parameters: Data("{}".utf8), unit: "steps"))
        finished.status = .finished
        let resumed = UUID()
        var app = Harness(state: state()) { effect in
            guard case .resumeRun(folder) = effect else { return [] }
            return [.message("toy-train continues in \(folder)", isError: false)] + jobEvents(resumed, kind: JobKind.toyTrain.rawValue)
        }
        app.send(.runsFound([PastRun(folder: folder, state: interrupted, resumable: true),
                             PastRun(folder: "/runs/done", state: finished, resumable: false)]))
        app.command("jobs")
        XCTAssertTrue(app.screen().contains("(R resumes)"), app.screen())
        // R on the finished one: it cannot, and says so.
        app.press(.character("j"), .character("R"))
        XCTAssertEqual(app.backend.takeEffects(), [])
        XCTAssertEqual(app.state.message?.text, "toy-train runs cannot be started again from here")
        // R on the interrupted one: resumed in this session, selected, and its folder's row gives way to it.
        app.press(.character("k"), .character("R"))
        XCTAssertEqual(app.backend.takeEffects(), [.resumeRun(folder: folder)])
        XCTAssertEqual(app.state.jobRows.first?.state.id, resumed)
        XCTAssertEqual(app.state.jobSelection, 0)
        var rewritten = JobState(info: JobInfo(id: resumed, kind: JobKind.toyTrain.rawValue, parameters: Data("{}".utf8), unit: "steps"))
        rewritten.status = .running
        app.send(.runsFound([PastRun(folder: folder, state: rewritten, resumable: false), PastRun(folder: "/runs/done", state: finished, resumable: false)]))
        XCTAssertEqual(app.state.jobRows.map(\.state.id), [resumed, finished.id])
        XCTAssertEqual(app.state.jobRows.first?.folder, folder)
        // Running: R refuses, c cancels (shown as stopping), and a cancelled job runs again with R.
        app.press(.character("R"))
        XCTAssertEqual(app.state.message?.text, "toy-train is still running")
        app.press(.character("x"))
        XCTAssertEqual(app.backend.takeEffects(), [.cancelJob(resumed)])
        XCTAssertTrue(app.screen().contains("toy-train  stopping"), app.screen())
        app.send(.job(resumed, .cancelled))
        app.press(.character("R"))
        XCTAssertEqual(app.backend.takeEffects(), [.resumeJob(resumed)])
    }

    func testAStroopJobThatEndsWhileWatchedOpensItsFigureAndEnterOpensItAgain() {
        let id = UUID()
        var app = Harness(state: state()) { effect in
            guard effect == .stroop else { return [] }
            return jobEvents(id, kind: JobKind.stroop.rawValue, artefacts: [JobArtefact(name: "stroop figure", path: "/runs/stroop-toy/stroop.png"),
                                                                        JobArtefact(name: "numbers", path: "/runs/stroop-toy/stroop.json"),
                                                                        JobArtefact(name: "examples", path: "/runs/stroop-toy/examples.png")],
                             summary: "73.0% of the conflicting images named by their word")
        }
        app.command("stroop")
        XCTAssertEqual(app.backend.takeEffects(), [.stroop])
        XCTAssertEqual(app.state.screen, .figure, "it ended while the jobs pane was shown")
        XCTAssertEqual(app.state.figure?.pictures.map(\.path), ["/runs/stroop-toy/stroop.png", "/runs/stroop-toy/examples.png"])
        XCTAssertTrue(app.screen().contains("stroop: stroop figure  (1/2;"), app.screen())
        XCTAssertTrue(app.screen().contains("of the conflicting images"), app.screen())
        // n/p, j/k and the arrows step through the pictures, as the help says.
        app.press(.character("n"))
        XCTAssertEqual(app.state.figure?.shown, 1)
        app.press(.character("n"))
        XCTAssertEqual(app.state.figure?.shown, 0)
        app.press(.character("k"))
        XCTAssertEqual(app.state.figure?.shown, 1)
        app.press(.escape)
        XCTAssertEqual(app.state.screen, .jobs)
        XCTAssertEqual(app.state.tabOrder, [.neurons, .figure, .jobs, .log])
        app.state.figure = nil
        app.press(.enter)
        XCTAssertEqual(app.state.screen, .figure)
        XCTAssertEqual(app.state.figure?.kind, .stroop)
        XCTAssertEqual(app.backend.takeEffects(), [])
    }

    func testTheLabScoresEachTextKeepsTheNewestAnswerAndSavesOnlyScoredText() {
        let answered = Mutex<[Int]>([])
        var app = Harness(state: state()) { effect in
            guard case let .rescoreAttack(request) = effect else { return [] }
            // Answers only every other request, as a debounced evaluator skips overtaken ones.
            guard request.generation % 2 == 0 || request.text == "ab" else { return [] }
            answered.withLock { $0.append(request.generation) }
            return [.attackScored(AttackLabResult(generation: request.generation, image: Image(width: 4, height: 4, color: .white),
                                                  comparison: AttackComparison(before: [], after: []), coverage: nil,
                                                  style: AttackStyle(), size: 20, imageSize: (4, 4), problem: nil))]
        }
        app.command("attack /missing.png")
        XCTAssertEqual(app.state.message?.text, "/missing.png: no such image")
        XCTAssertNil(app.state.lab)
        app.command("attack /a.png")
        XCTAssertEqual(app.state.screen, .lab)
        app.press(.control("w"))
        XCTAssertEqual(app.state.message?.text, "type an attack text first")
        app.type("a")
        XCTAssertFalse(app.state.lab!.isCurrent, "generation 1 is not answered")
        XCTAssertTrue(app.screen().contains("scoring ..."), app.screen())
        app.press(.control("w"))
        XCTAssertEqual(app.state.message?.text, "wait for the scores of this text")
        app.type("b")
        XCTAssertTrue(app.state.lab!.isCurrent)
        XCTAssertEqual(answered.withLock { $0 }, [0, 2])
        XCTAssertFalse(app.screen().contains("scoring ..."), app.screen())
        XCTAssertTrue(app.screen().contains("^W: save"), "the hints come from the bindings:\n\(app.screen())")
        _ = app.backend.takeEffects()
        app.press(.control("w"))
        XCTAssertEqual(app.backend.takeEffects(), [.saveAttack(imagePath: "/a.png", text: "ab", style: AttackStyle())])
        XCTAssertEqual(app.state.screen, .jobs)
    }

    func testASearchFiltersAsTypedRanksByMeaningWhenTheBackendAnswersAndEscClearsIt() {
        var app = Harness(state: state()) { effect in
            guard case let .searchByMeaning(query) = effect else { return [] }
            return [.searchResults(query: query, neurons: [(neuron: 7, score: 0.9), (neuron: 3, score: 0.5)])]
        }
        app.press(.character("/"))
        app.type("word 1")
        XCTAssertEqual(app.state.visibleRows.map(\.neuron), [12, 15, 18])
        XCTAssertEqual(app.backend.takeEffects(), [], "typing asks nothing of the backend")
        app.press(.enter)
        XCTAssertEqual(app.backend.takeEffects(), [.searchByMeaning("word 1")])
        XCTAssertEqual(app.state.visibleRows.prefix(2).map(\.neuron), [7, 3])
        XCTAssertTrue(app.screen().contains("match"), app.screen())
        XCTAssertEqual(app.state.message?.text, "\"word 1\" ranked by meaning (Esc clears)")
        app.press(.escape)
        XCTAssertEqual(app.state.visibleRows.count, 40)
        XCTAssertEqual(app.state.screen, .neurons)
        // Digits search ids only, without the model.
        app.press(.character("/"))
        app.type("3")
        app.press(.enter)
        XCTAssertEqual(app.backend.takeEffects(), [])
        XCTAssertEqual(app.state.visibleRows.map(\.neuron), [3, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39])
    }

    /// `:atlas`'s range is read as `--neurons` reads one (`NeuronList`), within the scan's neurons.
    func testAtlasRangesAreReadByNeuronList() {
        var app = Harness(state: state())
        app.command("atlas 3-5 steps=7")
        XCTAssertEqual(app.backend.takeEffects(), [.atlas(neurons: 3...5, steps: 7)])
        app.command("atlas 7")
        XCTAssertEqual(app.backend.takeEffects(), [.atlas(neurons: 7...7, steps: AppState.atlasSteps)])
        for refused in ["atlas 30-50", "atlas 5-3", "atlas x"] {
            app.command(refused)
            XCTAssertEqual(app.backend.takeEffects(), [], refused)
            XCTAssertEqual(app.state.message?.isError, true, refused)
        }
    }

    /// The runs listing and the figure pane ask the catalog, as the command line does.
    func testResumableAndFigureKindsComeFromTheJobCatalog() {
        XCTAssertEqual(JobKind.allCases.filter { JobCatalog.resumes(kind: $0.rawValue) }, [.visualize, .dream, .maxText, .attackBatch, .toyTrain])
        var stroop = JobState(info: JobInfo(id: UUID(), kind: JobKind.stroop.rawValue, parameters: Data("{}".utf8), unit: "images"))
        stroop.artefacts = [JobArtefact(name: "numbers", path: "/r/stroop.json"), JobArtefact(name: "figure", path: "/r/stroop.png")]
        XCTAssertEqual(FigureView(job: stroop)?.pictures.map(\.path), ["/r/stroop.png"])
        var dream = stroop
        dream.kind = JobKind.dream.rawValue
        XCTAssertNil(FigureView(job: dream), "no figure for a dream")
    }

    func testTheJobRequestsNameTheRunFoldersTheCommandLineUses() {
        let options = AppOptions(model: "toy", index: nil, scan: nil, graphics: .blocks, runs: "/runs")
        let workbench = Workbench(model: options.model, runs: options.runs)
        XCTAssertEqual(JobRequests.atlas(neurons: 0...31, steps: 3, workbench).output, "/runs/atlas-toy-0-31-steps-3")
        XCTAssertEqual(JobRequests.atlas(neurons: 0...767, steps: AppState.atlasSteps, workbench).output, "/runs/atlas-toy-0-767")
        XCTAssertEqual(JobRequests.dream(neuron: 551, workbench).output, "/runs/dream-551")
        XCTAssertEqual(try JobRequests.stroop(workbench).output, "/runs/stroop-toy")
        XCTAssertEqual(JobRequests.gapSource(nil, workbench), .toyScenes(count: 200))
        XCTAssertEqual(JobRequests.gapSource("/d/pairs.csv", workbench), .csv("/d/pairs.csv"))
        XCTAssertEqual(RunNames.gap(.toyScenes(count: 200)), "gap-toy")
        XCTAssertNil(JobRequests.gapSource(nil, Workbench(model: "RN50", runs: "/runs")), "only the toy has scenes of its own")
        let attack = JobRequests.attack(imagePath: "/g/moon-1.png", text: "A star!", style: AttackStyle(), workbench)
        XCTAssertEqual(attack.output, "/runs/attack-moon-1-a-star-")
        XCTAssertEqual(attack.template, ModelProfile(model: "toy").zeroShotTemplate)
        XCTAssertEqual(JobRequests.maxText(neuron: 3, images: ["/a.png"], workbench).vocabulary, ToyWorld.words)
        XCTAssertEqual(JobRequests.visualize(neuron: 7, recipe: .variant(.direct), tweaks: VisualizeTweaks(), workbench).output,
                       "/runs/visualize-7-direct")
        XCTAssertEqual(JobRequests.visualize(neuron: 7, recipe: .toy, tweaks: VisualizeTweaks(), workbench).settings, ToyVisualization.settings)
        XCTAssertEqual(JobRequests.scan(folder: "/pics", index: nil, options: options, workbench).index, "/pics/clipscope.index")
    }
}
