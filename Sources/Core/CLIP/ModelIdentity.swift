import Foundation
import Support
import Tensor

/// How a neuron's g x g map becomes one number per image.
public enum ActivationReduce: String, Codable, CaseIterable, Sendable {
    /// The maximum over positions (the default, as in the paper's code).
    case max
    /// The mean over positions (as the paper's text says).
    case mean

    /// [N, C, g, g] maps reduced to [N, C].
    public func apply(_ map: Tensor) -> Tensor {
        switch self {
        case .max: map.spatialMax()
        case .mean: map.spatialMean()
        }
    }
}

/// What identifies the model a scan was made with: a fingerprint of its configuration
/// and of a sample of every weight tensor, so that a retrained or different file differs.
public struct ModelIdentity: Codable, Sendable, Equatable {
    /// The weights file's name without extension (for display).
    public var name: String
    /// Hex FNV-1a hash of the configuration and sampled weights.
    public var fingerprint: String
    public var neurons: Int
    public var embedDim: Int
    public var resolution: Int

    public init(name: String, fingerprint: String, neurons: Int, embedDim: Int, resolution: Int) {
        self.name = name
        self.fingerprint = fingerprint
        self.neurons = neurons
        self.embedDim = embedDim
        self.resolution = resolution
    }
}

extension CLIPModel {
    /// This model's identity (cheap: samples at most 1024 values per tensor).
    public var identity: ModelIdentity {
        var hash = FNV1a()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        hash.add(bytes: Array((try? encoder.encode(config)) ?? Data()))
        for (key, tensor) in namedParameters {
            hash.add(bytes: Array(key.utf8))
            for dimension in tensor.shape { hash.add(UInt64(dimension)) }
            tensor.withUnsafeBufferPointer { values in
                let stride = Swift.max(1, values.count / 1024)
                var index = 0
                while index < values.count {
                    hash.add(UInt64(values[index].bitPattern))
                    index += stride
                }
            }
        }
        let name = source.map { URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent } ?? "model"
        return ModelIdentity(name: name, fingerprint: String(format: "%016llx", hash.value), neurons: config.neuronCount,
                             embedDim: config.embedDim, resolution: config.imageResolution)
    }
}

