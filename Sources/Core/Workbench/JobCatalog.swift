import Experiments
import Foundation
import Index
import Jobs
import ToyWorld

/// Every kind of job, as `run.json` and `JobState.kind` name it (each spec's `static let kind`).
public enum JobKind: String, CaseIterable, Sendable, Codable {
    case scan
    case label
    case visualize
    case dream
    case maxText = "maxtext"
    case attack
    case attackBatch = "attack-batch"
    case stroop
    case gap
    case toyGallery = "toy-gallery"
    case toyTrain = "toy-train"

    /// The kind a record or a job names; nil for one this build does not know (a newer
    /// clipscope's, or a damaged record).
    public init?(named name: String) { self.init(rawValue: name) }
}

/// Starts a job whose type is only known at run time (a spec decoded from `run.json`):
/// the catalog calls back with the concrete type, so generic code (`JobRunner.start`) can run it.
public protocol JobStarter {
    func start<Spec: JobSpec>(_ spec: Spec)
}

/// What the front ends know about each job kind, in one place: its spec type, whether it
/// writes a run folder, whether and how it continues from one, and which of its files are
/// pictures and whether it has a figure view.
public enum JobCatalog {
    public struct Entry: Sendable {
        public let kind: JobKind
        public let spec: any JobSpec.Type
        /// Whether its runs keep a folder with `run.json` (the others write an index or a gallery).
        public let writesRunFolder: Bool
        /// Whether starting its recorded spec again continues the run (checkpoints or kept
        /// results) rather than doing it over.
        public let resumes: Bool
        /// Whether the finished job is shown as a figure (its pictures and summary) rather
        /// than its last picture.
        public let hasFigure: Bool
    }

    public static let entries: [Entry] = [
        Entry(kind: .scan, spec: ScanJob.self, writesRunFolder: false, resumes: false, hasFigure: false),
        Entry(kind: .label, spec: LabelJob.self, writesRunFolder: false, resumes: false, hasFigure: false),
        Entry(kind: .visualize, spec: VisualizeJob.self, writesRunFolder: true, resumes: true, hasFigure: false),
        Entry(kind: .dream, spec: DreamJob.self, writesRunFolder: true, resumes: true, hasFigure: false),
        Entry(kind: .maxText, spec: MaxTextJob.self, writesRunFolder: true, resumes: true, hasFigure: false),
        Entry(kind: .attack, spec: AttackJob.self, writesRunFolder: true, resumes: false, hasFigure: false),
        // A batch keeps each image's outcome in results.jsonl and skips those on a new start.
        Entry(kind: .attackBatch, spec: AttackBatchJob.self, writesRunFolder: true, resumes: true, hasFigure: false),
        Entry(kind: .stroop, spec: StroopJob.self, writesRunFolder: true, resumes: false, hasFigure: true),
        Entry(kind: .gap, spec: GapJob.self, writesRunFolder: true, resumes: false, hasFigure: true),
        Entry(kind: .toyGallery, spec: ToyGallery.self, writesRunFolder: false, resumes: false, hasFigure: false),
        Entry(kind: .toyTrain, spec: ToyTrainJob.self, writesRunFolder: true, resumes: true, hasFigure: false),
    ]

    public static func entry(_ kind: JobKind) -> Entry {
        entries.first { $0.kind == kind }!
    }

    /// The entry of a recorded kind name; nil for an unknown one.
    public static func entry(named name: String) -> Entry? {
        JobKind(named: name).map(entry)
    }

    /// Whether a run of this kind (as `run.json` names it) can be continued from its folder.
    public static func resumes(kind name: String) -> Bool {
        entry(named: name)?.resumes ?? false
    }

    /// Whether a finished job of this kind opens as a figure (the app's figure view).
    public static func hasFigure(kind name: String) -> Bool {
        entry(named: name)?.hasFigure ?? false
    }

    /// The spec recorded in a run folder's `run.json`, set to write to `folder` (where the run
    /// is now: folders may be moved). Throws when the kind is unknown or the parameters do not
    /// decode.
    public static func spec(kind name: String, parameters: Data, folder: String) throws -> any JobSpec {
        guard let entry = entry(named: name) else { throw InvalidRunRecord(folder: folder, reason: "unknown job kind \(name)") }
        func decode<Spec: JobSpec>(_ type: Spec.Type) throws -> any JobSpec {
            do {
                return placed(try JSONDecoder().decode(type, from: parameters), in: folder)
            } catch {
                throw InvalidRunRecord(folder: folder, reason: "its \(name) parameters do not decode (\(error))")
            }
        }
        return try decode(entry.spec)
    }

    /// The run's spec, if its kind continues from its folder; `starter` is called with it (by
    /// its own type) when `start` is. Nil for kinds that do not continue.
    public static func resume(kind name: String, parameters: Data, folder: String) throws -> ResumableRun? {
        guard resumes(kind: name) else { return nil }
        return ResumableRun(spec: try spec(kind: name, parameters: parameters, folder: folder))
    }

    /// The same spec writing to `folder` (kinds without a run folder are left as they are).
    static func placed<Spec: JobSpec>(_ spec: Spec, in folder: String) -> Spec {
        var spec = spec
        switch spec {
        case var job as VisualizeJob: job.output = folder; spec = job as! Spec
        case var job as DreamJob: job.output = folder; spec = job as! Spec
        case var job as MaxTextJob: job.output = folder; spec = job as! Spec
        case var job as AttackJob: job.output = folder; spec = job as! Spec
        case var job as AttackBatchJob: job.output = folder; spec = job as! Spec
        case var job as StroopJob: job.output = folder; spec = job as! Spec
        case var job as GapJob: job.output = folder; spec = job as! Spec
        case var job as ToyTrainJob: job.output = folder; spec = job as! Spec
        default: break
        }
        return spec
    }

    // MARK: Artefacts

    /// A job's files that are pictures (PNG or JPEG), as (name, path), in the order written.
    public static func pictures(_ artefacts: [JobArtefact]) -> [(name: String, path: String)] {
        artefacts.compactMap { artefact in artefact.path.flatMap { isPicture($0) ? (artefact.name, $0) : nil } }
    }

    /// The picture that stands for a job: its figure's first picture for kinds with a figure,
    /// else the newest picture (the latest visualization or dream level).
    public static func mainPicture(kind name: String, artefacts: [JobArtefact]) -> String? {
        let found = pictures(artefacts)
        return hasFigure(kind: name) ? found.first?.path : found.last?.path
    }

    public static func isPicture(_ path: String) -> Bool {
        ["png", "jpg", "jpeg"].contains((path as NSString).pathExtension.lowercased())
    }
}

/// A recorded spec that continues its run when started again.
public struct ResumableRun: Sendable {
    public let spec: any JobSpec

    /// Hands the spec, by its own type, to `starter`.
    public func start(with starter: some JobStarter) {
        func open<Spec: JobSpec>(_ spec: Spec) { starter.start(spec) }
        open(spec)
    }
}

/// A run folder whose record cannot be turned back into a job.
public struct InvalidRunRecord: Error, CustomStringConvertible, Sendable {
    public let folder: String
    public let reason: String
    public var description: String { "\(folder): \(reason)" }
}
