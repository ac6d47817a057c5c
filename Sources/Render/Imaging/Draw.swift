import Foundation

/// An 8-bit RGBA colour; alpha 255 is opaque.
public struct Color: Sendable, Equatable, Hashable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8
    public var a: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8 = 255) {
        self.r = r; self.g = g; self.b = b; self.a = a
    }

    /// A colour from 0xRRGGBB.
    public init(hex: UInt32, alpha: UInt8 = 255) {
        self.init(UInt8(hex >> 16 & 0xFF), UInt8(hex >> 8 & 0xFF), UInt8(hex & 0xFF), alpha)
    }

    public static let black = Color(0, 0, 0)
    public static let white = Color(255, 255, 255)
    public static let transparent = Color(0, 0, 0, 0)

    /// The same colour with another alpha.
    public func withAlpha(_ alpha: UInt8) -> Color { Color(r, g, b, alpha) }

    /// A readable categorical palette (Tableau 10), for series in charts.
    public static let categorical: [Color] = [
        0x4E79A7, 0xF28E2B, 0xE15759, 0x76B7B2, 0x59A14F,
        0xEDC948, 0xB07AA1, 0xFF9DA7, 0x9C755F, 0xBAB0AC,
    ].map { Color(hex: $0) }
}

extension Image {
    /// A blank RGB (or RGBA when the colour is not opaque) image of one colour.
    public init(width: Int, height: Int, color: Color) {
        let fill = color.a == 255 ? [color.r, color.g, color.b] : [color.r, color.g, color.b, color.a]
        self.init(width: width, height: height, fill: fill)
    }

    /// The colour of one pixel, whatever the channel count.
    public func color(x: Int, y: Int) -> Color {
        let i = (y * width + x) * channels
        switch channels {
        case 1: return Color(pixels[i], pixels[i], pixels[i])
        case 2: return Color(pixels[i], pixels[i], pixels[i], pixels[i + 1])
        case 3: return Color(pixels[i], pixels[i + 1], pixels[i + 2])
        default: return Color(pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3])
        }
    }

    /// Blends `color` over one pixel with extra coverage `coverage` (0...1); ignores
    /// pixels outside the image, so shapes may overhang the edges.
    @inline(__always)
    public mutating func blend(x: Int, y: Int, color: Color, coverage: Float = 1) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let alpha = coverage * Float(color.a) / 255
        guard alpha > 0 else { return }
        let i = (y * width + x) * channels
        let channels = self.channels
        pixels.withUnsafeMutableBufferPointer { p in
            Image.blendPixel(p, at: i, channels: channels, color: color, alpha: alpha)
        }
    }

    @inline(__always)
    static func blendPixel(_ p: UnsafeMutableBufferPointer<UInt8>, at i: Int, channels: Int,
                           color: Color, alpha: Float) {
        @inline(__always) func mix(_ old: UInt8, _ new: UInt8) -> UInt8 {
            let value: Float = Float(old) + (Float(new) - Float(old)) * alpha + 0.5
            return UInt8(min(255, max(0, value)))
        }
        // Coverage accumulates into alpha: "over" compositing.
        @inline(__always) func mixAlpha(_ old: UInt8) -> UInt8 {
            let value: Float = Float(old) + (255 - Float(old)) * alpha + 0.5
            return UInt8(min(255, value))
        }
        switch channels {
        case 1, 2:
            // Gray images take the colour's luma (Rec. 601).
            let red: Float = 0.299 * Float(color.r)
            let green: Float = 0.587 * Float(color.g)
            let blue: Float = 0.114 * Float(color.b)
            let luma = UInt8(min(255, red + green + blue + 0.5))
            p[i] = mix(p[i], luma)
            if channels == 2 { p[i + 1] = mixAlpha(p[i + 1]) }
        default:
            p[i] = mix(p[i], color.r)
            p[i + 1] = mix(p[i + 1], color.g)
            p[i + 2] = mix(p[i + 2], color.b)
            if channels == 4 { p[i + 3] = mixAlpha(p[i + 3]) }
        }
    }

    /// Fills an axis-aligned rectangle (clipped to the image), blending when the colour is translucent.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        let channels = self.channels, width = self.width
        let alpha = Float(color.a) / 255
        pixels.withUnsafeMutableBufferPointer { p in
            for yy in y0..<y1 {
                for xx in x0..<x1 {
                    Image.blendPixel(p, at: (yy * width + xx) * channels, channels: channels, color: color, alpha: alpha)
                }
            }
        }
    }

    /// Draws a rectangle's outline `thickness` pixels wide, inside the rectangle.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, color: Color, thickness: Int = 1) {
        let t = max(1, min(thickness, w / 2 + 1, h / 2 + 1))
        fillRect(x: x, y: y, width: w, height: t, color: color)
        fillRect(x: x, y: y + h - t, width: w, height: t, color: color)
        fillRect(x: x, y: y + t, width: t, height: h - 2 * t, color: color)
        fillRect(x: x + w - t, y: y + t, width: t, height: h - 2 * t, color: color)
    }

    /// Draws an anti-aliased line segment `thickness` pixels wide with round caps;
    /// coordinates are pixel centres at integer + 0.5.
    public mutating func drawLine(from start: (x: Double, y: Double), to end: (x: Double, y: Double),
                                  color: Color, thickness: Double = 1) {
        let dx = end.x - start.x, dy = end.y - start.y
        let length2 = dx * dx + dy * dy
        let half = max(thickness, 0.5) / 2
        let reach = half + 1
        let steep = abs(dy) > abs(dx)
        // Walk the major axis; on each step cover the cross-axis span within reach of the segment.
        let (a0, a1) = steep ? (min(start.y, end.y), max(start.y, end.y)) : (min(start.x, end.x), max(start.x, end.x))
        let slope = steep ? (dy == 0 ? 0 : dx / dy) : (dx == 0 ? 0 : dy / dx)
        let secant = (1 + slope * slope).squareRoot()
        let lo = Int((a0 - reach).rounded(.down)), hi = Int((a1 + reach).rounded(.up))
        let (major0, minor0) = steep ? (start.y, start.x) : (start.x, start.y)
        let w = width, h = height, channels = self.channels
        let baseAlpha = Float(color.a) / 255
        pixels.withUnsafeMutableBufferPointer { p in
            for m in lo...hi {
                let centreMajor = Double(m) + 0.5
                let clampedMajor = min(max(centreMajor, a0), a1)
                let minorAtMajor = minor0 + (clampedMajor - major0) * slope
                let span = reach * secant
                let nLo = Int((minorAtMajor - span).rounded(.down)), nHi = Int((minorAtMajor + span).rounded(.up))
                for n in nLo...nHi {
                    let (px, py) = steep ? (n, m) : (m, n)
                    guard px >= 0, py >= 0, px < w, py < h else { continue }
                    let cx = Double(px) + 0.5, cy = Double(py) + 0.5
                    // Distance from the pixel centre to the segment.
                    var t = length2 > 0 ? ((cx - start.x) * dx + (cy - start.y) * dy) / length2 : 0
                    t = min(1, max(0, t))
                    let ex = cx - (start.x + t * dx), ey = cy - (start.y + t * dy)
                    let distance = (ex * ex + ey * ey).squareRoot()
                    let coverage = Float(min(1, max(0, half + 0.5 - distance)))
                    guard coverage > 0 else { continue }
                    Image.blendPixel(p, at: (py * w + px) * channels, channels: channels,
                                     color: color, alpha: coverage * baseAlpha)
                }
            }
        }
    }

    /// Draws an anti-aliased polyline through the points.
    public mutating func drawPolyline(_ points: [(x: Double, y: Double)], color: Color, thickness: Double = 1) {
        guard points.count > 1 else {
            if let p = points.first { fillCircle(center: p, radius: thickness / 2, color: color) }
            return
        }
        for i in 1..<points.count { drawLine(from: points[i - 1], to: points[i], color: color, thickness: thickness) }
    }

    /// Fills an anti-aliased disc.
    public mutating func fillCircle(center: (x: Double, y: Double), radius: Double, color: Color) {
        let x0 = max(0, Int((center.x - radius - 1).rounded(.down)))
        let x1 = min(width - 1, Int((center.x + radius + 1).rounded(.up)))
        let y0 = max(0, Int((center.y - radius - 1).rounded(.down)))
        let y1 = min(height - 1, Int((center.y + radius + 1).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let w = width, channels = self.channels
        let baseAlpha = Float(color.a) / 255
        pixels.withUnsafeMutableBufferPointer { p in
            for py in y0...y1 {
                for px in x0...x1 {
                    let ex = Double(px) + 0.5 - center.x, ey = Double(py) + 0.5 - center.y
                    let coverage = Float(min(1, max(0, radius + 0.5 - (ex * ex + ey * ey).squareRoot())))
                    guard coverage > 0 else { continue }
                    Image.blendPixel(p, at: (py * w + px) * channels, channels: channels,
                                     color: color, alpha: coverage * baseAlpha)
                }
            }
        }
    }

    /// Fills a polygon (even-odd rule) with 4x vertical supersampling for smooth edges.
    public mutating func fillPolygon(_ points: [(x: Double, y: Double)], color: Color) {
        guard points.count >= 3 else { return }
        let minY = max(0, Int(points.map(\.y).min()!.rounded(.down)))
        let maxY = min(height - 1, Int(points.map(\.y).max()!.rounded(.up)))
        guard minY <= maxY else { return }
        let samples = 4
        var coverage = [Float](repeating: 0, count: width)
        var crossings: [Double] = []
        let w = width, channels = self.channels
        let baseAlpha = Float(color.a) / 255
        for py in minY...maxY {
            for i in coverage.indices { coverage[i] = 0 }
            for s in 0..<samples {
                let sy = Double(py) + (Double(s) + 0.5) / Double(samples)
                crossings.removeAll(keepingCapacity: true)
                for i in points.indices {
                    let a = points[i], b = points[(i + 1) % points.count]
                    if (a.y <= sy) != (b.y <= sy) {
                        crossings.append(a.x + (sy - a.y) / (b.y - a.y) * (b.x - a.x))
                    }
                }
                crossings.sort()
                var k = 0
                while k + 1 < crossings.count {
                    let xa = max(0, crossings[k]), xb = min(Double(w), crossings[k + 1])
                    if xa < xb {
                        // Exact horizontal coverage per pixel for this sub-scanline.
                        var px = Int(xa)
                        while px < w, Double(px) < xb {
                            let left = max(xa, Double(px)), right = min(xb, Double(px + 1))
                            if right > left { coverage[px] += Float(right - left) / Float(samples) }
                            px += 1
                        }
                    }
                    k += 2
                }
            }
            pixels.withUnsafeMutableBufferPointer { p in
                for px in 0..<w where coverage[px] > 0 {
                    Image.blendPixel(p, at: (py * w + px) * channels, channels: channels,
                                     color: color, alpha: min(1, coverage[px]) * baseAlpha)
                }
            }
        }
    }
}

extension Image {
    /// A deterministic photo-like RGB picture (smooth gradients, two discs, mild noise), for
    /// benchmarks such as `sixel.encode_288` and for demos that need an image without files.
    public static func testCard(width: Int = 288, height: Int = 288, seed: UInt64 = 1) -> Image {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { p in
            for y in 0..<height {
                for x in 0..<width {
                    let u = Double(x) / Double(max(1, width)), v = Double(y) / Double(max(1, height))
                    var r = 200 * u + 30, g = 120 + 100 * v * (1 - u), b = 80 + 150 * (1 - v)
                    let dx = u - 0.35, dy = v - 0.4
                    if dx * dx + dy * dy < 0.04 { r = 240; g = 200 - 200 * v; b = 40 }
                    let ex = u - 0.7, ey = v - 0.7
                    if ex * ex + ey * ey < 0.02 { r = 30; g = 60 + 100 * u; b = 160 }
                    let i = (y * width + x) * 3
                    @inline(__always) func noisy(_ value: Double) -> UInt8 {
                        state ^= state << 13; state ^= state >> 7; state ^= state << 17
                        return UInt8(max(0, min(255, Int(value) + Int(state % 17) - 8)))
                    }
                    p[i] = noisy(r); p[i + 1] = noisy(g); p[i + 2] = noisy(b)
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}

extension Color {
    /// A CSS-style colour name (the basic ones and the Stroop test's) or #RRGGBB; nil otherwise.
    public init?(named text: String) {
        let name = text.lowercased().trimmingCharacters(in: .whitespaces)
        if name.hasPrefix("#"), name.count == 7, let value = UInt32(name.dropFirst(), radix: 16) {
            self.init(hex: value)
            return
        }
        let table: [String: UInt32] = [
            "black": 0x000000, "white": 0xFFFFFF, "red": 0xFF0000, "green": 0x00FF00, "blue": 0x0000FF,
            "yellow": 0xFFFF00, "orange": 0xFFA500, "purple": 0x800080, "pink": 0xFFC0CB, "brown": 0x8B4513,
            "gray": 0x808080, "grey": 0x808080, "cyan": 0x00FFFF, "magenta": 0xFF00FF,
        ]
        guard let value = table[name] else { return nil }
        self.init(hex: value)
    }
}
