import Foundation
import Synchronization
import XCTest
@testable import Jobs

/// The machine's queue: one job computes at a time, turns go in order of arrival, and a turn
/// held by a process that dies is given back.
final class MachineQueueTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-queue-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// Waits until `condition` holds (or fails after 20 s).
    func wait(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(20)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)") }
            usleep(5_000)
        }
    }

    func testOneJobComputesAtATimeAndTurnsGoInOrderOfArrival() throws {
        let queue = MachineQueue(directory: folder)
        let first = try queue.waitForTurn(token: CancellationToken()) { _ in }
        let order = Mutex<[String]>([]), reports = Mutex<[String: [Int]]>([:])
        let turns = Mutex<[String: MachineQueue.Turn]>([:])
        func waiter(_ name: String) -> Thread {
            Thread {
                let turn = try! queue.waitForTurn(token: CancellationToken(), poll: 0.01) { ahead in
                    reports.withLock { $0[name, default: []].append(ahead) }
                }
                order.withLock { $0.append(name) }
                turns.withLock { $0[name] = turn }
            }
        }
        waiter("second").start()
        wait("the second in line") { reports.withLock { $0["second"] } == [0] }
        waiter("third").start()
        wait("the third in line") { reports.withLock { $0["third"] } == [1] }
        usleep(50_000)
        XCTAssertEqual(order.withLock { $0 }, [], "nobody computes beside the first")

        first.release()
        wait("the second's turn") { order.withLock { $0 } == ["second"] }
        wait("the third next in line once the second computes") { reports.withLock { $0["third"] } == [1, 0] }
        usleep(50_000)
        XCTAssertEqual(order.withLock { $0 }, ["second"])
        turns.withLock { $0["second"] }?.release()
        wait("the third's turn") { order.withLock { $0 } == ["second", "third"] }
        turns.withLock { $0["third"] }?.release()
    }

    func testATurnFreeOnArrivalIsTakenWithoutAWordAndAJobThatNeverWaitedSaysNothingOfTheQueue() throws {
        let queue = MachineQueue(directory: folder)
        var reports: [Int] = []
        let turn = try queue.waitForTurn(token: CancellationToken()) { reports.append($0) }
        XCTAssertEqual(reports, [])
        turn.release()
        let events = Mutex<[JobEvent]>([])
        _ = try JobRunner.run(FolderJob(output: (folder as NSString).appendingPathComponent("run"), steps: 2, seed: 1, stopAt: nil),
                              queue: queue) { _, event in events.withLock { $0.append(event) } }.get()
        XCTAssertFalse(events.withLock { $0 }.contains { if case .queue = $0 { true } else { false } })
    }

    func testACancelledWaitLeavesTheQueue() throws {
        let queue = MachineQueue(directory: folder)
        let held = try queue.waitForTurn(token: CancellationToken()) { _ in }
        let token = CancellationToken()
        let ended = Mutex<Bool?>(nil)
        Thread {
            do { _ = try queue.waitForTurn(token: token, poll: 0.01) { _ in } } catch {
                let cancelled = error is JobCancelled
                ended.withLock { $0 = cancelled }
            }
        }.start()
        wait("a ticket") { ((try? FileManager.default.contentsOfDirectory(atPath: queue.ticketsFolder)) ?? []).count == 1 }
        token.cancel()
        wait("the cancelled wait to end") { ended.withLock { $0 } != nil }
        XCTAssertEqual(ended.withLock { $0 }, true)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: queue.ticketsFolder), [], "its ticket is gone")
        held.release()
    }

    func testATurnHeldByAProcessKilledWithSIGKILLIsGivenBack() throws {
        let queue = MachineQueue(directory: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Another process holds the only slot, as a runner would.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        // -o: the lock stays with flock itself, not with the sleep it runs.
        holder.arguments = ["-o", (folder as NSString).appendingPathComponent("slot-0.lock"), "sleep", "60"]
        try holder.run()
        let slot = (folder as NSString).appendingPathComponent("slot-0.lock")
        wait("the other process to hold the slot") {
            let probe = open(slot, O_RDWR)
            defer { if probe >= 0 { close(probe) } }
            return probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) != 0
        }
        let got = Mutex<MachineQueue.Turn?>(nil)
        Thread {
            let turn = try? queue.waitForTurn(token: CancellationToken(), poll: 0.01) { _ in }
            got.withLock { $0 = turn }
        }.start()
        usleep(100_000)
        XCTAssertNil(got.withLock { $0 }, "waits while the holder lives")
        let pid = holder.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        kill(pid, SIGKILL)
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGTERM) }  // its sleep
        wait("the turn of the dead process") { got.withLock { $0 } != nil }
    }

    func testAJobWaitingForItsTurnIsRecordedAsQueuedThenRuns() throws {
        let queue = MachineQueue(directory: folder)
        let held = try queue.waitForTurn(token: CancellationToken()) { _ in }
        let runFolder = (folder as NSString).appendingPathComponent("run")
        let events = Mutex<[JobEvent]>([])
        let handle = JobRunner.start(FolderJob(output: runFolder, steps: 3, seed: 1, stopAt: nil), queue: queue) { _, event in
            events.withLock { $0.append(event) }
        }
        wait("the queued record") { (try? RunFolder(path: runFolder).read())?.status == "queued" }
        XCTAssertEqual(try RunFolder(path: runFolder).read().jobState(folder: runFolder).status, .queued)
        XCTAssertFalse(events.withLock { $0 }.contains { if case .progress = $0 { true } else { false } }, "no work before its turn")
        held.release()
        XCTAssertEqual(try handle.wait().get().finalLoss, 0.125)
        let queueEvents = events.withLock { $0 }.compactMap { event -> Int?? in if case let .queue(ahead) = event { ahead } else { nil } }
        XCTAssertEqual(queueEvents, [0, nil], "next in line, then computing")
        XCTAssertEqual(try RunFolder(path: runFolder).read().status, "finished")
    }
}
