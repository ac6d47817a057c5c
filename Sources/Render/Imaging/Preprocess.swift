
/// Model-input preprocessing as torchvision does it on a PIL image:
/// Resize(size, BICUBIC) -> CenterCrop(size) -> convert("RGB") -> ToTensor -> Normalize.
/// The caller supplies the constants; nothing here knows about any particular model.
public struct ModelInputPreprocessing: Sendable, Equatable {
    /// Side of the square output.
    public let size: Int
    /// Per-channel (R, G, B) mean and standard deviation of Normalize.
    public let mean: [Float]
    public let std: [Float]

    public init(size: Int, mean: [Float], std: [Float]) {
        precondition(size > 0, "ModelInputPreprocessing: size must be positive")
        precondition(mean.count == 3 && std.count == 3, "ModelInputPreprocessing: mean and std need 3 values")
        self.size = size
        self.mean = mean
        self.std = std
    }

    /// torchvision's Resize(int) target: the shorter side becomes `size`, the longer
    /// `Int(size * long / short)` (truncated), as (width, height).
    public static func resizedSize(width: Int, height: Int, shorterSide size: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (size, Int(Double(size * height) / Double(width)))
        }
        return (Int(Double(size * width) / Double(height)), size)
    }

    /// torchvision's CenterCrop offset: round((dim - size) / 2) with Python's
    /// round-half-to-even.
    public static func centerCropOffset(_ dimension: Int, _ size: Int) -> Int {
        Int((Double(dimension - size) / 2).rounded(.toNearestOrEven))
    }

    /// The 8-bit RGB image fed to ToTensor: resized (bicubic, nearest for 1 and P),
    /// centre-cropped and converted to RGB exactly as Pillow would.
    public func squareRGB(_ image: DecodedImage) -> Image {
        let target = Self.resizedSize(width: image.width, height: image.height, shorterSide: size)
        let resized = image.resized(width: target.width, height: target.height, filter: .bicubic)
        let left = Self.centerCropOffset(resized.width, size)
        let top = Self.centerCropOffset(resized.height, size)
        return resized.cropped(x: left, y: top, width: size, height: size).convertedToRGB()
    }

    /// ToTensor + Normalize of a `size`x`size` RGB image: planar CHW floats,
    /// (v / 255 - mean[c]) / std[c] in Float32 as torch computes them.
    public func normalize(_ rgb: Image) -> [Float] {
        precondition(rgb.channels == 3 && rgb.width == size && rgb.height == size,
                     "normalize: expected a \(size)x\(size) RGB image")
        let plane = size * size
        var out = [Float](repeating: 0, count: 3 * plane)
        let mean = self.mean, std = self.std
        rgb.pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<3 {
                    let m = mean[c], s = std[c]
                    for i in 0..<plane {
                        o[c * plane + i] = (Float(p[3 * i + c]) / 255 - m) / s
                    }
                }
            }
        }
        return out
    }

    /// The whole pipeline: planar CHW [3 * size * size] floats.
    public func tensor(_ image: DecodedImage) -> [Float] {
        normalize(squareRGB(image))
    }

    /// The whole pipeline for an already-decoded 8-bit image (L, LA, RGB or RGBA).
    public func tensor(_ image: Image) -> [Float] {
        tensor(DecodedImage(image))
    }
}
