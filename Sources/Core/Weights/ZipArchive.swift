import CZlib
import Foundation

/// A read-only view of a zip file's entries (stored or deflated, ZIP64 aware), as torch writes them.
struct ZipArchive {
    struct Entry {
        let name: String
        /// 0 = stored, 8 = deflated.
        let method: Int
        let compressedSize: Int
        let uncompressedSize: Int
        /// Offset of the entry's data in the file (after its local header).
        let dataOffset: Int
    }

    let path: String
    let entries: [Entry]
    private let byName: [String: Int]
    private let bytes: UnsafeRawBufferPointer

    init(bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        self.bytes = bytes
        let reader = ByteReader(bytes: bytes, path: path)

        // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
        var endRecord = -1
        let lowest = max(0, bytes.count - 22 - 65_535)
        var offset = bytes.count - 22
        while offset >= lowest {
            if try reader.u32(offset) == 0x0605_4b50 { endRecord = offset; break }
            offset -= 1
        }
        guard endRecord >= 0 else {
            throw WeightsError(path: path, "truncated or damaged zip (no end-of-central-directory record)")
        }
        var entryCount = try reader.u16(endRecord + 10)
        var directorySize = try reader.u32(endRecord + 12)
        var directoryOffset = try reader.u32(endRecord + 16)
        // ZIP64: a locator just before the record points to the ZIP64 end record holding 64-bit fields.
        if endRecord >= 20, try reader.u32(endRecord - 20) == 0x0706_4b50 {
            let zip64Record = try Self.int(reader.u64(endRecord - 12), reader)
            guard try reader.u32(zip64Record) == 0x0606_4b50 else {
                throw WeightsError(path: path, "damaged zip (bad ZIP64 end record)")
            }
            entryCount = try Self.int(reader.u64(zip64Record + 32), reader)
            directorySize = try Self.int(reader.u64(zip64Record + 40), reader)
            directoryOffset = try Self.int(reader.u64(zip64Record + 48), reader)
        }
        try reader.check(directoryOffset, directorySize, "the zip central directory")
        // Each central entry takes at least 46 bytes; a larger count is a damaged record, not a reason to allocate.
        guard entryCount <= directorySize / 46 else {
            throw WeightsError(path: path, "damaged zip (\(entryCount) entries cannot fit a \(directorySize)-byte directory)")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var cursor = directoryOffset
        for _ in 0 ..< entryCount {
            guard try reader.u32(cursor) == 0x0201_4b50 else {
                throw WeightsError(path: path, "damaged zip (bad central directory entry at byte \(cursor))")
            }
            let method = try reader.u16(cursor + 10)
            var compressedSize = try reader.u32(cursor + 20)
            var uncompressedSize = try reader.u32(cursor + 24)
            let nameLength = try reader.u16(cursor + 28)
            let extraLength = try reader.u16(cursor + 30)
            let commentLength = try reader.u16(cursor + 32)
            var localHeader = try reader.u32(cursor + 42)
            let name = String(decoding: try reader.slice(cursor + 46, nameLength, "a zip entry name"), as: UTF8.self)

            // ZIP64 extra field: only the fields saturated at 0xffffffff are present, in this order.
            var extra = cursor + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = try reader.u16(extra)
                let size = try reader.u16(extra + 2)
                if tag == 0x0001 {
                    var field = extra + 4
                    if uncompressedSize == 0xffff_ffff { uncompressedSize = try Self.int(reader.u64(field), reader); field += 8 }
                    if compressedSize == 0xffff_ffff { compressedSize = try Self.int(reader.u64(field), reader); field += 8 }
                    if localHeader == 0xffff_ffff { localHeader = try Self.int(reader.u64(field), reader) }
                }
                extra += 4 + size
            }
            cursor = extraEnd + commentLength

            guard try reader.u32(localHeader) == 0x0403_4b50 else {
                throw WeightsError(path: path, "damaged zip (bad local header for '\(name)')")
            }
            let dataOffset = localHeader + 30 + (try reader.u16(localHeader + 26)) + (try reader.u16(localHeader + 28))
            try reader.check(dataOffset, compressedSize, "zip entry '\(name)'")
            guard method == 0 || method == 8 else {
                throw WeightsError(path: path, "zip entry '\(name)' uses unsupported compression method \(method)")
            }
            guard method != 0 || compressedSize == uncompressedSize else {
                throw WeightsError(path: path, "damaged zip (stored entry '\(name)' has two sizes)")
            }
            entries.append(Entry(name: name, method: method, compressedSize: compressedSize,
                                 uncompressedSize: uncompressedSize, dataOffset: dataOffset))
        }
        self.entries = entries
        var byName: [String: Int] = [:]
        for (index, entry) in entries.enumerated() { byName[entry.name] = index }
        self.byName = byName
    }

    func entry(_ name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// The entry's bytes: a slice of the file when stored; inflated into `Data` when deflated.
    /// `limit` refuses, before inflating anything, an entry declaring more bytes than the caller can use
    /// (a zip bomb's storage); inflation never goes past the declared size either, whatever the stream holds.
    func contents(_ entry: Entry, limit: Int, need: String) throws -> ZipContents {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset ..< entry.dataOffset + entry.compressedSize])
        if entry.method == 0 { return .mapped(raw) }
        guard entry.uncompressedSize <= limit else {
            throw WeightsError(path: path, "zip entry '\(entry.name)' inflates to \(entry.uncompressedSize) bytes, more than the \(limit) \(need) (refused)")
        }
        switch Self.inflate(raw, atMost: entry.uncompressedSize) {
        case .complete(let data) where data.count == entry.uncompressedSize:
            return .inflated(data)
        case .tooLong:
            throw WeightsError(path: path, "zip entry '\(entry.name)' inflates past its declared \(entry.uncompressedSize) bytes (damaged or a zip bomb; refused)")
        case .complete, .damaged:
            throw WeightsError(path: path, "zip entry '\(entry.name)' does not inflate (damaged or truncated)")
        }
    }

    enum Inflation {
        case complete(Data)
        /// The stream holds more than the limit; inflation stopped after `inflatedBytes` (the limit plus one).
        case tooLong(inflatedBytes: Int)
        case damaged
    }

    /// Inflates raw deflate data (what zip stores: no zlib header) into at most `limit` bytes, plus one byte
    /// to learn whether the stream goes on: memory and time stay bounded by `limit`, not by what the data expands to.
    static func inflate(_ source: UnsafeRawBufferPointer, atMost limit: Int) -> Inflation {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return .damaged }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(source.count)
        var output = Data(count: limit)
        var status: Int32 = Z_OK
        var written = 0
        // zlib counts in 32 bits: fill the output in chunks of at most 1 GiB.
        while written < limit {
            let chunk = min(limit - written, 1 << 30)
            status = output.withUnsafeMutableBytes { destination in
                stream.next_out = destination.baseAddress!.advanced(by: written).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(chunk)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            written += chunk - Int(stream.avail_out)
            if status == Z_STREAM_END { break }
            guard status == Z_OK, stream.avail_out == 0 || stream.avail_in > 0 else { return .damaged }
        }
        if status != Z_STREAM_END {
            // The output is full: one more byte tells a finished stream from a longer one.
            var probe: UInt8 = 0
            status = withUnsafeMutablePointer(to: &probe) { pointer in
                stream.next_out = pointer
                stream.avail_out = 1
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            if stream.avail_out == 0 { return .tooLong(inflatedBytes: written + 1) }
            guard status == Z_STREAM_END else { return .damaged }
        }
        return .complete(output.prefix(written))
    }

    private static func int(_ value: UInt64, _ reader: ByteReader) throws -> Int {
        guard value <= UInt64(Int.max) else { throw WeightsError(path: reader.path, "damaged zip (a ZIP64 field is out of range)") }
        return Int(value)
    }
}

/// An entry's bytes: mapped straight from the file, or inflated into memory.
enum ZipContents {
    case mapped(UnsafeRawBufferPointer)
    case inflated(Data)

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self {
        case .mapped(let bytes): try body(bytes)
        case .inflated(let data): try data.withUnsafeBytes(body)
        }
    }
}
