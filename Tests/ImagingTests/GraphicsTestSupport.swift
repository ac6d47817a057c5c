import Imaging

/// Synthetic pictures for the graphics tests (no fixtures needed).
enum SyntheticImages {
    /// A photo-like RGB image: smooth colour gradients, a few discs and mild noise.
    static func photo(width: Int = 288, height: Int = 288, seed: UInt64 = 1) -> Image {
        Image.testCard(width: width, height: height, seed: seed)
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
