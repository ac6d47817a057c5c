import CLIP
import Foundation
import Index
import Jobs
import Synchronization

/// A key press, as the app understands it (the terminal layer translates ncurses codes).
public enum Key: Sendable, Equatable {
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace, delete
    case character(Character)
    case control(Character)
}

/// One neuron as the list shows it.
public struct NeuronRow: Sendable, Equatable {
    public var neuron: Int
    public var label: String?
    public var labelSource: LabelSource?
    public var note: String?
    public var starred: Bool
    /// The highest activation over the scan.
    public var top: Float
    /// The top activations, highest first (for the sparkline).
    public var topValues: [Float]
    /// The shape this neuron holds cleanly, drawn and written (a toy gallery's concept neuron).
    public var concept: String? = nil
}

/// Who gave a neuron its label.
public enum LabelSource: String, Sendable, Equatable {
    /// Typed in the app or set with `clipscope label --set`.
    case user
    /// Proposed by `clipscope label` (shown with a question mark).
    case proposed
}

/// What the app knows of the open index: its scan and every neuron's row.
public struct NeuronCatalog: Sendable {
    public var indexPath: String
    public var scan: ScanInfo
    public var rows: [NeuronRow]
}

/// An image of the index with its activation.
public struct RankedImage: Sendable, Equatable {
    public var path: String
    public var category: String
    public var value: Float
}

/// Everything a neuron card shows.
public struct CardData: Sendable {
    public var neuron: Int
    public var top: [RankedImage]
    public var bottom: [RankedImage]
    public var stats: ActivationStats
    public var categories: [CategorySummary]
    public var bins: [HistogramBin]
    /// The newest feature visualization of the neuron found under the runs directory.
    public var visualization: String?
}

/// What one image excites, and how the model classifies it.
public struct ImageDetails: Sendable {
    public var path: String
    public var neurons: [(neuron: Int, value: Float)]
    public var zeroShot: [(label: String, probability: Float)]
}

/// A run folder found under the runs directory (a job of an earlier session, or of a command).
public struct PastRun: Sendable, Equatable {
    public var folder: String
    public var state: JobState
    /// Whether the app can start it again where it stopped (R).
    public var resumable: Bool

    public init(folder: String, state: JobState, resumable: Bool) {
        self.folder = folder
        self.state = state
        self.resumable = resumable
    }
}

/// Everything that changes the app's state, from the terminal or from background work.
/// Background threads only ever post these; the UI thread applies them.
public enum AppEvent: Sendable {
    case key(Key)
    case resize(rows: Int, columns: Int)
    case modelLoaded(name: String, neurons: Int)
    case modelFailed(String)
    case catalogLoaded(NeuronCatalog)
    case catalogFailed(String)
    /// The toy's demo gallery, scan and labels are being built as jobs; its index opens after.
    case demoBuilding
    case cardLoaded(CardData)
    case imageDetails(ImageDetails)
    case job(UUID, JobEvent)
    /// The job runs in a runner process of its own: it keeps running when the app quits.
    case jobDetached(UUID)
    /// The run folders under the runs directory, newest first.
    case runsFound([PastRun])
    /// Each neuron's newest feature visualization found in those run folders.
    case visualizationsFound([Int: String])
    /// An encoded picture is ready for its slot.
    case imageReady(ImageKey)
    case searchResults(query: String, neurons: [(neuron: Int, score: Float)])
    /// The attack lab's answer to one of its requests.
    case attackScored(AttackLabResult)
    case message(String, isError: Bool)
}

/// A thread-safe queue of events: background work posts, the UI thread drains each frame.
public final class Mailbox: Sendable {
    private let events = Mutex<[AppEvent]>([])
    /// Wakes a UI thread blocked on input (the write end of a pipe it polls), if any.
    private let wake: @Sendable () -> Void

    public init(wake: @escaping @Sendable () -> Void = {}) { self.wake = wake }

    public func post(_ event: AppEvent) {
        events.withLock { $0.append(event) }
        wake()
    }

    public func drain() -> [AppEvent] {
        events.withLock { events in
            let drained = events
            events.removeAll(keepingCapacity: true)
            return drained
        }
    }
}
