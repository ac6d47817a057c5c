import ArgumentParser
import Foundation
import Jobs

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
            app's jobs pane, to continue it from its last checkpoint.
            """)

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

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
        let (found, unreadable) = RunFolder.list(in: runsOption.directory)
        let rows = found.map { folder, record in
            let state = record.jobState(folder: folder.path)
            return Row(folder: folder.path, kind: record.kind, status: state.status.rawValue, step: record.step, total: record.total,
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
