// Winograd's minimal filtering for 3x3, stride-1, padding-1 convolutions:
// F(2x2, 3x3) and F(4x4, 3x3). Each m x m output tile comes from an (m+2) x (m+2)
// input patch: V = Bᵀ d B per input channel, U = G g Gᵀ per kernel, then one GEMM per
// transform element e (U[e] [K x C] times V[e] [C x tiles]), then Y = Aᵀ M A. That is
// (m+2)² GEMMs of K x C x tiles instead of one of K x 9C x m²·tiles: 2.25x fewer
// multiplies for F(2x2), 4x for F(4x4). Which path a shape takes is measured once
// (`ConvAlgorithmChoice`).

import Dispatch
import Foundation
import Synchronization

/// How a 3x3, stride-1, padding-1 convolution is computed.
public enum ConvAlgorithm: String, CaseIterable, Sendable, Codable {
    /// im2col and one GEMM (the path of every other convolution).
    case im2col
    /// Winograd F(2x2, 3x3): 16 GEMMs over 2x2 output tiles.
    case winograd2x2
    /// Winograd F(4x4, 3x3): 36 GEMMs over 4x4 output tiles.
    case winograd4x4

    var transform: WinogradTransform? {
        switch self {
        case .im2col: nil
        case .winograd2x2: .f2
        case .winograd4x4: .f4
        }
    }

    /// Parses the names `CLIPSCOPE_CONV3X3` accepts: im2col, winograd2x2 (or f2, winograd2),
    /// winograd4x4 (or f4, winograd4). Anything else (measure, auto) is nil.
    public init?(name: String) {
        switch name.lowercased() {
        case "im2col", "gemm": self = .im2col
        case "winograd2x2", "winograd2", "f2", "f2x2": self = .winograd2x2
        case "winograd4x4", "winograd4", "winograd", "f4", "f4x4": self = .winograd4x4
        default: return nil
        }
    }
}

/// The shape of a 3x3 same-size convolution, the key of the algorithm cache.
public struct Conv3x3Shape: Hashable, Sendable, CustomStringConvertible {
    public let batch: Int, inputChannels: Int, outputChannels: Int, height: Int, width: Int

    public init(batch: Int, inputChannels: Int, outputChannels: Int, height: Int, width: Int) {
        (self.batch, self.inputChannels, self.outputChannels, self.height, self.width)
            = (batch, inputChannels, outputChannels, height, width)
    }

    public var description: String { "\(batch)x\(inputChannels)->\(outputChannels)@\(height)x\(width)" }
}

/// Which algorithm each 3x3 stride-1 convolution shape uses: the fastest of the three,
/// timed once on the first call of that shape (on the real input), then kept for the
/// process. `CLIPSCOPE_CONV3X3=im2col|winograd2x2|winograd4x4` (or `forced`) skips the
/// measurement and uses one path everywhere. Thread-safe.
public enum ConvAlgorithmChoice {
    public static let environmentVariable = "CLIPSCOPE_CONV3X3"

    private struct State {
        var forced: ConvAlgorithm?
        var chosen: [Conv3x3Shape: ConvAlgorithm] = [:]
        var timings: [Conv3x3Shape: [ConvAlgorithm: Double]] = [:]
    }

    private static let state = Mutex(State(forced: ProcessInfo.processInfo.environment[environmentVariable]
        .flatMap(ConvAlgorithm.init(name:))))

    /// One algorithm for every shape (tests, benches), or nil to measure per shape.
    public static var forced: ConvAlgorithm? {
        get { state.withLock { $0.forced } }
        set { state.withLock { $0.forced = newValue } }
    }

    /// The measured choices so far.
    public static var choices: [Conv3x3Shape: ConvAlgorithm] { state.withLock { $0.chosen } }

    /// The seconds each candidate took when its shape was measured.
    public static var timings: [Conv3x3Shape: [ConvAlgorithm: Double]] { state.withLock { $0.timings } }

    /// Forgets the measured choices (the next call of each shape measures again).
    public static func reset() {
        state.withLock {
            $0.chosen.removeAll()
            $0.timings.removeAll()
        }
    }

    /// The algorithm to use, or nil when this shape has yet to be measured.
    static func algorithm(for shape: Conv3x3Shape) -> ConvAlgorithm? {
        state.withLock { $0.forced ?? $0.chosen[shape] }
    }

    /// Keeps the fastest candidate.
    static func record(_ shape: Conv3x3Shape, timings: [ConvAlgorithm: Double]) -> ConvAlgorithm {
        let best = timings.min { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue < $1.key.rawValue) }!.key
        state.withLock {
            $0.chosen[shape] = best
            $0.timings[shape] = timings
        }
        return best
    }
}

/// The matrices of one F(m x m, 3 x 3) (interpolation points 0, ±1, ±2 and ∞ for m = 4;
/// 0, ±1 and ∞ for m = 2).
struct WinogradTransform: Sendable {
    let m: Int
    /// Bᵀ, alpha x alpha.
    let input: [[Float]]
    /// G, alpha x 3.
    let kernel: [[Float]]
    /// Aᵀ, m x alpha.
    let output: [[Float]]
    var alpha: Int { m + 2 }

    static let f2 = WinogradTransform(
        m: 2,
        input: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        kernel: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        output: [[1, 1, 1, 0], [0, 1, -1, -1]])

    static let f4 = WinogradTransform(
        m: 4,
        input: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        kernel: [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                 [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]],
        output: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])

    /// Floats of scratch (V and M together) per image we allow before splitting a batch.
    static let chunkBudget = 1 << 23

    func tiles(_ g: ConvGeometry) -> (rows: Int, columns: Int) {
        ((g.height + m - 1) / m, (g.width + m - 1) / m)
    }

    /// Floats of the V and M buffers for `images` images.
    func scratch(_ g: ConvGeometry, outputChannels: Int, images: Int) -> (v: Int, m: Int) {
        let (th, tw) = tiles(g)
        let perImage = alpha * alpha * th * tw * images
        return (perImage * g.channels, perImage * outputChannels)
    }

    func imagesPerChunk(_ g: ConvGeometry, outputChannels: Int, batch: Int) -> Int {
        let one = scratch(g, outputChannels: outputChannels, images: 1)
        return Swift.max(1, Swift.min(batch, Self.chunkBudget / Swift.max(one.v + one.m, 1)))
    }
}

/// dst[x] = Σ_t coefficient_t * src[offset_t + x]: one row of a transform matrix applied
/// to whole vectors (of tiles, or of padded input columns) at once.
struct Combination {
    var count = 0
    var offsets = SIMD8<Int>()
    var coefficients = SIMD8<Float>()

    init(_ row: [Float], offset: (Int) -> Int) {
        for (index, c) in row.enumerated() where c != 0 {
            offsets[count] = offset(index)
            coefficients[count] = c
            count += 1
        }
    }

    @inline(__always)
    func apply(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count n: Int) {
        var x = 0
        while x + 8 <= n {
            var acc = SIMD8<Float>()
            for t in 0..<count {
                acc += coefficients[t] * UnsafeRawPointer(src + offsets[t] + x).loadUnaligned(as: SIMD8<Float>.self)
            }
            UnsafeMutableRawPointer(dst + x).storeBytes(of: acc, as: SIMD8<Float>.self)
            x += 8
        }
        while x < n {
            var s: Float = 0
            for t in 0..<count { s += coefficients[t] * src[offsets[t] + x] }
            dst[x] = s
            x += 1
        }
    }
}

extension Tensor {
    /// [K, C, 3, 3] -> [alpha², K, C]: U[e] = (G g Gᵀ)[e] for every kernel, cached on
    /// frozen weights (like the flipped kernel).
    func winogradKernel(_ f: WinogradTransform) -> Tensor {
        derivedValue("winograd\(f.m)x\(f.m)") {
            precondition(rank == 4 && shape[2] == 3 && shape[3] == 3, "winogradKernel: needs [K, C, 3, 3], got \(shape)")
            let (k, c, a) = (shape[0], shape[1], f.alpha)
            let src = data, plane = k * c
            return Tensor(shape: [a * a, k, c]) { dst in
                let dst = dst.baseAddress!
                Parallel.forChunks(plane, grain: 256) { r in
                    var tmp = [Float](repeating: 0, count: a * 3)
                    for kc in r {
                        let g = src + kc * 9
                        // tmp = G g (alpha x 3), then U = tmp Gᵀ (alpha x alpha).
                        for e1 in 0..<a {
                            for col in 0..<3 {
                                var s: Float = 0
                                for row in 0..<3 { s += f.kernel[e1][row] * g[row * 3 + col] }
                                tmp[e1 * 3 + col] = s
                            }
                        }
                        for e1 in 0..<a {
                            for e2 in 0..<a {
                                var s: Float = 0
                                for col in 0..<3 { s += tmp[e1 * 3 + col] * f.kernel[e2][col] }
                                dst[(e1 * a + e2) * plane + kc] = s
                            }
                        }
                    }
                }
            }
        }
    }

    /// The Winograd convolution of this [N, C, H, W] input with [K, C, 3, 3] weights (stride 1,
    /// padding 1) into `out` [N, K, H, W]: added to what `out` holds when `accumulate`
    /// (a prefilled bias or residual), then clamped at 0 when `relu`.
    func winogradConv3x3(weight: Tensor, geometry g: ConvGeometry, transform f: WinogradTransform,
                         into out: Tensor, accumulate: Bool, relu: Bool) {
        let (n, k, c) = (shape[0], weight.shape[0], g.channels)
        let u = weight.winogradKernel(f)
        let a2 = f.alpha * f.alpha
        let (th, tw) = f.tiles(g)
        let perChunk = f.imagesPerChunk(g, outputChannels: k, batch: n)
        let sizes = f.scratch(g, outputChannels: k, images: perChunk)
        let vBuffer = ScratchPool.take(sizes.v), mBuffer = ScratchPool.take(sizes.m)
        defer {
            ScratchPool.give(vBuffer)
            ScratchPool.give(mBuffer)
        }
        var start = 0
        while start < n {
            let images = start..<Swift.min(n, start + perChunk)
            let tiles = images.count * th * tw
            winogradInput(images: images, geometry: g, transform: f, into: vBuffer.pointer)
            for e in 0..<a2 {
                gemm(transposeA: false, transposeB: false, m: k, n: tiles, k: c,
                     a: u.data + e * k * c, lda: c, b: vBuffer.pointer + e * c * tiles, ldb: tiles,
                     c: mBuffer.pointer + e * k * tiles, ldc: tiles)
            }
            Tensor.winogradOutput(mBuffer.pointer, images: images, outputChannels: k, geometry: g, transform: f,
                                  into: out.data, accumulate: accumulate, relu: relu)
            start = images.upperBound
        }
    }

    /// V[e, c, t] = (Bᵀ d B)[e] for every channel c and tile t of the images `images`
    /// (t counts tiles from the first of them, row by row).
    func winogradInput(images: Range<Int>, geometry g: ConvGeometry, transform f: WinogradTransform,
                       into v: UnsafeMutablePointer<Float>) {
        let (m, a, c, h, w) = (f.m, f.alpha, g.channels, g.height, g.width)
        let (th, tw) = f.tiles(g)
        let tiles = images.count * th * tw
        // A band of a rows (one tile row's patches) is stored de-interleaved by column
        // phase: padded column q*m + p at p*phase + q, so that the patch column
        // tx*m + j of every tile is one contiguous vector over tx.
        let phase = tw + 1, rowLength = m * phase
        let vertical = (0..<a).map { i in Combination(f.input[i]) { r in r * rowLength } }
        let horizontal = (0..<a).map { j in Combination(f.input[j]) { col in (col % m) * phase + col / m } }
        let x = data + images.lowerBound * c * h * w
        Parallel.forChunks(images.count * c, grain: Swift.max(1, 4096 / Swift.max(h * w, 1))) { range in
            let band = UnsafeMutablePointer<Float>.allocate(capacity: 2 * a * rowLength)
            defer { band.deallocate() }
            let u = band + a * rowLength
            for item in range {
                let (image, channel) = (item / c, item % c)
                let plane = x + item * h * w
                for ty in 0..<th {
                    for r in 0..<a {
                        let iy = ty * m - 1 + r, dst = band + r * rowLength
                        guard iy >= 0 && iy < h else {
                            dst.update(repeating: 0, count: rowLength)
                            continue
                        }
                        let src = plane + iy * w
                        for p in 0..<m {
                            let line = dst + p * phase
                            for q in 0..<phase {
                                let ix = q * m + p - 1
                                line[q] = ix >= 0 && ix < w ? src[ix] : 0
                            }
                        }
                    }
                    for i in 0..<a { vertical[i].apply(band, to: u + i * rowLength, count: rowLength) }
                    let tile = image * th * tw + ty * tw
                    for i in 0..<a {
                        for j in 0..<a {
                            horizontal[j].apply(u + i * rowLength, to: v + ((i * a + j) * c + channel) * tiles + tile, count: tw)
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every output channel and tile of the images `images`, written
    /// (or added, when `accumulate`) into the [N, K, H, W] output.
    static func winogradOutput(_ mBuffer: UnsafePointer<Float>, images: Range<Int>, outputChannels k: Int,
                               geometry g: ConvGeometry, transform f: WinogradTransform,
                               into out: UnsafeMutablePointer<Float>, accumulate: Bool, relu: Bool) {
        let (m, a, h, w) = (f.m, f.alpha, g.height, g.width)
        let (th, tw) = f.tiles(g)
        let tiles = images.count * th * tw
        // Along the tile's columns (e2, from the GEMM outputs), then along its rows (e1).
        let across = (0..<m).map { j in Combination(f.output[j]) { e2 in e2 * k * tiles } }
        let down = (0..<m).map { i in Combination(f.output[i]) { e1 in e1 * m * tw } }
        let y = out + images.lowerBound * k * h * w
        Parallel.forChunks(images.count * k, grain: Swift.max(1, 4096 / Swift.max(h * w, 1))) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: (a + 1) * m * tw)
            defer { s.deallocate() }
            let rowValues = s + a * m * tw
            for item in range {
                let (image, channel) = (item / k, item % k)
                let plane = y + item * h * w
                for ty in 0..<th {
                    let tile = image * th * tw + ty * tw
                    for e1 in 0..<a {
                        let src = mBuffer + (e1 * a * k + channel) * tiles + tile
                        for j in 0..<m { across[j].apply(src, to: s + (e1 * m + j) * tw, count: tw) }
                    }
                    for i in 0..<m {
                        let oy = ty * m + i
                        guard oy < h else { break }
                        for j in 0..<m { down[i].apply(s + j * tw, to: rowValues + j * tw, count: tw) }
                        let line = plane + oy * w
                        for j in 0..<m {
                            let values = rowValues + j * tw
                            var ox = j
                            for tx in 0..<tw {
                                guard ox < w else { break }
                                var value = values[tx]
                                if accumulate { value += line[ox] }
                                line[ox] = relu ? Swift.max(value, 0) : value
                                ox += m
                            }
                        }
                    }
                }
            }
        }
    }
}
