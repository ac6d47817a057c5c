// 2-D convolution (NCHW, OIHW weights, square stride and zero padding) as GEMM:
// 1x1 stride-1 convolutions multiply the input directly, the rest go through
// im2col (3x3 stride-1 ones may take Winograd, Winograd.swift). Average pooling with kernel = stride.

import Dispatch

/// The geometry of one convolution.
struct ConvGeometry {
    let channels: Int, height: Int, width: Int
    let kernelH: Int, kernelW: Int, stride: Int, padding: Int
    var outH: Int { (height + 2 * padding - kernelH) / stride + 1 }
    var outW: Int { (width + 2 * padding - kernelW) / stride + 1 }
    var rows: Int { channels * kernelH * kernelW }   // rows of the column matrix
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 }
    /// A k x k convolution (k odd, > 1) with stride 1 that keeps the spatial size.
    var isSameSizeOddKernel: Bool {
        kernelH == kernelW && kernelH > 1 && kernelH % 2 == 1 && stride == 1 && padding == kernelH / 2
    }

    /// 3x3, stride 1, padding 1: the shape Winograd serves.
    var isWinogradCandidate: Bool { kernelH == 3 && kernelW == 3 && stride == 1 && padding == 1 }

    /// col[(c, i, j), (oy, ox)] = x[c, oy*s - p + i, ox*s - p + j], zero outside.
    func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let (oh, ow, hw) = (outH, outW, outH * outW)
        Parallel.forChunks(rows, grain: Swift.max(1, 16384 / Swift.max(hw, 1))) { r in
            for row in r {
                let c = row / (kernelH * kernelW), i = row / kernelW % kernelH, j = row % kernelW
                let src = x + c * height * width
                let dst = col + row * hw
                for oy in 0..<oh {
                    let iy = oy * stride - padding + i
                    let line = dst + oy * ow
                    guard iy >= 0 && iy < height else {
                        line.update(repeating: 0, count: ow)
                        continue
                    }
                    let srcLine = src + iy * width
                    if stride == 1 {
                        // ix = ox - p + j: zeros, a contiguous run, zeros.
                        let first = Swift.max(0, padding - j), last = Swift.min(ow, width + padding - j)
                        if first > 0 { line.update(repeating: 0, count: Swift.min(first, ow)) }
                        if last > first { (line + first).update(from: srcLine + (first - padding + j), count: last - first) }
                        if last < ow { (line + Swift.max(last, 0)).update(repeating: 0, count: ow - Swift.max(last, 0)) }
                    } else {
                        for ox in 0..<ow {
                            let ix = ox * stride - padding + j
                            line[ox] = ix >= 0 && ix < width ? srcLine[ix] : 0
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: x[c, iy, ix] += col[(c, i, j), (oy, ox)]. Parallel
    /// over channels, which own disjoint slices of x.
    func col2im(_ col: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        let (oh, ow, hw) = (outH, outW, outH * outW)
        Parallel.forChunks(channels, grain: Swift.max(1, 16384 / Swift.max(hw * kernelH * kernelW, 1))) { r in
            for c in r {
                let dst = x + c * height * width
                for i in 0..<kernelH {
                    for j in 0..<kernelW {
                        let src = col + ((c * kernelH + i) * kernelW + j) * hw
                        for oy in 0..<oh {
                            let iy = oy * stride - padding + i
                            guard iy >= 0 && iy < height else { continue }
                            let line = src + oy * ow, dstLine = dst + iy * width
                            // ox with 0 <= ox*s - p + j < width.
                            let first = Swift.max(0, (padding - j + stride - 1) / stride)
                            let last = Swift.min(ow, (width + padding - j + stride - 1) / stride)
                            if stride == 1 {
                                let shifted = dstLine + (j - padding)
                                for ox in first..<Swift.max(first, last) { shifted[ox] += line[ox] }
                            } else {
                                for ox in first..<Swift.max(first, last) { dstLine[ox * stride - padding + j] += line[ox] }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Convolution of an [N, C, H, W] input with [O, C, kh, kw] weights, plus an
    /// optional per-channel bias [O] and an optional residual of the output's
    /// shape, optionally followed by a ReLU: relu(conv(x) + bias + residual).
    /// Bias and residual are written into the output before the GEMM accumulates
    /// onto them, so the whole op makes at most one extra pass (the ReLU).
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                       residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        precondition(rank == 4, "conv2d: input must be [N, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "conv2d: weight must be [O, C, kh, kw], got \(weight.shape)")
        precondition(weight.shape[1] == shape[1],
                     "conv2d: weight \(weight.shape) expects \(weight.shape[1]) input channels, input \(shape) has \(shape[1])")
        precondition(stride >= 1 && padding >= 0, "conv2d: stride \(stride), padding \(padding)")
        let g = ConvGeometry(channels: shape[1], height: shape[2], width: shape[3],
                             kernelH: weight.shape[2], kernelW: weight.shape[3], stride: stride, padding: padding)
        precondition(g.outH >= 1 && g.outW >= 1, "conv2d: kernel \(weight.shape[2])x\(weight.shape[3]) larger than padded input \(shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "conv2d: bias \(bias.shape) for \(weight.shape[0]) output channels")
        }
        let (n, o, hw) = (shape[0], weight.shape[0], g.outH * g.outW)
        let outShape = [n, o, g.outH, g.outW]
        if let residual {
            precondition(residual.shape == outShape, "conv2d: residual \(residual.shape) for an output of \(outShape)")
        }
        let out = Tensor(uninitializedShape: outShape)
        if g.isWinogradCandidate {
            // 3x3 stride 1 padding 1: im2col or Winograd, as `ConvAlgorithmChoice` decides for this shape.
            let key = Conv3x3Shape(batch: n, inputChannels: g.channels, outputChannels: o, height: g.height, width: g.width)
            if let algorithm = ConvAlgorithmChoice.algorithm(for: key) {
                convolve(into: out, weight: weight, geometry: g, algorithm: algorithm, bias: bias, residual: residual, relu: relu)
            } else {
                measureAlgorithms(key, into: out, weight: weight, geometry: g, bias: bias, residual: residual, relu: relu)
            }
        } else {
            convolve(into: out, weight: weight, geometry: g, algorithm: .im2col, bias: bias, residual: residual, relu: relu)
        }

        let input = detached(), w = weight.detached(), y = out.detached()
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        if let residual { inputs.append(residual) }
        return out.recording("conv2d", inputs) { [isTracked, weight] outputGrad in
            let grad = relu ? outputGrad.maskedByPositive(y) : outputGrad
            var gInput: Tensor?, gWeight: Tensor?
            // Columns only where a GEMM reads or writes them (not for the flipped-kernel convolution).
            let needsColumns = !g.isPointwise && (weight.isTracked || (isTracked && !g.isSameSizeOddKernel))
            let colBuffer = needsColumns ? ScratchPool.take(g.rows * hw) : nil
            defer { colBuffer.map(ScratchPool.give) }
            if isTracked && g.isSameSizeOddKernel {
                // The input gradient of a stride-1 "same" convolution is itself such a
                // convolution of the output gradient with the kernel flipped and its
                // channel axes swapped: one GEMM of the forward's shape, no col2im (or, for
                // 3x3, the Winograd path the forward's shape measured fastest).
                gInput = grad.conv2d(weight: weight.flippedKernel(), padding: padding)
            } else if isTracked {
                // col2im accumulates into zeros; the pointwise GEMM overwrites.
                let gi = colBuffer == nil ? Tensor(uninitializedShape: input.shape) : Tensor(shape: input.shape, repeating: 0)
                for s in 0..<n {
                    let dx = gi.data + s * g.channels * g.height * g.width
                    let dy = grad.data + s * o * hw
                    if let colBuffer {
                        gemm(transposeA: true, transposeB: false, m: g.rows, n: hw, k: o,
                             a: w.data, lda: g.rows, b: dy, ldb: hw, c: colBuffer.pointer, ldc: hw)
                        g.col2im(colBuffer.pointer, dx)
                    } else {
                        gemm(transposeA: true, transposeB: false, m: g.rows, n: hw, k: o,
                             a: w.data, lda: g.rows, b: dy, ldb: hw, c: dx, ldc: hw)
                    }
                }
                gInput = gi
            }
            if weight.isTracked {
                let gw = Tensor(shape: w.shape, repeating: 0)
                for s in 0..<n {
                    let x = input.data + s * g.channels * g.height * g.width
                    if let colBuffer { g.im2col(x, colBuffer.pointer) }
                    gemm(transposeA: false, transposeB: true, m: o, n: g.rows, k: hw,
                         a: grad.data + s * o * hw, lda: hw, b: colBuffer?.pointer ?? x, ldb: hw,
                         beta: 1, c: gw.data, ldc: g.rows)
                }
                gWeight = gw
            }
            var grads = [gInput, gWeight]
            if let bias { grads.append(bias.isTracked ? grad.sumChannels() : nil) }
            if let residual { grads.append(residual.isTracked ? grad : nil) }
            return grads
        }
    }

    /// Writes relu(conv(self) + bias + residual) into `out` by `algorithm` (Winograd only
    /// for 3x3 stride-1 padding-1 geometry).
    func convolve(into out: Tensor, weight: Tensor, geometry g: ConvGeometry, algorithm: ConvAlgorithm,
                  bias: Tensor?, residual: Tensor?, relu: Bool) {
        let prefilled = out.prefill(bias: bias, residual: residual)
        if let f = algorithm.transform {
            precondition(g.isWinogradCandidate, "conv2d: Winograd needs a 3x3 stride-1 padding-1 convolution")
            winogradConv3x3(weight: weight, geometry: g, transform: f, into: out, accumulate: prefilled, relu: relu)
            return
        }
        let (n, o, hw) = (shape[0], weight.shape[0], g.outH * g.outW)
        // A batch runs its images on the workers, each image's im2col and GEMM parts in
        // order; one image spreads them over the workers: the same numbers either way.
        Parallel.forEach(n) { s in
            let col = g.isPointwise ? nil : ScratchPool.take(g.rows * hw)
            defer { col.map(ScratchPool.give) }
            let x = data + s * g.channels * g.height * g.width
            if let col { g.im2col(x, col.pointer) }
            gemm(transposeA: false, transposeB: false, m: o, n: hw, k: g.rows,
                 a: weight.data, lda: g.rows, b: col?.pointer ?? x, ldb: hw,
                 beta: prefilled ? 1 : 0, c: out.data + s * o * hw, ldc: hw)
        }
        if relu { out.clampNegativesInPlace() }
    }

    /// The first call of a 3x3 shape: runs every algorithm twice on this input (the kernel
    /// transforms and first touches of scratch memory untimed), keeps the fastest for
    /// the shape, and leaves the last run's result in `out`.
    func measureAlgorithms(_ key: Conv3x3Shape, into out: Tensor, weight: Tensor, geometry g: ConvGeometry,
                           bias: Tensor?, residual: Tensor?, relu: Bool) {
        out.data.update(repeating: 0, count: out.count)
        var timings: [ConvAlgorithm: Double] = [:]
        // Two interleaved rounds, the faster of each candidate's two runs: one round is
        // at the mercy of whatever else the machine does at that moment.
        for candidate in ConvAlgorithm.allCases + ConvAlgorithm.allCases {
            if let f = candidate.transform {
                _ = weight.winogradKernel(f)
                let sizes = f.scratch(g, outputChannels: key.outputChannels)
                ScratchPool.touch(sizes.v, sizes.m)
            } else {
                ScratchPool.touch(g.rows * g.outH * g.outW)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            convolve(into: out, weight: weight, geometry: g, algorithm: candidate, bias: bias, residual: residual, relu: relu)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            timings[candidate] = Swift.min(timings[candidate] ?? .infinity, seconds)
        }
        _ = ConvAlgorithmChoice.record(key, timings: timings)
    }

    /// [O, C, kh, kw] -> [C, O, kh, kw] with both kernel axes reversed, cached on
    /// frozen weights.
    func flippedKernel() -> Tensor {
        derivedValue("flippedKernel") {
            let (o, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3])
            let src = data
            return Tensor(shape: [c, o, kh, kw]) { dst in
                let dst = dst.baseAddress!
                Parallel.forChunks(c) { r in
                    for ci in r {
                        for oi in 0..<o {
                            let from = src + (oi * c + ci) * kh * kw, to = dst + (ci * o + oi) * kh * kw
                            for i in 0..<(kh * kw) { to[i] = from[kh * kw - 1 - i] }
                        }
                    }
                }
            }
        }
    }

    /// Writes bias[c] (plus the residual, if any) into this uninitialised [N, C, ...]
    /// output, for a GEMM to accumulate onto. Returns false when there is nothing
    /// to write (the GEMM then overwrites).
    func prefill(bias: Tensor?, residual: Tensor?) -> Bool {
        guard bias != nil || residual != nil else { return false }
        let (n, c) = (shape[0], shape[1])
        let plane = count / Swift.max(n * c, 1)
        let p = data, b = bias?.data, r = residual?.data
        Parallel.forChunks(n * c, grain: Swift.max(1, 16384 / Swift.max(plane, 1))) { range in
            for nc in range {
                let v = b?[nc % c] ?? 0, row = p + nc * plane
                if let r {
                    let src = r + nc * plane
                    for i in 0..<plane { row[i] = src[i] + v }
                } else {
                    row.update(repeating: v, count: plane)
                }
            }
        }
        return true
    }

    /// max(x, 0) in place.
    func clampNegativesInPlace() {
        let p = data
        Parallel.forChunks(count, grain: 32768) { r in
            for i in r { p[i] = Swift.max(p[i], 0) }
        }
    }

    /// This gradient where `output` is positive, zero elsewhere: a ReLU's backward
    /// from its output.
    func maskedByPositive(_ output: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let pg = data, py = output.data, po = out.data
        Parallel.forChunks(count, grain: 32768) { r in
            for i in r { po[i] = py[i] > 0 ? pg[i] : 0 }
        }
        return out
    }

    /// Per-channel sums of an [N, C, ...] tensor: the bias gradient.
    func sumChannels() -> Tensor {
        let (n, c) = (shape[0], shape[1])
        let plane = count / Swift.max(n * c, 1)
        let out = Tensor(uninitializedShape: [c])
        let p = data, po = out.data
        Parallel.forChunks(c, grain: Swift.max(1, 16384 / Swift.max(n * plane, 1))) { r in
            for ch in r {
                var s: Float = 0
                for b in 0..<n { s += Kernels.sum(p + (b * c + ch) * plane, plane) }
                po[ch] = s
            }
        }
        return out
    }

    /// Average pooling of [N, C, H, W] with a k x k window and stride k (output
    /// size floor(H/k) x floor(W/k), as PyTorch's AvgPool2d(k)).
    public func avgPool2d(_ k: Int) -> Tensor {
        precondition(rank == 4, "avgPool2d: input must be [N, C, H, W], got \(shape)")
        precondition(k >= 1 && shape[2] >= k && shape[3] >= k, "avgPool2d: kernel \(k) for input \(shape)")
        if k == 1 { return self }
        let (nc, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let (oh, ow) = (h / k, w / k)
        let out = Tensor(uninitializedShape: [shape[0], shape[1], oh, ow])
        let px = data, po = out.data
        let scale = 1 / Float(k * k)
        Parallel.forChunks(nc, grain: Swift.max(1, 8192 / (h * w))) { r in
            for plane in r {
                let src = px + plane * h * w, dst = po + plane * oh * ow
                for oy in 0..<oh {
                    let line = dst + oy * ow
                    line.update(repeating: 0, count: ow)
                    for i in 0..<k {
                        let srcLine = src + (oy * k + i) * w
                        for ox in 0..<ow {
                            var s: Float = 0
                            for j in 0..<k { s += srcLine[ox * k + j] }
                            line[ox] += s
                        }
                    }
                    for ox in 0..<ow { line[ox] *= scale }
                }
            }
        }
        return out.recording("avgPool2d", [self]) { [shape] g in
            let gx = Tensor(shape: shape, repeating: 0)
            let pg = g.data, pgx = gx.data
            Parallel.forChunks(nc, grain: Swift.max(1, 8192 / (h * w))) { r in
                for plane in r {
                    let src = pg + plane * oh * ow, dst = pgx + plane * h * w
                    for y in 0..<(oh * k) {
                        let line = src + (y / k) * ow, dstLine = dst + y * w
                        for x in 0..<(ow * k) { dstLine[x] = line[x / k] * scale }
                    }
                }
            }
            return [gx]
        }
    }
}
