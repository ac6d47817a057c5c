import Assets
import CLIP
import Experiments
import Foundation
import ToyWorld

/// What a model is for the experiments: the embedded toy model, or a CLIP trained on
/// ImageNet-like photos. Resolved once from `--model` (or the app's model); every preset that
/// differs between the two (labels, prompt, attack and Stroop presets, maxtext's vocabulary,
/// the visualization recipe) is read from here, so the command line and the app agree.
public struct ModelProfile: Sendable, Equatable {
    public enum Family: String, Sendable, Equatable {
        /// The toy-world CLIP embedded in the binary: its own words, scenes and recipes.
        case toy
        /// An OpenAI CLIP (or any weights file): ImageNet classes and the paper's presets.
        case imageNet
    }

    /// The model as given (a name or a weights file).
    public let model: String
    public let family: Family

    public init(model: String) {
        self.model = model
        family = model.lowercased() == ModelLocator.toyName ? .toy : .imageNet
    }

    /// The profile of the default model (`toy`).
    public static var defaultModel: ModelProfile { ModelProfile(model: ModelLocator.toyName) }

    public var isToy: Bool { family == .toy }

    // MARK: Zero-shot

    /// The classes zero-shot ranks unless given others: the toy's words, or ImageNet's 1000.
    public var classLabels: [String] { isToy ? ToyWorld.words : EmbeddedAssets.imageNetLabels }

    /// The one caption a label is put into for zero-shot (classify, the attacks, the app's
    /// image pane). The toy learnt drawings captioned "a drawing of a star" (`SceneSampler`),
    /// so its own caption scores best; for ImageNet models it is the paper's prompt for the
    /// typographic attacks (Table II), so attack numbers and classify's agree.
    public var zeroShotTemplate: String { isToy ? ToyAttackDefaults.template : Self.paperTemplate }

    /// The paper's zero-shot prompt.
    public static let paperTemplate = "This is a photo of a {}"

    // MARK: Attacks

    /// An attack's labels unless given others: for the toy its words (one image) or its shape
    /// names (a batch of drawings: each carries a shape); ImageNet's classes otherwise.
    public func attackLabels(batch: Bool) -> [String] {
        guard isToy else { return EmbeddedAssets.imageNetLabels }
        return batch ? ToyAttackDefaults.batchLabels : ToyAttackDefaults.labels
    }

    /// Where attack text goes unless told: centred on the toy's small scenes (where its
    /// training words are), the paper's eight origins otherwise.
    public var attackPlacement: AttackPlacement { isToy ? .centered : .paper }

    /// The em size unless told: the toy's word size, or nil (the paper's, scaled to the image).
    public var attackSize: Double? { isToy ? ToyAttackDefaults.size : nil }

    /// An attack style from what was given, the rest from the profile; throws `InvalidParameter`
    /// ("position", "size", ...) for values that cannot work.
    public func attackStyle(position: String? = nil, size: Double? = nil, fill: String = "white", outline: String = "black",
                            outlineWidth: Double? = nil) throws -> AttackStyle {
        let placement = try position.map(AttackPlacement.init(parsing:)) ?? attackPlacement
        let style = AttackStyle(placement: placement, size: size ?? attackSize, fill: fill, outline: outline, outlineWidth: outlineWidth)
        try style.validate()
        return style
    }

    // MARK: Stroop

    /// Which Stroop images: the paper's, or the toy world's (its inks, resolution and prompt).
    public enum StroopPreset: String, Sendable, CaseIterable {
        case paper, toy
    }

    /// The Stroop preset unless one is asked for: the toy's for the toy model.
    public var stroopPreset: StroopPreset { isToy ? .toy : .paper }

    public func stroopSettings(_ preset: StroopPreset? = nil) -> StroopSettings {
        (preset ?? stroopPreset) == .toy ? ToyStroop.settings : .paper
    }

    // MARK: Maximal text, gap, visualization, demo

    /// The words maxtext's texts are made of unless given a vocabulary: the toy's own (it
    /// knows no others), or every token (nil) for other models.
    public var maxTextVocabulary: [String]? { isToy ? ToyWorld.words : nil }

    /// Whether the model has captioned scenes of its own (gap without a folder, the demo).
    public var hasOwnScenes: Bool { isToy }

    /// The visualization recipe a neuron gets unless told: the toy's (`ToyVisualization`),
    /// the paper's code at 1000 steps otherwise; as the app's `:visualize` words.
    public var visualizationPreset: (variant: String, steps: Int?) {
        isToy ? (VisualizationPresets.toy, nil) : (VisualizationVariant.paperCode.rawValue, 1000)
    }

    /// The app's `:visualize` command for a neuron with this profile's recipe.
    public func visualizeCommand(neuron: Int) -> String {
        let preset = visualizationPreset
        return "visualize \(neuron) \(preset.variant)" + (preset.steps.map { " steps=\($0)" } ?? "")
    }

    /// The visualization settings of this profile's recipe.
    public var visualizationSettings: VisualizationSettings {
        var settings = VisualizationPresets.settings(named: visualizationPreset.variant)!
        if let steps = visualizationPreset.steps { settings.steps = steps }
        return settings
    }

    /// A name for run folders made from the model ("RN50x4" for ~/models/RN50x4.pt).
    public var runName: String {
        ((model as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    // MARK: Telling the user

    /// What a command takes from the toy profile, for the line that says so.
    public enum PresetUse: Sendable {
        case classify, attack, attackBatch, stroop, maxText, gap
    }

    /// The line shown (people's output only) when a command runs on the toy model because no
    /// model was named, so its presets are never a surprise; nil for other models.
    public func implicitModelNote(for use: PresetUse) -> String? {
        guard isToy else { return nil }
        let presets: String
        switch use {
        case .classify: presets = "prompt \"\(zeroShotTemplate)\""
        case .attack: presets = "its words as labels, prompt \"\(zeroShotTemplate)\", text centred at \(Int(ToyAttackDefaults.size)) px"
        case .attackBatch: presets = "its shape names as labels, prompt \"\(zeroShotTemplate)\", text centred at \(Int(ToyAttackDefaults.size)) px"
        case .stroop: presets = "its inks at its resolution, prompt \"\(ToyStroop.settings.template)\""
        case .maxText: presets = "texts from its own words"
        case .gap: presets = "its own captioned scenes"
        }
        return "model: the embedded toy model (toy presets: \(presets))"
    }
}

/// The named starting points of a visualization: each variant, and `toy`, the toy model's
/// recipe (a direct variant with strong transforms).
public enum VisualizationPresets {
    public static let toy = "toy"

    /// Every name, variants first.
    public static var names: [String] { VisualizationVariant.allCases.map(\.rawValue) + [toy] }

    public static func settings(named name: String) -> VisualizationSettings? {
        name == toy ? ToyVisualization.settings : VisualizationVariant(rawValue: name).map(VisualizationSettings.init(variant:))
    }
}
