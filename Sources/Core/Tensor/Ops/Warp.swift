import Foundation

/// A similarity transform of an image about its centre: output pixel p samples the input
/// at centre + rotation(-angle) (p - centre) / scale - translation, so the picture appears
/// scaled by `scale`, turned by `angle` radians and moved by `translation` pixels.
public struct ImageWarp: Equatable, Sendable {
    public var scale: Double
    public var angle: Double
    /// (rows, columns), down and right.
    public var translation: (rows: Double, columns: Double)

    public init(scale: Double = 1, angle: Double = 0, translation: (rows: Double, columns: Double) = (0, 0)) {
        self.scale = scale
        self.angle = angle
        self.translation = translation
    }

    public static func == (a: ImageWarp, b: ImageWarp) -> Bool {
        a.scale == b.scale && a.angle == b.angle && a.translation == b.translation
    }

    /// Where output pixel (y, x) reads the input, in input pixel coordinates.
    @inline(__always)
    func source(y: Int, x: Int, height: Int, width: Int, cos c: Double, sin s: Double) -> (Double, Double) {
        let cy = Double(height - 1) / 2, cx = Double(width - 1) / 2
        let dy = Double(y) - cy - translation.rows, dx = Double(x) - cx - translation.columns
        return (cy + (c * dy - s * dx) / scale, cx + (s * dy + c * dx) / scale)
    }
}

extension Tensor {
    /// [N, C, H, W] with item n warped by `warps[n]`, sampled bilinearly; samples that fall
    /// outside the input read `fill` (per channel, e.g. the mean colour in the model's units).
    /// The gradient spreads each output pixel's gradient back onto the four input pixels
    /// it read, with the same bilinear weights.
    public func warped(_ warps: [ImageWarp], fill: [Float]) -> Tensor {
        precondition(rank == 4, "warped: expected [N, C, H, W], got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(warps.count == n, "warped: one warp per item (\(n)), got \(warps.count)")
        precondition(fill.count == c, "warped: one fill value per channel (\(c)), got \(fill.count)")
        let taps = Tensor.bilinearTaps(warps, height: h, width: w)
        let out = Tensor(shape: shape, repeating: 0)
        let source = data, target = out.data
        let plane = h * w
        // Items are independent: each worker reads and writes its own items' planes.
        Parallel.forChunks(n) { items in
            for item in items {
                let itemTaps = taps[item]
                for channel in 0..<c {
                    let base = (item * c + channel) * plane
                    let outside = fill[channel]
                    for pixel in 0..<plane {
                        let tap = itemTaps[pixel]
                        var value: Float = 0
                        for k in 0..<4 {
                            let index = tap.index[k]
                            value += tap.weight[k] * (index >= 0 ? source[base + Int(index)] : outside)
                        }
                        target[base + pixel] = value
                    }
                }
            }
        }
        return out.recording("warp", [self]) { g in
            let grad = Tensor(shape: [n, c, h, w], repeating: 0)
            let upstream = g.data, into = grad.data
            Parallel.forChunks(n) { items in
                for item in items {
                    let itemTaps = taps[item]
                    for channel in 0..<c {
                        let base = (item * c + channel) * plane
                        for pixel in 0..<plane {
                            let tap = itemTaps[pixel], value = upstream[base + pixel]
                            for k in 0..<4 where tap.index[k] >= 0 {
                                into[base + Int(tap.index[k])] += tap.weight[k] * value
                            }
                        }
                    }
                }
            }
            return [grad]
        }
    }

    /// Per item and output pixel, the four input pixels a bilinear sample reads (-1: outside) and their weights.
    struct BilinearTap {
        var index: SIMD4<Int32>
        var weight: SIMD4<Float>
    }

    static func bilinearTaps(_ warps: [ImageWarp], height h: Int, width w: Int) -> [[BilinearTap]] {
        warps.map { warp in
            let (c, s) = (Foundation.cos(warp.angle), Foundation.sin(warp.angle))
            var taps = [BilinearTap](repeating: BilinearTap(index: .init(repeating: -1), weight: .zero), count: h * w)
            for y in 0..<h {
                for x in 0..<w {
                    let (sy, sx) = warp.source(y: y, x: x, height: h, width: w, cos: c, sin: s)
                    let (y0, x0) = (Int(Foundation.floor(sy)), Int(Foundation.floor(sx)))
                    let (fy, fx) = (Float(sy - Double(y0)), Float(sx - Double(x0)))
                    var tap = BilinearTap(index: .init(repeating: -1),
                                          weight: SIMD4((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx))
                    for k in 0..<4 {
                        let (yy, xx) = (y0 + k / 2, x0 + k % 2)
                        if yy >= 0 && yy < h && xx >= 0 && xx < w { tap.index[k] = Int32(yy * w + xx) }
                    }
                    taps[y * w + x] = tap
                }
            }
            return taps
        }
    }
}
