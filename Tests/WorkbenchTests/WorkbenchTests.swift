import CLIP
import Experiments
import Foundation
import Index
import Jobs
import Support
import ToyWorld
import Workbench
import XCTest

final class ModelProfileTests: XCTestCase {
    func testTheToyIsKnownByNameInAnyCaseAndEverythingElseIsAnImageNetModel() {
        XCTAssertEqual(ModelProfile(model: "toy").family, .toy)
        XCTAssertEqual(ModelProfile(model: "TOY").family, .toy)
        XCTAssertEqual(ModelProfile(model: "RN50x4").family, .imageNet)
        XCTAssertEqual(ModelProfile(model: "/models/toy.safetensors").family, .imageNet, "a file is not the embedded toy")
        XCTAssertTrue(ModelProfile.defaultModel.isToy)
    }

    func testEachProfileHasOneZeroShotPromptUsedByClassifyAndTheAttacks() {
        let toy = ModelProfile(model: "toy"), imageNet = ModelProfile(model: "RN50x4")
        XCTAssertEqual(toy.zeroShotTemplate, "a drawing of a {}")
        XCTAssertEqual(imageNet.zeroShotTemplate, "This is a photo of a {}")
        XCTAssertEqual(toy.classLabels, ToyWorld.words)
        XCTAssertEqual(imageNet.classLabels.count, 1000)
        XCTAssertEqual(toy.attackLabels(batch: true), ToyWorld.Shape.allCases.map(\.rawValue))
        XCTAssertEqual(toy.attackLabels(batch: false), ToyWorld.words)
        XCTAssertEqual(imageNet.attackLabels(batch: true).count, 1000)
    }

    func testAttackStylesTakeWhatIsGivenAndTheProfileForTheRest() throws {
        let toy = try ModelProfile(model: "toy").attackStyle()
        XCTAssertEqual(toy.placement, .centered)
        XCTAssertEqual(toy.size, ToyAttackDefaults.size)
        let paper = try ModelProfile(model: "RN50").attackStyle()
        XCTAssertEqual(paper.placement, .paper)
        XCTAssertNil(paper.size)
        let given = try ModelProfile(model: "toy").attackStyle(position: "3,40", size: 12)
        XCTAssertEqual(given.placement, .origin(x: 3, y: 40))
        XCTAssertEqual(given.size, 12)
        XCTAssertThrowsError(try ModelProfile(model: "toy").attackStyle(position: "left")) {
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "position")
        }
    }

    func testStroopMaxTextAndVisualizationPresets() {
        let toy = ModelProfile(model: "toy"), imageNet = ModelProfile(model: "RN50x4")
        XCTAssertEqual(toy.stroopSettings(), ToyStroop.settings)
        XCTAssertEqual(imageNet.stroopSettings(), .paper)
        XCTAssertEqual(toy.stroopSettings(.paper), .paper, "a preset asked for wins")
        XCTAssertEqual(toy.maxTextVocabulary, ToyWorld.words)
        XCTAssertNil(imageNet.maxTextVocabulary)
        XCTAssertEqual(toy.visualizeCommand(neuron: 7), "visualize 7 toy")
        XCTAssertEqual(imageNet.visualizeCommand(neuron: 7), "visualize 7 paper-code steps=1000")
        XCTAssertEqual(toy.visualizationSettings, ToyVisualization.settings)
        XCTAssertEqual(imageNet.visualizationSettings.steps, 1000)
        XCTAssertEqual(VisualizationPresets.settings(named: "direct"), VisualizationSettings(variant: .direct))
        XCTAssertNil(VisualizationPresets.settings(named: "cubist"))
    }

    func testOnlyTheToySaysItsPresetsAreInUse() throws {
        let note = try XCTUnwrap(ModelProfile(model: "toy").implicitModelNote(for: .attack))
        XCTAssertTrue(note.hasPrefix("model: the embedded toy model (toy presets: "), note)
        XCTAssertFalse(note.contains("\n"))
        XCTAssertNil(ModelProfile(model: "RN50").implicitModelNote(for: .stroop))
    }
}

final class RunNamesTests: XCTestCase {
    func testOneRuleNamesEachKindsFolder() throws {
        let bench = Workbench(model: "toy", runs: "/runs")
        XCTAssertEqual(bench.dream(neuron: 89).output, "/runs/dream-89")
        XCTAssertEqual(bench.dream(neuron: 89, folder: "/elsewhere").output, "/elsewhere")
        let style = AttackStyle()
        XCTAssertEqual(bench.attack(image: "/photos/apple.jpg", text: "iPod 2!", style: style).output, "/runs/attack-apple-ipod-2-")
        let batch = bench.attackBatch(folders: ["/photos/fruit"], attacks: [], style: style, shard: try Shard(index: 1, count: 4))
        XCTAssertEqual(batch.output, "/runs/attack-batch-fruit-shard1of4")
        XCTAssertEqual(batch.labels, ToyAttackDefaults.batchLabels)
        XCTAssertEqual(batch.template, ToyAttackDefaults.template)
        XCTAssertEqual(try bench.stroop().output, "/runs/stroop-toy")
        XCTAssertEqual(try Workbench(model: "/m/RN50x4.pt", runs: "/runs").stroop().output, "/runs/stroop-RN50x4")
        XCTAssertEqual(bench.maxText(.neuron(5, topImages: ["/a.png"])).output, "/runs/maxtext-neuron-5")
        XCTAssertEqual(bench.maxText(.images(["/x/cat.png"])).output, "/runs/maxtext-cat")
        XCTAssertEqual(bench.maxText(.images(["/x/cat.png"])).vocabulary, ToyWorld.words)
        XCTAssertEqual(bench.atlas(neurons: 0...15, steps: 100).output, "/runs/atlas-toy-0-15")
        XCTAssertEqual(bench.atlas(neurons: 0...15, steps: 7).output, "/runs/atlas-toy-0-15-steps-7")
        XCTAssertEqual(bench.atlas(neurons: 0...15, steps: 7).batchSize, 16)
        XCTAssertEqual(RunNames.gap(.directory("/d/pets.v2")), "gap-pets.v2")
        XCTAssertEqual(RunNames.gap(.csv("/d/pairs.csv")), "gap-pairs")
        XCTAssertEqual(RunNames.gap(.toyScenes(count: 10)), "gap-toy")
        XCTAssertEqual(Workbench.GapSource(path: "/d/pairs.CSV"), .csv("/d/pairs.CSV"))
        XCTAssertEqual(Workbench.GapSource(path: "/d/pets"), .directory("/d/pets"))
        let scan = bench.scan(folder: "/photos/pets")
        XCTAssertEqual(scan.index, "/photos/pets/clipscope.index")
        XCTAssertTrue(scan.storeEmbeddings, "the app searches by meaning")
        XCTAssertEqual(bench.scan(folders: ["/a", "/b"], index: "x.index", storeEmbeddings: false).folders, ["/a", "/b"])
        let settings = VisualizationSettings(variant: .direct)
        XCTAssertEqual(bench.visualize(neurons: [3], settings: settings).output,
                       "/runs/" + VisualizeJob.folderName(neurons: [3], settings: settings))
    }

    func testAGapOfTheToysScenesIsRefusedForOtherModelsBeforeAnyWork() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("workbench-gap-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        XCTAssertThrowsError(try Workbench(model: "RN50", runs: runs).gap(.toyScenes(count: 8))) {
            XCTAssertEqual(($0 as? InvalidParameter)?.parameter, "source")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runs))
        let job = try Workbench(model: "toy", runs: runs).gap(.toyScenes(count: 8), adjust: { $0.seed = 5 })
        XCTAssertEqual(job.pairs?.count, 8)
        XCTAssertEqual(job.seed, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: runs + "/gap-toy/scenes"))
    }
}

final class JobCatalogTests: XCTestCase {
    func testEverySpecsKindIsInTheCatalogOnce() {
        let specs: [any JobSpec.Type] = [ScanJob.self, LabelJob.self, VisualizeJob.self, DreamJob.self, MaxTextJob.self, AttackJob.self,
                                         AttackBatchJob.self, StroopJob.self, GapJob.self, ToyGallery.self, ToyTrainJob.self]
        XCTAssertEqual(Set(specs.map { $0.kind }), Set(JobKind.allCases.map(\.rawValue)))
        for kind in JobKind.allCases { XCTAssertEqual(JobCatalog.entry(kind).spec.kind, kind.rawValue) }
        XCTAssertEqual(JobCatalog.entries.count, JobKind.allCases.count)
        XCTAssertNil(JobKind(named: "teleport"))
    }

    func testWhatResumesAndWhatHasAFigure() {
        XCTAssertEqual(Set(JobKind.allCases.filter { JobCatalog.entry($0).resumes }),
                       [.visualize, .dream, .maxText, .attackBatch, .toyTrain])
        XCTAssertTrue(JobCatalog.hasFigure(kind: "stroop"))
        XCTAssertTrue(JobCatalog.hasFigure(kind: "gap"))
        XCTAssertFalse(JobCatalog.hasFigure(kind: "visualize"))
        XCTAssertFalse(JobCatalog.resumes(kind: "unknown"))
    }

    func testARecordedSpecDecodesIntoTheFolderWhereItIsNow() throws {
        let job = Workbench(model: "toy", runs: "/old").dream(neuron: 4)
        let parameters = try JSONValue.encode(job)
        let spec = try JobCatalog.spec(kind: "dream", parameters: parameters, folder: "/moved/dream-4")
        XCTAssertEqual((spec as? DreamJob)?.output, "/moved/dream-4")
        XCTAssertEqual((spec as? DreamJob)?.neuron, 4)
        XCTAssertNotNil(try JobCatalog.resume(kind: "dream", parameters: parameters, folder: "/moved/dream-4"))
        let stroop = try JSONValue.encode(try Workbench(model: "toy", runs: "/old").stroop())
        XCTAssertNil(try JobCatalog.resume(kind: "stroop", parameters: stroop, folder: "/x"), "a Stroop run is done over, not continued")
        XCTAssertThrowsError(try JobCatalog.spec(kind: "dream", parameters: Data("{}".utf8), folder: "/x")) {
            XCTAssertTrue("\($0)".hasPrefix("/x: its dream parameters do not decode"), "\($0)")
        }
        XCTAssertThrowsError(try JobCatalog.spec(kind: "teleport", parameters: parameters, folder: "/x"))
    }

    func testAResumableRunStartsWithItsOwnType() throws {
        final class Recorder: JobStarter, @unchecked Sendable {
            var started: [String] = []
            func start<Spec: JobSpec>(_ spec: Spec) { started.append("\(Spec.self)") }
        }
        let parameters = try JSONValue.encode(Workbench(model: "toy", runs: "/r").maxText(.images(["/a.png"])))
        let run = try XCTUnwrap(try JobCatalog.resume(kind: "maxtext", parameters: parameters, folder: "/r/m"))
        let recorder = Recorder()
        run.start(with: recorder)
        XCTAssertEqual(recorder.started, ["MaxTextJob"])
    }

    func testPicturesOfAJob() {
        let artefacts = [JobArtefact(name: "figure", path: "/r/gap.png"), JobArtefact(name: "points", path: "/r/points.csv"),
                         JobArtefact(name: "PCA figure", path: "/r/gap-pca.PNG"), JobArtefact(name: "none", path: nil)]
        XCTAssertEqual(JobCatalog.pictures(artefacts).map(\.path), ["/r/gap.png", "/r/gap-pca.PNG"])
        XCTAssertEqual(JobCatalog.mainPicture(kind: "gap", artefacts: artefacts), "/r/gap.png")
        XCTAssertEqual(JobCatalog.mainPicture(kind: "visualize", artefacts: artefacts), "/r/gap-pca.PNG")
    }
}

final class NeuronListTests: XCTestCase {
    func testIdsAndRangesInOrderEachOnce() throws {
        XCTAssertEqual(try NeuronList.parse("89,2191"), [89, 2191])
        XCTAssertEqual(try NeuronList.parse("3-5, 4 ,1"), [3, 4, 5, 1])
        XCTAssertEqual(try NeuronList.parse(["1,2", "2-3"]), [1, 2, 3], "a repeated option adds to the list")
        XCTAssertEqual(try NeuronList.parse("7,,8"), [7, 8])
        XCTAssertEqual(NeuronList.range("10-19"), 10...19)
        XCTAssertNil(NeuronList.range("19-10"))
    }

    func testABadPartIsNamed() {
        for (text, part) in [("8x", "8x"), ("5-x", "5-x"), ("1,-3", "-3"), ("4-2", "4-2")] {
            XCTAssertThrowsError(try NeuronList.parse(text)) { error in
                XCTAssertEqual(error as? InvalidParameter,
                               InvalidParameter("neurons", "\(text): '\(part)' is not a neuron id or a range like 0-767"))
            }
        }
        XCTAssertThrowsError(try NeuronList.parse(" , ")) { XCTAssertEqual(($0 as? InvalidParameter)?.detail, " , : no neurons") }
    }
}

final class BenchmarksTests: XCTestCase {
    func testTheFrontEndsBenchmarksComeBeforeTheModelLoadAndAFilterPicksByName() {
        let display = Benchmark(name: "display.dummy", flops: nil) { { } }
        let names = Benchmark.all(display: [display]).map(\.name)
        XCTAssertEqual(names.count, Set(names).count, "names are unique")
        XCTAssertEqual(names.suffix(3), ["umap.2000", "display.dummy", "load.safetensors_rn50x4"])
        XCTAssertEqual(names.first, "gemm.2560x81x640")
        XCTAssertEqual(Benchmarks.selected(filter: "relu,dummy", display: [display]).map(\.name), ["relu.320x72x72", "display.dummy"])
        XCTAssertTrue(Benchmarks.selected(filter: "nothing-is-called-this").isEmpty)
    }

    func testAMeasurementIsALineAndJSONWithNullForNoFLOPCount() throws {
        let result = Benchmark(name: "sleep", flops: 2e9) { { usleep(1000) } }.measure(runs: 3)
        XCTAssertEqual(result.name, "sleep")
        XCTAssertGreaterThan(result.seconds, 0)
        XCTAssertTrue(result.line.hasPrefix("sleep" + String(repeating: " ", count: 25)), result.line)
        XCTAssertTrue(result.line.contains("GFLOP/s"))
        let document = try JSONSerialization.jsonObject(with: Benchmarks.json([BenchResult(name: "x", seconds: .nan, gflops: nil)])) as? [String: Any]
        let first = try XCTUnwrap((document?["results"] as? [[String: Any]])?.first)
        XCTAssertTrue(first["gflops"] is NSNull)
        XCTAssertTrue(first["seconds"] is NSNull, "a NaN is null, as every JSON clipscope writes")
        XCTAssertTrue((document?["blas"] as? String)?.hasPrefix("BLAS: ") ?? false)
    }
}
