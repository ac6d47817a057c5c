import ArgumentParser
import CLIP
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's configuration, parameter counts, weight dtypes and file format.",
        discussion: """
            The configuration is inferred from the weights (config keys are OpenAI's constructor \
            names). Parameter counts are PyTorch's (batch-norm running statistics excluded; the \
            total includes logit_scale). "dtypes" counts the stored tensors of each element type.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: JSONOption

    /// The `config` object: OpenAI's names for the constructor arguments, plus derived sizes.
    struct ConfigReport: Encodable {
        let embedDim, imageResolution, visionWidth, visionHeads: Int
        let visionLayers: [Int]
        let contextLength, vocabSize, transformerWidth, transformerHeads, transformerLayers: Int
        let neurons, featureGrid: Int

        init(_ config: CLIPConfig) {
            embedDim = config.embedDim
            imageResolution = config.imageResolution
            visionLayers = config.visionLayers
            visionWidth = config.visionWidth
            visionHeads = config.visionHeads
            contextLength = config.contextLength
            vocabSize = config.vocabSize
            transformerWidth = config.textWidth
            transformerHeads = config.textHeads
            transformerLayers = config.textLayers
            neurons = config.neuronCount
            featureGrid = config.featureGrid
        }

        enum CodingKeys: String, CodingKey {
            case embedDim = "embed_dim", imageResolution = "image_resolution", visionLayers = "vision_layers"
            case visionWidth = "vision_width", visionHeads = "vision_heads", contextLength = "context_length"
            case vocabSize = "vocab_size", transformerWidth = "transformer_width", transformerHeads = "transformer_heads"
            case transformerLayers = "transformer_layers", neurons, featureGrid = "feature_grid"
        }
    }

    struct Parameters: Encodable { let visual, text, total: Int }

    struct Report: Encodable {
        let path: String
        let format: String
        /// The OpenAI release with this configuration, if any.
        let architecture: String?
        let config: ConfigReport
        let parameters: Parameters
        let dtypes: [String: Int]

        // Keep `"architecture": null` in the document rather than dropping the key.
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(path, forKey: .path)
            try container.encode(format, forKey: .format)
            try container.encode(architecture, forKey: .architecture)
            try container.encode(config, forKey: .config)
            try container.encode(parameters, forKey: .parameters)
            try container.encode(dtypes, forKey: .dtypes)
        }
        enum CodingKeys: String, CodingKey { case path, format, architecture, config, parameters, dtypes }
    }

    func run() throws {
        let model = try modelOptions.load()
        guard let source = model.source else { throw CommandFailure("\(modelOptions.model): the model has no weights file") }
        // Loading converted everything to Float; the file itself says what it stores.
        let archive = try source.openArchive()
        var dtypes: [String: Int] = [:]
        for info in archive.infos { dtypes[info.dtype.rawValue, default: 0] += 1 }
        let counts = model.parameterCounts
        let report = Report(
            path: source.path, format: source.format.rawValue,
            architecture: CLIPConfig.releasedModels.first { $0.value == model.config }?.key,
            config: ConfigReport(model.config),
            parameters: Parameters(visual: counts.visual, text: counts.text, total: counts.total),
            dtypes: dtypes)
        if output.json { return try Output.printJSON(report) }

        let config = report.config
        let grouped = Output.grouped
        var rows: [[String]] = [
            ["file", source.embedded ? "\(report.path) (embedded in clipscope)" : report.path],
            ["format", report.format],
            ["dtypes", dtypes.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) tensors)" }.joined(separator: ", ")],
            ["architecture", report.architecture ?? "custom (no OpenAI release has this configuration)"],
            ["", ""],
            ["image tower", "ModifiedResNet, layers \(config.visionLayers), width \(config.visionWidth), \(config.visionHeads) attention-pool heads"],
            ["image input", "\(config.imageResolution)x\(config.imageResolution) pixels, \(config.featureGrid)x\(config.featureGrid) feature grid"],
            ["neurons", "\(config.neurons) (channels of the last block's conv3)"],
            ["text tower", "transformer, \(config.transformerLayers) layers, width \(config.transformerWidth), \(config.transformerHeads) heads"],
            ["text input", "\(config.contextLength) tokens, vocabulary \(config.vocabSize)"],
            ["embedding", "\(config.embedDim) dimensions"],
            ["", ""],
        ]
        rows.append(["parameters", "visual \(grouped(counts.visual)), text \(grouped(counts.text)), total \(grouped(counts.total))"])
        print(Output.table(rows))
    }
}
