import Assets
import Foundation
import Imaging
import Tensor
import Weights

extension CLIPModel {
    /// Loads an OpenAI TorchScript `.pt`, a `torch.save` state dict or a safetensors
    /// file, inferring the configuration from the weights. Strict: a missing,
    /// unused or mis-shaped key is an error naming the key and the file.
    public static func load(path: String) throws -> CLIPModel {
        try load(archive: WeightArchive.open(path))
    }

    /// Builds the model an archive's shapes describe and loads every weight strictly.
    public static func load(archive: WeightArchive) throws -> CLIPModel {
        let path = archive.path
        var shapes: [String: [Int]] = [:]
        for info in archive.infos { shapes[info.key] = info.shape }
        let config = try CLIPConfig(inferringFrom: shapes, file: path)
        let model = CLIPModel(config: config)
        let ignored = archive.infos.filter { isIgnoredKey($0.key) }.map { (key: $0.key, shape: $0.shape) }
        try archive.verify(expected: model.namedParameters.map { (key: $0.key, shape: $0.tensor.shape) } + ignored)
        try model.assignWeights(from: archive)
        model.source = ModelSource(path: path, format: archive.format)
        return model
    }

    /// CLIP's input preprocessing for this model's resolution.
    public var preprocessing: ModelInputPreprocessing {
        ModelInputPreprocessing(size: config.imageResolution, mean: CLIPModel.pixelMean, std: CLIPModel.pixelStd)
    }

    public static let pixelMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let pixelStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// A batch [N, 3, R, R] of preprocessed images.
    public func pixels(_ images: [DecodedImage]) -> Tensor {
        ImageBatches.stack(images.map(preprocessing.tensor), size: config.imageResolution)
    }

    /// Reads every weight of `namedParameters` from `archive` (shapes verified by the
    /// caller or by the archive's read), then drops folded batch norms.
    public func assignWeights(from archive: WeightArchive) throws {
        for (key, tensor) in namedParameters {
            try tensor.withUnsafeMutableBufferPointer { try archive.read(key, into: $0) }
        }
        weightsDidChange()
    }
}

/// Where a model's weights came from.
public struct ModelSource: Sendable, Equatable {
    /// The file, or the model's name for the embedded toy model.
    public let path: String
    public let format: WeightFormat
    /// Whether the weights are embedded in the binary rather than read from `path`.
    public var embedded = false

    public init(path: String, format: WeightFormat, embedded: Bool = false) {
        self.path = path
        self.format = format
        self.embedded = embedded
    }

    /// The weights as an archive again (to inspect what the file stores).
    public func openArchive() throws -> WeightArchive {
        embedded ? try WeightArchive.open(embedded: EmbeddedAssets.toyModelSafetensors, name: path) : try WeightArchive.open(path)
    }
}

extension CLIPModel {
    /// Writes every weight (running statistics included) as safetensors with
    /// OpenAI's key names, in float32 or float16.
    public func save(path: String, halfPrecision: Bool = false, metadata: [String: String] = [:]) throws {
        let tensors = namedParameters.map { key, tensor -> SafetensorsWriter.Tensor in
            let values = tensor.values
            guard halfPrecision else { return SafetensorsWriter.Tensor(key: key, shape: tensor.shape, floats: values) }
            let halves = values.map(ElementConversion.floatToHalf)
            return SafetensorsWriter.Tensor(key: key, dtype: .f16, shape: tensor.shape, data: halves.withUnsafeBytes { Data($0) })
        }
        try SafetensorsWriter.write(tensors, to: path, metadata: metadata)
    }
}
