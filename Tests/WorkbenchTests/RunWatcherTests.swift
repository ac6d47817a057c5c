import Foundation
import Jobs
@testable import Workbench
import XCTest

/// Following a run folder that another process writes.
final class RunWatcherTests: XCTestCase {
    struct Steps: JobSpec {
        static let kind = "steps"
        var output: String
        var steps: Int
        var runFolder: String? { output }
        func run(_ context: JobContext) throws -> Int {
            context.setTotal(steps)
            for step in 1...steps {
                context.log("step \(step)")
                context.progress(step: step, metrics: [JobMetric("loss", 1 / Double(step))])
            }
            return steps
        }
    }

    func testAFollowedRunEndsWhenANewerRunReplacesItsRecordAndTheNewerOneIsFollowedWhole() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-watch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = RunWatcher(folder: folder)
        XCTAssertNil(first.poll(), "nothing before run.json exists")
        // The first run, seen running part way (a record written by hand as its recorder would).
        let running = JobRunner.start(Steps(output: folder, steps: 3)) { _, _ in }
        _ = running.wait()
        var record = try RunFolder(path: folder).read()
        let firstID = record.id
        record.status = "running"
        try RunFolder(path: folder).write(record)
        let seen = try XCTUnwrap(first.poll())
        XCTAssertEqual(seen.id, firstID)
        XCTAssertFalse(first.ended)

        // A newer run writes the folder before the watcher saw the first one end.
        _ = JobRunner.run(Steps(output: folder, steps: 2)) { _, _ in }
        let replaced = try XCTUnwrap(first.poll())
        XCTAssertEqual(replaced.id, firstID, "the end is the followed run's")
        guard case .finished = replaced.events.last else { return XCTFail("\(replaced.events)") }
        XCTAssertTrue(first.ended)
        XCTAssertNil(first.poll(), "no more events after the end")

        // A watcher of the newer run sees it whole: started, its log lines, finished.
        let second = RunWatcher(folder: folder)
        let events = try XCTUnwrap(second.poll()).events
        guard case .started = events.first, case .finished = events.last else { return XCTFail("\(events)") }
        XCTAssertEqual(events.compactMap { if case let .log(_, line) = $0 { line } else { nil } }, ["step 1", "step 2"])
    }

    func testNewLinesAreTheOnesTheOldTailDidNotEndWith() {
        XCTAssertEqual(Array(RunWatcher.newLines(["b", "c", "d"], after: ["a", "b", "c"])), ["d"])
        XCTAssertEqual(Array(RunWatcher.newLines(["a"], after: [])), ["a"])
        XCTAssertEqual(Array(RunWatcher.newLines(["x", "y"], after: ["a", "b"])), ["x", "y"])
        XCTAssertEqual(Array(RunWatcher.newLines(["a", "b"], after: ["a", "b"])), [])
    }
}
