import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Our own parallel loops (im2col, element-wise ops, the parts of a GEMM, images of a
/// batch), sized to the cores. OpenBLAS runs single-threaded inside them, so the workers
/// are the only compute threads (no BLAS thread spins while our loops run).
///
/// A loop started inside another loop's worker runs its chunks serially, in order, on
/// that worker: the same chunks either way, so an op gives the same numbers whether it
/// runs alone (parallel inside) or as one image of a batch (parallel across images).
public enum Parallel {
    /// Number of workers our loops use; 1 turns them serial. `CLIPSCOPE_WORKERS` sets it
    /// (default: the active cores). A large GEMM is cut into one part per worker, so
    /// results are bit for bit the same between machines with the same worker count.
    nonisolated(unsafe) public static var workers: Int = {
        let environment = ProcessInfo.processInfo.environment["CLIPSCOPE_WORKERS"].flatMap { Int($0) }
        return max(1, environment ?? ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Whether the calling thread is running a chunk of a parallel loop.
    public static var isInsideWorker: Bool { pthread_getspecific(workerKey) != nil }

    /// Splits 0..<count into contiguous chunks of at least `grain` items and runs
    /// `body` on each, in parallel when there is more than one chunk and the caller is
    /// not itself a worker.
    public static func forChunks(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(workers, max(1, count / max(grain, 1)))
        forEach(chunks) { chunk in
            body((count * chunk / chunks)..<(count * (chunk + 1) / chunks))
        }
    }

    /// Runs `body(0)`, ..., `body(count - 1)` on up to `workers` threads, each taking the
    /// next index as it finishes one; in order on the caller when the caller is a worker
    /// (or there is one worker).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let threads = min(workers, count)
        if threads <= 1 || isInsideWorker {
            for index in 0..<count { body(index) }
            return
        }
        BLAS.enterCompute()
        defer { BLAS.leaveCompute() }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                // The caller's thread runs some iterations too: mark it only meanwhile.
                let outer = pthread_getspecific(workerKey)
                pthread_setspecific(workerKey, UnsafeRawPointer(bitPattern: 1))
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    if index >= count { break }
                    box.value(index)
                }
                pthread_setspecific(workerKey, outer)
            }
        }
    }
}

private let workerKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()


/// Lets a non-Sendable closure cross into concurrentPerform, whose chunks touch
/// disjoint memory by construction.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
