import CLIP
import Experiments

/// The `key=value` words of `:visualize` that change a visualization's settings; what is
/// not given keeps the variant's default.
public struct VisualizeTweaks: Equatable, Sendable {
    public init() {}

    var steps: Int?
    var seed: UInt64?
    var learningRate: Float?
    var jitter: Double?
    var scale: Double?
    var rotate: Double?
    var decay: Double?
    var reduce: ActivationReduce?

    /// Takes one word (`steps=500`); false when it is not a tweak or its value does not
    /// parse. Ranges are the settings' own (`VisualizationSettings.validate`).
    public mutating func read(_ word: String) -> Bool {
        let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return false }
        let value = parts[1]
        switch parts[0] {
        case "steps": guard let v = Int(value) else { return false }; steps = v
        case "seed": guard let v = UInt64(value) else { return false }; seed = v
        case "lr": guard let v = Float(value) else { return false }; learningRate = v
        case "jitter": guard let v = Double(value) else { return false }; jitter = v
        case "scale": guard let v = Double(value) else { return false }; scale = v
        case "rotate": guard let v = Double(value) else { return false }; rotate = v
        case "decay": guard let v = Double(value) else { return false }; decay = v
        case "reduce": guard let v = ActivationReduce(rawValue: value) else { return false }; reduce = v
        default: return false
        }
        return true
    }

    public func applied(to defaults: VisualizationSettings) -> VisualizationSettings {
        var settings = defaults
        if let steps { settings.steps = steps }
        if let seed { settings.seed = seed }
        if let learningRate { settings.learningRate = learningRate }
        if let jitter { settings.jitter = jitter }
        if let decay { settings.fourierDecay = decay }
        if let reduce { settings.reduce = reduce }
        settings.changeTransforms(scale: scale, rotation: rotate)
        return settings
    }
}
