import Foundation

/// The element type of a stored tensor, named as safetensors names it.
public enum WeightDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    /// Whether the values are floating point (the ones `convert --dtype` may change).
    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }
}

/// Which kind of file an archive was read from.
public enum WeightFormat: String, Sendable {
    case safetensors
    /// A TorchScript archive (`torch.jit.save`), as OpenAI releases CLIP.
    case torchScript = "torchscript"
    /// A zip written by `torch.save(state_dict)`.
    case torchStateDict = "torch-state-dict"
}

/// What one stored tensor is: its name, element type and shape.
public struct WeightInfo: Sendable, Equatable {
    public let key: String
    public let dtype: WeightDType
    public let shape: [Int]

    /// Number of elements (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
}

/// A state dict on disk: per key, a dtype, a shape, and values read (and converted to Float) on demand.
///
/// The file stays memory-mapped for the archive's lifetime; reading a key converts only that key.
public final class WeightArchive {
    /// The path the archive was opened from (used in every error message).
    public let path: String
    /// The file's format.
    public let format: WeightFormat
    /// The tensors in file order.
    public let infos: [WeightInfo]
    /// Free-form metadata: safetensors' `__metadata__`, or the torch archive's root folder.
    public let metadata: [String: String]

    let file: MappedFile
    private let entries: [String: Entry]

    /// Where a tensor's elements lie in the mapped file.
    struct Entry {
        var info: WeightInfo
        /// Byte offset of element 0 in the mapped file (already includes the storage offset).
        var byteOffset: Int
        /// Element strides when the tensor is not contiguous; nil for the usual row-major layout.
        var strides: [Int]?
        /// Deflated zip entries are inflated once when opened; their bytes live here instead of the map.
        var inflated: Data?
    }

    init(path: String, format: WeightFormat, file: MappedFile, entries: [Entry], metadata: [String: String]) throws {
        self.path = path
        self.format = format
        self.file = file
        self.metadata = metadata
        var byKey: [String: Entry] = [:]
        var infos: [WeightInfo] = []
        for entry in entries {
            guard byKey[entry.info.key] == nil else {
                throw WeightsError(path: path, "key '\(entry.info.key)' appears twice")
            }
            byKey[entry.info.key] = entry
            infos.append(entry.info)
        }
        self.entries = byKey
        self.infos = infos
    }

    /// Opens a `.safetensors` file or a torch zip (`.pt`: TorchScript or `torch.save`), by content, not by name.
    public static func open(_ path: String) throws -> WeightArchive {
        let file = try MappedFile(path: path)
        if file.count >= 4, file.bytes.loadUnaligned(as: UInt32.self) == UInt32(0x0403_4b50).littleEndian {
            return try TorchArchiveReader.read(file)
        }
        return try SafetensorsReader.read(file)
    }

    /// Opens safetensors bytes embedded in the binary; `name` stands for the path in messages.
    public static func open(embedded bytes: UnsafeRawBufferPointer, name: String) throws -> WeightArchive {
        try SafetensorsReader.read(MappedFile(embedded: bytes, name: name))
    }

    /// The keys in file order.
    public var keys: [String] { infos.map(\.key) }

    /// The dtype and shape of `key`, or nil when the file has no such key.
    public func info(_ key: String) -> WeightInfo? { entries[key]?.info }

    /// Total parameter count over all keys.
    public var parameterCount: Int { infos.reduce(0) { $0 + $1.count } }

    /// The values of `key` converted to Float, in row-major order.
    public func floats(_ key: String) throws -> [Float] {
        let entry = try entry(key)
        return try [Float](unsafeUninitializedCapacity: entry.info.count) { buffer, initialized in
            try fill(entry, into: buffer)
            initialized = entry.info.count
        }
    }

    /// Writes the values of `key`, converted to Float, into `destination` (which must hold exactly its element count).
    public func read(_ key: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let entry = try entry(key)
        guard destination.count == entry.info.count else {
            throw WeightsError(path: path, "key '\(key)' has \(entry.info.count) values, destination holds \(destination.count)")
        }
        try fill(entry, into: destination)
    }

    /// The stored bytes of `key` in its own dtype, row-major (strided views are gathered).
    /// Contiguous tensors are not copied: the result points into the map, so it must not outlive the archive.
    public func contiguousData(_ key: String) throws -> Data {
        let entry = try entry(key)
        let elementSize = entry.info.dtype.byteSize
        let length = entry.info.count * elementSize
        guard length > 0 else { return Data() }
        return withSource(entry) { source in
            let start = source.baseAddress! + entry.byteOffset
            guard let strides = entry.strides else {
                if entry.inflated != nil { return Data(bytes: start, count: length) }
                return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: start), count: length, deallocator: .none)
            }
            var gathered = Data(count: length)
            gathered.withUnsafeMutableBytes { destination in
                forEachElementOffset(shape: entry.info.shape, strides: strides) { flat, elementOffset in
                    (destination.baseAddress! + flat * elementSize)
                        .copyMemory(from: start + elementOffset * elementSize, byteCount: elementSize)
                }
            }
            return gathered
        }
    }

    /// Checks the archive against the keys and shapes a model expects; throws naming the first
    /// missing key, unused key or shape mismatch (and how many other problems there are).
    public func verify(expected: [(key: String, shape: [Int])]) throws {
        var problems: [String] = []
        var expectedKeys = Set<String>()
        for (key, shape) in expected {
            expectedKeys.insert(key)
            guard let info = entries[key]?.info else {
                problems.append("missing key '\(key)'")
                continue
            }
            if info.shape != shape {
                problems.append("key '\(key)' has shape \(info.shape), the model expects \(shape)")
            }
        }
        for info in infos where !expectedKeys.contains(info.key) {
            problems.append("unused key '\(info.key)' (shape \(info.shape))")
        }
        guard let first = problems.first else { return }
        let more = problems.count > 1 ? " (and \(problems.count - 1) more problem\(problems.count > 2 ? "s" : ""))" : ""
        throw WeightsError(path: path, first + more)
    }

    private func entry(_ key: String) throws -> Entry {
        guard let entry = entries[key] else { throw WeightsError(path: path, "no key '\(key)'") }
        return entry
    }

    private func withSource<Result>(_ entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        if let inflated = entry.inflated { return try inflated.withUnsafeBytes(body) }
        return try body(file.bytes)
    }

    private func fill(_ entry: Entry, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard entry.info.count > 0 else { return }
        withSource(entry) { source in
            let start = source.baseAddress! + entry.byteOffset
            guard let strides = entry.strides else {
                ElementConversion.toFloat(entry.info.dtype, from: start, count: entry.info.count, into: destination.baseAddress!)
                return
            }
            // Strided view (torch.save of a transposed tensor): element by element; CLIP checkpoints have none.
            let elementSize = entry.info.dtype.byteSize
            forEachElementOffset(shape: entry.info.shape, strides: strides) { flat, elementOffset in
                ElementConversion.toFloat(entry.info.dtype, from: start + elementOffset * elementSize,
                                          count: 1, into: destination.baseAddress! + flat)
            }
        }
    }
}

/// Calls `body(flatIndex, storageElementOffset)` for every element of a strided view, in row-major order.
private func forEachElementOffset(shape: [Int], strides: [Int], _ body: (Int, Int) -> Void) {
    let count = shape.reduce(1, *)
    guard count > 0 else { return }
    var index = [Int](repeating: 0, count: shape.count)
    var offset = 0
    for flat in 0 ..< count {
        body(flat, offset)
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < shape[axis] { break }
            offset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Conversions between stored element types and Float, in loops the compiler vectorises.
public enum ElementConversion {
    /// Converts `count` elements of `dtype` at `source` (any alignment) to Float.
    public static func toFloat(_ dtype: WeightDType, from source: UnsafeRawPointer, count: Int,
                               into destination: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16:
            if Int(bitPattern: source) % 2 == 0 {
                halfToFloat(source.assumingMemoryBound(to: UInt16.self), count: count, into: destination)
            } else {
                for i in 0 ..< count {
                    destination[i] = halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        case .bf16:
            for i in 0 ..< count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f64:
            for i in 0 ..< count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .i64:
            for i in 0 ..< count { destination[i] = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0 ..< count { destination[i] = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .i16:
            for i in 0 ..< count { destination[i] = Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .i8:
            for i in 0 ..< count { destination[i] = Float(source.load(fromByteOffset: i, as: Int8.self)) }
        case .u8, .bool:
            for i in 0 ..< count { destination[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }

    /// IEEE half to single, branch-free so the loop vectorises (normals, subnormals, zeros, inf and NaN).
    @inline(__always)
    public static func halfToFloat(_ half: UInt16) -> Float {
        let bits = UInt32(half)
        let sign = (bits & 0x8000) << 16
        let magnitude = (bits & 0x7fff) << 13
        // Rebias by multiplying by 2^112: exact for normals and subnormals alike.
        let scaled = Float(bitPattern: magnitude) * Float(bitPattern: 0x7780_0000)
        let isInfOrNaN = (bits & 0x7c00) == 0x7c00
        let result = isInfOrNaN ? (magnitude | 0x7f80_0000) : scaled.bitPattern
        return Float(bitPattern: result | sign)
    }

    static func halfToFloat(_ source: UnsafePointer<UInt16>, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0 ..< count { destination[i] = halfToFloat(UInt16(littleEndian: source[i])) }
    }

    /// Single to IEEE half, rounding to nearest even (Swift's own conversion).
    public static func floatToHalf(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// Single to bfloat16, rounding to nearest even (NaN stays NaN).
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = 0x7fff + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
