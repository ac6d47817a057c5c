import CLIP
import Foundation
import Index
import Jobs
import Support
import Synchronization
import Terminal
import ToyWorld
import Workbench

/// Where the app's data comes from, and what it opens with.
public struct AppOptions: Sendable {
    public var model: String
    /// The index to open; nil: the toy model's demo index, or none for other models.
    public var index: String?
    /// A folder to scan on start (into `index`, or a new index in the folder).
    public var scan: String?
    /// How pictures are drawn (`App.run` asks the terminal what it can do with this).
    public var graphics: GraphicsMode
    /// Where the toy demo lives (default `ToyDemo.defaultDirectory()`).
    public var demoDirectory: String?
    /// Scenes in a demo gallery the app builds (tests make small ones).
    public var demoScenes: Int
    /// Where run folders are listed from (the jobs pane).
    public var runs: String
    /// Colours of each sixel picture (fewer for slow links).
    public var sixelColors = 256

    public init(model: String, index: String?, scan: String?, graphics: GraphicsMode, demoDirectory: String? = nil,
                demoScenes: Int = ToyDemo.galleryCount, runs: String = RunFolder.defaultRunsDirectory()) {
        self.runs = runs
        self.model = model
        self.index = index
        self.scan = scan
        self.graphics = graphics
        self.demoDirectory = demoDirectory
        self.demoScenes = demoScenes
    }

    /// The same with the graphics as the command line spells them (`auto` when unknown).
    public init(model: String, index: String?, scan: String?, graphics: String, demoDirectory: String? = nil,
                demoScenes: Int = ToyDemo.galleryCount, runs: String = RunFolder.defaultRunsDirectory()) {
        self.init(model: model, index: index, scan: scan, graphics: GraphicsMode(rawValue: graphics) ?? .auto,
                  demoDirectory: demoDirectory, demoScenes: demoScenes, runs: runs)
    }
}

/// What the app asks of the world. The UI thread hands it the state's effects; it does them
/// off the UI thread and answers only with events in the mailbox. `Backend` is the real one;
/// tests drive the state with a fake that answers at once.
public protocol AppBackend: Sendable {
    /// Loads the model and opens (or builds) the index, in the background.
    func start()
    /// Does what a state change asked for (returns at once).
    func perform(_ effect: Effect)
    /// Waits until the jobs it started have stopped and its pending index writes are done, `seconds` at most.
    func waitForJobs(seconds: Double)
}

/// A value that may be used only while holding the compute executor's lane (a model, a
/// classifier: not thread-safe, and their BLAS calls must not compete): `run` is the only
/// way to reach it, so the rule is the type's, not a convention.
final class ExecutorBound<Value>: @unchecked Sendable {
    private let value: Value
    let executor: ComputeExecutor

    init(_ value: Value, executor: ComputeExecutor) {
        self.value = value
        self.executor = executor
    }

    func run<T>(_ priority: ComputeExecutor.Priority, _ body: (Value) throws -> T) rethrows -> T {
        try executor.run(priority) { try body(value) }
    }
}

/// The app's background work, a thin scheduler: index reads on one serial queue
/// (`BackendIndex.swift`), model calls on their own threads through the compute executor at
/// interactive priority (`BackendModel.swift`), jobs through `JobRunner` (`JobLaunching.swift`).
/// Nothing here touches the terminal; every answer is an event in the mailbox.
public final class Backend: AppBackend {
    let options: AppOptions
    /// What the app decides as the command line does: the model's profile (labels, prompt,
    /// presets) and the request builders of every job, with their run folders.
    let workbench: Workbench
    let mailbox: Mailbox
    let executor: ComputeExecutor
    let indexQueue = DispatchQueue(label: "clipscope.tui.index")
    let labWorker = AttackLabWorker()
    /// Run records as last read, so that listing the runs folder every 2 s re-reads only changed ones.
    let recordCache = RecordCache()

    struct Shared: Sendable {
        var index: ActivationIndex?
        var scan: ScanInfo?
        var model: ExecutorBound<CLIPModel>?
        var centroids: [Int: [Float]]?
        var classifier: ExecutorBound<ZeroShotClassifier>?
        var cancels: [UUID: CancellationToken] = [:]
        var waits: [UUID: @Sendable () -> Void] = [:]
        var restarts: [UUID: @Sendable () -> Void] = [:]
        /// Jobs in runner processes of their own, by id: their run folders (cancelled through them).
        var detached: [UUID: String] = [:]
        /// Run folders followed (ours and other processes' running ones), by who follows each.
        var followed: [String: UUID] = [:]
        var runs: [PastRun]?
        var visualizations: [Int: String]?
        /// The open model's fingerprint, and whether the index's model was found to differ.
        var modelFingerprint: String?
        var mismatch: String?
        var quitting = false
        var reportedUnreadable: Set<String> = []
    }
    private let shared = Mutex(Shared())

    public init(options: AppOptions, mailbox: Mailbox, executor: ComputeExecutor = .shared) {
        self.options = options
        workbench = Workbench(model: options.model, runs: options.runs)
        self.mailbox = mailbox
        self.executor = executor
    }

    func withShared<T: Sendable>(_ body: (inout Shared) -> T) -> T {
        shared.withLock { body(&$0) }
    }

    var profile: ModelProfile { workbench.profile }

    var opened: (index: ActivationIndex, scan: ScanInfo)? {
        withShared { shared in shared.index.flatMap { index in shared.scan.map { (index, $0) } } }
    }

    // MARK: Start

    /// Loads the model and opens (or builds) the index, all in the background; keeps the
    /// list of run folders fresh.
    public func start() {
        thread("clipscope.tui.runs") { [self] in
            while !withShared({ $0.quitting }) {
                listRuns()
                Thread.sleep(forTimeInterval: 2)
            }
        }
        thread("clipscope.tui.model") { [self] in loadModel() }
        if let folder = options.scan {
            startScan(folder: folder)
        } else if let index = options.index {
            openIndex(index)
        } else if profile.hasOwnScenes {
            buildDemo()
        } else {
            mailbox.post(.catalogFailed("no index: give --index, or scan a folder of images with :scan DIR"))
        }
    }

    // MARK: Effects

    /// Does what a state change asked for, off the UI thread: index work, model calls or jobs.
    public func perform(_ effect: Effect) {
        switch effect {
        case let .loadCard(neuron): loadCard(neuron)
        case let .openImage(path): openImage(path)
        case let .saveLabel(neuron, label, note): saveLabel(neuron, label: label, note: note)
        case let .setStar(neuron, starred): setStar(neuron, starred: starred)
        case let .exportCard(neuron): export(neuron)
        case let .searchByMeaning(query): search(query)
        case let .rescoreAttack(request):
            labWorker.submit(request) { thread("clipscope.tui.attack-lab") { [self] in attackLabLoop() } }
        case let .cancelJob(id):
            if let token = withShared({ $0.cancels[id] }) {
                token.cancel()
            } else if let folder = withShared({ $0.detached[id] }) {
                cancelDetached(folder)
            }
        case .cancelDetachedJobs:
            for folder in withShared({ Array($0.detached.values) }) { cancelDetached(folder) }
        case let .resumeJob(id):
            if let restart = withShared({ $0.restarts[id] }) {
                restart()
            } else {
                mailbox.post(.message("this kind of job cannot run again from here", isError: false))
            }
        case let .resumeRun(folder): resumeRun(folder)
        case .startScan, .visualize, .maxText, .dream, .atlas, .saveAttack, .stroop, .gap:
            launch(effect)
        case .quit:
            for token in withShared({ $0.quitting = true; return Array($0.cancels.values) }) { token.cancel() }
        }
    }

    /// Waits until every job this app started has stopped (they stop at their next step
    /// once cancelled, their work committed) and the index writes asked for are done,
    /// `seconds` at most.
    public func waitForJobs(seconds: Double) {
        let waits = withShared { Array($0.waits.values) }
        let done = DispatchSemaphore(value: 0)
        thread("clipscope.tui.wait") { [indexQueue] in
            for wait in waits { wait() }
            // A label or star saved just before quitting is written before the app ends.
            indexQueue.sync {}
            done.signal()
        }
        _ = done.wait(timeout: .now() + seconds)
    }

    func thread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.stackSize = JobRunner.stackSize
        thread.start()
    }
}
