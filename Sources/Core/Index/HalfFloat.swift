import Foundation

/// IEEE 754 binary16 conversion, written out so that it behaves the same on every
/// platform (Swift's Float16 is missing on Intel macOS). Rounds to nearest, ties to even.
public enum HalfFloat {
    /// The binary16 bits nearest to `value` (overflow gives infinity, NaN stays NaN).
    @inline(__always)
    public static func bits(_ value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xff)
        var mantissa = x & 0x7f_ffff
        if exponent == 0xff { return sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0) }
        let e = exponent - 127 + 15
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            // A binary16 subnormal (or zero): shift the full significand down.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mantissa >> shift
            let rest = mantissa & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rest > halfway || (rest == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1fff
        // A carry out of the mantissa correctly bumps the exponent (up to infinity).
        if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }

    /// The Float a binary16 bit pattern stands for (exactly).
    @inline(__always)
    public static func value(_ bits: UInt16) -> Float {
        let sign: UInt32 = UInt32(bits & 0x8000) << 16
        let exponent = UInt32((bits >> 10) & 0x1f)
        let mantissa = UInt32(bits & 0x3ff)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13) }
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }

    /// `values` rounded to binary16, little-endian, 2 bytes each.
    public static func encode(_ values: UnsafeBufferPointer<Float>) -> Data {
        var data = Data(count: values.count * 2)
        data.withUnsafeMutableBytes { raw in
            let out = raw.bindMemory(to: UInt16.self)
            for i in 0..<values.count { out[i] = bits(values[i]).littleEndian }
        }
        return data
    }

    public static func encode(_ values: [Float]) -> Data { values.withUnsafeBufferPointer { encode($0) } }

    /// Decodes a blob written by `encode`.
    public static func decode(_ data: Data) -> [Float] {
        let count = data.count / 2
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            data.withUnsafeBytes { raw in
                for i in 0..<count {
                    out[i] = value(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
            initialized = count
        }
    }

    /// Decodes value `index` of a blob without decoding the rest.
    public static func decode(_ data: Data, at index: Int) -> Float {
        data.withUnsafeBytes { value(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))) }
    }
}
