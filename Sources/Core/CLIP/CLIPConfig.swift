
/// The numbers that define a ResNet CLIP. Every RN model (RN50, RN101, RN50x4,
/// RN50x16, RN50x64, or a small one) differs only in these.
public struct CLIPConfig: Codable, Equatable, Sendable {
    public var embedDim: Int
    public var imageResolution: Int
    public var visionLayers: [Int]
    public var visionWidth: Int
    public var contextLength: Int
    public var vocabSize: Int
    public var textWidth: Int
    public var textHeads: Int
    public var textLayers: Int

    public init(embedDim: Int, imageResolution: Int, visionLayers: [Int], visionWidth: Int,
                contextLength: Int = 77, vocabSize: Int = 49408, textWidth: Int, textHeads: Int, textLayers: Int) {
        self.embedDim = embedDim
        self.imageResolution = imageResolution
        self.visionLayers = visionLayers
        self.visionWidth = visionWidth
        self.contextLength = contextLength
        self.vocabSize = vocabSize
        self.textWidth = textWidth
        self.textHeads = textHeads
        self.textLayers = textLayers
    }

    /// Channels of the last conv layer (the neurons): 32 x width.
    public var neuronCount: Int { visionWidth * 32 }
    /// Side of the last feature map: resolution / 32.
    public var featureGrid: Int { imageResolution / 32 }
    /// Heads of the attention pool: one per 64 channels.
    public var visionHeads: Int { visionWidth * 32 / 64 }

    /// OpenAI's released ResNet configurations, by name.
    public static let releasedModels: [String: CLIPConfig] = [
        "RN50": CLIPConfig(embedDim: 1024, imageResolution: 224, visionLayers: [3, 4, 6, 3], visionWidth: 64,
                           textWidth: 512, textHeads: 8, textLayers: 12),
        "RN101": CLIPConfig(embedDim: 512, imageResolution: 224, visionLayers: [3, 4, 23, 3], visionWidth: 64,
                            textWidth: 512, textHeads: 8, textLayers: 12),
        "RN50x4": CLIPConfig(embedDim: 640, imageResolution: 288, visionLayers: [4, 6, 10, 6], visionWidth: 80,
                             textWidth: 640, textHeads: 10, textLayers: 12),
        "RN50x16": CLIPConfig(embedDim: 768, imageResolution: 384, visionLayers: [6, 8, 18, 8], visionWidth: 96,
                              textWidth: 768, textHeads: 12, textLayers: 12),
        "RN50x64": CLIPConfig(embedDim: 1024, imageResolution: 448, visionLayers: [3, 15, 36, 10], visionWidth: 128,
                              textWidth: 1024, textHeads: 16, textLayers: 12),
    ]

    /// The configuration implied by the shapes of a state dict's tensors.
    public init(inferringFrom shapes: [String: [Int]], file: String) throws {
        func shape(_ key: String) throws -> [Int] {
            guard let s = shapes[key] else { throw ModelError.missingKey(key, file: file) }
            return s
        }
        func distinctIndices(_ prefix: String) -> Int {
            Set(shapes.keys.compactMap { key -> Int? in
                guard key.hasPrefix(prefix) else { return nil }
                return Int(key.dropFirst(prefix.count).prefix { $0 != "." })
            }).count
        }
        let layers = (1...4).map { distinctIndices("visual.layer\($0).") }
        guard layers.allSatisfy({ $0 > 0 }) else {
            throw ModelError.unsupported("\(file): not a ResNet CLIP (no visual.layer1..4 blocks; ViT models are not supported)")
        }
        let width = try shape("visual.layer1.0.conv1.weight")[0]
        let positions = try shape("visual.attnpool.positional_embedding")[0]
        let grid = Int(Double(positions - 1).squareRoot().rounded())
        guard grid * grid + 1 == positions else {
            throw ModelError.shapeMismatch("visual.attnpool.positional_embedding", expected: [grid * grid + 1], found: [positions], file: file)
        }
        let projection = try shape("text_projection")
        let textWidth = try shape("ln_final.weight")[0]
        guard projection.count == 2 else {
            throw ModelError.shapeMismatch("text_projection", expected: [textWidth, -1], found: projection, file: file)
        }
        self.init(embedDim: projection[1], imageResolution: grid * 32, visionLayers: layers, visionWidth: width,
                  contextLength: try shape("positional_embedding")[0], vocabSize: try shape("token_embedding.weight")[0],
                  textWidth: textWidth, textHeads: max(1, textWidth / 64),
                  textLayers: distinctIndices("transformer.resblocks."))
    }
}

/// Errors in model files and model use; each names the key and the file.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case missingKey(String, file: String)
    case unusedKey(String, file: String)
    case shapeMismatch(String, expected: [Int], found: [Int], file: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .missingKey(key, file): return "\(file): missing weight '\(key)'"
        case let .unusedKey(key, file): return "\(file): unexpected weight '\(key)' (not part of a ResNet CLIP)"
        case let .shapeMismatch(key, expected, found, file):
            return "\(file): weight '\(key)' has shape \(found), expected \(expected)"
        case let .unsupported(message): return message
        }
    }
}
