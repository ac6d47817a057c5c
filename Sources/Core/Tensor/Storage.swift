#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A reference-counted, 64-byte aligned buffer of Float that tensors (and views of
/// them) share.
/// Unchecked Sendable: the scratch pool hands a buffer to one op at a time.
final class Storage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        Storage.configureAllocatorOnce
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("Tensor: cannot allocate \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(pointer) }

    /// Keeps freed activation buffers in the heap instead of returning them to the
    /// kernel with munmap: a forward pass allocates hundreds of MB in large blocks,
    /// and fresh pages from mmap cost a page fault and a zeroing each time.
    private static let configureAllocatorOnce: Void = {
        #if canImport(Glibc)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 1 << 30)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
    }()
}

#if canImport(Glibc)
/// glibc's mallopt, declared here because the Glibc module omits <malloc.h>.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// Reusable scratch buffers (im2col columns) so that an op allocates nothing
/// beyond its output in steady state. Buffers go back after each use.
enum ScratchPool {
    private static let free = Mutex<[Storage]>([])

    /// A buffer of at least `count` floats, contents undefined: the smallest free one
    /// that fits, so that a small request does not take the buffer a large one needs.
    static func take(_ count: Int) -> Storage {
        let reused = free.withLock { buffers -> Storage? in
            var best: Int?
            for (index, buffer) in buffers.enumerated() where buffer.count >= count {
                if best.map({ buffer.count < buffers[$0].count }) ?? true { best = index }
            }
            return best.map { buffers.remove(at: $0) }
        }
        return reused ?? Storage(count: count)
    }

    /// Takes buffers of these sizes, writes every page and gives them back, so that a
    /// timed op after it pays no first-touch page faults.
    static func touch(_ counts: Int...) {
        let buffers = counts.map(take)
        for buffer in buffers { buffer.pointer.update(repeating: 0, count: buffer.count) }
        buffers.forEach(give)
    }

    static func give(_ storage: Storage) {
        free.withLock { buffers in
            buffers.append(storage)
            // Keep the few largest: a conv's two buffers for each image in flight.
            if buffers.count > max(4, 2 * Parallel.workers) {
                buffers.sort { $0.count > $1.count }
                buffers.removeLast()
            }
        }
    }
}
