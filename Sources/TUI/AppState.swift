import Experiments
import Foundation
import Index
import Jobs
import Support
import Terminal
import Workbench

/// The app's screens, one shown at a time (Tab cycles the main ones).
public enum Screen: String, Sendable, Equatable, CaseIterable {
    case neurons, card, image, lab, figure, jobs, log

    var title: String {
        switch self {
        case .neurons: "Neurons"
        case .card: "Card"
        case .image: "Image"
        case .lab: "Attack"
        case .figure: "Figure"
        case .jobs: "Jobs"
        case .log: "Log"
        }
    }
}

/// What the app must do in the world after a state change: the UI thread hands these to
/// the backend, which works off the UI thread and answers with events.
public enum Effect: Sendable, Equatable {
    case loadCard(Int)
    case openImage(String)
    case saveLabel(neuron: Int, label: String?, note: String?)
    case setStar(neuron: Int, starred: Bool)
    case searchByMeaning(String)
    case startScan(folder: String)
    case cancelJob(UUID)
    case resumeJob(UUID)
    /// Starts a run folder's job again (it continues from its last checkpoint).
    case resumeRun(folder: String)
    case exportCard(Int)
    case visualize(neuron: Int, recipe: VisualizeRecipe, tweaks: VisualizeTweaks)
    /// Maximal text for the neuron's top images.
    case maxText(neuron: Int)
    case dream(neuron: Int)
    /// A sweep: every neuron (or a range) visualized, 16 a batch.
    case atlas(neurons: ClosedRange<Int>, steps: Int)
    /// The attack lab's newest text to draw and score (older ones are dropped).
    case rescoreAttack(AttackLabRequest)
    /// Saves an attacked image and its scores (an attack job into a run folder).
    case saveAttack(imagePath: String, text: String, style: AttackStyle)
    /// The Stroop test (the toy's preset for the toy model).
    case stroop
    /// The modality gap of a folder or CSV of captioned images (nil: the toy's own scenes).
    case gap(String?)
    /// Asks every job running in a runner of its own to stop at its next step (before quitting).
    case cancelDetachedJobs
    case quit
}

/// A line typed at the bottom: a search, a command, or a field being edited.
public enum Input: Sendable, Equatable {
    case search(String)
    case command(String)
    case label(neuron: Int, text: String)
    case note(neuron: Int, text: String)
    case confirmQuit

    var text: String {
        switch self {
        case let .search(t), let .command(t), let .label(_, t), let .note(_, t): t
        case .confirmQuit: ""
        }
    }

    func with(text: String) -> Input {
        switch self {
        case .search: .search(text)
        case .command: .command(text)
        case let .label(n, _): .label(neuron: n, text: text)
        case let .note(n, _): .note(neuron: n, text: text)
        case .confirmQuit: .confirmQuit
        }
    }
}

/// What the help overlay shows: the pane's keys (`?`) or the `:` commands (`:help`).
public enum HelpPage: Sendable, Equatable {
    case keys, commands
}

/// The one state of the app: a router over the panes' slices. Events change it (`apply`);
/// panes only draw it. Each pane's keys are its `KeyTable` (see `Bindings`).
public struct AppState {
    public var rows: Int
    public var columns: Int
    public var screen: Screen = .neurons
    var back: [Screen] = []

    public var modelName: String
    public var modelStatus = "loading"
    public var modelReady = false
    /// How pictures are drawn (the terminal's answer to `--graphics`), and its name for the status bar.
    public var graphics: TerminalCapabilities.Graphics
    public var graphicsName: String
    public var indexStatus = "opening"
    /// Why no index is open (a bad `--index`, a model without a demo), shown where the neurons would be.
    public var indexProblem: String?
    /// The toy's demo runs are being built (the neuron list says so until its index opens).
    public var buildingDemo = false

    /// The panes' slices.
    public var neurons = NeuronListState()
    public var cardPane = CardState()
    public var imagePane = ImageState()
    /// The typographic attack lab (open once an image was attacked).
    public var lab: AttackLab?
    /// A finished experiment's figures and numbers (Stroop, modality gap).
    public var figure: FigureView?
    public var jobsPane = JobsState()
    public var logPane = LogState()

    /// Each neuron's newest feature visualization (a marker in the list, a thumbnail beside it).
    public var visualizations: [Int: String] = [:]
    /// Whether the app has offered to draw every neuron's visualization (once, when there are none).
    var offeredAtlas = false

    public var input: Input?
    public var help: HelpPage?
    public var message: (text: String, isError: Bool)?
    public var quitting = false
    /// Jobs that run in runner processes of their own (they outlive the app).
    public var detachedJobs: Set<UUID> = []
    /// The user chose to cancel every job on quitting.
    public var cancelAtQuit = false
    /// Running jobs that quitting stops, and those that keep running in their runners.
    public var jobsAtQuit: (stopping: Int, continuing: Int) {
        let running = jobs.running
        let continuing = running.filter { detachedJobs.contains($0.id) }.count
        return (running.count - continuing, continuing)
    }
    public var environment: AppEnvironment

    public init(rows: Int, columns: Int, modelName: String, graphics: TerminalCapabilities.Graphics, graphicsName: String? = nil,
                environment: AppEnvironment = AppEnvironment()) {
        self.rows = rows
        self.columns = columns
        self.modelName = modelName
        self.graphics = graphics
        self.graphicsName = graphicsName ?? graphics.rawValue
        self.environment = environment
    }

    /// The model's profile: its presets, as the command line has them (`Workbench`).
    public var profile: ModelProfile { ModelProfile(model: modelName) }

    /// Whether pictures are drawn in pixels (sixel, kitty, iTerm2), fine enough for charts
    /// with names and numbers; half blocks are not.
    public var drawsPixels: Bool { graphics == .sixel || graphics == .kitty || graphics == .iterm }

    /// The smallest window the app lays out in; below it, it says so.
    public static let minimumSize = (rows: 12, columns: 50)
    public var isTooSmall: Bool { rows < Self.minimumSize.rows || columns < Self.minimumSize.columns }

    // MARK: Events

    /// Applies an event; returns what the app must do about it.
    public mutating func apply(_ event: AppEvent) -> [Effect] {
        switch event {
        case let .key(key):
            return requestingPreview(handle(key))
        case let .resize(rows, columns):
            self.rows = rows
            self.columns = columns
        case let .modelLoaded(name, neurons):
            modelReady = true
            modelStatus = "\(neurons) neurons"
            modelName = name
        case let .modelFailed(message):
            modelStatus = "failed"
            report(message, isError: true)
        case let .catalogLoaded(catalog):
            catalogLoaded(catalog)
        case let .catalogFailed(message):
            indexStatus = "none"
            indexProblem = message
            buildingDemo = false
            report(message, isError: true)
        case .demoBuilding:
            buildingDemo = true
        case let .cardLoaded(data):
            if data.neuron == cardNeuron { card = data }
            previewLoaded(data)
        case let .imageDetails(details):
            image = details
            imageSelection = 0
        case let .job(id, jobEvent):
            applyJobEvent(id, jobEvent)
        case let .jobDetached(id):
            detachedJobs.insert(id)
        case let .runsFound(found):
            jobsPane.runsFound(found)
        case let .visualizationsFound(found):
            visualizations = found
            if found.isEmpty, !offeredAtlas, let catalog, message == nil {
                offeredAtlas = true
                message = ("no feature visualizations yet: :atlas draws all \(catalog.scan.model.neurons) in the background", false)
            }
        case .imageReady:
            break
        case let .attackScored(result):
            labScored(result)
        case let .searchResults(query, neurons):
            meaning = (query, Dictionary(neurons.map { ($0.neuron, $0.score) }, uniquingKeysWith: { a, _ in a }))
            if query == self.query { selection = 0 }
            message = ("\"\(query)\" ranked by meaning (Esc clears)", false)
        case let .message(text, isError):
            report(text, isError: isError)
            if isError { previewMayHaveFailed() }  // a failed load answers with an error
        }
        return requestingPreview([])
    }

    mutating func catalogLoaded(_ catalog: NeuronCatalog) {
        let selected = selectedRow?.neuron
        // The first catalog with concept neurons opens with them first (the toy demo).
        if self.catalog == nil, sort == .id, catalog.rows.contains(where: { $0.concept != nil }) { sort = .concept }
        self.catalog = catalog
        indexStatus = "\(catalog.scan.imageCount) images"
        indexProblem = nil
        buildingDemo = false
        if let selected, let index = visibleRows.firstIndex(where: { $0.neuron == selected }) { selection = index }
        clampSelection()
    }

    mutating func applyJobEvent(_ id: UUID, _ jobEvent: JobEvent) {
        jobs.apply(id, jobEvent)
        // A finished visualization of the open card's neuron shows in the card at once.
        if case let .artefact(artefact) = jobEvent, let neuron = cardNeuron, artefact.name == "neuron \(neuron)",
           let path = artefact.path, card?.neuron == neuron {
            card?.visualization = path
        }
        guard let state = jobs.states[id] else { return }
        switch jobEvent {
        case .started:
            log("\(state.kind) started")
            // The jobs pane follows the newest job.
            if let row = jobRows.firstIndex(where: { $0.state.id == id }) { jobSelection = row }
        case let .log(level, text): log("\(state.kind): \(text)", isError: level == .warning)
        case let .finished(summary, _):
            log("\(state.kind): \(summary)")
            stopping.remove(id)
            // An experiment with a figure shows it when it ends while its job is watched.
            if screen == .jobs, let view = FigureView(job: state) {
                figure = view
                show(.figure)
            }
        case let .failed(text): report("\(state.kind) failed: \(text)", isError: true); stopping.remove(id)
        case .cancelled: log("\(state.kind) cancelled"); stopping.remove(id)
        default: break
        }
    }

    mutating func report(_ text: String, isError: Bool = false) {
        message = (text, isError)
        log(text, isError: isError)
    }

    mutating func log(_ text: String, isError: Bool = false) { logPane.append(text, isError: isError) }

    // MARK: Moving between panes

    mutating func show(_ next: Screen) {
        guard next != screen else { return }
        back.append(screen)
        if back.count > 20 { back.removeFirst() }
        screen = next
    }

    mutating func goBack() -> [Effect] {
        if let previous = back.popLast() {
            screen = previous
            return []
        }
        if screen != .neurons {
            screen = .neurons
            return []
        }
        // The list is the top: Esc has nothing to go back to. Quitting is q's, which asks while jobs run.
        message = ("q quits", false)
        return []
    }

    mutating func requestQuit() -> [Effect] {
        if jobsAtQuit == (0, 0) {
            quitting = true
            return [.quit]
        }
        input = .confirmQuit
        return []
    }

    /// The panes Tab cycles through, in the order the tab bar shows them.
    public var tabOrder: [Screen] {
        var order: [Screen] = [.neurons]
        if cardNeuron != nil { order.append(.card) }
        if image != nil || screen == .image { order.append(.image) }
        if lab != nil { order.append(.lab) }
        if figure != nil { order.append(.figure) }
        return order + [.jobs, .log]
    }

    mutating func cycle(forward: Bool) {
        let order = tabOrder
        let index = order.firstIndex(of: screen) ?? 0
        let next = order[(index + (forward ? 1 : order.count - 1)) % order.count]
        back.removeAll()
        screen = next
    }

    // MARK: Keys

    /// A key: to the input line while one is open, to the help while it is shown, else to the
    /// first binding of the pane's table or the global one that takes it (`Bindings`).
    mutating func handle(_ key: Key) -> [Effect] {
        if let input { return handleInput(key, input) }
        if help != nil {
            if key == .escape || key == .character("?") || key == .character("q") { help = nil }
            return []
        }
        message = nil
        guard let (binding, reason) = Bindings.binding(for: key, on: screen, in: self) else { return [] }
        if let reason {
            message = (reason, false)
            return []
        }
        return binding.action(&self, key)
    }

    /// Moves a selection by a key of `moveKeys`: arrows, j/k, page keys, g/G.
    static func moved(_ selection: Int, count: Int, page: Int, by key: Key) -> Int? {
        guard count > 0 else { return nil }
        let target: Int
        switch key {
        case .down, .character("j"): target = selection + 1
        case .up, .character("k"): target = selection - 1
        case .pageDown, .control("f"), .control("d"): target = selection + page
        case .pageUp, .control("u"): target = selection - page
        case .home, .character("g"): target = 0
        case .end, .character("G"): target = count - 1
        default: return nil
        }
        return min(max(0, target), count - 1)
    }

    /// The keys `moved` takes, as three bindings' keys: a row, a page, the ends.
    static let stepKeys: [Key] = [.up, .down, .character("j"), .character("k")]
    static let pageKeys: [Key] = [.pageUp, .pageDown, .control("u"), .control("d"), .control("f")]
    static let endKeys: [Key] = [.home, .end, .character("g"), .character("G")]
}
