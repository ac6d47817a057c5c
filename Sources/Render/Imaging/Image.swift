
/// An 8-bit image, row-major with interleaved channels: 1 (gray), 2 (gray + alpha),
/// 3 (RGB) or 4 (RGBA). The one pixel type every part of Render works on.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "Image: negative size \(width)x\(height)")
        precondition((1...4).contains(channels), "Image: \(channels) channels, expected 1...4")
        precondition(pixels.count == width * height * channels,
                     "Image: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A blank image filled with one colour (given per channel).
    public init(width: Int, height: Int, fill: [UInt8]) {
        precondition((1...4).contains(fill.count), "Image: fill needs 1...4 channel values")
        var pixels = [UInt8](repeating: 0, count: width * height * fill.count)
        for i in stride(from: 0, to: pixels.count, by: fill.count) {
            for c in 0..<fill.count { pixels[i + c] = fill[c] }
        }
        self.init(width: width, height: height, channels: fill.count, pixels: pixels)
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + channel] }
        set { pixels[(y * width + x) * channels + channel] = newValue }
    }
}
