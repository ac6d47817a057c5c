import CLIP
import Foundation
import Tensor

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

    /// The central difference of `loss` in element `index` of `tensor`, which is left as it was.
    static func derivative(of tensor: Tensor, at index: Int, epsilon: Float, _ loss: () -> Float) -> Float {
        let original = tensor.values[index]
        tensor.withUnsafeMutableBufferPointer { $0[index] = original + epsilon }
        let plus = loss()
        tensor.withUnsafeMutableBufferPointer { $0[index] = original - epsilon }
        let minus = loss()
        tensor.withUnsafeMutableBufferPointer { $0[index] = original }
        return (plus - minus) / (2 * epsilon)
    }
}
