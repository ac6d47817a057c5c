import Render

/// Synthetic pictures for the graphics tests (no fixtures needed).
enum SyntheticImages {
    /// A photo-like RGB image: smooth colour gradients, a few discs and mild noise.
    static func photo(width: Int = 288, height: Int = 288, seed: UInt64 = 1) -> Image {
        var state = seed &* 0x9E3779B97F4A7C15 | 1
        func noise() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(state % 17) - 8
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) / Double(width), v = Double(y) / Double(height)
                var r = 200 * u + 30, g = 120 + 100 * v * (1 - u), b = 80 + 150 * (1 - v)
                let dx = u - 0.35, dy = v - 0.4
                if dx * dx + dy * dy < 0.04 { r = 240; g = 200 - 200 * v; b = 40 }
                let ex = u - 0.7, ey = v - 0.7
                if ex * ex + ey * ey < 0.02 { r = 30; g = 60 + 100 * u; b = 160 }
                let i = (y * width + x) * 3
                pixels[i] = UInt8(max(0, min(255, Int(r) + noise())))
                pixels[i + 1] = UInt8(max(0, min(255, Int(g) + noise())))
                pixels[i + 2] = UInt8(max(0, min(255, Int(b) + noise())))
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Mean absolute difference per channel value between two same-sized images.
    static func meanAbsoluteDifference(_ a: Image, _ b: Image) -> Double {
        let a3 = a.converted(toChannels: 3), b3 = b.converted(toChannels: 3)
        precondition(a3.width == b3.width && a3.height == b3.height)
        var total = 0
        for i in 0..<a3.pixels.count { total += abs(Int(a3.pixels[i]) - Int(b3.pixels[i])) }
        return Double(total) / Double(a3.pixels.count)
    }

    /// The bounding box (x0, y0, x1, y1 exclusive) of pixels that differ from `background`.
    static func inkBounds(_ image: Image, background: Color) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1
        for y in 0..<image.height {
            for x in 0..<image.width where image.color(x: x, y: y) != background {
                x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x + 1); y1 = max(y1, y + 1)
            }
        }
        return x1 < 0 ? nil : (x0, y0, x1, y1)
    }
}
