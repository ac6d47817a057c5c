import Experiments
import Index
import ToyWorld

/// The kinds of job the app knows by name (each spec's own `kind` constant), until the
/// workbench brings a shared one.
public enum JobKind: Sendable, Equatable, CaseIterable {
    case scan, label, toyGallery, toyTrain, visualize, dream, maxText, attack, attackBatch, stroop, gap

    /// The name a spec and its run folder's record carry.
    public var name: String {
        switch self {
        case .scan: ScanJob.kind
        case .label: LabelJob.kind
        case .toyGallery: ToyGallery.kind
        case .toyTrain: ToyTrainJob.kind
        case .visualize: VisualizeJob.kind
        case .dream: DreamJob.kind
        case .maxText: MaxTextJob.kind
        case .attack: AttackJob.kind
        case .attackBatch: AttackBatchJob.kind
        case .stroop: StroopJob.kind
        case .gap: GapJob.kind
        }
    }

    public init?(_ name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    /// An experiment whose pictures open in the figure pane when it ends.
    public var hasFigure: Bool { self == .stroop || self == .gap }
}
