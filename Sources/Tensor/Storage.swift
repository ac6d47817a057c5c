#if canImport(Glibc)
import Glibc
#endif

/// A reference-counted, 64-byte aligned buffer of Float that tensors (and views of
/// them) share.
final class Storage {
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
