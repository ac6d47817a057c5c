import CImageIO
import Foundation

/// A decoding or encoding failure; `message` is one line that names the file.
public struct ImageError: Error, CustomStringConvertible, Equatable, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// The pixel layout an image had in its file, named as Pillow names its modes, so that
/// resizing and conversion can do exactly what Pillow does for each.
public enum PixelMode: String, Sendable, CaseIterable {
    /// 1-bit black and white, stored one byte a pixel as 0 or 255.
    case bilevel = "1"
    case gray = "L"
    case grayAlpha = "LA"
    /// 8-bit indices into an RGB palette.
    case palette = "P"
    case rgb = "RGB"
    case rgba = "RGBA"
    /// 16-bit gray (PNG bit depth 16), kept at full precision in `samples16`.
    case gray16 = "I;16"
    /// Four 8-bit inks, Adobe polarity as Pillow reads JPEG CMYK.
    case cmyk = "CMYK"

    /// Interleaved 8-bit samples per pixel in `DecodedImage.samples` (0 for I;16).
    public var channels: Int {
        switch self {
        case .bilevel, .gray, .palette: 1
        case .grayAlpha: 2
        case .rgb: 3
        case .rgba, .cmyk: 4
        case .gray16: 0
        }
    }
}

/// The container format an image was decoded from.
public enum ImageFormat: String, Sendable {
    case png, jpeg, memory
}

/// An image as its file holds it (Pillow's mode, palette, 16-bit samples), before any
/// conversion: what model-input preprocessing needs to reproduce Pillow exactly.
public struct DecodedImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let mode: PixelMode
    public let format: ImageFormat
    /// Interleaved 8-bit samples, `mode.channels` a pixel (palette indices for P); empty for I;16.
    public var samples: [UInt8]
    /// One 16-bit sample a pixel for I;16; empty otherwise.
    public var samples16: [UInt16]
    /// For P: 256 RGB triples (entries past the file's PLTE are Pillow's default grey ramp).
    public var palette: [UInt8]
    /// For P: the tRNS alpha of each palette entry (255 where the file gives none); empty if no tRNS.
    public var paletteAlpha: [UInt8]

    public init(width: Int, height: Int, mode: PixelMode, format: ImageFormat = .memory,
                samples: [UInt8] = [], samples16: [UInt16] = [], palette: [UInt8] = [],
                paletteAlpha: [UInt8] = []) {
        precondition(width >= 0 && height >= 0, "DecodedImage: negative size \(width)x\(height)")
        if mode == .gray16 {
            precondition(samples16.count == width * height, "DecodedImage: wrong I;16 sample count")
        } else {
            precondition(samples.count == width * height * mode.channels,
                         "DecodedImage: \(samples.count) bytes for \(width)x\(height) \(mode.rawValue)")
        }
        if mode == .palette { precondition(palette.count == 768, "DecodedImage: palette needs 256 RGB entries") }
        self.width = width
        self.height = height
        self.mode = mode
        self.format = format
        self.samples = samples
        self.samples16 = samples16
        self.palette = palette
        self.paletteAlpha = paletteAlpha
    }

    /// Wraps an 8-bit Image as the Pillow mode of its channel count (L, LA, RGB, RGBA).
    public init(_ image: Image) {
        let mode: PixelMode = [.gray, .grayAlpha, .rgb, .rgba][image.channels - 1]
        self.init(width: image.width, height: image.height, mode: mode, samples: image.pixels)
    }

    /// The largest image decoded: more pixels than this (read from the header, before
    /// any allocation) is refused as a likely decompression bomb.
    public static let maximumPixels = 100_000_000

    /// Decodes a PNG or JPEG file, detecting the format from its first bytes.
    public static func load(contentsOf url: URL) throws -> DecodedImage {
        let name = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory) else {
            throw ImageError("\(name): no such file")
        }
        guard !isDirectory.boolValue else { throw ImageError("\(name): is a directory, not an image") }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageError("\(name): cannot read the file (\(error.localizedDescription))")
        }
        return try decode(data, name: name)
    }

    /// Decodes a PNG or JPEG file at a path.
    public static func load(path: String) throws -> DecodedImage {
        try load(contentsOf: URL(fileURLWithPath: path))
    }

    /// Decodes PNG or JPEG bytes; `name` (a path or label) prefixes every error message.
    public static func decode(_ data: Data, name: String) throws -> DecodedImage {
        guard !data.isEmpty else { throw ImageError("\(name): empty file, not an image") }
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let head = [UInt8](data.prefix(8))
        return try data.withUnsafeBytes { raw -> DecodedImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            if head == pngSignature {
                return try decodePNG(bytes, name: name)
            }
            if head.count >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF {
                return try decodeJPEG(bytes, name: name)
            }
            let jpegStart: [UInt8] = [0xFF, 0xD8, 0xFF]
            if pngSignature.starts(with: head) || jpegStart.starts(with: head) {
                throw ImageError("\(name): file is truncated (\(data.count) bytes)")
            }
            throw ImageError("\(name): not a PNG or JPEG file (unrecognized first bytes)")
        }
    }

    static func checkSize(width: Int, height: Int, name: String) throws {
        guard width > 0 && height > 0 else {
            throw ImageError("\(name): image has no pixels (\(width)x\(height))")
        }
        let pixels = width * height
        guard pixels <= maximumPixels else {
            let megapixels = Double(pixels) / 1e6
            throw ImageError("\(name): \(width)x\(height) image (\(String(format: "%.1f", megapixels)) megapixels) "
                + "exceeds the \(maximumPixels / 1_000_000) megapixel limit (possible decompression bomb)")
        }
    }

    private static func message(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    // MARK: PNG

    private static func decodePNG(_ bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> DecodedImage {
        var errorText = [CChar](repeating: 0, count: Int(CIO_MESSAGE_SIZE))
        var info = cio_png_info()
        var decoderPointer: OpaquePointer?
        guard cio_png_open(bytes.baseAddress, bytes.count, &decoderPointer, &info, &errorText) == 0,
              let decoder = decoderPointer else {
            throw ImageError("\(name): cannot decode PNG: \(message(errorText))")
        }
        defer { cio_png_close(decoder) }
        let width = Int(info.width), height = Int(info.height)
        try checkSize(width: width, height: height, name: name)
        let rowBytes = Int(info.row_bytes)
        var raw = [UInt8](repeating: 0, count: rowBytes * height)
        let status = raw.withUnsafeMutableBufferPointer { cio_png_read(decoder, $0.baseAddress, &errorText) }
        guard status == 0 else { throw ImageError("\(name): cannot decode PNG: \(message(errorText))") }

        let depth = Int(info.bit_depth)
        let pixelCount = width * height
        switch (Int(info.color_type), depth) {
        case (0, 16):
            var values = [UInt16](repeating: 0, count: pixelCount)
            for i in 0..<pixelCount { values[i] = UInt16(raw[2 * i]) << 8 | UInt16(raw[2 * i + 1]) }
            return DecodedImage(width: width, height: height, mode: .gray16, format: .png, samples16: values)
        case (0, _):
            // Pillow: 1-bit is mode "1" (0/255); 2- and 4-bit gray scale up to 8 bits.
            let scale: UInt8 = depth == 1 ? 255 : depth == 2 ? 0x55 : depth == 4 ? 0x11 : 1
            if scale != 1 { for i in raw.indices { raw[i] &*= scale } }
            return DecodedImage(width: width, height: height, mode: depth == 1 ? .bilevel : .gray,
                                format: .png, samples: raw)
        case (3, _):
            var palette = [UInt8](repeating: 0, count: 768)
            for i in 0..<256 { palette[3 * i] = UInt8(i); palette[3 * i + 1] = UInt8(i); palette[3 * i + 2] = UInt8(i) }
            let entries = Int(info.palette_count)
            withUnsafeBytes(of: info.palette) { source in
                for i in 0..<(entries * 3) { palette[i] = source[i] }
            }
            var alpha: [UInt8] = []
            if info.trns_count > 0 {
                alpha = [UInt8](repeating: 255, count: 256)
                withUnsafeBytes(of: info.trns_alpha) { source in
                    for i in 0..<Int(info.trns_count) { alpha[i] = source[i] }
                }
            }
            return DecodedImage(width: width, height: height, mode: .palette, format: .png,
                                samples: raw, palette: palette, paletteAlpha: alpha)
        case (2, 8):
            return DecodedImage(width: width, height: height, mode: .rgb, format: .png, samples: raw)
        case (6, 8):
            return DecodedImage(width: width, height: height, mode: .rgba, format: .png, samples: raw)
        case (4, 8):
            return DecodedImage(width: width, height: height, mode: .grayAlpha, format: .png, samples: raw)
        case (2, 16), (6, 16):
            // Pillow keeps the most significant byte of each 16-bit sample.
            let channels = info.color_type == 2 ? 3 : 4
            var samples = [UInt8](repeating: 0, count: pixelCount * channels)
            for i in samples.indices { samples[i] = raw[2 * i] }
            return DecodedImage(width: width, height: height, mode: channels == 3 ? .rgb : .rgba,
                                format: .png, samples: samples)
        case (4, 16):
            // Pillow reads 16-bit gray+alpha as RGBA (rawmode LA;16B), high bytes.
            var samples = [UInt8](repeating: 0, count: pixelCount * 4)
            for i in 0..<pixelCount {
                let gray = raw[4 * i], alpha = raw[4 * i + 2]
                samples[4 * i] = gray; samples[4 * i + 1] = gray; samples[4 * i + 2] = gray
                samples[4 * i + 3] = alpha
            }
            return DecodedImage(width: width, height: height, mode: .rgba, format: .png, samples: samples)
        default:
            throw ImageError("\(name): unsupported PNG colour type \(info.color_type) at bit depth \(depth)")
        }
    }

    // MARK: JPEG

    private static func decodeJPEG(_ bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> DecodedImage {
        var errorText = [CChar](repeating: 0, count: Int(CIO_MESSAGE_SIZE))
        var info = cio_jpeg_info()
        var decoderPointer: OpaquePointer?
        guard cio_jpeg_open(bytes.baseAddress, bytes.count, &decoderPointer, &info, &errorText) == 0,
              let decoder = decoderPointer else {
            throw ImageError("\(name): cannot decode JPEG: \(message(errorText))")
        }
        defer { cio_jpeg_close(decoder) }
        let width = Int(info.width), height = Int(info.height)
        try checkSize(width: width, height: height, name: name)
        let components = Int(info.output_components)
        var samples = [UInt8](repeating: 0, count: width * height * components)
        let status = samples.withUnsafeMutableBufferPointer { cio_jpeg_read(decoder, $0.baseAddress, &errorText) }
        guard status == 0 else { throw ImageError("\(name): cannot decode JPEG: \(message(errorText))") }
        switch components {
        case 1:
            return DecodedImage(width: width, height: height, mode: .gray, format: .jpeg, samples: samples)
        case 3:
            return DecodedImage(width: width, height: height, mode: .rgb, format: .jpeg, samples: samples)
        default:
            // Pillow always assumes Adobe polarity (rawmode "CMYK;I"): inks are inverted.
            for i in samples.indices { samples[i] = 255 &- samples[i] }
            return DecodedImage(width: width, height: height, mode: .cmyk, format: .jpeg, samples: samples)
        }
    }
}

extension Image {
    /// Loads a PNG or JPEG file as an 8-bit image with the channels Pillow would show:
    /// L and 1 -> gray, LA -> gray+alpha, RGB, RGBA, P -> RGB (RGBA with tRNS),
    /// CMYK -> RGB, I;16 -> gray clipped at 255 (Pillow's convert).
    public static func load(contentsOf url: URL) throws -> Image {
        try DecodedImage.load(contentsOf: url).image
    }

    /// Loads a PNG or JPEG file at a path (see `load(contentsOf:)`).
    public static func load(path: String) throws -> Image {
        try DecodedImage.load(path: path).image
    }

    /// Decodes PNG or JPEG bytes; `name` prefixes every error message.
    public static func decode(_ data: Data, name: String) throws -> Image {
        try DecodedImage.decode(data, name: name).image
    }
}
