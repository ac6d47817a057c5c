// Winograd's minimal filtering for 3x3, stride-1, padding-1 convolutions:
// F(2x2, 3x3) and F(4x4, 3x3). Each m x m output tile comes from an (m+2) x (m+2)
// input patch: V = Bᵀ d B per input channel, U = G g Gᵀ per kernel, then one GEMM per
// transform element e (U[e] [K x C] times V[e] [C x tiles]), then Y = Aᵀ M A. That is
// (m+2)² GEMMs of K x C x tiles (V and M are stored channel-major, [C][e][tiles] and
// [K][e][tiles], so that each channel's transforms touch one contiguous block) instead of one of K x 9C x m²·tiles: 2.25x fewer
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

/// Which algorithm each 3x3 stride-1 convolution shape uses. By default a fixed rule by
/// spatial size (`standard`), so that every process computes the same numbers: a run
/// resumed in another process continues bit for bit. `CLIPSCOPE_CONV3X3=measure` (or
/// `measures`) instead times the three candidates once per shape on its first call and
/// keeps the fastest; `CLIPSCOPE_CONV3X3=im2col|winograd2x2|winograd4x4` (or `forced`) uses
/// one path everywhere. Thread-safe.
public enum ConvAlgorithmChoice {
    public static let environmentVariable = "CLIPSCOPE_CONV3X3"

    private struct State {
        var forced: ConvAlgorithm?
        var measures: Bool
        var chosen: [Conv3x3Shape: ConvAlgorithm] = [:]
        var timings: [Conv3x3Shape: [ConvAlgorithm: Double]] = [:]
    }

    private static let state = Mutex(State(
        forced: ProcessInfo.processInfo.environment[environmentVariable].flatMap(ConvAlgorithm.init(name:)),
        measures: ProcessInfo.processInfo.environment[environmentVariable]?.lowercased() == "measure"))

    /// Whether shapes are timed on their first call (else `standard` decides).
    public static var measures: Bool {
        get { state.withLock { $0.measures } }
        set { state.withLock { $0.measures = newValue } }
    }

    /// The choice without measuring, from measurements on the 2-core development machine
    /// (docs/performance.md): Winograd F(4x4) from 30 pixels up, F(2x2) from 12, im2col below
    /// (9x9 has too few tiles for the transforms to pay).
    public static func standard(_ shape: Conv3x3Shape) -> ConvAlgorithm {
        let size = Swift.min(shape.height, shape.width)
        return size >= 30 ? .winograd4x4 : size >= 12 ? .winograd2x2 : .im2col
    }

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
        state.withLock { state in
            if let forced = state.forced { return forced }
            if let chosen = state.chosen[shape] { return chosen }
            guard !state.measures else { return nil }
            let choice = standard(shape)
            state.chosen[shape] = choice
            return choice
        }
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

    func tiles(_ g: ConvGeometry) -> (rows: Int, columns: Int) {
        ((g.height + m - 1) / m, (g.width + m - 1) / m)
    }

    /// Floats of the V and M buffers for one image.
    func scratch(_ g: ConvGeometry, outputChannels: Int) -> (v: Int, m: Int) {
        let (th, tw) = tiles(g)
        let perImage = alpha * alpha * th * tw
        return (perImage * g.channels, perImage * outputChannels + 8)   // M: 8 spare (whole vectors are read)
    }
}

/// The 1-D transforms of one F(m, 3), written out, on vectors of 8 tiles: applied along
/// a patch's rows, then its columns (Bᵀ d B and Aᵀ M A). `s` is the stride between the
/// alpha values transformed in place (1 along a row of the 6x6 or 4x4 block, alpha down
/// a column); the output transform leaves its m values in the first m places.
protocol WinogradTiles {
    static var m: Int { get }
    static func input(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int)
    static func output(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int)
}

/// F(2, 3): Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], Aᵀ = [1 1 1 0; 0 1 -1 -1].
enum WinogradTiles2: WinogradTiles {
    static var m: Int { 2 }

    @inline(__always)
    static func input(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int) {
        let (p0, p1, p2, p3) = (d[0], d[s], d[2 * s], d[3 * s])
        d[0] = p0 - p2
        d[s] = p1 + p2
        d[2 * s] = p2 - p1
        d[3 * s] = p1 - p3
    }

    @inline(__always)
    static func output(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int) {
        let (p0, p1, p2, p3) = (d[0], d[s], d[2 * s], d[3 * s])
        d[0] = p0 + p1 + p2
        d[s] = p1 - p2 - p3
    }
}

/// F(4, 3), points 0, ±1, ±2, ∞ (the matrices of `WinogradTransform.f4`).
enum WinogradTiles4: WinogradTiles {
    static var m: Int { 4 }

    @inline(__always)
    static func input(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int) {
        let (p0, p1, p2, p3, p4, p5) = (d[0], d[s], d[2 * s], d[3 * s], d[4 * s], d[5 * s])
        let sum34 = p3 + p4, sum12 = p1 + p2, diff43 = p4 - p3, diff12 = p1 - p2
        let diff42 = p4 - p2, diff31 = p3 - p1
        d[0] = 4 * p0 - 5 * p2 + p4
        d[s] = sum34 - 4 * sum12
        d[2 * s] = diff43 + 4 * diff12
        d[3 * s] = diff42 + 2 * diff31
        d[4 * s] = diff42 - 2 * diff31
        d[5 * s] = 4 * p1 - 5 * p3 + p5
    }

    @inline(__always)
    static func output(_ d: UnsafeMutablePointer<SIMD8<Float>>, _ s: Int) {
        let (p0, p1, p2, p3, p4, p5) = (d[0], d[s], d[2 * s], d[3 * s], d[4 * s], d[5 * s])
        let sum12 = p1 + p2, diff12 = p1 - p2, sum34 = p3 + p4, diff34 = p3 - p4
        d[0] = p0 + sum12 + sum34
        d[s] = diff12 + 2 * diff34
        d[2 * s] = sum12 + 4 * sum34
        d[3 * s] = diff12 + 8 * diff34 + p5
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
        let sizes = f.scratch(g, outputChannels: k)
        // One image at a time, each with its own GEMMs: BLAS rounds a column differently
        // when the GEMM has more columns, and an image must give the same numbers whatever
        // batch it is in (a scan that grows, shards merged, a resumed run rely on it; see
        // docs/performance.md). A batch runs its images on the workers; one image spreads
        // its transforms and its (m+2)² GEMMs over them instead. Either way each GEMM is
        // one whole call and each transform the same chunks, in the same order.
        let tiles = th * tw
        Parallel.forEach(n) { image in
            let vBuffer = ScratchPool.take(sizes.v), mBuffer = ScratchPool.take(sizes.m)
            defer {
                ScratchPool.give(vBuffer)
                ScratchPool.give(mBuffer)
            }
            let images = image..<(image + 1)
            if f.m == 4 {
                winogradInput(WinogradTiles4.self, images: images, geometry: g, into: vBuffer.pointer)
            } else {
                winogradInput(WinogradTiles2.self, images: images, geometry: g, into: vBuffer.pointer)
            }
            let (v, mm) = (vBuffer.pointer, mBuffer.pointer)
            Parallel.forEach(a2) { e in
                gemm(transposeA: false, transposeB: false, m: k, n: tiles, k: c,
                     a: u.data + e * k * c, lda: c, b: v + e * tiles, ldb: a2 * tiles,
                     c: mm + e * tiles, ldc: a2 * tiles, whole: true)
            }
            if f.m == 4 {
                Tensor.winogradOutput(WinogradTiles4.self, mm, images: images, outputChannels: k,
                                      geometry: g, into: out.data, accumulate: accumulate, relu: relu)
            } else {
                Tensor.winogradOutput(WinogradTiles2.self, mm, images: images, outputChannels: k,
                                      geometry: g, into: out.data, accumulate: accumulate, relu: relu)
            }
        }
    }

    /// V[c, e, t] = (Bᵀ d B)[e] for every channel c and tile t of the images `images`
    /// (t counts tiles from the first of them, row by row).
    func winogradInput<F: WinogradTiles>(_: F.Type, images: Range<Int>, geometry g: ConvGeometry,
                                         into v: UnsafeMutablePointer<Float>) {
        let (m, c, h, w) = (F.m, g.channels, g.height, g.width)
        let a = m + 2, a2 = a * a
        let (th, tw) = ((h + m - 1) / m, (w + m - 1) / m)
        let tiles = images.count * th * tw
        // The a input rows of one tile row, de-interleaved by column phase: padded column
        // q*m + p at p*phase + q, so that patch column j of tiles tx..tx+7 is one vector
        // load. Rounded up to whole vectors of tiles, zeros beyond the input.
        let phase = (tw + 7) / 8 * 8 + 1, rowLength = m * phase
        let x = data + images.lowerBound * c * h * w
        Parallel.forChunks(images.count * c, grain: Swift.max(1, 4096 / Swift.max(h * w, 1))) { range in
            let band = UnsafeMutablePointer<Float>.allocate(capacity: a * rowLength)
            let block = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: a2)
            defer {
                band.deallocate()
                block.deallocate()
            }
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
                            // ix = q*m + p - 1 in 0..<w for q in first..<last.
                            let first = p == 0 ? 1 : 0, last = Swift.min(phase, (w - p + m) / m)
                            if first > 0 { line[0] = 0 }
                            var q = first, ix = first * m + p - 1
                            while q < last { line[q] = src[ix]; q += 1; ix += m }
                            if last < phase { (line + last).update(repeating: 0, count: phase - last) }
                        }
                    }
                    let tile = image * th * tw + ty * tw
                    var group = 0
                    while group < tw {
                        for r in 0..<a {
                            for col in 0..<a {
                                block[r * a + col] = UnsafeRawPointer(band + r * rowLength + (col % m) * phase + col / m + group)
                                    .loadUnaligned(as: SIMD8<Float>.self)
                            }
                        }
                        for r in 0..<a { F.input(block + r * a, 1) }
                        for col in 0..<a { F.input(block + col, a) }
                        let lanes = Swift.min(8, tw - group)
                        for e in 0..<a2 {
                            let dst = v + (channel * a2 + e) * tiles + tile + group
                            if lanes == 8 {
                                UnsafeMutableRawPointer(dst).storeBytes(of: block[e], as: SIMD8<Float>.self)
                            } else {
                                for l in 0..<lanes { dst[l] = block[e][l] }
                            }
                        }
                        group += 8
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every output channel and tile of the images `images`, written
    /// (or added, when `accumulate`) into the [N, K, H, W] output. `mBuffer` must have 8
    /// floats to spare at its end (whole vectors of tiles are read).
    static func winogradOutput<F: WinogradTiles>(_: F.Type, _ mBuffer: UnsafePointer<Float>, images: Range<Int>,
                                                 outputChannels k: Int, geometry g: ConvGeometry,
                                                 into out: UnsafeMutablePointer<Float>, accumulate: Bool, relu: Bool) {
        let (m, h, w) = (F.m, g.height, g.width)
        let a = m + 2, a2 = a * a
        let (th, tw) = ((h + m - 1) / m, (w + m - 1) / m)
        let tiles = images.count * th * tw
        let y = out + images.lowerBound * k * h * w
        Parallel.forChunks(images.count * k, grain: Swift.max(1, 4096 / Swift.max(h * w, 1))) { range in
            let block = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: a2)
            defer { block.deallocate() }
            for item in range {
                let (image, channel) = (item / k, item % k)
                let plane = y + item * h * w
                for ty in 0..<th {
                    let tile = image * th * tw + ty * tw
                    var group = 0
                    while group < tw {
                        for e in 0..<a2 {
                            block[e] = UnsafeRawPointer(mBuffer + (channel * a2 + e) * tiles + tile + group)
                                .loadUnaligned(as: SIMD8<Float>.self)
                        }
                        for r in 0..<a { F.output(block + r * a, 1) }
                        for col in 0..<m { F.output(block + col, a) }
                        // Row i of the 8 tiles: column l*m + j is lane l of Y[i][j].
                        let columns = Swift.min(8 * m, w - group * m)
                        let values = UnsafeRawPointer(block).assumingMemoryBound(to: Float.self)
                        for i in 0..<Swift.min(m, h - ty * m) {
                            let line = plane + (ty * m + i) * w + group * m
                            let row = values + i * a * 8
                            switch (accumulate, relu) {
                            case (false, false):
                                for ox in 0..<columns { line[ox] = row[(ox % m) * 8 + ox / m] }
                            case (false, true):
                                for ox in 0..<columns { line[ox] = Swift.max(row[(ox % m) * 8 + ox / m], 0) }
                            case (true, false):
                                for ox in 0..<columns { line[ox] += row[(ox % m) * 8 + ox / m] }
                            case (true, true):
                                for ox in 0..<columns { line[ox] = Swift.max(line[ox] + row[(ox % m) * 8 + ox / m], 0) }
                            }
                        }
                        group += 8
                    }
                }
            }
        }
    }
}
