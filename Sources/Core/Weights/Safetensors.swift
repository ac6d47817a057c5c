import Foundation

/// Reads safetensors: u64 little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}}` (offsets relative to the data after the header), raw data.
enum SafetensorsReader {
    /// Headers above this are refused before parsing (the format's own limit is 100 MB).
    static let maximumHeaderBytes = 100_000_000

    static func read(_ file: MappedFile) throws -> WeightArchive {
        let path = file.path
        let reader = ByteReader(bytes: file.bytes, path: path)
        guard file.count >= 8 else {
            throw WeightsError(path: path, "not a safetensors or torch file (\(file.count) bytes)")
        }
        let headerLength = try reader.u64(0)
        guard headerLength <= UInt64(min(maximumHeaderBytes, file.count - 8)) else {
            throw WeightsError(path: path, headerLength > UInt64(maximumHeaderBytes)
                ? "not a safetensors or torch file (header length \(headerLength) is implausible)"
                : "truncated safetensors file (header of \(headerLength) bytes, file has \(file.count - 8) after the length)")
        }
        let headerBytes = try reader.slice(8, Int(headerLength), "the header")
        guard headerBytes.first == UInt8(ascii: "{"),
              let json = try? JSONSerialization.jsonObject(with: Data(headerBytes)),
              let header = json as? [String: Any]
        else {
            throw WeightsError(path: path, "not a safetensors file (its header is not a JSON object)")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = file.count - dataStart

        var metadata: [String: String] = [:]
        if let values = header["__metadata__"] as? [String: Any] {
            for (key, value) in values { metadata[key] = "\(value)" }
        }
        var entries: [WeightArchive.Entry] = []
        for (key, value) in header where key != "__metadata__" {
            guard let fields = value as? [String: Any],
                  let dtypeName = fields["dtype"] as? String,
                  let shapeValues = fields["shape"] as? [Any],
                  let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2
            else {
                throw WeightsError(path: path, "key '\(key)' has a malformed header entry")
            }
            guard let dtype = WeightDType(rawValue: dtypeName) else {
                throw WeightsError(path: path, "key '\(key)' has unsupported dtype \(dtypeName)")
            }
            let shape = try shapeValues.map { try nonNegativeInt($0, path: path, key: key, field: "shape") }
            let begin = try nonNegativeInt(offsetValues[0], path: path, key: key, field: "data_offsets")
            let end = try nonNegativeInt(offsetValues[1], path: path, key: key, field: "data_offsets")
            guard let byteCount = TorchArchiveReader.checkedProduct(shape + [dtype.byteSize]),
                  begin <= end, end - begin == byteCount
            else {
                throw WeightsError(path: path, "key '\(key)': data_offsets [\(begin), \(end)] do not fit shape \(shape) of \(dtypeName)")
            }
            guard end <= dataLength else {
                throw WeightsError(path: path, "truncated file (key '\(key)' ends at byte \(dataStart + end), the file has \(file.count))")
            }
            entries.append(.init(info: WeightInfo(key: key, dtype: dtype, shape: shape),
                                 byteOffset: dataStart + begin, strides: nil, inflated: nil))
        }
        // JSON objects are unordered; file order is the order of the data.
        entries.sort { $0.byteOffset != $1.byteOffset ? $0.byteOffset < $1.byteOffset : $0.info.key < $1.info.key }
        return try WeightArchive(path: path, format: .safetensors, file: file, entries: entries, metadata: metadata)
    }

    private static func nonNegativeInt(_ value: Any, path: String, key: String, field: String) throws -> Int {
        if let integer = value as? Int, integer >= 0 { return integer }
        if let double = value as? Double, double >= 0, double < 9.0e15, double == double.rounded() { return Int(double) }
        throw WeightsError(path: path, "key '\(key)' has a bad \(field) value \(value)")
    }
}

/// Writes safetensors files.
public enum SafetensorsWriter {
    /// One tensor to write: its bytes must already be in `dtype`, little-endian, row-major.
    public struct Tensor {
        public var key: String
        public var dtype: WeightDType
        public var shape: [Int]
        public var data: Data

        public init(key: String, dtype: WeightDType, shape: [Int], data: Data) {
            self.key = key
            self.dtype = dtype
            self.shape = shape
            self.data = data
        }

        /// A float32 tensor from values.
        public init(key: String, shape: [Int], floats: [Float]) {
            self.init(key: key, dtype: .f32, shape: shape, data: floats.withUnsafeBytes { Data($0) })
        }
    }

    /// Writes `tensors` in the given order, with an optional `__metadata__` map; throws naming the path.
    /// The file is written beside `path` and renamed into place, so that a failure or a kill
    /// never leaves half a file there (a checkpoint, a model) and nothing beside it.
    public static func write(_ tensors: [Tensor], to path: String, metadata: [String: String] = [:]) throws {
        var seen = Set<String>()
        var header: [(String, String)] = []
        var offset = 0
        for tensor in tensors {
            guard seen.insert(tensor.key).inserted else { throw WeightsError(path: path, "key '\(tensor.key)' given twice") }
            let expected = tensor.shape.reduce(1, *) * tensor.dtype.byteSize
            guard tensor.data.count == expected else {
                throw WeightsError(path: path, "key '\(tensor.key)' has \(tensor.data.count) bytes, shape \(tensor.shape) of \(tensor.dtype.rawValue) needs \(expected)")
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header.append((tensor.key, "{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + expected)]}"))
            offset += expected
        }
        var json = "{"
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            json += "\"__metadata__\":{\(pairs.joined(separator: ","))}"
            if !header.isEmpty { json += "," }
        }
        json += header.map { "\(jsonString($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        var headerBytes = Array(json.utf8)
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary)
        else {
            throw WeightsError(path: path, "cannot create the file")
        }
        do {
            defer { try? handle.close() }
            var length = UInt64(headerBytes.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: Data(headerBytes))
            for tensor in tensors { try handle.write(contentsOf: tensor.data) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw WeightsError(path: path, "cannot write (\(error.localizedDescription))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw WeightsError(path: path, "cannot write (\(reason))")
        }
    }

    private static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
