import CLIP
import Experiments
import Foundation
import Imaging
import ToyWorld
@testable import TUI
import Workbench
import XCTest

/// The app decides what `clipscope` decides: the same profile, so the same answers.
final class WorkbenchAgreementTests: XCTestCase {
    /// The image pane's zero-shot top-5 (the real backend, the toy model) is the one
    /// `clipscope classify` computes: the profile's classes in the profile's prompt.
    func testTheImagePanesZeroShotIsClassifysForTheToyModel() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-agree-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let image = try XCTUnwrap(ToyGapScenes.write(count: 1, resolution: ToyTrainJob.defaultConfig.imageResolution, folder: folder).first).image

        let mailbox = Mailbox()
        let backend = Backend(options: AppOptions(model: "toy", index: nil, scan: nil, graphics: .blocks, runs: folder), mailbox: mailbox)
        backend.loadModel()
        backend.classify(image, neurons: [])
        var app: [(label: String, probability: Float)]?
        let deadline = Date().addingTimeInterval(120)
        while app == nil, Date() < deadline {
            for case let .imageDetails(details) in mailbox.drain() { app = details.zeroShot }
            if app == nil { Thread.sleep(forTimeInterval: 0.02) }
        }
        let appTop = try XCTUnwrap(app, "the backend answered with the image's details")

        // What `clipscope classify IMAGE --labels <the toy's words>` does (Classify.run).
        let profile = ModelProfile(model: "toy")
        let model = try CLIPModel.load(model: "toy")
        let classifier = try ZeroShotClassifier(model: model, labels: profile.classLabels, template: profile.zeroShotTemplate)
        let row = classifier.probabilities(model.encodeImages(model.pixels([try DecodedImage.load(path: image)]))).rows()[0]
        let cliTop = classifier.ranked(row, top: 5)

        XCTAssertEqual(appTop.map(\.label), cliTop.map(\.label))
        for (a, c) in zip(appTop, cliTop) { XCTAssertEqual(a.probability, c.probability, accuracy: 1e-4) }
        XCTAssertEqual(profile.zeroShotTemplate, "a drawing of a {}", "the toy's own captions")
    }
}
