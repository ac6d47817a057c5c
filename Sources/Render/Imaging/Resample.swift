import Foundation

/// Resampling filters of Pillow's `Image.resize`, computed exactly as Pillow does.
public enum ResampleFilter: String, Sendable, CaseIterable {
    case nearest, box, bilinear, bicubic

    /// Half-width of the kernel at scale 1.
    var support: Double {
        switch self {
        case .nearest, .box: 0.5
        case .bilinear: 1
        case .bicubic: 2
        }
    }

    @inline(__always) func weight(_ x: Double) -> Double {
        switch self {
        case .nearest, .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let x = abs(x)
            return x < 1 ? 1 - x : 0
        case .bicubic:
            // Keys' cubic with a = -0.5, written in Pillow's operation order.
            let a = -0.5
            let x = abs(x)
            if x < 1 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// One pass's kernels: for output index i, `count[i]` weights starting at input `first[i]`.
struct ResampleKernels {
    let kernelSize: Int
    var first: [Int]
    var count: [Int]
    var weights: [Double]

    /// Pillow's precompute_coeffs: pixel centres at (i + 0.5) * scale, the support
    /// widened by the scale when shrinking, weights normalized to sum 1.
    init(inSize: Int, from in0: Float, to in1: Float, outSize: Int, filter: ResampleFilter) {
        let scale = Double(in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        kernelSize = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Double](repeating: 0, count: outSize * kernelSize)
        let inverseScale = 1.0 / filterScale
        for i in 0..<outSize {
            let center = Double(in0) + (Double(i) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inSize)
            let n = max(hi - lo, 0)
            var total = 0.0
            for k in 0..<n {
                let w = filter.weight((Double(k + lo) - center + 0.5) * inverseScale)
                weights[i * kernelSize + k] = w
                total += w
            }
            if total != 0 {
                for k in 0..<n { weights[i * kernelSize + k] /= total }
            }
            first[i] = lo
            count[i] = n
        }
    }

    /// The weights in Pillow's 8-bit fixed point (22 fractional bits, rounded half away from 0).
    var fixedPointWeights: [Int32] {
        weights.map { w in
            w < 0 ? Int32(-0.5 + w * Double(1 << precisionBits)) : Int32(0.5 + w * Double(1 << precisionBits))
        }
    }
}

/// Pillow's PRECISION_BITS for 8-bit resampling: 32 - 8 - 2.
let precisionBits = 22

/// Pillow's `Image.resize` core for 8-bit interleaved samples (any channel count),
/// filters other than nearest: two separable passes, each rounding to 8 bits.
/// Horizontal first, except (as Pillow 13 does) when only the height shrinks; Pillow
/// 12 and older always went horizontal first, which differs (by a few levels) only for
/// such mixed resizes, never for the same-scale resizes of model preprocessing.
func resample8(_ source: [UInt8], width: Int, height: Int, channels: Int,
               toWidth outWidth: Int, height outHeight: Int, filter: ResampleFilter,
               box: (Float, Float, Float, Float)? = nil) -> [UInt8] {
    let box = box ?? (0, 0, Float(width), Float(height))
    let needHorizontal = outWidth != width || box.0 != 0 || box.2 != Float(outWidth)
    let needVertical = outHeight != height || box.1 != 0 || box.3 != Float(outHeight)
    let horizontalFirst = !(Float(outWidth) >= box.2 - box.0 && Float(outHeight) < box.3 - box.1)
    let vertical = ResampleKernels(inSize: height, from: box.1, to: box.3, outSize: outHeight, filter: filter)
    let horizontal = ResampleKernels(inSize: width, from: box.0, to: box.2, outSize: outWidth, filter: filter)

    var current = source
    var currentWidth = width
    if horizontalFirst {
        // Only the source rows the vertical pass reads go through the horizontal pass.
        var rowOffset = 0
        if needHorizontal {
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[outHeight - 1] + vertical.count[outHeight - 1]
            current = horizontalPass8(source, width: width, channels: channels, rows: firstRow..<lastRow,
                                      kernels: horizontal, outWidth: outWidth)
            currentWidth = outWidth
            rowOffset = firstRow
        }
        if needVertical {
            current = verticalPass8(current, width: currentWidth, channels: channels, rowOffset: rowOffset,
                                    kernels: vertical, outHeight: outHeight)
        }
    } else {
        if needVertical {
            current = verticalPass8(current, width: width, channels: channels, rowOffset: 0,
                                    kernels: vertical, outHeight: outHeight)
        }
        if needHorizontal {
            current = horizontalPass8(current, width: width, channels: channels, rows: 0..<outHeight,
                                      kernels: horizontal, outWidth: outWidth)
        }
    }
    return current
}

private func horizontalPass8(_ source: [UInt8], width: Int, channels: Int, rows: Range<Int>,
                             kernels: ResampleKernels, outWidth: Int) -> [UInt8] {
    let weights = kernels.fixedPointWeights
    let kernelSize = kernels.kernelSize
    var out = [UInt8](repeating: 0, count: rows.count * outWidth * channels)
    let half = Int32(1 << (precisionBits - 1))
    source.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            weights.withUnsafeBufferPointer { k in
                kernels.first.withUnsafeBufferPointer { first in
                    kernels.count.withUnsafeBufferPointer { count in
                        // One accumulator per channel, all channels in one sweep (as Pillow).
                        for (outRow, row) in rows.enumerated() {
                            let line = row * width * channels
                            let outLine = outRow * outWidth * channels
                            for x in 0..<outWidth {
                                let n = count[x], kx = x * kernelSize
                                var p = line + first[x] * channels
                                let q = outLine + x * channels
                                switch channels {
                                case 1:
                                    var s0 = half
                                    for j in 0..<n { s0 &+= Int32(s[p + j]) &* k[kx + j] }
                                    o[q] = clipFixed8(s0)
                                case 2:
                                    var s0 = half, s1 = half
                                    for j in 0..<n {
                                        let w = k[kx + j]
                                        s0 &+= Int32(s[p]) &* w; s1 &+= Int32(s[p + 1]) &* w
                                        p += 2
                                    }
                                    o[q] = clipFixed8(s0); o[q + 1] = clipFixed8(s1)
                                case 3:
                                    var s0 = half, s1 = half, s2 = half
                                    for j in 0..<n {
                                        let w = k[kx + j]
                                        s0 &+= Int32(s[p]) &* w; s1 &+= Int32(s[p + 1]) &* w
                                        s2 &+= Int32(s[p + 2]) &* w
                                        p += 3
                                    }
                                    o[q] = clipFixed8(s0); o[q + 1] = clipFixed8(s1); o[q + 2] = clipFixed8(s2)
                                default:
                                    var s0 = half, s1 = half, s2 = half, s3 = half
                                    for j in 0..<n {
                                        let w = k[kx + j]
                                        s0 &+= Int32(s[p]) &* w; s1 &+= Int32(s[p + 1]) &* w
                                        s2 &+= Int32(s[p + 2]) &* w; s3 &+= Int32(s[p + 3]) &* w
                                        p += 4
                                    }
                                    o[q] = clipFixed8(s0); o[q + 1] = clipFixed8(s1)
                                    o[q + 2] = clipFixed8(s2); o[q + 3] = clipFixed8(s3)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

private func verticalPass8(_ source: [UInt8], width: Int, channels: Int, rowOffset: Int,
                           kernels: ResampleKernels, outHeight: Int) -> [UInt8] {
    let weights = kernels.fixedPointWeights
    let kernelSize = kernels.kernelSize
    let lineLength = width * channels
    var out = [UInt8](repeating: 0, count: outHeight * lineLength)
    var sums = [Int32](repeating: 0, count: lineLength)
    let half = Int32(1 << (precisionBits - 1))
    source.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            sums.withUnsafeMutableBufferPointer { acc in
                for y in 0..<outHeight {
                    for i in 0..<lineLength { acc[i] = half }
                    let lo = kernels.first[y] - rowOffset, n = kernels.count[y]
                    for j in 0..<n {
                        let w = weights[y * kernelSize + j]
                        let line = UnsafeBufferPointer(rebasing: s[((lo + j) * lineLength)...])
                        for i in 0..<lineLength { acc[i] &+= Int32(line[i]) &* w }
                    }
                    let outLine = y * lineLength
                    for i in 0..<lineLength { o[outLine + i] = clipFixed8(acc[i]) }
                }
            }
        }
    }
    return out
}

@inline(__always) private func clipFixed8(_ sum: Int32) -> UInt8 {
    let v = sum >> Int32(precisionBits)
    return v < 0 ? 0 : v > 255 ? 255 : UInt8(truncatingIfNeeded: v)
}

/// Pillow's 16-bit (I;16) resampling: double-precision sums, rounded half away from 0,
/// in the same pass order as the 8-bit path.
func resample16(_ source: [UInt16], width: Int, height: Int, toWidth outWidth: Int, height outHeight: Int,
                filter: ResampleFilter) -> [UInt16] {
    let vertical = ResampleKernels(inSize: height, from: 0, to: Float(height), outSize: outHeight, filter: filter)
    let horizontal = ResampleKernels(inSize: width, from: 0, to: Float(width), outSize: outWidth, filter: filter)
    @inline(__always) func round16(_ sum: Double) -> UInt16 {
        let v = Int(sum >= 0 ? sum + 0.5 : sum - 0.5)
        return UInt16(truncatingIfNeeded: v <= 0 ? 0 : v < 65536 ? v : 65535)
    }
    func horizontalPass(_ input: [UInt16], rows: Int) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: outWidth * rows)
        for row in 0..<rows {
            for x in 0..<outWidth {
                var sum = 0.0
                for j in 0..<horizontal.count[x] {
                    sum += Double(input[row * width + horizontal.first[x] + j])
                        * horizontal.weights[x * horizontal.kernelSize + j]
                }
                out[row * outWidth + x] = round16(sum)
            }
        }
        return out
    }
    func verticalPass(_ input: [UInt16], columns: Int) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: columns * outHeight)
        for y in 0..<outHeight {
            for x in 0..<columns {
                var sum = 0.0
                for j in 0..<vertical.count[y] {
                    sum += Double(input[(vertical.first[y] + j) * columns + x])
                        * vertical.weights[y * vertical.kernelSize + j]
                }
                out[y * columns + x] = round16(sum)
            }
        }
        return out
    }
    var current = source
    if !(outWidth >= width && outHeight < height) {
        if outWidth != width { current = horizontalPass(current, rows: height) }
        if outHeight != height { current = verticalPass(current, columns: outWidth) }
    } else {
        if outHeight != height { current = verticalPass(current, columns: width) }
        if outWidth != width { current = horizontalPass(current, rows: outHeight) }
    }
    return current
}

/// Pillow's nearest-neighbour resize (ImagingScaleAffine): source coordinate of output
/// pixel i is the truncation of (i + 0.5) * scale, accumulated in double as Pillow does.
func resampleNearest<T: FixedWidthInteger>(_ source: [T], width: Int, height: Int, channels: Int,
                                           toWidth outWidth: Int, height outHeight: Int) -> [T] {
    func sourceIndices(inSize: Int, outSize: Int) -> [Int] {
        let step = Double(Float(inSize)) / Double(outSize)
        var position = step * 0.5
        var indices = [Int](repeating: -1, count: outSize)
        for i in 0..<outSize {
            let v = position < 0 ? -1 : Int(position)
            if v >= 0 && v < inSize { indices[i] = v }
            position += step
        }
        return indices
    }
    let columns = sourceIndices(inSize: width, outSize: outWidth)
    let rows = sourceIndices(inSize: height, outSize: outHeight)
    var out = [T](repeating: 0, count: outWidth * outHeight * channels)
    source.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            for y in 0..<outHeight where rows[y] >= 0 {
                let line = rows[y] * width
                for x in 0..<outWidth where columns[x] >= 0 {
                    let from = (line + columns[x]) * channels, to = (y * outWidth + x) * channels
                    for c in 0..<channels { o[to + c] = s[from + c] }
                }
            }
        }
    }
    return out
}

/// Pillow's RGBA -> RGBa (and LA -> La): colour premultiplied by alpha, in place.
func premultiplyAlpha(_ samples: inout [UInt8], channels: Int) {
    samples.withUnsafeMutableBufferPointer { p in
        for i in stride(from: 0, to: p.count, by: channels) {
            let alpha = Int(p[i + channels - 1])
            for c in 0..<(channels - 1) {
                p[i + c] = UInt8(truncatingIfNeeded: mulDiv255(Int(p[i + c]), alpha))
            }
        }
    }
}

/// Pillow's RGBa -> RGBA (and La -> LA): premultiplication undone, in place.
func unpremultiplyAlpha(_ samples: inout [UInt8], channels: Int) {
    samples.withUnsafeMutableBufferPointer { p in
        for i in stride(from: 0, to: p.count, by: channels) {
            let alpha = Int(p[i + channels - 1])
            guard alpha != 0 && alpha != 255 else { continue }
            for c in 0..<(channels - 1) {
                p[i + c] = clip8(255 * Int(p[i + c]) / alpha)
            }
        }
    }
}

extension DecodedImage {
    /// Pillow's `Image.resize((width, height), filter)` for this image's mode: 1 and P
    /// always nearest; LA and RGBA through premultiplied alpha; I;16 at 16 bits.
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter) -> DecodedImage {
        precondition(outWidth > 0 && outHeight > 0, "resized: size \(outWidth)x\(outHeight) must be positive")
        precondition(width > 0 && height > 0, "resized: cannot resize an empty image")
        if outWidth == width && outHeight == height { return self }
        let filter = mode == .bilevel || mode == .palette ? .nearest : filter

        if mode == .gray16 {
            let out = filter == .nearest
                ? resampleNearest(samples16, width: width, height: height, channels: 1,
                                  toWidth: outWidth, height: outHeight)
                : resample16(samples16, width: width, height: height, toWidth: outWidth, height: outHeight,
                             filter: filter)
            return DecodedImage(width: outWidth, height: outHeight, mode: mode, format: format, samples16: out)
        }
        let channels = mode.channels
        var out: [UInt8]
        if filter == .nearest {
            out = resampleNearest(samples, width: width, height: height, channels: channels,
                                  toWidth: outWidth, height: outHeight)
        } else {
            let premultiplied = mode == .rgba || mode == .grayAlpha
            var input = samples
            if premultiplied { premultiplyAlpha(&input, channels: channels) }
            out = resample8(input, width: width, height: height, channels: channels,
                            toWidth: outWidth, height: outHeight, filter: filter)
            if premultiplied { unpremultiplyAlpha(&out, channels: channels) }
        }
        return DecodedImage(width: outWidth, height: outHeight, mode: mode, format: format,
                            samples: out, palette: palette, paletteAlpha: paletteAlpha)
    }
}

extension Image {
    /// Pillow's `Image.resize` for an L, LA, RGB or RGBA image (alpha premultiplied
    /// around the resize unless the filter is nearest).
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter = .bicubic) -> Image {
        DecodedImage(self).resized(width: outWidth, height: outHeight, filter: filter).image
    }
}

extension Image {
    /// The size an image of `width` x `height` gets inside a `boxWidth` x `boxHeight` box,
    /// keeping its aspect ratio; never larger than the image unless `upscale`.
    public static func fittedSize(width: Int, height: Int, boxWidth: Int, boxHeight: Int,
                                  upscale: Bool = true) -> (width: Int, height: Int) {
        guard width > 0, height > 0, boxWidth > 0, boxHeight > 0 else { return (0, 0) }
        var scale = min(Double(boxWidth) / Double(width), Double(boxHeight) / Double(height))
        if !upscale { scale = min(scale, 1) }
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }

    /// Resized with a filter that suits the direction: area averaging down, bicubic up.
    public func resizedForDisplay(width: Int, height: Int) -> Image {
        if width == self.width && height == self.height { return self }
        let shrinking = width <= self.width && height <= self.height
        return resized(width: width, height: height, filter: shrinking ? .box : .bicubic)
    }
}
