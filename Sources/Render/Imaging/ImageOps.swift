
/// Pillow's integer helpers (libImaging/ImagingUtils.h), so conversions match bit for bit.
@inline(__always) func mulDiv255(_ a: Int, _ b: Int) -> Int {
    let t = a * b + 128
    return ((t >> 8) + t) >> 8
}

@inline(__always) func div255(_ a: Int) -> Int {
    let t = a + 128
    return ((t >> 8) + t) >> 8
}

@inline(__always) func clip8(_ v: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: v <= 0 ? 0 : v < 256 ? v : 255)
}

extension DecodedImage {
    /// Pillow's `convert("RGB")` for every mode: alpha dropped (not composited),
    /// palette looked up (tRNS ignored), I;16 clipped at 255, CMYK by Pillow's formula.
    public func convertedToRGB() -> Image {
        let count = width * height
        var out = [UInt8](repeating: 0, count: count * 3)
        out.withUnsafeMutableBufferPointer { o in
            switch mode {
            case .bilevel, .gray, .grayAlpha:
                let step = mode.channels
                samples.withUnsafeBufferPointer { s in
                    for i in 0..<count {
                        let v = mode == .bilevel ? (s[i] != 0 ? 255 : 0) : s[i * step]
                        o[3 * i] = v; o[3 * i + 1] = v; o[3 * i + 2] = v
                    }
                }
            case .palette:
                samples.withUnsafeBufferPointer { s in
                    palette.withUnsafeBufferPointer { p in
                        for i in 0..<count {
                            let e = Int(s[i]) * 3
                            o[3 * i] = p[e]; o[3 * i + 1] = p[e + 1]; o[3 * i + 2] = p[e + 2]
                        }
                    }
                }
            case .rgb:
                _ = o.initialize(fromContentsOf: samples)
            case .rgba:
                samples.withUnsafeBufferPointer { s in
                    for i in 0..<count {
                        o[3 * i] = s[4 * i]; o[3 * i + 1] = s[4 * i + 1]; o[3 * i + 2] = s[4 * i + 2]
                    }
                }
            case .gray16:
                samples16.withUnsafeBufferPointer { s in
                    for i in 0..<count {
                        let v = UInt8(truncatingIfNeeded: min(Int(s[i]), 255))
                        o[3 * i] = v; o[3 * i + 1] = v; o[3 * i + 2] = v
                    }
                }
            case .cmyk:
                samples.withUnsafeBufferPointer { s in
                    for i in 0..<count {
                        let inkless = 255 - Int(s[4 * i + 3])
                        for c in 0..<3 {
                            o[3 * i + c] = clip8(inkless - mulDiv255(Int(s[4 * i + c]), inkless))
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }

    /// The image as 8-bit pixels with the channels Pillow shows: 1 and L -> gray, LA,
    /// RGB, RGBA as they are, P -> RGB (RGBA when it has tRNS), CMYK -> RGB, I;16 ->
    /// gray clipped at 255 (as Pillow's convert does).
    public var image: Image {
        switch mode {
        case .gray, .grayAlpha, .rgb, .rgba:
            return Image(width: width, height: height, channels: mode.channels, pixels: samples)
        case .bilevel:
            return Image(width: width, height: height, channels: 1, pixels: samples.map { $0 != 0 ? 255 : 0 })
        case .gray16:
            return Image(width: width, height: height, channels: 1,
                         pixels: samples16.map { UInt8(truncatingIfNeeded: min(Int($0), 255)) })
        case .palette where !paletteAlpha.isEmpty:
            var out = [UInt8](repeating: 0, count: width * height * 4)
            for i in 0..<(width * height) {
                let e = Int(samples[i])
                out[4 * i] = palette[3 * e]; out[4 * i + 1] = palette[3 * e + 1]
                out[4 * i + 2] = palette[3 * e + 2]; out[4 * i + 3] = paletteAlpha[e]
            }
            return Image(width: width, height: height, channels: 4, pixels: out)
        case .palette, .cmyk:
            return convertedToRGB()
        }
    }

    /// Pillow's `crop(box)`: the region (x, y, width, height); parts outside the image are zero.
    public func cropped(x: Int, y: Int, width cropWidth: Int, height cropHeight: Int) -> DecodedImage {
        precondition(cropWidth >= 0 && cropHeight >= 0, "crop: negative size")
        if mode == .gray16 {
            let out = cropPlane(samples16, channels: 1, x: x, y: y, width: cropWidth, height: cropHeight)
            return DecodedImage(width: cropWidth, height: cropHeight, mode: mode, format: format,
                                samples16: out)
        }
        let out = cropPlane(samples, channels: mode.channels, x: x, y: y, width: cropWidth, height: cropHeight)
        return DecodedImage(width: cropWidth, height: cropHeight, mode: mode, format: format,
                            samples: out, palette: palette, paletteAlpha: paletteAlpha)
    }

    func cropPlane<T: FixedWidthInteger>(_ source: [T], channels: Int, x: Int, y: Int,
                                         width cropWidth: Int, height cropHeight: Int) -> [T] {
        var out = [T](repeating: 0, count: cropWidth * cropHeight * channels)
        let x0 = max(x, 0), x1 = min(x + cropWidth, width)
        guard x1 > x0 else { return out }
        source.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for row in max(y, 0)..<max(max(y, 0), min(y + cropHeight, height)) {
                    let from = (row * width + x0) * channels
                    let to = ((row - y) * cropWidth + (x0 - x)) * channels
                    let n = (x1 - x0) * channels
                    for i in 0..<n { o[to + i] = s[from + i] }
                }
            }
        }
        return out
    }
}

extension Image {
    /// Pillow's `crop(box)`: the region (x, y, width, height); parts outside the image are zero.
    public func cropped(x: Int, y: Int, width cropWidth: Int, height cropHeight: Int) -> Image {
        DecodedImage(self).cropped(x: x, y: y, width: cropWidth, height: cropHeight).image
    }

    /// The image with another channel count, as Pillow converts between L, LA, RGB and
    /// RGBA (gray from RGB by ITU-R 601-2 luma, alpha dropped or set opaque).
    public func converted(toChannels target: Int) -> Image {
        precondition((1...4).contains(target), "converted: \(target) channels, expected 1...4")
        if target == channels { return self }
        let count = width * height
        var out = [UInt8](repeating: 255, count: count * target)
        let sourceHasColor = channels >= 3, sourceHasAlpha = channels == 2 || channels == 4
        let targetHasColor = target >= 3, targetHasAlpha = target == 2 || target == 4
        pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<count {
                    let p = i * channels, q = i * target
                    if targetHasColor {
                        if sourceHasColor {
                            o[q] = s[p]; o[q + 1] = s[p + 1]; o[q + 2] = s[p + 2]
                        } else {
                            o[q] = s[p]; o[q + 1] = s[p]; o[q + 2] = s[p]
                        }
                    } else if sourceHasColor {
                        // Pillow's L24: 16-bit fixed-point 601-2 luma.
                        let luma = Int(s[p]) * 19595 + Int(s[p + 1]) * 38470 + Int(s[p + 2]) * 7471 + 0x8000
                        o[q] = UInt8(truncatingIfNeeded: luma >> 16)
                    } else {
                        o[q] = s[p]
                    }
                    if targetHasAlpha && sourceHasAlpha { o[q + target - 1] = s[p + channels - 1] }
                }
            }
        }
        return Image(width: width, height: height, channels: target, pixels: out)
    }

    /// Pillow's `paste(source, (x, y), mask)`: copies `source` (converted to this image's
    /// channels) at (x, y), clipped to the image; with a mask (1 channel, or the alpha
    /// channel of a 2- or 4-channel mask), every channel becomes out*(255-m)/255 + in*m/255.
    public mutating func paste(_ source: Image, x: Int, y: Int, mask: Image? = nil) {
        let source = source.converted(toChannels: channels)
        if let mask {
            precondition(mask.width == source.width && mask.height == source.height,
                         "paste: mask \(mask.width)x\(mask.height) for a \(source.width)x\(source.height) image")
        }
        let x0 = max(x, 0), x1 = min(x + source.width, width)
        let y0 = max(y, 0), y1 = min(y + source.height, height)
        guard x1 > x0 && y1 > y0 else { return }
        let c = channels, w = width
        let maskChannel = mask.map { $0.channels == 2 || $0.channels == 4 ? $0.channels - 1 : 0 } ?? 0
        let maskChannels = mask?.channels ?? 1
        let maskPixels = mask?.pixels ?? []
        pixels.withUnsafeMutableBufferPointer { o in
            source.pixels.withUnsafeBufferPointer { s in
                maskPixels.withUnsafeBufferPointer { m in
                    for row in y0..<y1 {
                        for col in x0..<x1 {
                            let sx = col - x, sy = row - y
                            let si = (sy * source.width + sx) * c, oi = (row * w + col) * c
                            if m.isEmpty {
                                for k in 0..<c { o[oi + k] = s[si + k] }
                            } else {
                                let a = Int(m[(sy * source.width + sx) * maskChannels + maskChannel])
                                for k in 0..<c {
                                    o[oi + k] = UInt8(truncatingIfNeeded:
                                        div255(Int(o[oi + k]) * (255 - a) + Int(s[si + k]) * a))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Pillow's `Image.blend(self, other, alpha)`: self + alpha * (other - self), per
    /// channel in float, truncated and clipped to 0...255. Sizes and channels must match.
    public func blended(with other: Image, alpha: Float) -> Image {
        precondition(other.width == width && other.height == height && other.channels == channels,
                     "blended: images differ in size or channels")
        var out = pixels
        out.withUnsafeMutableBufferPointer { o in
            other.pixels.withUnsafeBufferPointer { b in
                for i in 0..<o.count {
                    let t = Float(o[i]) + alpha * Float(Int(b[i]) - Int(o[i]))
                    o[i] = t <= 0 ? 0 : t >= 255 ? 255 : UInt8(t)
                }
            }
        }
        return Image(width: width, height: height, channels: channels, pixels: out)
    }

    /// This image's colour over an opaque background colour, by its alpha (RGB or gray
    /// out; images without alpha are returned unchanged).
    public func flattened(onto background: [UInt8]) -> Image {
        guard channels == 2 || channels == 4 else { return self }
        let colorChannels = channels - 1
        precondition(background.count == colorChannels, "flattened: background needs \(colorChannels) values")
        var canvas = Image(width: width, height: height, fill: background)
        canvas.paste(self, x: 0, y: 0, mask: self)
        return canvas
    }
}

extension Image {
    /// Mean absolute difference per channel value between this image and a same-sized one (as RGB).
    public func meanAbsoluteDifference(to other: Image) -> Double {
        let a = converted(toChannels: 3), b = other.converted(toChannels: 3)
        precondition(a.width == b.width && a.height == b.height, "meanAbsoluteDifference: sizes differ")
        var total = 0
        for i in 0..<a.pixels.count { total += abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
        return Double(total) / Double(max(1, a.pixels.count))
    }
}
