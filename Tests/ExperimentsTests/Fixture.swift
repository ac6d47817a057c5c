import CLIP
import Foundation

/// The small random-weight CLIP made by OpenAI's code (64x64 input, 256 neurons), loaded once.
enum Fixture {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../WeightsTests/Fixtures/model.pt").standardized.path
    nonisolated(unsafe) static var loaded: CLIPModel?

    static func model() throws -> CLIPModel {
        if let loaded { return loaded }
        let model = try CLIPModel.load(path: modelPath)
        loaded = model
        return model
    }

    /// A real photo of the imaging tests' fixtures.
    static let photo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ImagingTests/Fixtures/baseline.jpg").standardized.path
}
