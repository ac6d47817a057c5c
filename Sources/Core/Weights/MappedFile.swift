import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a weights file could not be read: one line that names the file (and the key, where there is one).
public struct WeightsError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The full one-line message.
    public let message: String

    public init(_ message: String) { self.message = message }

    /// An error about `path`, reported by its file name as the user typed it.
    init(path: String, _ detail: String) { self.message = "\(path): \(detail)" }

    public var description: String { message }
}

/// A read-only memory map of a whole file; the pages stay in the page cache, nothing is copied.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer
    /// Whether `bytes` is a mapping of ours to unmap (not bytes embedded in the binary).
    private let ownsMapping: Bool

    /// Bytes that live as long as the process (an asset embedded in the binary), named
    /// `name` in error messages.
    init(embedded bytes: UnsafeRawBufferPointer, name: String) {
        self.path = name
        self.bytes = bytes
        ownsMapping = false
    }

    init(path: String) throws {
        self.path = path
        ownsMapping = true
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw WeightsError(path: path, "cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw WeightsError(path: path, "cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw WeightsError(path: path, "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else { throw WeightsError(path: path, "empty file") }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw WeightsError(path: path, "cannot map into memory (\(String(cString: strerror(errno))))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        guard ownsMapping else { return }
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }

    var count: Int { bytes.count }

    /// Hints the kernel that `range` will be read soon and in order.
    func prefetch(_ range: Range<Int>) {
        guard !range.isEmpty, let base = bytes.baseAddress else { return }
        // madvise wants a page-aligned start.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }
}

/// Bounds-checked little-endian reads from a byte buffer; every read past the end is an error, never a trap.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String

    func check(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String) throws {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw WeightsError(path: path, "truncated file (\(what()) lies past its end)")
        }
    }

    func u16(_ offset: Int) throws -> Int {
        try check(offset, 2, "a field at byte \(offset)")
        return Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    func u32(_ offset: Int) throws -> Int {
        try check(offset, 4, "a field at byte \(offset)")
        return Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    func u64(_ offset: Int) throws -> UInt64 {
        try check(offset, 8, "a field at byte \(offset)")
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    func slice(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try check(offset, length, what())
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
    }
}

extension WeightsError {
    public var errorDescription: String? { description }
}
