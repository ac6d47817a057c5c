import CLIP
import Foundation
import Weights

/// A model made of two runs of one architecture: the image tower (every `visual.`
/// weight, batch-norm statistics included) of one, the text tower and the
/// temperature of the other. The embedded toy model is one: a longer web phase
/// keeps teaching the image tower to see the ink of writing, while the text tower
/// of a shorter one still lets a colour word win over its ink (README, "Toy world").
public enum ToyTowerMerge {
    public static let kind = "toy-merge"

    /// Writes the merged model to `output` as float16 safetensors (atomically, as every
    /// safetensors file); its metadata records where each tower came from (each file's
    /// own `clipscope.spec`).
    @discardableResult
    public static func merge(imageTower imagePath: String, textTower textPath: String, output: String) throws -> CLIPModel {
        let imageArchive = try WeightArchive.open(imagePath), textArchive = try WeightArchive.open(textPath)
        let image = try CLIPModel.load(archive: imageArchive)
        let merged = try CLIPModel.load(archive: textArchive)
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
            "clipscope.image_tower": provenance(imageArchive),
            "clipscope.text_tower": provenance(textArchive),
        ]
        try merged.save(path: output, halfPrecision: true, metadata: metadata)
        return merged
    }

    static func outline(_ config: CLIPConfig) -> String {
        "\(config.imageResolution) px, vision \(config.visionLayers) x \(config.visionWidth), text \(config.textLayers) x \(config.textWidth), embed \(config.embedDim)"
    }

    /// How a file was made: its `toy train` settings, or its file name when it does not say.
    static func provenance(_ archive: WeightArchive) -> String {
        archive.metadata["clipscope.spec"] ?? (archive.path as NSString).lastPathComponent
    }
}
