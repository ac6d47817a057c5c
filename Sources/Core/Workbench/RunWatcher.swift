import Foundation
import Imaging
import Jobs

/// Follows a run folder that another process writes (a detached runner, a command in another
/// terminal, a Slurm task on shared storage) as that job's own events, so that an app shows
/// it as it shows its own jobs: progress, the queue, log lines, files, the live picture
/// (`preview.png`) and how it ended.
public final class RunWatcher {
    public let folder: RunFolder
    private var started: UUID?
    private var step = -1
    private var queueAhead: Int??
    private var artefacts = 0
    private var log: [String] = []
    private var previewDate: Date?
    public private(set) var ended = false
    /// The process whose record to follow: an earlier run's record left in the folder (a run
    /// started again) is not this run's.
    let writer: Int32?

    public init(folder: String, writer: Int32? = nil) {
        self.folder = RunFolder(path: folder)
        self.writer = writer
    }

    /// The events since the last call: nothing until `run.json` exists, `started` first, the
    /// terminal event last (after which there are no more).
    public func poll() -> (id: UUID, events: [JobEvent])? {
        guard !ended, let record = try? folder.read(), writer == nil || record.pid == writer else { return nil }
        var events: [JobEvent] = []
        if let followed = started, followed != record.id {
            // A newer run replaced the record (one writer at a time holds the folder): the run
            // followed is over, though its last record was not seen.
            ended = true
            return (followed, [.finished(summary: "ended; its folder now holds a newer run", result: Data("null".utf8))])
        }
        if started != record.id {
            started = record.id
            (step, queueAhead, artefacts, log, previewDate) = (-1, nil, 0, [], nil)
            events.append(.started(JobInfo(id: record.id, kind: record.kind, parameters: record.parameters.data, unit: record.unit)))
        }
        let state = record.jobState(folder: folder.path)
        let ahead: Int? = state.status == .queued ? (record.queueAhead ?? 0) : nil
        if queueAhead != .some(ahead), state.status == .queued || queueAhead != nil {
            events.append(.queue(ahead: ahead))
            queueAhead = .some(ahead)
        }
        if record.step != step, let progress = state.progress {
            step = record.step
            events.append(.progress(progress))
        }
        for artefact in state.artefacts.dropFirst(artefacts) { events.append(.artefact(artefact)) }
        artefacts = state.artefacts.count
        let lines = record.log ?? []
        for line in Self.newLines(lines, after: log) { events.append(.log(.info, line)) }
        log = lines
        if let preview = newPreview(step: record.step) { events.append(.preview(preview)) }
        switch state.status {
        case .finished: events.append(.finished(summary: record.outcome ?? "done", result: record.result?.data ?? Data("null".utf8)))
        case .failed, .interrupted: events.append(.failed(state.outcome ?? state.status.rawValue))
        case .cancelled: events.append(.cancelled)
        case .running, .queued: break
        }
        ended = state.status.isTerminal
        return (record.id, events)
    }

    /// The lines of `new` that `old` did not end with (both are the newest lines of one log).
    static func newLines(_ new: [String], after old: [String]) -> ArraySlice<String> {
        for overlap in stride(from: min(old.count, new.count), to: 0, by: -1)
        where Array(old.suffix(overlap)) == Array(new.prefix(overlap)) {
            return new.dropFirst(overlap)
        }
        return new[...]
    }

    /// `preview.png` when it changed since the last poll.
    private func newPreview(step: Int) -> JobPreview? {
        let path = (folder.path as NSString).appendingPathComponent(DetachedRuns.previewFile)
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
              modified != previewDate, let decoded = try? DecodedImage.load(path: path) else { return nil }
        previewDate = modified
        let rgb = decoded.convertedToRGB()
        return JobPreview(step: step, width: rgb.width, height: rgb.height, rgb: rgb.pixels)
    }
}
