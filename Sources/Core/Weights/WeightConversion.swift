import Foundation

/// Rewrites a weights file (TorchScript `.pt`, `torch.save` zip or safetensors) as safetensors.
public enum WeightConversion {
    /// The element type to write floating-point tensors in; integer tensors always keep theirs.
    public enum TargetDType: String, Sendable, CaseIterable {
        case keep, f32, f16, bf16
    }

    /// What a conversion wrote.
    public struct Summary: Sendable {
        public let tensors: Int
        public let parameters: Int
        public let bytes: Int
        public let inputFormat: WeightFormat
    }

    /// Converts `input` to a safetensors file at `output`, with the same keys (file order) and values.
    public static func convert(input: String, output: String, dtype target: TargetDType = .keep) throws -> Summary {
        if let inputID = fileIdentity(input), inputID == fileIdentity(output) {
            throw WeightsError(path: output, "is the input file; write the conversion elsewhere")
        }
        let archive = try WeightArchive.open(input)
        var tensors: [SafetensorsWriter.Tensor] = []
        for info in archive.infos {
            let dtype = info.dtype.isFloatingPoint && target != .keep ? WeightDType(rawValue: target.rawValue.uppercased())! : info.dtype
            let data: Data
            if dtype == info.dtype {
                data = try archive.contiguousData(info.key)
            } else {
                data = encode(try archive.floats(info.key), as: dtype)
            }
            tensors.append(.init(key: info.key, dtype: dtype, shape: info.shape, data: data))
        }
        var metadata = ["format": "pt", "converted_by": "clipscope convert"]
        metadata["source_format"] = archive.format.rawValue
        try SafetensorsWriter.write(tensors, to: output, metadata: metadata)
        return Summary(tensors: tensors.count, parameters: archive.parameterCount,
                       bytes: tensors.reduce(0) { $0 + $1.data.count }, inputFormat: archive.format)
    }

    /// Float values encoded as `dtype` (a floating-point type), little-endian.
    static func encode(_ values: [Float], as dtype: WeightDType) -> Data {
        switch dtype {
        case .f32: return values.withUnsafeBytes { Data($0) }
        case .f16: return values.map { ElementConversion.floatToHalf($0).littleEndian }.withUnsafeBytes { Data($0) }
        case .bf16: return values.map { ElementConversion.floatToBFloat16($0).littleEndian }.withUnsafeBytes { Data($0) }
        case .f64: return values.map { Double($0) }.withUnsafeBytes { Data($0) }
        default: preconditionFailure("encode(_:as:) takes a floating-point dtype")
        }
    }

    /// Device and inode, so that two spellings of one file compare equal.
    private static func fileIdentity(_ path: String) -> [UInt64]? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }
}

/// Timing of a full load, for `clipscope bench`.
public enum WeightsBench {
    /// Opens `path` and converts every tensor to Float (kept, as a model would); returns seconds and parameter count.
    public static func measureLoad(path: String) throws -> (seconds: Double, parameters: Int) {
        let start = DispatchTime.now().uptimeNanoseconds
        let archive = try WeightArchive.open(path)
        var kept: [[Float]] = []
        kept.reserveCapacity(archive.infos.count)
        for info in archive.infos { kept.append(try archive.floats(info.key)) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (seconds, kept.reduce(0) { $0 + $1.count })
    }

    /// Writes a float32 safetensors file of about `megabytes` MB (4M-value tensors, pseudo-random values)
    /// for load timing; one buffer is shared by all tensors, so writing needs little memory.
    public static func writeSyntheticSafetensors(path: String, megabytes: Int = 700) throws {
        let valuesPerTensor = 4 << 20
        var state: UInt32 = 0x1234_5678
        let values = (0 ..< valuesPerTensor).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(Int32(bitPattern: state)) / Float(Int32.max)
        }
        let data = values.withUnsafeBytes { Data($0) }
        let tensorCount = max(1, megabytes * 1_000_000 / data.count)
        let tensors = (0 ..< tensorCount).map { SafetensorsWriter.Tensor(key: "layer\($0).weight", dtype: .f32, shape: [valuesPerTensor], data: data) }
        try SafetensorsWriter.write(tensors, to: path)
    }
}
