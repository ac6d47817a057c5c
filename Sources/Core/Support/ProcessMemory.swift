import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// This process's resident memory, from /proc/self/status (Linux; nil elsewhere).
public enum ProcessMemory {
    /// Resident set size now, in bytes.
    public static var residentBytes: Int? { statusField("VmRSS") }

    /// The most resident memory since the process started or since `resetPeak()`, in bytes.
    public static var peakResidentBytes: Int? { statusField("VmHWM") }

    /// Starts a new peak from the current resident size (writing 5 to clear_refs), so that
    /// one operation's peak can be read on its own. Free heap memory is returned to the
    /// system first: the allocator keeps freed blocks resident (see `Storage`), which would
    /// carry one operation's peak into the next. Returns false where that is not allowed.
    @discardableResult
    public static func resetPeak() -> Bool {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(descriptor, "5", 1) == 1
    }

    private static func statusField(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            // "VmHWM:\t  812345 kB"
            let kilobytes = line.dropFirst(name.count + 1).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }
}

#if canImport(Glibc)
/// glibc's malloc_trim, declared here because the Glibc module omits <malloc.h>.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
