import Dispatch
import Foundation

/// Our own parallel loops (im2col, element-wise ops, batches), sized to the cores.
/// They never call BLAS inside: OpenBLAS runs its own threads per call, and nesting
/// the two would oversubscribe the cores.
public enum Parallel {
    /// Number of workers our loops use; 1 turns them serial.
    nonisolated(unsafe) public static var workers = ProcessInfo.processInfo.activeProcessorCount

    /// Splits 0..<count into contiguous chunks of at least `grain` items and runs
    /// `body` on each, in parallel when there is more than one chunk.
    public static func forChunks(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(workers, max(1, count / max(grain, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                box.value(start..<end)
            }
        }
    }
}

/// Lets a non-Sendable closure cross into concurrentPerform, whose chunks touch
/// disjoint memory by construction.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
