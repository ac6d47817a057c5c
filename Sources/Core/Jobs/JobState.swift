import Foundation

/// Where one run of a job stands, folded from its events: what the command line's
/// progress line and the TUI's jobs pane both show.
public struct JobState: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        case running, finished, failed, cancelled
        /// A run folder's job whose process ended without a word (killed, crashed, a dropped SSH session).
        case interrupted
        /// Waiting for its turn in the machine's queue.
        case queued

        public var isTerminal: Bool { self != .running && self != .queued }
    }

    public var id: UUID
    public var kind: String
    public var unit: String
    public var parameters: Data
    public var status: Status = .running
    /// The last progress report (step, total, rate, ETA, metrics).
    public var progress: JobProgress?
    /// The last image the job previewed.
    public var preview: JobPreview?
    /// Files the job published, in order.
    public var artefacts: [JobArtefact] = []
    /// The newest log lines, `logLimit` at most.
    public var logs: [(level: JobLogLevel, message: String)] = []
    /// The values of the first metric over time, `historyLimit` at most (for a sparkline).
    public var history: [Double] = []
    /// The result summary, or the failure message.
    public var outcome: String?
    /// Jobs before this one in the machine's queue while it waits (nil when it computes).
    public var queueAhead: Int?
    /// The result as JSON when finished.
    public var result: Data?

    public static let logLimit = 200
    public static let historyLimit = 512

    public init(info: JobInfo) {
        id = info.id
        kind = info.kind
        unit = info.unit
        parameters = info.parameters
    }

    public var step: Int { progress?.step ?? 0 }
    public var total: Int? { progress?.total }
    public var rate: Double? { progress?.rate }
    public var eta: Double? { status == .running ? progress?.eta : nil }
    public var metrics: [JobMetric] { progress?.metrics ?? [] }
    /// Done share in 0...1, when the total is known.
    public var fraction: Double? {
        guard let total, total > 0 else { return status == .finished ? 1 : nil }
        return min(1, Double(step) / Double(total))
    }

    /// Folds one event into the state.
    public mutating func apply(_ event: JobEvent) {
        switch event {
        case let .started(info):
            self = JobState(info: info)
        case let .progress(report):
            progress = report
            if let first = report.metrics.first(where: { !$0.name.hasSuffix("/s") }) {
                history.append(first.value)
                if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
            }
        case let .preview(image):
            preview = image
        case let .artefact(artefact):
            artefacts.append(artefact)
        case let .queue(ahead):
            queueAhead = ahead
            status = ahead == nil ? .running : .queued
        case let .log(level, message):
            logs.append((level, message))
            if logs.count > Self.logLimit { logs.removeFirst(logs.count - Self.logLimit) }
        case let .finished(summary, data):
            status = .finished
            outcome = summary
            result = data
        case let .failed(message):
            status = .failed
            outcome = message
        case .cancelled:
            status = .cancelled
            outcome = "cancelled"
        }
    }

    public static func == (a: JobState, b: JobState) -> Bool {
        a.id == b.id && a.status == b.status && a.progress == b.progress && a.preview == b.preview
            && a.artefacts == b.artefacts && a.history == b.history && a.outcome == b.outcome && a.result == b.result
            && a.logs.map(\.message) == b.logs.map(\.message)
    }

    /// "scan  120/400  30%  12.3 images/s  ETA 0:23  loss 0.5": the one-line summary
    /// of the command line's progress line and the jobs pane.
    public var line: String {
        if status == .queued { return "\(kind)  queued, \(Self.ahead(queueAhead ?? 0))" }
        var parts = [kind]
        if let total, total > 0 {
            parts.append("\(step)/\(total)")
            parts.append(String(format: "%3.0f%%", 100 * Double(step) / Double(total)))
        } else {
            parts.append("\(step)")
        }
        if let rate { parts.append(String(format: "%.1f %@/s", rate, unit)) }
        if let eta, eta.isFinite { parts.append("ETA " + Self.duration(eta)) }
        for metric in metrics where !metric.name.hasSuffix("/s") {
            parts.append("\(metric.name) \(String(format: "%.4g", metric.value))")
        }
        return parts.joined(separator: "  ")
    }

    /// "next in line", "1 job ahead", "3 jobs ahead".
    public static func ahead(_ count: Int) -> String {
        count == 0 ? "next in line" : count == 1 ? "1 job ahead" : "\(count) jobs ahead"
    }

    /// 83 -> "1:23", 3723 -> "1:02:03".
    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }
}

/// Every job of a session, by id, in the order they started: one mailbox for many jobs.
public struct JobBoard: Sendable {
    public private(set) var order: [UUID] = []
    public private(set) var states: [UUID: JobState] = [:]

    public init() {}

    /// Folds an event from job `id` (ignored until that job's `started` arrives).
    public mutating func apply(_ id: UUID, _ event: JobEvent) {
        if case let .started(info) = event {
            if states[id] == nil { order.append(id) }
            states[id] = JobState(info: info)
            return
        }
        states[id]?.apply(event)
    }

    public var all: [JobState] { order.compactMap { states[$0] } }
    /// Jobs computing or waiting for their turn.
    public var running: [JobState] { all.filter { !$0.status.isTerminal } }
}
