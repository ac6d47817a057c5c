import Synchronization
import XCTest
@testable import Tensor

final class BLASTests: XCTestCase {
    func testLinksOpenBLAS() {
        XCTAssertTrue(BLAS.description.hasPrefix("OpenBLAS"), BLAS.description)
    }

    func testPartsCoverTheExtentInOrderAtMultiplesOf16() {
        for (parts, extent) in [(2, 81), (2, 324), (2, 5184), (3, 100), (4, 64), (8, 1000)] {
            let ranges = (0..<parts).map { GEMMParts.range($0, of: parts, extent: extent) }
            XCTAssertEqual(ranges.first?.lowerBound, 0)
            XCTAssertEqual(ranges.last?.upperBound, extent)
            for (left, right) in zip(ranges, ranges.dropFirst()) {
                XCTAssertEqual(left.upperBound, right.lowerBound, "\(parts) parts of \(extent)")
                XCTAssertEqual(right.lowerBound % 16, 0, "\(parts) parts of \(extent)")
            }
            XCTAssertTrue(ranges.allSatisfy { !$0.isEmpty }, "\(parts) parts of \(extent): \(ranges)")
        }
    }

    /// GEMMs large enough to be cut in parts, along either side and with either operand
    /// transposed, against the definition.
    func testGEMMsCutIntoPartsMatchTheDefinition() {
        let saved = Parallel.workers
        Parallel.workers = 2
        defer { Parallel.workers = saved }
        for (m, n, k) in [(70, 300, 40), (300, 50, 40)] {
            XCTAssertEqual(GEMMParts.count(m: m, n: n, k: k), 2, "\(m)x\(n)x\(k) is cut in two")
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = randomTensor(ta ? [k, m] : [m, k], seed: 500), b = randomTensor(tb ? [n, k] : [k, n], seed: 501)
                let product = a.matmul(b, transposeSelf: ta, transposeOther: tb)
                var worst: Double = 0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum: Double = 0
                        for p in 0..<k {
                            sum += Double(ta ? a[p, i] : a[i, p]) * Double(tb ? b[j, p] : b[p, j])
                        }
                        worst = max(worst, abs(Double(product[i, j]) - sum))
                    }
                }
                XCTAssertLessThan(worst, 1e-4, "\(m)x\(n)x\(k) transposes \(ta) \(tb)")
            }
        }
        XCTAssertEqual(GEMMParts.count(m: 8, n: 8, k: 8), 1, "small GEMMs stay one call")
    }

    /// An op inside a worker (one image of a batch) runs its loops and GEMM parts in order
    /// on that worker, with the same chunks: the same numbers as running alone.
    func testNestedLoopsRunInOrderWithTheSameChunks() {
        let saved = Parallel.workers
        Parallel.workers = 2
        defer { Parallel.workers = saved }
        let seen = Mutex<[Int: [Range<Int>]]>([:])
        Parallel.forEach(2) { outer in
            XCTAssertTrue(Parallel.isInsideWorker)
            Parallel.forChunks(100, grain: 10) { range in seen.withLock { $0[outer, default: []].append(range) } }
        }
        XCTAssertEqual(seen.withLock { $0[0] }, [0..<50, 50..<100])
        XCTAssertEqual(seen.withLock { $0[1] }, [0..<50, 50..<100])
        XCTAssertFalse(Parallel.isInsideWorker, "the caller is unmarked after a loop")
    }

    func testLoopsUseAtMostTheWorkersAndEveryIndexOnce() {
        let saved = Parallel.workers
        defer { Parallel.workers = saved }
        for workers in [1, 2] {
            Parallel.workers = workers
            let running = Atomic<Int>(0), most = Atomic<Int>(0)
            let done = Mutex<[Int]>([])
            Parallel.forEach(12) { index in
                let now = running.add(1, ordering: .relaxed).newValue
                _ = most.max(now, ordering: .relaxed)
                usleep(2000)
                running.subtract(1, ordering: .relaxed)
                done.withLock { $0.append(index) }
            }
            XCTAssertEqual(done.withLock { $0.sorted() }, Array(0..<12), "\(workers) worker(s)")
            XCTAssertLessThanOrEqual(most.load(ordering: .relaxed), workers, "\(workers) worker(s)")
        }
    }
}
