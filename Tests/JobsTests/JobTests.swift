import Foundation
import Jobs
import Synchronization
import XCTest

/// A job that counts to `steps`, reporting each step; it fails at `failAt` and waits
/// for a go-ahead after `pauseAt` (so a test can cancel it at a known point).
struct CountingJob: JobSpec {
    static let kind = "count"
    static let unit = "steps"
    var steps: Int
    var seed: UInt64
    var failAt: Int?
    var pauseAt: Int?

    struct Result: Codable, Sendable, Equatable { let counted: Int; let seed: UInt64 }

    static func summary(of result: Result) -> String { "counted \(result.counted)" }

    func run(_ context: JobContext) throws -> Result {
        context.log("counting to \(steps)")
        for step in 1...steps {
            try context.checkCancellation()
            if step == failAt { throw JobFailure(message: "step \(step) failed on purpose") }
            context.progress(step: step, metrics: [JobMetric("square", Double(step * step))])
            if step == 2 { context.artefact(JobArtefact(name: "halfway", path: "/tmp/halfway.png", step: step)) }
            if step == pauseAt {
                // Holds until the test cancels; bounded so that a broken cancel cannot hang the suite.
                for _ in 0..<2000 where !context.isCancelled { Thread.sleep(forTimeInterval: 0.005) }
            }
        }
        return Result(counted: steps, seed: seed)
    }
}

/// Collects events, with the id of the job that sent each, from any thread.
final class EventRecorder: Sendable {
    private let events = Mutex<[(job: UUID, event: JobEvent)]>([])
    var sink: JobEventSink { { [self] id, event in self.events.withLock { $0.append((id, event)) } } }
    var all: [JobEvent] { events.withLock { $0.map(\.event) } }
    var tagged: [(job: UUID, event: JobEvent)] { events.withLock { $0 } }
}

final class JobTests: XCTestCase {
    func testEventsArriveInOrderWithTheResult() throws {
        let recorder = EventRecorder()
        let outcome = JobRunner.start(CountingJob(steps: 4, seed: 7), total: 4, sink: recorder.sink).wait()
        XCTAssertEqual(try outcome.get(), CountingJob.Result(counted: 4, seed: 7))
        let events = recorder.all
        guard case let .started(info) = events.first else { return XCTFail("first event: \(String(describing: events.first))") }
        XCTAssertEqual(info.kind, "count")
        XCTAssertEqual(info.unit, "steps")
        // The parameter snapshot reproduces the job, seed included.
        let snapshot = try JSONDecoder().decode(CountingJob.self, from: info.parameters)
        XCTAssertEqual(snapshot.seed, 7)
        XCTAssertEqual(snapshot.steps, 4)
        guard case .log(.info, "counting to 4") = events[1] else { return XCTFail("second event: \(events[1])") }
        let steps = events.compactMap { event -> JobProgress? in if case let .progress(p) = event { return p } else { return nil } }
        XCTAssertEqual(steps.map(\.step), [1, 2, 3, 4])
        XCTAssertEqual(steps.map(\.total), [4, 4, 4, 4])
        XCTAssertEqual(steps.last?.eta, 0)
        XCTAssertEqual(steps[2].metrics, [JobMetric("square", 9)])
        XCTAssertTrue(steps.allSatisfy { $0.rate > 0 })
        XCTAssertTrue(events.contains(.artefact(JobArtefact(name: "halfway", path: "/tmp/halfway.png", step: 2))))
        guard case let .finished(summary, data) = events.last else { return XCTFail("last event: \(String(describing: events.last))") }
        XCTAssertEqual(summary, "counted 4")
        XCTAssertEqual(try JSONDecoder().decode(CountingJob.Result.self, from: data), CountingJob.Result(counted: 4, seed: 7))
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
    }

    func testCancellationStopsAtTheNextCheck() {
        let recorder = EventRecorder()
        let handle = JobRunner.start(CountingJob(steps: 1000, seed: 1, pauseAt: 3), sink: recorder.sink)
        // Wait until the job is parked at step 3, then cancel.
        for _ in 0..<2000 {
            if recorder.all.contains(where: { if case let .progress(p) = $0 { return p.step == 3 } else { return false } }) { break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        handle.cancel()
        guard case .cancelled = handle.wait() else { return XCTFail("expected a cancelled outcome") }
        XCTAssertTrue(handle.isDone)
        let events = recorder.all
        XCTAssertEqual(events.last, .cancelled)
        let lastStep = events.compactMap { event -> Int? in if case let .progress(p) = event { return p.step } else { return nil } }.last
        XCTAssertEqual(lastStep, 3, "no step after the cancellation point")
        XCTAssertThrowsError(try handle.wait().get()) { XCTAssertTrue($0 is JobCancelled) }
    }

    func testFailureEndsWithItsMessage() {
        let recorder = EventRecorder()
        let outcome = JobRunner.run(CountingJob(steps: 5, seed: 1, failAt: 3), sink: recorder.sink)
        guard case let .failed(failure) = outcome else { return XCTFail("expected failure, got \(outcome)") }
        XCTAssertEqual(failure.message, "step 3 failed on purpose")
        XCTAssertEqual(recorder.all.last, .failed("step 3 failed on purpose"))
        XCTAssertEqual(recorder.all.filter(\.isTerminal).count, 1)
        XCTAssertThrowsError(try outcome.get()) { XCTAssertEqual("\($0)", "step 3 failed on purpose") }
    }

    func testCancellationTokenIsSharedAcrossThreads() {
        let token = CancellationToken()
        XCTAssertFalse(token.isCancelled)
        let done = DispatchSemaphore(value: 0)
        Thread { token.cancel(); done.signal() }.start()
        done.wait()
        XCTAssertTrue(token.isCancelled)
    }
}
