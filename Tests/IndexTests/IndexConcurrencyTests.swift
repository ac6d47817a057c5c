import CLIP
import Foundation
@testable import Index
import Jobs
import Support
import Synchronization
import Tensor
import XCTest

final class IndexConcurrencyTests: XCTestCase {
    func testTwoScansAtOnceShareOneModelLoadAndNeverRunBLASConcurrently() throws {
        let root = try IndexFixtures.scratch("shared-lane")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("images")
        try IndexFixtures.makeFolder(folder, perCategory: 6, corrupt: false)
        let executor = ComputeExecutor()
        BLAS.resetConcurrencyRecord()
        let jobs = ["a", "b"].map { name in
            ScanJob(model: IndexFixtures.model, folders: [folder.path], index: root.appendingPathComponent("\(name).index").path,
                    batchSize: 2)
        }
        let handles = jobs.map { JobRunner.start($0, executor: executor, sink: { _, _ in }) }
        let results = try handles.map { try $0.wait().get() }
        XCTAssertEqual(results.map(\.scanned), [results[0].scanned, results[0].scanned])
        XCTAssertGreaterThan(results[0].scanned, 10)
        XCTAssertEqual(executor.loads, 1, "both scans used one loaded model")
        XCTAssertEqual(BLAS.mostConcurrentComputeCallers, 1, "the two scans never computed at once")
        // The two indexes hold the same numbers: sharing the model changed nothing.
        XCTAssertEqual(try IndexFixtures.snapshot(jobs[0].index).neurons, try IndexFixtures.snapshot(jobs[1].index).neurons)
    }

    func testAReaderSeesCommittedBatchesWhileAScanIsWriting() throws {
        let root = try IndexFixtures.scratch("wal-readers")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("images")
        try IndexFixtures.makeFolder(folder, perCategory: 3, corrupt: false)
        let path = root.appendingPathComponent("demo.index")
        let scanned = try IndexFixtures.scan([folder], index: path)
        let writer = try ActivationIndex(path: path.path)
        let scan = try writer.scan()
        // A write transaction stays open (a scan's batch in flight) while another reader asks.
        let writing = DispatchSemaphore(value: 0), finishWriting = DispatchSemaphore(value: 0)
        Thread {
            _ = try? writer.write("hold a batch") { database -> Void in
                try database.execute(sql: "DELETE FROM entries WHERE 0")
                writing.signal()
                finishWriting.wait()
            }
        }.start()
        writing.wait()
        defer { finishWriting.signal() }
        let read = DispatchSemaphore(value: 0)
        let seen = Atomic<Int>(-1)
        Thread {
            if let reader = try? ActivationIndex(path: path.path), let entries = try? reader.entries(scan: scan.id) {
                seen.store(entries.count, ordering: .relaxed)
            }
            read.signal()
        }.start()
        XCTAssertEqual(read.wait(timeout: .now() + 10), .success, "the reader did not wait for the writer")
        XCTAssertEqual(seen.load(ordering: .relaxed), scanned.images + scanned.skipped.count)
        // The same open index also reads while its own write is in flight.
        XCTAssertEqual(try writer.entries(scan: scan.id).count, scanned.images + scanned.skipped.count)
    }
}
