import Foundation
import Tensor

/// A model made of two runs of one architecture: the image tower (every `visual.`
/// weight, batch-norm statistics included) of one, the text tower and the
/// temperature of the other. The embedded toy model is one: a longer web phase
/// keeps teaching the image tower to see the ink of writing, while the text tower
/// of a shorter one still lets a colour word win over its ink (README, "Toy world").
public enum ToyTowerMerge {
    public static let kind = "toy-merge"

    /// Writes the merged model to `output` as float16 safetensors, atomically; its
    /// metadata records where each tower came from (each file's own `clipscope.spec`).
    @discardableResult
    public static func merge(imageTower imagePath: String, textTower textPath: String, output: String) throws -> CLIPModel {
        let image = try CLIPModel.load(path: imagePath)
        let merged = try CLIPModel.load(path: textPath)
        guard image.config == merged.config else {
            throw ModelError.unsupported("\(textPath): its architecture (\(outline(merged.config))) is not that of \(imagePath) (\(outline(image.config))); towers merge only within one architecture")
        }
        let imageWeights = Dictionary(uniqueKeysWithValues: image.namedParameters.map { ($0.key, $0.tensor) })
        for (key, tensor) in merged.namedParameters where key.hasPrefix("visual.") {
            let values = imageWeights[key]!.values
            tensor.withUnsafeMutableBufferPointer { target in
                values.withUnsafeBufferPointer { target.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        merged.weightsDidChange()
        let metadata = [
            "clipscope.job": kind,
            "clipscope.image_tower": try provenance(imagePath),
            "clipscope.text_tower": try provenance(textPath),
        ]
        // Written aside and renamed into place, so that a failure never leaves half a model at `output`.
        let temporary = output + ".partial"
        do {
            try merged.save(path: temporary, halfPrecision: true, metadata: metadata)
            guard rename(temporary, output) == 0 else {
                throw WeightsError(path: output, "cannot write the merged model (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return merged
    }

    static func outline(_ config: CLIPConfig) -> String {
        "\(config.imageResolution) px, vision \(config.visionLayers) x \(config.visionWidth), text \(config.textLayers) x \(config.textWidth), embed \(config.embedDim)"
    }

    /// How a file was made: its `toy train` settings, or its file name when it does not say.
    static func provenance(_ path: String) throws -> String {
        try WeightArchive.open(path).metadata["clipscope.spec"] ?? (path as NSString).lastPathComponent
    }
}
