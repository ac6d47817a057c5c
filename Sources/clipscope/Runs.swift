import ArgumentParser
import Foundation
import Jobs
import Workbench

/// Where run folders are listed from: `--runs`, else the default runs directory.
struct RunsOption: ParsableArguments {
    @Option(help: ArgumentHelp("Where run folders live (default $CLIPSCOPE_RUNS or ~/.local/share/clipscope/runs).", valueName: "DIR"))
    var runs: String?

    var directory: String { runs ?? RunFolder.defaultRunsDirectory() }
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the run folders of jobs (their run.json): kind, how far they got, how they ended.",
        discussion: """
            A run that still says running but whose process is gone (killed, crashed, a dropped \
            SSH session) is listed as interrupted; run its command again, or press R on it in the \
            app's jobs pane, to continue it from its last checkpoint. A queued run waits for the \
            machine's other clipscope job (one computes at a time: $CLIPSCOPE_HEAVY_JOBS). \
            --cancel FOLDER stops a run at its next step, from any terminal (its checkpoint is kept).
            """)

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

    @Option(help: ArgumentHelp("Stop the run in FOLDER at its next step (a run of the app's or of another terminal's).", valueName: "FOLDER"))
    var cancel: String?

    struct Row: Encodable {
        let folder: String
        let kind: String
        let status: String
        let step: Int
        let total: Int?
        /// ISO 8601.
        let updated: String
        let outcome: String?
        let metrics: [String: Double]
    }

    struct Skipped: Encodable {
        let path: String
        let error: String
    }

    struct Answer: Encodable {
        let runs: [Row]
        let skipped: [Skipped]
    }

    func run() throws {
        if let cancel {
            let said = try DetachedRuns.cancel(folder: cancel)
            return json.json ? try Output.printJSON(["cancel": said]) : print(said)
        }
        let (found, unreadable) = RunFolder.list(in: runsOption.directory)
        let rows = found.map { folder, record in
            let state = record.jobState(folder: folder.path)
            let status = state.status == .queued ? "queued (\(JobState.ahead(state.queueAhead ?? 0)))" : state.status.rawValue
            return Row(folder: folder.path, kind: record.kind, status: status, step: record.step, total: record.total,
                       updated: ISO8601DateFormatter().string(from: record.updated), outcome: state.outcome,
                       metrics: Dictionary(record.metrics.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }))
        }
        for item in unreadable { Output.warn("skipped \(item.error)") }
        if json.json {
            return try Output.printJSON(Answer(runs: rows, skipped: unreadable.map { Skipped(path: $0.path, error: $0.error) }))
        }
        guard !rows.isEmpty else {
            print("no run folders in \(runsOption.directory)")
            return
        }
        print(Output.table([["folder", "kind", "status", "step", "updated", "outcome"]] + rows.map { row in
            [(row.folder as NSString).lastPathComponent, row.kind, row.status,
             row.total.map { "\(row.step)/\($0)" } ?? "\(row.step)", String(row.updated.prefix(16)).replacingOccurrences(of: "T", with: " "), row.outcome ?? ""]
        }, rightAligned: [3]))
    }
}

/// `clipscope runner FOLDER`: runs the request the app left in a run folder, detached from
/// any terminal (the app starts it; it is not for typing).
struct Runner: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the job requested in a run folder (started by the app, detached from the terminal).",
        shouldDisplay: false)

    @Argument(help: "The run folder with request.json.")
    var folder: String

    func run() throws {
        let log = JobProgressLine(isTerminal: false).sink
        let status = try DetachedRuns.run(folder: folder, queue: MachineQueue.standard(), events: log)
        if status != .finished { throw ExitCode(status == .cancelled ? 130 : 1) }
    }
}
