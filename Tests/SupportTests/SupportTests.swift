import Foundation
import Support
import Synchronization
import XCTest

final class SupportTests: XCTestCase {
    func testBoundedQueueKeepsOrderAndBlocksWhenFull() {
        let queue = BoundedQueue<Int>(capacity: 3)
        let producer = Thread {
            for i in 0..<500 { queue.put(i) }
            queue.close()
        }
        producer.start()
        var received: [Int] = []
        while let item = queue.take() { received.append(item) }
        XCTAssertEqual(received, Array(0..<500))
        XCTAssertFalse(queue.put(1), "a closed queue refuses items")
        XCTAssertNil(queue.take())
    }

    func testClosingWakesABlockedProducer() {
        let queue = BoundedQueue<Int>(capacity: 1)
        queue.put(0)
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Bool?>(nil)
        let producer = Thread {
            let accepted = queue.put(1)  // blocks: full
            result.withLock { $0 = accepted }
            done.signal()
        }
        producer.start()
        Thread.sleep(forTimeInterval: 0.05)
        queue.close()
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(result.withLock { $0 }, false)
    }

    func testShardsAreDeterministicAndValidated() throws {
        XCTAssertThrowsError(try Shard(parsing: "3/3"))
        XCTAssertThrowsError(try Shard(parsing: "a/2"))
        XCTAssertThrowsError(try Shard(parsing: "1/0"))
        let shard = try Shard(parsing: "1/4")
        XCTAssertEqual(shard, try Shard(index: 1, count: 4))
        // FNV-1a of the relative path: fixed across runs and machines.
        XCTAssertEqual(FNV1a.hash("red/red-00.png"), FNV1a.hash("red/red-00.png"))
        XCTAssertEqual(FNV1a.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a.hash("a"), 0xaf63_dc4c_8601_ec8c)
        let names = (0..<400).map { "c/\($0).png" }
        let counts = (0..<4).map { k in names.filter { try! Shard(index: k, count: 4).contains(relativePath: $0) }.count }
        XCTAssertEqual(counts.reduce(0, +), 400)
        XCTAssertTrue(counts.allSatisfy { $0 > 60 }, "roughly even: \(counts)")
    }
}
