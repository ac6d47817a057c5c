import CSixel
import Foundation
import Imaging

/// libsixel refused an image; the message says which step failed.
public struct SixelError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sixel graphics through libsixel: an adaptive palette (median cut) with error diffusion.
public enum Sixel {
    /// How quantisation error is spread; Floyd-Steinberg suits photos, none suits flat charts.
    public enum Diffusion: Sendable {
        case none, floydSteinberg, atkinson

        var libsixelValue: Int32 {
            switch self {
            case .none: return SIXEL_DIFFUSE_NONE
            case .floydSteinberg: return SIXEL_DIFFUSE_FS
            case .atkinson: return SIXEL_DIFFUSE_ATKINSON
            }
        }
    }

    /// Encodes `image` as one complete sixel sequence (DCS ... ST) with up to `colors`
    /// palette entries; alpha is composited over `background`. An image of at most
    /// `exactUpTo` colours (default `colors`) keeps them exactly. `smallest` has libsixel
    /// spend a little more time for fewer bytes (the same pixels).
    public static func encode(_ image: Image, colors: Int = 256, diffusion: Diffusion = .floydSteinberg,
                              background: Color = .black, exactUpTo: Int? = nil, smallest: Bool = false) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else { throw SixelError("sixel: empty image \(image.width)x\(image.height)") }
        var rgb = rgbBytes(image, background: background)
        let sink = ByteSink()
        sink.bytes.reserveCapacity(image.width * image.height / 2)

        var output: OpaquePointer?
        let writer: sixel_write_function = { data, size, priv in
            guard let data, let priv else { return 0 }
            let sink = Unmanaged<ByteSink>.fromOpaque(priv).takeUnretainedValue()
            data.withMemoryRebound(to: UInt8.self, capacity: Int(size)) {
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(size)))
            }
            return size
        }
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        try check(sixel_output_new(&output, writer, unmanaged.toOpaque(), nil), "creating the output")
        defer { sixel_output_unref(output) }
        // 7-bit escapes (ESC P ... ESC \) work everywhere; C1 bytes break in UTF-8 terminals.
        sixel_output_set_8bit_availability(output, 0)
        sixel_output_set_encode_policy(output, smallest ? SIXEL_ENCODEPOLICY_SIZE : SIXEL_ENCODEPOLICY_FAST)

        var dither: OpaquePointer?
        let limit = max(2, min(256, colors))
        // Images with few colours (charts, text, flat test cards) get their exact colours;
        // libsixel's median cut would shift them (pure red comes out at 97%).
        let exactPalette = distinctColors(rgb, limit: max(limit, min(256, exactUpTo ?? limit)))
        try check(sixel_dither_new(&dither, Int32(exactPalette.map { max(2, $0.count / 3) } ?? limit), nil),
                  "creating the palette")
        defer { sixel_dither_unref(dither) }
        try rgb.withUnsafeMutableBufferPointer { pixels in
            if var palette = exactPalette {
                if palette.count < 6 { palette += palette }  // libsixel wants at least 2 entries
                palette.withUnsafeMutableBufferPointer { sixel_dither_set_palette(dither, $0.baseAddress) }
                sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_NONE)
            } else {
                try check(sixel_dither_initialize(dither, pixels.baseAddress, Int32(image.width), Int32(image.height),
                                                  SIXEL_PIXELFORMAT_RGB888, SIXEL_LARGE_NORM, SIXEL_REP_AVERAGE_PIXELS,
                                                  SIXEL_QUALITY_HIGH),
                          "building the palette")
                let entries = Int(sixel_dither_get_num_of_palette_colors(dither))
                if let palette = sixel_dither_get_palette(dither), entries > 0 {
                    var refined = Array(UnsafeBufferPointer(start: palette, count: entries * 3))
                    refinePalette(&refined, pixels: UnsafeBufferPointer(pixels))
                    refined.withUnsafeMutableBufferPointer { sixel_dither_set_palette(dither, $0.baseAddress) }
                }
                sixel_dither_set_diffusion_type(dither, diffusion.libsixelValue)
            }
            try check(sixel_encode(pixels.baseAddress, Int32(image.width), Int32(image.height), 3, dither, output),
                      "encoding")
        }
        return sink.bytes
    }

    /// Decodes a sixel sequence with libsixel into an RGB image (for tests and round trips).
    public static func decode(_ bytes: [UInt8]) throws -> Image {
        var input = bytes
        var indices: UnsafeMutablePointer<UInt8>?
        var palette: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0, colorCount: Int32 = 0
        var allocator: OpaquePointer?
        try check(sixel_allocator_new(&allocator, nil, nil, nil, nil), "creating an allocator")
        defer { sixel_allocator_unref(allocator) }
        try input.withUnsafeMutableBufferPointer { p in
            try check(sixel_decode_raw(p.baseAddress, Int32(p.count), &indices, &width, &height,
                                       &palette, &colorCount, allocator), "decoding")
        }
        defer {
            sixel_allocator_free(allocator, indices)
            sixel_allocator_free(allocator, palette)
        }
        guard let indices, let palette, width > 0, height > 0 else { throw SixelError("sixel: decoded an empty image") }
        let count = Int(width) * Int(height)
        var pixels = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            let entry = Int(indices[i])
            pixels[3 * i] = palette[3 * entry]
            pixels[3 * i + 1] = palette[3 * entry + 1]
            pixels[3 * i + 2] = palette[3 * entry + 2]
        }
        return Image(width: Int(width), height: Int(height), channels: 3, pixels: pixels)
    }

    /// The image's distinct colours as packed RGB when there are at most `limit`, else nil.
    static func distinctColors(_ rgb: [UInt8], limit: Int) -> [UInt8]? {
        var seen = Set<UInt32>(minimumCapacity: limit * 2)
        var palette: [UInt8] = []
        var previous: UInt32 = .max
        return rgb.withUnsafeBufferPointer { p -> [UInt8]? in
            for i in stride(from: 0, to: p.count, by: 3) {
                let key = UInt32(p[i]) << 16 | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2])
                if key == previous { continue }  // runs of one colour are the common case
                previous = key
                if seen.insert(key).inserted {
                    if seen.count > limit { return nil }
                    palette += [p[i], p[i + 1], p[i + 2]]
                }
            }
            return palette
        }
    }

    /// One k-means step over 15-bit colour buckets: each palette entry moves to the mean of
    /// the pixels nearest to it. libsixel's median cut works on 5-bit boxes and returns
    /// biased colours (white comes out at 97%); this recentres them for about a millisecond.
    static func refinePalette(_ palette: inout [UInt8], pixels: UnsafeBufferPointer<UInt8>) {
        let entries = palette.count / 3
        guard entries > 0 else { return }
        var buckets = [UInt32](repeating: 0, count: 32768 * 4)  // r, g, b sums and count
        buckets.withUnsafeMutableBufferPointer { b in
            for i in stride(from: 0, to: pixels.count - 2, by: 3) {
                let r = pixels[i], g = pixels[i + 1], bl = pixels[i + 2]
                let key = (Int(r >> 3) << 10 | Int(g >> 3) << 5 | Int(bl >> 3)) * 4
                b[key] &+= UInt32(r); b[key + 1] &+= UInt32(g); b[key + 2] &+= UInt32(bl); b[key + 3] &+= 1
            }
        }
        var sums = [Double](repeating: 0, count: entries * 4)
        buckets.withUnsafeBufferPointer { b in
            palette.withUnsafeBufferPointer { p in
                for key in 0..<32768 where b[key * 4 + 3] > 0 {
                    let n = Double(b[key * 4 + 3])
                    let r = Double(b[key * 4]) / n, g = Double(b[key * 4 + 1]) / n, bl = Double(b[key * 4 + 2]) / n
                    var best = 0, bestDistance = Double.infinity
                    for e in 0..<entries {
                        let dr = r - Double(p[3 * e]), dg = g - Double(p[3 * e + 1]), db = bl - Double(p[3 * e + 2])
                        let d = dr * dr + dg * dg + db * db
                        if d < bestDistance { bestDistance = d; best = e }
                    }
                    sums[best * 4] += Double(b[key * 4]); sums[best * 4 + 1] += Double(b[key * 4 + 1])
                    sums[best * 4 + 2] += Double(b[key * 4 + 2]); sums[best * 4 + 3] += n
                }
            }
        }
        for e in 0..<entries where sums[e * 4 + 3] > 0 {
            for c in 0..<3 { palette[3 * e + c] = UInt8(min(255, (sums[e * 4 + c] / sums[e * 4 + 3]).rounded())) }
        }
    }

    private final class ByteSink { var bytes: [UInt8] = [] }

    private static func check(_ status: SIXELSTATUS, _ step: String) throws {
        if status & 0x1000 != 0 {  // SIXEL_FAILED()
            let message = sixel_helper_format_error(status).map { String(cString: $0) } ?? "status \(status)"
            throw SixelError("sixel: \(step) failed: \(message)")
        }
    }

    /// Packed RGB bytes of any Image, alpha composited over `background`.
    static func rgbBytes(_ image: Image, background: Color) -> [UInt8] {
        if image.channels == 3 { return image.pixels }
        let count = image.width * image.height
        var rgb = [UInt8](repeating: 0, count: count * 3)
        let channels = image.channels
        let bg = [background.r, background.g, background.b]
        image.pixels.withUnsafeBufferPointer { source in
            rgb.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let s = i * channels
                    switch channels {
                    case 1:
                        out[3 * i] = source[s]; out[3 * i + 1] = source[s]; out[3 * i + 2] = source[s]
                    case 2:
                        let a = UInt32(source[s + 1])
                        for c in 0..<3 { out[3 * i + c] = UInt8((UInt32(source[s]) * a + UInt32(bg[c]) * (255 - a) + 127) / 255) }
                    default:
                        let a = UInt32(source[s + 3])
                        for c in 0..<3 { out[3 * i + c] = UInt8((UInt32(source[s + c]) * a + UInt32(bg[c]) * (255 - a) + 127) / 255) }
                    }
                }
            }
        }
        return rgb
    }
}

extension SixelError {
    public var errorDescription: String? { description }
}
