import CLIP
import Foundation
import Jobs
import Support
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
    /// own `clipscope.spec`, and what the image tower's run started from). With an
    /// `imageTowerWeight` below 1 the image tower is that mix of the two files' image
    /// towers (weight by weight; the image tower of a fine-tune of the text tower's file
    /// interpolated back towards its start).
    @discardableResult
    public static func merge(imageTower imagePath: String, textTower textPath: String, output: String,
                             imageTowerWeight: Float = 1) throws -> CLIPModel {
        guard imageTowerWeight >= 0, imageTowerWeight <= 1 else {
            throw InvalidParameter("imageTowerWeight", "must be in 0...1, got \(imageTowerWeight)")
        }
        let imageArchive = try WeightArchive.open(imagePath), textArchive = try WeightArchive.open(textPath)
        let image = try CLIPModel.load(archive: imageArchive)
        let merged = try CLIPModel.load(archive: textArchive)
        guard image.config == merged.config else {
            throw ModelError.unsupported("\(textPath): its architecture (\(outline(merged.config))) is not that of \(imagePath) (\(outline(image.config))); towers merge only within one architecture")
        }
        let imageWeights = Dictionary(uniqueKeysWithValues: image.namedParameters.map { ($0.key, $0.tensor) })
        for (key, tensor) in merged.namedParameters where key.hasPrefix("visual.") {
            let values = imageWeights[key]!.values
            let weight = imageTowerWeight
            tensor.withUnsafeMutableBufferPointer { target in
                for i in 0..<target.count { target[i] = weight == 1 ? values[i] : weight * values[i] + (1 - weight) * target[i] }
            }
        }
        merged.weightsDidChange()
        var metadata = [
            "clipscope.job": kind,
            "clipscope.image_tower": provenance(imageArchive),
            "clipscope.text_tower": provenance(textArchive),
        ]
        for (key, value) in imageArchive.metadata where key.hasPrefix("clipscope.start.") {
            metadata["clipscope.image_tower." + key.dropFirst("clipscope.".count)] = value
        }
        if imageTowerWeight < 1 { metadata["clipscope.image_tower_weight"] = String(imageTowerWeight) }
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
