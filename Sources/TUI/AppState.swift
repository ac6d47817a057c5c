import Experiments
import Foundation
import Index
import Jobs
import Support
import ToyWorld

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
    case visualize(neuron: Int, variant: String, tweaks: VisualizeTweaks)
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
    case quit
}

/// The figures of a finished experiment and its numbers.
public struct FigureView: Sendable, Equatable {
    public var kind: String
    /// (name, path) of each picture the job made.
    public var pictures: [(name: String, path: String)]
    public var shown = 0
    public var summary: String

    /// The view of a finished Stroop or gap job (nil for other jobs or before a figure exists).
    init?(job: JobState) {
        guard ["stroop", "gap"].contains(job.kind) else { return nil }
        pictures = job.artefacts.compactMap { artefact in
            artefact.path.flatMap { Panes.isPicture($0) ? (artefact.name, $0) : nil }
        }
        guard !pictures.isEmpty else { return nil }
        kind = job.kind
        summary = job.outcome ?? ""
    }

    public static func == (a: FigureView, b: FigureView) -> Bool {
        a.kind == b.kind && a.pictures.map(\.path) == b.pictures.map(\.path) && a.shown == b.shown && a.summary == b.summary
    }
}

/// How the neuron list is ordered.
public enum SortOrder: String, Sendable, CaseIterable {
    case id, top, label
    /// Concept neurons first (by concept), then the rest by id.
    case concept
}

/// Which neurons the list shows.
public enum Filter: String, Sendable, CaseIterable {
    case all, labelled, starred
    /// Neurons that hold a shape cleanly, drawn and written.
    case concepts
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

/// The one state of the app. Events change it (`apply`); panes only draw it.
public struct AppState {
    public var rows: Int
    public var columns: Int
    public var screen: Screen = .neurons
    var back: [Screen] = []

    public var modelName: String
    public var modelStatus = "loading"
    public var modelReady = false
    public var graphicsName: String
    public var indexStatus = "opening"
    /// Why no index is open (a bad `--index`, a model without a demo), shown where the neurons would be.
    public var indexProblem: String?
    /// The toy's demo runs are being built (the neuron list says so until its index opens).
    public var buildingDemo = false

    public var catalog: NeuronCatalog? { didSet { listChanged() } }
    public var sort: SortOrder = .id { didSet { listChanged() } }
    public var filter: Filter = .all { didSet { listChanged() } }
    /// The text filter of the last search (`/`), and its ranking by meaning when the model answered.
    public var query = "" { didSet { listChanged() } }
    public var meaning: (query: String, scores: [Int: Float])? { didSet { listChanged() } }
    /// The list's rows as of the properties above, computed once after each change of them:
    /// a frame reads them many times, and a paste into `/` changes the query thousands of times
    /// between two frames.
    private var visibleRowsCache = VisibleRowsCache()
    public var selection = 0

    public var card: CardData?
    public var cardNeuron: Int?
    public var cardShowsBottom = false
    /// The card shows its category bars and histogram in place of the pictures (`i`; small windows).
    public var cardShowsPanel = false
    public var cardSelection = 0

    public var image: ImageDetails?
    public var imageSelection = 0

    /// The typographic attack lab (open once an image was attacked).
    public var lab: AttackLab?

    /// A finished experiment's figures and numbers (Stroop, modality gap).
    public var figure: FigureView?

    public var jobs = JobBoard()
    /// Run folders of earlier sessions and of commands, found under the runs directory.
    public var runs: [PastRun] = []
    public var jobSelection = 0
    /// Jobs whose cancellation was asked for (shown as stopping).
    public var stopping: Set<UUID> = []

    /// Each neuron's newest feature visualization (a marker in the list, a thumbnail beside it).
    public var visualizations: [Int: String] = [:]
    /// Whether the app has offered to draw every neuron's visualization (once, when there are none).
    var offeredAtlas = false

    public var log: [(message: String, isError: Bool)] = []
    public var logFollow = true
    public var logOffset = 0
    public static let logLimit = 500

    public var input: Input?
    public var help = false
    public var message: (text: String, isError: Bool)?
    public var quitting = false

    public init(rows: Int, columns: Int, modelName: String, graphicsName: String) {
        self.rows = rows
        self.columns = columns
        self.modelName = modelName
        self.graphicsName = graphicsName
    }

    /// The smallest window the app lays out in; below it, it says so.
    public static let minimumSize = (rows: 12, columns: 50)
    public var isTooSmall: Bool { rows < Self.minimumSize.rows || columns < Self.minimumSize.columns }

    // MARK: The neuron list

    /// The rows the list shows, in its order.
    public var visibleRows: [NeuronRow] {
        if let rows = visibleRowsCache.rows { return rows }
        let rows = computeVisibleRows()
        visibleRowsCache.rows = rows
        return rows
    }

    /// A new cache for a new list: a copy of the state keeps the old one, which still answers for it.
    private mutating func listChanged() { visibleRowsCache = VisibleRowsCache() }

    private func computeVisibleRows() -> [NeuronRow] {
        guard let catalog else { return [] }
        var rows = catalog.rows.filter { row in
            switch filter {
            case .all: true
            case .labelled: row.label != nil
            case .starred: row.starred
            case .concepts: row.concept != nil
            }
        }
        if let meaning, meaning.query == query {
            return rows.sorted { (meaning.scores[$0.neuron] ?? -1, -$0.neuron) > (meaning.scores[$1.neuron] ?? -1, -$1.neuron) }
        }
        let search = SearchText(query)
        if !search.isEmpty { rows = rows.filter(search.matches) }
        switch sort {
        case .id: break
        case .top: rows.sort { ($0.top, -$0.neuron) > ($1.top, -$1.neuron) }
        case .label: rows.sort { ($0.label ?? "\u{10FFFF}", $0.neuron) < ($1.label ?? "\u{10FFFF}", $1.neuron) }
        case .concept: rows.sort { ($0.concept ?? "\u{10FFFF}", $0.neuron) < ($1.concept ?? "\u{10FFFF}", $1.neuron) }
        }
        return rows
    }

    /// A typed search as rows are matched against it, trimmed and lowercased once (not once a row).
    struct SearchText {
        let text: String
        let isNumber: Bool

        init(_ query: String) {
            text = query.trimmingCharacters(in: .whitespaces).lowercased()
            isNumber = text.allSatisfy(\.isNumber)
        }

        var isEmpty: Bool { text.isEmpty }

        /// Whether a row matches: its id (digits), or words of its label or note.
        func matches(_ row: NeuronRow) -> Bool {
            if text.isEmpty { return true }
            if isNumber { return String(row.neuron).hasPrefix(text) }
            return (row.label?.lowercased().contains(text) ?? false) || (row.note?.lowercased().contains(text) ?? false)
        }
    }

    /// Where `visibleRows` keeps its answer (a class, so the getter can fill it).
    final class VisibleRowsCache {
        var rows: [NeuronRow]?
    }

    public var selectedRow: NeuronRow? {
        let rows = visibleRows
        return rows.indices.contains(selection) ? rows[selection] : nil
    }

    func row(of neuron: Int) -> NeuronRow? { catalog?.rows.first { $0.neuron == neuron } }

    // MARK: Events

    /// Applies an event; returns what the app must do about it.
    public mutating func apply(_ event: AppEvent) -> [Effect] {
        switch event {
        case let .key(key):
            return handle(key)
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
            let selected = selectedRow?.neuron
            // The first catalog with concept neurons opens with them first (the toy demo).
            if self.catalog == nil, sort == .id, catalog.rows.contains(where: { $0.concept != nil }) { sort = .concept }
            self.catalog = catalog
            indexStatus = "\(catalog.scan.imageCount) images"
            indexProblem = nil
            buildingDemo = false
            if let selected, let index = visibleRows.firstIndex(where: { $0.neuron == selected }) { selection = index }
            clampSelection()
        case let .catalogFailed(message):
            indexStatus = "none"
            indexProblem = message
            buildingDemo = false
            report(message, isError: true)
        case .demoBuilding:
            buildingDemo = true
        case let .cardLoaded(data):
            if data.neuron == cardNeuron { card = data }
        case let .imageDetails(details):
            image = details
            imageSelection = 0
        case let .job(id, jobEvent):
            jobs.apply(id, jobEvent)
            // A finished visualization of the open card's neuron shows in the card at once.
            if case let .artefact(artefact) = jobEvent, let neuron = cardNeuron, artefact.name == "neuron \(neuron)",
               let path = artefact.path, card?.neuron == neuron {
                card?.visualization = path
            }
            if let state = jobs.states[id] {
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
        case let .runsFound(found):
            let selected = jobRows.indices.contains(jobSelection) ? jobRows[jobSelection].state.id : nil
            runs = found
            if let selected, let index = jobRows.firstIndex(where: { $0.state.id == selected }) { jobSelection = index }
            jobSelection = min(jobSelection, max(0, jobRows.count - 1))
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
        }
        return []
    }

    mutating func report(_ text: String, isError: Bool = false) {
        message = (text, isError)
        log(text, isError: isError)
    }

    mutating func log(_ text: String, isError: Bool = false) {
        log.append((text, isError))
        if log.count > Self.logLimit { log.removeFirst(log.count - Self.logLimit) }
    }

    mutating func clampSelection() {
        let count = visibleRows.count
        selection = count == 0 ? 0 : min(max(0, selection), count - 1)
    }

    /// Rows of the list body at the current size (title, header and status bars aside).
    var listHeight: Int { max(1, rows - 4) }

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
        if jobs.running.isEmpty {
            quitting = true
            return [.quit]
        }
        input = .confirmQuit
        return []
    }

    mutating func openCard(_ neuron: Int) -> [Effect] {
        guard let catalog, neuron >= 0, neuron < catalog.scan.model.neurons else {
            report("no neuron \(neuron)" + (catalog.map { " (this scan has 0-\($0.scan.model.neurons - 1))" } ?? ""), isError: true)
            return []
        }
        if cardNeuron != neuron { card = nil; cardSelection = 0 }
        cardNeuron = neuron
        if let index = visibleRows.firstIndex(where: { $0.neuron == neuron }) { selection = index }
        show(.card)
        return [.loadCard(neuron)]
    }

    // MARK: Keys

    mutating func handle(_ key: Key) -> [Effect] {
        if let input { return handleInput(key, input) }
        if help {
            if key == .escape || key == .character("?") || key == .character("q") { help = false }
            return []
        }
        message = nil
        // The lab takes every key but the pane keys: its text is typed as it is.
        if screen == .lab, ![.tab, .backTab, .escape].contains(key) { return labKeys(key) }
        switch key {
        case .character("?"): help = true; return []
        case .character(":"): input = .command(""); return []
        case .tab: cycle(forward: true); return []
        case .backTab: cycle(forward: false); return []
        case .escape:
            if screen == .neurons, !query.isEmpty || meaning != nil {
                query = ""
                meaning = nil
                clampSelection()
                return []
            }
            return goBack()
        case .character("q"): return screen == .neurons ? requestQuit() : goBack()
        default: break
        }
        switch screen {
        case .neurons: return neuronKeys(key)
        case .card: return cardKeys(key)
        case .image: return imageKeys(key)
        case .lab: return labKeys(key)
        case .figure: figureKeys(key); return []
        case .jobs: return jobKeys(key)
        case .log: logKeys(key); return []
        }
    }

    mutating func cycle(forward: Bool) {
        var order: [Screen] = [.neurons]
        if cardNeuron != nil { order.append(.card) }
        if image != nil { order.append(.image) }
        if lab != nil { order.append(.lab) }
        if figure != nil { order.append(.figure) }
        order += [.jobs, .log]
        let index = order.firstIndex(of: screen) ?? 0
        let next = order[(index + (forward ? 1 : order.count - 1)) % order.count]
        back.removeAll()
        screen = next
    }

    /// Moves a selection by a key: arrows, j/k, page keys, g/G.
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

    mutating func neuronKeys(_ key: Key) -> [Effect] {
        let rows = visibleRows
        if let moved = Self.moved(selection, count: rows.count, page: listHeight, by: key) {
            selection = moved
            return []
        }
        switch key {
        case .enter, .character("l"), .right:
            if let row = selectedRow { return openCard(row.neuron) }
        case .character("/"):
            input = .search(query)
        case .character("o"):
            let all = SortOrder.allCases
            sort = all[(all.firstIndex(of: sort)! + 1) % all.count]
            meaning = nil
            message = ("sorted by \(sort.rawValue)", false)
        case .character("f"):
            let all = Filter.allCases
            filter = all[(all.firstIndex(of: filter)! + 1) % all.count]
            clampSelection()
            message = ("showing \(filter.rawValue) neurons", false)
        case .character("s"):
            if let row = selectedRow { return toggleStar(row.neuron) }
        case .character("r"):
            if let row = selectedRow { input = .label(neuron: row.neuron, text: row.label ?? "") }
        case .character("n"):
            if let row = selectedRow { input = .note(neuron: row.neuron, text: row.note ?? "") }
        case .character("e"):
            if let row = selectedRow { return [.exportCard(row.neuron)] }
        default: break
        }
        return []
    }

    mutating func toggleStar(_ neuron: Int) -> [Effect] {
        guard let index = catalog?.rows.firstIndex(where: { $0.neuron == neuron }) else { return [] }
        catalog!.rows[index].starred.toggle()
        let starred = catalog!.rows[index].starred
        message = (starred ? "starred \(neuron)" : "unstarred \(neuron)", false)
        clampSelection()
        return [.setStar(neuron: neuron, starred: starred)]
    }

    /// Columns of the card's image grid.
    public let cardGridColumns = 5
    /// Rows of the card's image grid: 5x5, or 3x5 when the window is small.
    public var cardGridRows: Int { rows >= 30 ? 5 : 3 }

    var cardImages: [RankedImage] {
        guard let card else { return [] }
        return Array((cardShowsBottom ? card.bottom : card.top).prefix(cardGridColumns * cardGridRows))
    }

    mutating func cardKeys(_ key: Key) -> [Effect] {
        guard let neuron = cardNeuron else { return [] }
        let count = cardImages.count, columns = cardGridColumns
        switch key {
        case .right, .character("l"): if count > 0 { cardSelection = min(count - 1, cardSelection + 1) }
        case .left, .character("h"): cardSelection = max(0, cardSelection - 1)
        case .down, .character("j"): if count > 0 { cardSelection = min(count - 1, cardSelection + columns) }
        case .up, .character("k"): cardSelection = max(0, cardSelection - columns)
        case .home, .character("g"): cardSelection = 0
        case .end, .character("G"): cardSelection = max(0, count - 1)
        case .enter:
            if cardImages.indices.contains(cardSelection) {
                show(.image)
                image = nil
                return [.openImage(cardImages[cardSelection].path)]
            }
        case .character("b"):
            cardShowsBottom.toggle()
            cardShowsPanel = false
            cardSelection = 0
        case .character("i"):
            cardShowsPanel.toggle()
        case .character("]"), .pageDown:
            return stepCard(by: 1)
        case .character("["), .pageUp:
            return stepCard(by: -1)
        case .character("s"): return toggleStar(neuron)
        case .character("r"): input = .label(neuron: neuron, text: row(of: neuron)?.label ?? "")
        case .character("n"): input = .note(neuron: neuron, text: row(of: neuron)?.note ?? "")
        case .character("e"): return [.exportCard(neuron)]
        case .character("v"):
            // The toy's neurons read best with its own recipe (ToyVisualization); RN50x4's with the paper's code.
            input = .command(ToyAttackDefaults.isToy(modelName) ? "visualize \(neuron) toy" : "visualize \(neuron) paper-code steps=1000")
        case .character("m"):
            show(.jobs)
            return [.maxText(neuron: neuron)]
        case .character("d"):
            show(.jobs)
            return [.dream(neuron: neuron)]
        case .character("/"): screen = .neurons; input = .search(query)
        case .character("a"):
            if cardImages.indices.contains(cardSelection) { return openLab(cardImages[cardSelection].path) }
        default: break
        }
        return []
    }

    /// The card of the next or previous neuron of the list.
    mutating func stepCard(by delta: Int) -> [Effect] {
        let rows = visibleRows
        guard !rows.isEmpty else { return [] }
        let current = rows.firstIndex { $0.neuron == cardNeuron } ?? selection
        let next = min(max(0, current + delta), rows.count - 1)
        selection = next
        let neuron = rows[next].neuron
        guard neuron != cardNeuron else { return [] }
        card = nil
        cardSelection = 0
        cardNeuron = neuron
        return [.loadCard(neuron)]
    }

    mutating func imageKeys(_ key: Key) -> [Effect] {
        guard let image else { return [] }
        if let moved = Self.moved(imageSelection, count: image.neurons.count, page: 5, by: key) {
            imageSelection = moved
            return []
        }
        if key == .enter, image.neurons.indices.contains(imageSelection) {
            return openCard(image.neurons[imageSelection].neuron)
        }
        if key == .character("a") { return openLab(image.path) }
        return []
    }

    /// One line of the jobs pane: a job of this session, or a run folder found on disk.
    public struct JobRow: Sendable, Equatable {
        public var state: JobState
        /// The run folder it writes to, when known.
        public var folder: String?
        /// A job of this session (cancel works on it).
        public var live: Bool
        public var resumable: Bool
    }

    /// This session's jobs, then the run folders that are not among them (newest first).
    public var jobRows: [JobRow] {
        let live = jobs.all.map { job in
            JobRow(state: job, folder: runs.first { $0.state.id == job.id }?.folder, live: true, resumable: false)
        }
        let ids = Set(jobs.order)
        return live + runs.filter { !ids.contains($0.state.id) }.map {
            JobRow(state: $0.state, folder: $0.folder, live: false, resumable: $0.resumable)
        }
    }

    mutating func jobKeys(_ key: Key) -> [Effect] {
        let all = jobRows
        if let moved = Self.moved(jobSelection, count: all.count, page: 5, by: key) {
            jobSelection = moved
            return []
        }
        guard all.indices.contains(jobSelection) else { return [] }
        let row = all[jobSelection], job = row.state
        switch key {
        case .character("c"), .character("x"):
            guard row.live, job.status == .running else {
                message = (row.live ? "\(job.kind) is not running" : "\(job.kind) runs in another process", false)
                return []
            }
            stopping.insert(job.id)
            return [.cancelJob(job.id)]
        case .character("R"):
            guard job.status != .running else { message = ("\(job.kind) is still running", false); return [] }
            if row.live { return [.resumeJob(job.id)] }
            guard row.resumable, let folder = row.folder else {
                message = ("\(job.kind) runs cannot be started again from here", false)
                return []
            }
            return [.resumeRun(folder: folder)]
        case .enter:
            if let view = FigureView(job: job) {
                figure = view
                show(.figure)
                return []
            }
            guard let artefact = job.artefacts.last(where: { $0.path != nil }), let path = artefact.path else {
                message = (job.outcome ?? "\(job.kind) has no result yet", false)
                return []
            }
            guard Panes.isPicture(path) else {
                report("\(job.kind) result: \(path)" + (artefact.name == "model" ? " (open it with clipscope --model \(path))" : ""))
                return []
            }
            show(.image)
            image = nil
            return [.openImage(path)]
        default: return []
        }
    }

    mutating func figureKeys(_ key: Key) {
        guard var view = figure, view.pictures.count > 1 else { return }
        switch key {
        case .right, .character("l"), .character("n"), .down, .character("j"): view.shown = (view.shown + 1) % view.pictures.count
        case .left, .character("h"), .character("p"), .up, .character("k"):
            view.shown = (view.shown + view.pictures.count - 1) % view.pictures.count
        default: return
        }
        figure = view
    }

    mutating func logKeys(_ key: Key) {
        let page = max(1, rows - 4)
        switch key {
        case .character("f"): logFollow.toggle(); message = (logFollow ? "following the log" : "log paused", false)
        case .up, .character("k"): logFollow = false; logOffset = max(0, logOffset - 1)
        case .down, .character("j"): logOffset = min(max(0, log.count - page), logOffset + 1)
        case .pageUp: logFollow = false; logOffset = max(0, logOffset - page)
        case .pageDown: logOffset = min(max(0, log.count - page), logOffset + page)
        case .home, .character("g"): logFollow = false; logOffset = 0
        case .end, .character("G"): logFollow = true
        default: break
        }
    }

    // MARK: The input line

    mutating func handleInput(_ key: Key, _ input: Input) -> [Effect] {
        if case .confirmQuit = input {
            self.input = nil
            if key == .character("y") || key == .character("Y") {
                quitting = true
                return [.quit]
            }
            message = ("still running", false)
            return []
        }
        var text = input.text
        switch key {
        case .escape:
            self.input = nil
            return []
        case .enter:
            // Too long a label or note stays open, to be shortened.
            if let problem = Self.lengthProblem(of: input) {
                message = (problem, true)
                return []
            }
            self.input = nil
            return submit(input)
        case .backspace, .delete:
            if !text.isEmpty { text.removeLast() } else if key == .backspace, case .search = input { self.input = nil }
        case .control("u"):
            text = ""
        case let .character(character):
            text.append(character)
        default:
            return []
        }
        self.input = input.with(text: text)
        if case .search = input {
            query = text
            selection = 0
        }
        return []
    }

    static func lengthProblem(of input: Input) -> String? {
        switch input {
        case let .label(_, text): NeuronLabel.lengthProblem(label: text.trimmingCharacters(in: .whitespaces), note: nil)
        case let .note(_, text): NeuronLabel.lengthProblem(label: nil, note: text)
        default: nil
        }
    }

    mutating func submit(_ input: Input) -> [Effect] {
        switch input {
        case let .search(text):
            query = text.trimmingCharacters(in: .whitespaces)
            clampSelection()
            if !query.isEmpty, !query.allSatisfy(\.isNumber), modelReady { return [.searchByMeaning(query)] }
            if !query.isEmpty, !modelReady { message = ("searching labels and notes (the model is still loading)", false) }
            return []
        case let .command(text):
            return command(text.trimmingCharacters(in: .whitespaces))
        case let .label(neuron, text):
            return setLabel(neuron, label: text, note: row(of: neuron)?.note)
        case let .note(neuron, text):
            return setLabel(neuron, label: row(of: neuron)?.labelSource == "user" ? row(of: neuron)?.label : nil, note: text)
        case .confirmQuit:
            return []
        }
    }

    mutating func setLabel(_ neuron: Int, label: String?, note: String?) -> [Effect] {
        let label = label.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
        let note = note.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        if let index = catalog?.rows.firstIndex(where: { $0.neuron == neuron }) {
            if let label {
                catalog!.rows[index].label = label
                catalog!.rows[index].labelSource = "user"
            }
            catalog!.rows[index].note = note
        }
        message = ("saved neuron \(neuron)'s label and note", false)
        return [.saveLabel(neuron: neuron, label: label, note: note)]
    }

    /// `:89`, `:scan DIR`, `:sort top`, `:filter starred`, `:q`, `:help`.
    mutating func command(_ text: String) -> [Effect] {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        guard let name = parts.first else { return [] }
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        if let neuron = Int(name) { return openCard(neuron) }
        switch name {
        case "q", "quit": return requestQuit()
        case "q!", "quit!": quitting = true; return [.quit]
        case "help", "h": help = true
        case "scan":
            guard !argument.isEmpty else { report("usage: :scan DIR", isError: true); return [] }
            show(.jobs)
            return [.startScan(folder: (argument as NSString).expandingTildeInPath)]
        case "sort":
            guard let order = SortOrder(rawValue: argument) else { report("usage: :sort id|top|label|concept", isError: true); return [] }
            sort = order
            meaning = nil
        case "filter":
            guard let value = Filter(rawValue: argument) else { report("usage: :filter all|labelled|starred|concepts", isError: true); return [] }
            filter = value
            clampSelection()
        case "jobs": show(.jobs)
        case "log": show(.log)
        case "visualize", "vis":
            return visualizeCommand(argument)
        case "atlas":
            return atlasCommand(argument)
        case "attack":
            let path = argument.isEmpty ? (lab?.imagePath ?? image?.path) : (argument as NSString).expandingTildeInPath
            guard let path else { report("usage: :attack IMAGE (or a from an image or a card)", isError: true); return [] }
            guard FileManager.default.isReadableFile(atPath: path) else { report("\(path): no such image", isError: true); return [] }
            return openLab(path)
        case "stroop":
            show(.jobs)
            return [.stroop]
        case "gap":
            show(.jobs)
            return [.gap(argument.isEmpty ? nil : (argument as NSString).expandingTildeInPath)]
        default:
            report("unknown command :\(name) (try :89, :scan DIR, :visualize N, :attack IMAGE, :stroop, :gap DIR, :sort top, :filter starred, :q)", isError: true)
        }
        return []
    }

    /// `:visualize N [paper-code|paper-formula|gray|direct|toy] [steps=S] [seed=S] [lr=F] ...` (see `VisualizeTweaks`;
    /// `toy` is the toy model's recipe, `ToyVisualization.settings`).
    mutating func visualizeCommand(_ argument: String) -> [Effect] {
        let usage = "usage: :visualize N [paper-code|paper-formula|gray|direct|toy] [steps=S] [seed=S] [lr=F] [jitter=F] [scale=F] [rotate=DEG] [decay=F] [reduce=mean|max]"
        let words = argument.split(separator: " ").map(String.init)
        guard let first = words.first, let neuron = Int(first) else { report(usage, isError: true); return [] }
        guard let catalog, neuron >= 0, neuron < catalog.scan.model.neurons else {
            report("no neuron \(neuron)" + (catalog.map { " (this scan has 0-\($0.scan.model.neurons - 1))" } ?? ""), isError: true)
            return []
        }
        var variant = "paper-code", tweaks = VisualizeTweaks()
        for word in words.dropFirst() {
            if Self.visualizationDefaults(word) != nil { variant = word; continue }
            guard tweaks.read(word) else { report("\(word)? " + usage, isError: true); return [] }
            do {
                try tweaks.applied(to: Self.visualizationDefaults(variant)!).validate()
            } catch {
                report("\(word)? " + ((error as? InvalidParameter)?.detail ?? "\(error)"), isError: true)
                return []
            }
        }
        show(.jobs)
        return [.visualize(neuron: neuron, variant: variant, tweaks: tweaks)]
    }

    /// The settings a `:visualize` variant word starts from: a variant's, or `toy`, the toy
    /// model's recipe (a direct variant with strong transforms).
    static func visualizationDefaults(_ word: String) -> VisualizationSettings? {
        word == "toy" ? ToyVisualization.settings : VisualizationVariant(rawValue: word).map(VisualizationSettings.init(variant:))
    }

    /// Steps per neuron of `:atlas` unless given (direct, lucid's transforms).
    static let atlasSteps = 100

    /// `:atlas [FIRST-LAST] [steps=S]`: visualize every neuron (or a range) in the background.
    mutating func atlasCommand(_ argument: String) -> [Effect] {
        let usage = "usage: :atlas [FIRST-LAST] [steps=S]"
        guard let catalog else { report("no index open", isError: true); return [] }
        var range = 0...(catalog.scan.model.neurons - 1), steps = AppState.atlasSteps
        for word in argument.split(separator: " ").map(String.init) {
            if word.hasPrefix("steps="), let value = Int(word.dropFirst(6)), value > 0 {
                steps = value
            } else if case let bounds = word.split(separator: "-").compactMap({ Int($0) }), bounds.count == 2,
                      bounds[0] >= 0, bounds[0] <= bounds[1], bounds[1] < catalog.scan.model.neurons {
                range = bounds[0]...bounds[1]
            } else {
                report("\(word)? " + usage, isError: true)
                return []
            }
        }
        show(.jobs)
        return [.atlas(neurons: range, steps: steps)]
    }
}
