import CZlib
import Foundation

/// A job's checkpoint: safetensors whose metadata holds a CRC-32 of its tensors' bytes, and
/// the checkpoint it replaced kept beside it. A resume checks the checksum before it uses a
/// number, so a damaged file is named and passed over for the one before it (or for a start
/// from the beginning) instead of being resumed into NaNs. Checkpoints written before the
/// checksum existed load as they are.
public enum Checkpoint {
    static let checksumKey = "clipscope.crc32"

    /// Where the checkpoint before the one at `path` is kept.
    public static func previousPath(_ path: String) -> String {
        ((path as NSString).deletingPathExtension as NSString).appendingPathExtension("previous.safetensors")!
    }

    /// Writes the checkpoint (renamed into place: never half a file), keeping the one it
    /// replaces as `previousPath`.
    public static func write(_ tensors: [SafetensorsWriter.Tensor], to path: String, metadata: [String: String]) throws {
        var metadata = metadata
        metadata[checksumKey] = hex(checksum(tensors.map(\.data)))
        if FileManager.default.fileExists(atPath: path) {
            let previous = previousPath(path)
            guard rename(path, previous) == 0 else {
                throw WeightsError(path: path, "cannot keep it as \(previous) (\(String(cString: strerror(errno))))")
            }
        }
        try SafetensorsWriter.write(tensors, to: path, metadata: metadata)
    }

    /// The newest intact checkpoint at `path`: the file itself, or the one before it when the
    /// file is damaged or gone; nil when there is none. `damaged` hears, in one line, each
    /// file passed over and what happens instead.
    public static func open(_ path: String, damaged: (String) -> Void) -> WeightArchive? {
        let previous = previousPath(path)
        let candidates = [path, previous].filter { FileManager.default.fileExists(atPath: $0) }
        for (index, candidate) in candidates.enumerated() {
            do {
                return try verified(candidate)
            } catch {
                let next = index + 1 < candidates.count ? "resuming from the checkpoint before it" : "starting again from the beginning"
                damaged("\(candidate) is damaged and was not used (\(reason(error, path: candidate))); \(next)")
            }
        }
        return nil
    }

    /// Whether every floating-point value of `tensors` is finite: a job that diverged
    /// writes no checkpoint, so the one in place stays the last good one.
    public static func isFinite(_ tensors: [SafetensorsWriter.Tensor]) -> Bool {
        tensors.allSatisfy { tensor in
            guard tensor.dtype == .f32 else { return true }
            return tensor.data.withUnsafeBytes { $0.bindMemory(to: Float.self).allSatisfy(\.isFinite) }
        }
    }

    /// Removes the checkpoint and the one before it (a finished job needs neither).
    public static func remove(_ path: String) {
        for file in [path, previousPath(path)] { try? FileManager.default.removeItem(atPath: file) }
    }

    /// Opens the file and checks its checksum when it has one.
    static func verified(_ path: String) throws -> WeightArchive {
        let archive = try WeightArchive.open(path)
        if let written = archive.metadata[checksumKey] {
            let actual = hex(checksum(try archive.keys.map { try archive.contiguousData($0) }))
            guard actual == written else { throw WeightsError(path: path, "its tensors' CRC-32 is \(actual), \(written) was written") }
        }
        return archive
    }

    /// The error's message without the path the caller names anyway.
    static func reason(_ error: Error, path: String) -> String {
        let message = "\(error)"
        return message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }

    /// CRC-32 of the byte sequences one after the other.
    static func checksum(_ parts: [Data]) -> UInt32 {
        var crc = crc32(0, nil, 0)
        for part in parts {
            part.withUnsafeBytes { bytes in
                var offset = 0
                // zlib takes 32-bit lengths.
                while offset < bytes.count {
                    let length = min(bytes.count - offset, 1 << 30)
                    crc = crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(length))
                    offset += length
                }
            }
        }
        return UInt32(crc)
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
