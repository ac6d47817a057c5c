import Foundation
import Jobs
import Support
import Synchronization
import XCTest

/// A job that previews an image on every step, pausing a little between steps.
struct PreviewingJob: JobSpec {
    static let kind = "preview"
    var steps: Int
    var millisecondsPerStep: Int

    struct Result: Codable, Sendable { let steps: Int }

    func run(_ context: JobContext) throws -> Result {
        for step in 1...steps {
            context.preview { JobPreview(step: step, width: 2, height: 1, rgb: [UInt8](repeating: UInt8(step % 256), count: 6)) }
            Thread.sleep(forTimeInterval: Double(millisecondsPerStep) / 1000)
        }
        context.preview(force: true) { JobPreview(step: steps, width: 1, height: 1, rgb: [255, 255, 255]) }
        return Result(steps: steps)
    }
}

/// A job whose every step takes the compute lane and records when it ran.
struct SteppingJob: JobSpec {
    static let kind = "stepping"
    var name: String
    var steps: Int

    struct Result: Codable, Sendable {}

    func run(_ context: JobContext) throws -> Result {
        for _ in 0..<steps {
            context.compute { Order.shared.record(name) }
        }
        return Result()
    }
}

/// What ran on the lane, in order.
final class Order: Sendable {
    static let shared = Order()
    private let names = Mutex<[String]>([])
    func record(_ name: String) { names.withLock { $0.append(name) } }
    func reset() { names.withLock { $0 = [] } }
    var all: [String] { names.withLock { $0 } }
}

final class JobSeamTests: XCTestCase {
    func testEventsCarryTheIdOfTheJobThatSentThem() {
        let recorder = EventRecorder()
        let first = JobRunner.start(CountingJob(steps: 30, seed: 1), total: 30, sink: recorder.sink)
        let second = JobRunner.start(CountingJob(steps: 20, seed: 2), total: 20, sink: recorder.sink)
        XCTAssertNoThrow(try first.wait().get())
        XCTAssertNoThrow(try second.wait().get())
        let tagged = recorder.tagged
        XCTAssertEqual(Set(tagged.map(\.job)), [first.info.id, second.info.id])
        for (handle, steps) in [(first, 30), (second, 20)] {
            let mine = tagged.filter { $0.job == handle.info.id }.map(\.event)
            XCTAssertEqual(mine.first, .started(handle.info))
            XCTAssertTrue(mine.last?.isTerminal == true)
            let counted = mine.compactMap { event -> Int? in if case let .progress(p) = event { return p.step } else { return nil } }
            XCTAssertEqual(counted, Array(1...steps), "each job's own steps, in order")
        }
        // One board folds both jobs from the one mailbox.
        var board = JobBoard()
        for (id, event) in tagged { board.apply(id, event) }
        XCTAssertEqual(Set(board.all.map(\.id)), [first.info.id, second.info.id])
        XCTAssertEqual(board.all.map(\.step).sorted(), [20, 30])
        XCTAssertTrue(board.running.isEmpty)
    }

    func testPreviewsAreThrottledAndTheLastIsForced() {
        let recorder = EventRecorder()
        let handle = JobRunner.start(PreviewingJob(steps: 40, millisecondsPerStep: 10), previewInterval: 0.1, sink: recorder.sink)
        XCTAssertNoThrow(try handle.wait().get())
        let previews = recorder.all.compactMap { event -> JobPreview? in if case let .preview(p) = event { return p } else { return nil } }
        // 40 steps of >= 10 ms take >= 0.4 s: a preview at most every 0.1 s, plus the forced last one.
        XCTAssertGreaterThanOrEqual(previews.count, 3)
        XCTAssertLessThan(previews.count, 15, "throttled: far fewer previews than steps")
        XCTAssertEqual(previews.first?.step, 1, "the first preview goes out at once")
        XCTAssertEqual(previews.last, JobPreview(step: 40, width: 1, height: 1, rgb: [255, 255, 255]))
        var state: JobState?
        for event in recorder.all {
            if case let .started(info) = event { state = JobState(info: info) } else { state?.apply(event) }
        }
        XCTAssertEqual(state?.preview, previews.last, "the state keeps the latest preview")
    }

    func testStateGivesTheRateAndETAOfTheLastReport() throws {
        let info = JobInfo(id: UUID(), kind: "scan", parameters: Data("{}".utf8), unit: "images")
        var state = JobState(info: info)
        state.apply(.started(info))
        state.apply(.log(.info, "planning"))
        state.apply(.progress(JobProgress(step: 10, total: 40, rate: 2.5, eta: 12, elapsed: 4,
                                          metrics: [JobMetric("images/s", 2.5), JobMetric("loss", 0.75)])))
        state.apply(.progress(JobProgress(step: 120, total: 400, rate: 12.34, eta: 23, elapsed: 9.7,
                                          metrics: [JobMetric("images/s", 12.34), JobMetric("loss", 0.5)])))
        XCTAssertEqual(state.rate, 12.34)
        XCTAssertEqual(state.eta, 23)
        XCTAssertEqual(state.fraction, 0.3)
        XCTAssertEqual(state.history, [0.75, 0.5], "the first named metric that is not a rate")
        XCTAssertEqual(state.line, "scan  120/400   30%  12.3 images/s  ETA 0:23  loss 0.5")
        XCTAssertEqual(state.logs.map(\.message), ["planning"])
        state.apply(.finished(summary: "done", result: Data("{}".utf8)))
        XCTAssertEqual(state.status, .finished)
        XCTAssertNil(state.eta, "no ETA once finished")
        XCTAssertEqual(state.outcome, "done")
        XCTAssertEqual(JobState.duration(3723), "1:02:03")
    }

    func testAnInteractiveCallQueuedBehindAJobStepRunsBeforeTheJobsNextStep() {
        let executor = ComputeExecutor()
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let order = Mutex<[String]>([])
        // A long job step holds the lane.
        Thread {
            executor.run(.job) {
                holding.signal()
                release.wait()
                order.withLock { $0.append("step 1") }
            }
        }.start()
        holding.wait()
        let done = DispatchGroup()
        func call(_ name: String, _ priority: ComputeExecutor.Priority) {
            done.enter()
            Thread {
                executor.run(priority) { order.withLock { $0.append(name) } }
                done.leave()
            }.start()
        }
        call("step 2", .job)
        waitUntil { executor.waitingCount == 1 }
        call("rescore", .interactive)
        waitUntil { executor.waitingCount == 2 }
        release.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(order.withLock { $0 }, ["step 1", "rescore", "step 2"])
    }

    func testTwoJobsInterleaveTheirStepsOnTheLane() {
        Order.shared.reset()
        let executor = ComputeExecutor()
        let a = JobRunner.start(SteppingJob(name: "a", steps: 50), executor: executor, sink: { _, _ in })
        let b = JobRunner.start(SteppingJob(name: "b", steps: 50), executor: executor, sink: { _, _ in })
        XCTAssertNoThrow(try a.wait().get())
        XCTAssertNoThrow(try b.wait().get())
        XCTAssertEqual(Order.shared.all.count, 100)
        XCTAssertEqual(Order.shared.all.filter { $0 == "a" }.count, 50)
    }

    func testACachedResourceLoadsOnceForConcurrentCallers() throws {
        final class Model {}
        let executor = ComputeExecutor()
        let loads = Atomic<Int>(0)
        let got = Mutex<[ObjectIdentifier]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread {
                let model = try? executor.cached("model:a") { () -> Model in
                    loads.add(1, ordering: .relaxed)
                    Thread.sleep(forTimeInterval: 0.05)
                    return Model()
                }
                if let model { got.withLock { $0.append(ObjectIdentifier(model)) } }
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(loads.load(ordering: .relaxed), 1)
        XCTAssertEqual(executor.loads, 1)
        XCTAssertEqual(Set(got.withLock { $0 }).count, 1, "every caller got the same object")
        // A failed load is not cached.
        struct Broken: Error {}
        XCTAssertThrowsError(try executor.cached("model:b") { () -> Model in throw Broken() })
        XCTAssertNoThrow(try executor.cached("model:b") { Model() })
        XCTAssertEqual(executor.loads, 2)
    }

    func testAStepThatCallsTheLaneAgainDoesNotDeadlock() {
        let executor = ComputeExecutor()
        let value = executor.run(.job) { executor.run(.interactive) { 42 } }
        XCTAssertEqual(value, 42)
    }

    private func waitUntil(_ condition: () -> Bool) {
        for _ in 0..<5000 where !condition() { Thread.sleep(forTimeInterval: 0.001) }
        XCTAssertTrue(condition())
    }
}
