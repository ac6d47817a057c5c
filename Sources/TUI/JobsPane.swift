import Foundation
import Jobs
import Workbench

/// The jobs pane's slice of the state: this session's jobs and the run folders found on disk.
public struct JobsState {
    public var board = JobBoard()
    /// Run folders of earlier sessions and of commands, found under the runs directory.
    public var runs: [PastRun] = []
    public var selection = 0
    /// Jobs whose cancellation was asked for (shown as stopping).
    public var stopping: Set<UUID> = []

    public init() {}

    /// One line of the jobs pane: a job of this session, or a run folder found on disk.
    public struct Row: Sendable, Equatable {
        public var state: JobState
        /// The run folder it writes to, when known.
        public var folder: String?
        /// A job of this session (cancel works on it).
        public var live: Bool
        public var resumable: Bool
    }

    /// This session's jobs, then the run folders that are not among them (newest first).
    public var rows: [Row] {
        let live = board.all.map { job in
            Row(state: job, folder: runs.first { $0.state.id == job.id }?.folder, live: true, resumable: false)
        }
        let ids = Set(board.order)
        return live + runs.filter { !ids.contains($0.state.id) }.map {
            Row(state: $0.state, folder: $0.folder, live: false, resumable: $0.resumable)
        }
    }

    var selected: Row? {
        let all = rows
        return all.indices.contains(selection) ? all[selection] : nil
    }

    /// A new listing of the run folders; the selection stays on its row.
    mutating func runsFound(_ found: [PastRun]) {
        let selected = self.selected?.state.id
        runs = found
        let all = rows
        if let selected, let index = all.firstIndex(where: { $0.state.id == selected }) { selection = index }
        selection = min(selection, max(0, all.count - 1))
    }

    static let keys = KeyTable(title: "jobs", bindings: [
        Binding(AppState.stepKeys, "select a job or run folder") { state, key in state.moveInJobs(key) },
        Binding(AppState.pageKeys, "a page up / down") { state, key in state.moveInJobs(key) },
        Binding(AppState.endKeys, "first, last") { state, key in state.moveInJobs(key) },
        Binding([.character("c"), .character("x")], "cancel it (work so far is kept)", hint: "cancel", disabled: { state in
            guard let row = state.jobsPane.selected else { return "no job selected" }
            guard row.live, !row.state.status.isTerminal else {
                return row.live ? "\(row.state.kind) is not running" : "\(row.state.kind) runs in another process"
            }
            return nil
        }) { state, _ in
            guard let job = state.jobsPane.selected?.state else { return [] }
            state.stopping.insert(job.id)
            return [.cancelJob(job.id)]
        },
        Binding([.character("R")], "run it again (a scan or an interrupted run resumes)", hint: "run again / resume", disabled: { state in
            guard let row = state.jobsPane.selected else { return "no job selected" }
            if row.state.status == .running { return "\(row.state.kind) is still running" }
            if !row.live, !row.resumable || row.folder == nil { return "\(row.state.kind) runs cannot be started again from here" }
            return nil
        }) { state, _ in
            guard let row = state.jobsPane.selected else { return [] }
            if row.live { return [.resumeJob(row.state.id)] }
            return row.folder.map { [.resumeRun(folder: $0)] } ?? []
        },
        Binding([.enter], "open its result (a picture, a figure, or where it is)", hint: "result") { state, _ in
            state.jobsPane.selected.map { state.openResult(of: $0.state) } ?? []
        },
    ])
}

extension AppState {
    public typealias JobRow = JobsState.Row

    public var jobs: JobBoard {
        get { jobsPane.board }
        set { jobsPane.board = newValue }
    }
    public var runs: [PastRun] {
        get { jobsPane.runs }
        set { jobsPane.runs = newValue }
    }
    public var jobSelection: Int {
        get { jobsPane.selection }
        set { jobsPane.selection = newValue }
    }
    public var stopping: Set<UUID> {
        get { jobsPane.stopping }
        set { jobsPane.stopping = newValue }
    }
    public var jobRows: [JobRow] { jobsPane.rows }

    mutating func moveInJobs(_ key: Key) -> [Effect] {
        if let moved = Self.moved(jobSelection, count: jobRows.count, page: 5, by: key) { jobSelection = moved }
        return []
    }

    /// Enter on a job: its figure, its picture, or where its result is.
    mutating func openResult(of job: JobState) -> [Effect] {
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
    }
}

// MARK: View

extension JobsState: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.jobsPane(state, canvas, area) }
}


extension Panes {
    static func jobsPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        let rows = state.jobRows
        canvas.put(area.top, 0, "jobs of this session and run folders (\(Bindings.hints(for: .jobs)))", width: area.width, .bold)
        if rows.isEmpty {
            canvas.put(area.top + 2, 2, "No jobs yet. :scan DIR starts a scan.", .dim)
            return []
        }
        // The picture goes beside the list on wide windows, below it on narrow ones (80x24 over SSH).
        let beside = area.width >= 120
        let previewWidth = beside ? 32 : 0
        let belowRows = !beside && area.height >= 16 ? min(12, area.height / 2 - 1) : 0
        let listWidth = area.width - previewWidth
        let perJob = 3
        let visible = max(1, (area.height - belowRows - 1) / perJob)
        let offset = min(max(0, state.jobSelection - visible + 1), max(0, rows.count - visible))
        for (line, index) in (offset..<min(rows.count, offset + visible)).enumerated() {
            let top = area.top + 1 + line * perJob
            jobLines(state, rows[index], selected: index == state.jobSelection, canvas,
                     Rect(top: top, left: 0, height: min(perJob, area.bottom - top), width: listWidth))
        }
        // The selected job's picture, else the newest running job's preview.
        guard beside || belowRows > 0 else { return [] }
        let rect = beside ? Rect(top: area.top + 1, left: listWidth + 1, height: min(12, area.height - 2), width: previewWidth - 2)
            : Rect(top: area.top + area.height - belowRows, left: 4, height: belowRows, width: belowRows * 2)
        let selected = rows.indices.contains(state.jobSelection) ? rows[state.jobSelection].state : nil
        let shown = selected.flatMap(Self.picture)
            ?? rows.reversed().lazy.filter { $0.state.status == .running }.compactMap { Self.picture($0.state) }.first
        return shown.map { [ImagePlacement(source: $0, rect: rect)] } ?? []
    }

    /// A job's three lines: kind, status and progress; rate and metrics; its newest log line.
    static func jobLines(_ state: AppState, _ row: AppState.JobRow, selected: Bool, _ canvas: Canvas, _ area: Rect) {
        let job = row.state
        var status = job.status.rawValue
        if job.status == .running, state.stopping.contains(job.id) { status = "stopping" }
        if job.status == .running, !row.live { status = "running elsewhere" }
        let progress = job.fraction.map { String(format: "%3.0f%% ", $0 * 100) + "[" + padded(bar($0, width: 12), 12) + "]  " } ?? ""
        let counts = job.total.map { "\(job.step)/\($0)" } ?? "\(job.step)"
        var first = "\(selected ? "▶" : " ") \(job.kind)  \(status)  \(progress)\(counts) \(job.unit)"
        if let folder = row.folder { first += "  · " + (folder as NSString).lastPathComponent }
        let style: Style = job.status == .failed || job.status == .interrupted ? .bad
            : job.status == .running ? (selected ? .selected : .plain) : (selected ? .selected : .dim)
        canvas.put(area.top, 0, first, width: area.width, style)
        // Reverse video turns the bar's full blocks into blanks (a job at 99% looked empty):
        // on the selected row the bar is drawn again in colour, not reversed.
        if selected, style == .selected, let fraction = job.fraction, let bracket = first.firstIndex(of: "[") {
            let column = first.distance(from: first.startIndex, to: bracket) + 1
            if column + 12 <= area.width { canvas.put(area.top, column, padded(bar(fraction, width: 12), 12), .accent) }
        }
        var rate = ""
        if let value = job.rate, job.status == .running { rate = String(format: "%.1f %@/s  ", value, job.unit) }
        if let eta = job.eta, eta.isFinite, job.status == .running { rate += "ETA " + JobState.duration(eta) + "  " }
        let metrics = job.metrics.filter { !$0.name.hasSuffix("/s") }.map { "\($0.name) \(String(format: "%.4g", $0.value))" }
        var second = "    " + rate + (metrics.isEmpty ? (job.outcome ?? job.logs.last?.message ?? "") : metrics.joined(separator: "  "))
        if !job.history.isEmpty { second += "  " + sparkline(job.history.suffix(30).map(Float.init), width: 30) }
        if job.status == .interrupted, row.resumable { second += "  (R resumes)" }
        canvas.put(area.top + 1, 0, second, width: area.width, .dim)
        // The newest log line under the metrics (maximal text's candidate texts, resumes).
        if !metrics.isEmpty, let latest = job.logs.last?.message, area.height > 2 {
            canvas.put(area.top + 2, 4, latest, width: area.width - 4, .dim)
        }
    }

    /// What the jobs pane shows of a job: its latest preview, else its latest picture.
    static func picture(_ job: JobState) -> ImageSource? {
        if let preview = job.preview { return .preview(job.id, step: preview.step) }
        return job.artefacts.last(where: { $0.path.map(isPicture) ?? false })?.path.map { .file($0) }
    }

    static func isPicture(_ path: String) -> Bool {
        JobCatalog.isPicture(path)
    }
}
