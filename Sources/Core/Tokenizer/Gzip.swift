import CZlib
import Foundation

/// A gzip stream that zlib could not inflate.
public struct GzipError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
}

/// Gzip decompression with the system zlib.
public enum Gzip {
    /// The decompressed bytes of a whole gzip stream; `name` labels errors.
    public static func decompress(_ data: Data, name: String) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a 32 KiB window and a gzip (not zlib) header.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError(description: "\(name): zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(data.count * 4)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let status: Int32 = data.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> Int32 in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else { return Z_DATA_ERROR }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            var result = Z_OK
            while result == Z_OK {
                result = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    let code = inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: buffer.prefix(buffer.count - Int(stream.avail_out)))
                    return code
                }
                if result == Z_BUF_ERROR && stream.avail_in == 0 { break }
            }
            return result
        }
        guard status == Z_STREAM_END else {
            throw GzipError(description: "\(name): not a complete gzip stream (zlib status \(status))")
        }
        return output
    }
}

extension GzipError {
    public var errorDescription: String? { description }
}
