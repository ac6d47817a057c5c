import Foundation

// Batch norm (inference and training), layer norm, softmax, log-softmax,
// cross-entropy, L2 normalisation and cosine similarity.

extension Tensor {
    /// Eval-mode batch norm of [N, C, ...]: a fixed per-channel affine map from the
    /// running statistics. Gradients reach the input, weight and bias.
    public func batchNorm(mean: Tensor, variance: Tensor, weight: Tensor, bias: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let c = checkChannelParameters("batchNorm", mean, variance, weight, bias)
        let scale = Tensor(shape: [c]) { s in for i in 0..<c { s[i] = weight.data[i] / (variance.data[i] + epsilon).squareRoot() } }
        let shift = Tensor(shape: [c]) { s in for i in 0..<c { s[i] = bias.data[i] - mean.data[i] * scale.data[i] } }
        let out = channelAffine(scale: scale, shift: shift)
        let x = detached()
        return out.recording("batchNorm", [self, weight, bias]) { [isTracked, weight, bias] g in
            let gx = isTracked ? g.channelAffine(scale: scale, shift: Tensor(shape: [c], repeating: 0)) : nil
            var gw: Tensor?
            if weight.isTracked {
                // y = w * xhat + b with xhat = (x - mean) / std.
                let invStd = Tensor(shape: [c]) { s in for i in 0..<c { s[i] = 1 / (variance.data[i] + epsilon).squareRoot() } }
                let negMean = Tensor(shape: [c]) { s in for i in 0..<c { s[i] = -mean.data[i] * invStd.data[i] } }
                gw = (g * x.channelAffine(scale: invStd, shift: negMean)).sumChannels()
            }
            return [gx, gw, bias.isTracked ? g.sumChannels() : nil]
        }
    }

    /// Training-mode batch norm: normalises with the batch's own per-channel mean
    /// and (biased) variance over N, H, W. Returns those statistics too, with the
    /// variance unbiased as running averages expect.
    public func batchNormTraining(weight: Tensor, bias: Tensor, epsilon: Float = 1e-5)
        -> (output: Tensor, mean: [Float], unbiasedVariance: [Float]) {
        let c = checkChannelParameters("batchNormTraining", weight, bias)
        let n = shape[0]
        let plane = count / Swift.max(n * c, 1), m = n * plane
        precondition(m > 1, "batchNormTraining: need more than one value per channel, got shape \(shape)")
        var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
        var unbiased = [Float](repeating: 0, count: c)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data, pw = weight.data, pb = bias.data
        // One channel per task: statistics, then y = (x - mean) * invStd * w + b.
        mean.withUnsafeMutableBufferPointer { meanOut in
            invStd.withUnsafeMutableBufferPointer { invOut in
                unbiased.withUnsafeMutableBufferPointer { varOut in
                    let (meanOut, invOut, varOut) = (meanOut.baseAddress!, invOut.baseAddress!, varOut.baseAddress!)
                    Parallel.forChunks(c) { r in
                        for ch in r {
                            // Two passes (mean, then squared deviations) for accuracy.
                            var s: Double = 0, s2: Double = 0
                            for b in 0..<n { s += Double(Kernels.sum(px + (b * c + ch) * plane, plane)) }
                            let mu = s / Double(m)
                            for b in 0..<n {
                                s2 += Double(Kernels.sumOfSquaredDeviations(px + (b * c + ch) * plane, plane, from: Float(mu)))
                            }
                            let inv = Float(1 / (s2 / Double(m) + Double(epsilon)).squareRoot())
                            meanOut[ch] = Float(mu)
                            invOut[ch] = inv
                            varOut[ch] = Float(s2 / Double(m - 1))
                            let (mu32, scale, shift) = (Float(mu), inv * pw[ch], pb[ch])
                            for b in 0..<n {
                                let src = px + (b * c + ch) * plane, dst = po + (b * c + ch) * plane
                                for i in 0..<plane { dst[i] = (src[i] - mu32) * scale + shift }
                            }
                        }
                    }
                }
            }
        }
        let x = detached()
        out.recording("batchNormTraining", [self, weight, bias]) { [isTracked, weight, bias] g in
            // With xhat = (x - mean) * invStd, recomputed rather than stored:
            // dw = Σ g·xhat, db = Σ g, dx = w·invStd/m · (m·g − Σg − xhat·Σ g·xhat).
            var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
            let pg = g.data, px = x.data
            let result = isTracked ? Tensor(uninitializedShape: g.shape) : nil
            let pr = result?.data
            sumG.withUnsafeMutableBufferPointer { sg in
                sumGX.withUnsafeMutableBufferPointer { sgx in
                    let (sg, sgx) = (sg.baseAddress!, sgx.baseAddress!)
                    Parallel.forChunks(c) { r in
                        for ch in r {
                            let (mu, inv) = (mean[ch], invStd[ch])
                            var a: Float = 0, gx: Float = 0
                            for b in 0..<n {
                                let base = (b * c + ch) * plane
                                a += Kernels.sum(pg + base, plane)
                                gx += Kernels.dot(pg + base, px + base, plane)
                            }
                            let ax = (gx - mu * a) * inv   // Σ g·xhat
                            sg[ch] = a
                            sgx[ch] = ax
                            guard let pr else { continue }
                            let k = pw[ch] * inv / Float(m), fm = Float(m)
                            for b in 0..<n {
                                let base = (b * c + ch) * plane
                                for i in 0..<plane {
                                    pr[base + i] = k * (fm * pg[base + i] - a - (px[base + i] - mu) * inv * ax)
                                }
                            }
                        }
                    }
                }
            }
            return [result, weight.isTracked ? Tensor(shape: [c], values: sumGX) : nil,
                    bias.isTracked ? Tensor(shape: [c], values: sumG) : nil]
        }
        return (out, mean, unbiased)
    }

    func checkChannelParameters(_ op: String, _ parameters: Tensor...) -> Int {
        precondition(rank >= 2, "\(op): input must be [N, C, ...], got \(shape)")
        let c = shape[1]
        for p in parameters {
            precondition(p.shape == [c], "\(op): parameter of shape \(p.shape) for \(c) channels")
        }
        return c
    }

    /// y[n, c, ...] = x[n, c, ...] * scale[c] + shift[c]; untracked helper.
    func channelAffine(scale: Tensor, shift: Tensor) -> Tensor {
        let (n, c) = (shape[0], shape[1])
        let plane = count / Swift.max(n * c, 1)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data, ps = scale.data, pb = shift.data
        Parallel.forChunks(n * c, grain: Swift.max(1, 16384 / Swift.max(plane, 1))) { r in
            for nc in r {
                let a = ps[nc % c], b = pb[nc % c]
                let src = px + nc * plane, dst = po + nc * plane
                for i in 0..<plane { dst[i] = src[i] * a + b }
            }
        }
        return out
    }

    /// Layer norm over the last dimension with weight and bias of that size.
    public func layerNorm(weight: Tensor, bias: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let d = shape.last ?? 0
        precondition(d > 0 && weight.shape == [d] && bias.shape == [d],
                     "layerNorm: weight \(weight.shape) and bias \(bias.shape) for input \(shape)")
        let rows = count / d
        let out = Tensor(uninitializedShape: shape)
        let xhat = Tensor(uninitializedShape: shape)
        var invStd = [Float](repeating: 0, count: rows)
        let px = data, po = out.data, ph = xhat.data, pw = weight.data, pb = bias.data
        invStd.withUnsafeMutableBufferPointer { inv in
            let inv = inv.baseAddress!
            Parallel.forChunks(rows, grain: Swift.max(1, 4096 / d)) { r in
                for row in r {
                    let x = px + row * d
                    let mu = Kernels.sum(x, d) / Float(d)
                    let s2 = Kernels.sumOfSquaredDeviations(x, d, from: mu)
                    let k = 1 / (s2 / Float(d) + epsilon).squareRoot()
                    inv[row] = k
                    for i in 0..<d {
                        let h = (x[i] - mu) * k
                        ph[row * d + i] = h
                        po[row * d + i] = h * pw[i] + pb[i]
                    }
                }
            }
        }
        return out.recording("layerNorm", [self, weight, bias]) { [isTracked, weight, bias] g in
            let pg = g.data
            var gx: Tensor?
            if isTracked {
                let result = Tensor(uninitializedShape: g.shape)
                let pr = result.data
                Parallel.forChunks(rows, grain: Swift.max(1, 4096 / d)) { r in
                    for row in r {
                        var sd: Float = 0, sdx: Float = 0
                        for i in 0..<d {
                            let dh = pg[row * d + i] * pw[i]
                            sd += dh
                            sdx += dh * ph[row * d + i]
                        }
                        let k = invStd[row] / Float(d)
                        for i in 0..<d {
                            let dh = pg[row * d + i] * pw[i]
                            pr[row * d + i] = k * (Float(d) * dh - sd - ph[row * d + i] * sdx)
                        }
                    }
                }
                gx = result
            }
            var gw: Tensor?, gb: Tensor?
            if weight.isTracked { gw = (g * xhat).reshaped([rows, d]).sum(axis: 0) }
            if bias.isTracked { gb = g.reshaped([rows, d]).sum(axis: 0) }
            return [gx, gw, gb]
        }
    }

    /// Softmax over the last dimension.
    public func softmax() -> Tensor {
        let d = shape.last ?? 0
        precondition(d > 0, "softmax: empty last dimension in \(shape)")
        let out = rowwise(d) { x, y in
            let m = Kernels.maximum(x, d)
            for i in 0..<d { y[i] = Foundation.exp(x[i] - m) }
            let k = 1 / Kernels.sum(y, d)
            for i in 0..<d { y[i] *= k }
        }
        let y = out.detached()
        return out.recording("softmax", [self]) { g in
            // dx = y * (g - sum(g * y))
            [g.rowwise(d, with: y) { gr, yr, dx in
                let s = Kernels.dot(gr, yr, d)
                for i in 0..<d { dx[i] = yr[i] * (gr[i] - s) }
            }]
        }
    }

    /// Log-softmax over the last dimension.
    public func logSoftmax() -> Tensor {
        let d = shape.last ?? 0
        precondition(d > 0, "logSoftmax: empty last dimension in \(shape)")
        let out = rowwise(d) { x, y in
            var m = -Float.infinity
            for i in 0..<d { m = Swift.max(m, x[i]) }
            var s: Float = 0
            for i in 0..<d { s += Foundation.exp(x[i] - m) }
            let lse = m + Foundation.log(s)
            for i in 0..<d { y[i] = x[i] - lse }
        }
        let y = out.detached()
        return out.recording("logSoftmax", [self]) { g in
            // dx = g - softmax * sum(g)
            [g.rowwise(d, with: y) { gr, yr, dx in
                var s: Float = 0
                for i in 0..<d { s += gr[i] }
                for i in 0..<d { dx[i] = gr[i] - Foundation.exp(yr[i]) * s }
            }]
        }
    }

    /// Mean cross-entropy of [N, C] logits against class indices.
    public func crossEntropy(targets: [Int]) -> Tensor {
        precondition(rank == 2 && shape[0] == targets.count,
                     "crossEntropy: logits \(shape) for \(targets.count) targets")
        let c = shape[1]
        for t in targets { precondition(t >= 0 && t < c, "crossEntropy: target \(t) out of range 0..<\(c)") }
        let logp = logSoftmax()
        let picked = Tensor(shape: [targets.count]) { p in
            for (i, t) in targets.enumerated() { p[i] = logp.data[i * c + t] }
        }
        let loss = Tensor(scalar: -picked.values.reduce(0, +) / Float(targets.count))
        return loss.recording("crossEntropy", [logp]) { g in
            let gl = Tensor(shape: logp.shape, repeating: 0)
            let k = -g.scalar / Float(targets.count)
            for (i, t) in targets.enumerated() { gl.data[i * c + t] = k }
            return [gl]
        }
    }

    /// Each row along the last dimension scaled to unit L2 norm.
    public func l2Normalized(epsilon: Float = 1e-12) -> Tensor {
        let norms = (squared().sum(axis: -1, keepingDimension: true) + epsilon).sqrt()
        return self / norms
    }

    /// Cosine similarity of corresponding rows along the last dimension.
    public func cosineSimilarity(_ other: Tensor) -> Tensor {
        (l2Normalized() * other.l2Normalized()).sum(axis: -1)
    }

    /// Applies `body(inputRow, outputRow)` to each row of length d, in parallel.
    @inline(__always)
    func rowwise(_ d: Int, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.forChunks(count / d, grain: Swift.max(1, 4096 / d)) { r in
            for row in r { body(px + row * d, po + row * d) }
        }
        return out
    }

    @inline(__always)
    func rowwise(_ d: Int, with other: Tensor,
                 _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, py = other.data, po = out.data
        Parallel.forChunks(count / d, grain: Swift.max(1, 4096 / d)) { r in
            for row in r { body(px + row * d, py + row * d, po + row * d) }
        }
        return out
    }

    /// softmax(q kᵀ / sqrt(d) + mask) v for q [B, L, d], k [B, S, d], v [B, S, dv]
    /// and an optional additive mask [L, S] (e.g. -inf above the diagonal).
    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, mask: Tensor? = nil) -> Tensor {
        precondition(q.rank == 3 && k.rank == 3 && v.rank == 3, "attention: q, k, v must be [B, L, d]")
        precondition(k.shape[1] == v.shape[1], "attention: \(k.shape[1]) keys for \(v.shape[1]) values")
        var scores = q.matmul(k, transposeOther: true) * (1 / Float(q.shape[2]).squareRoot())
        if let mask {
            precondition(mask.shape == [q.shape[1], k.shape[1]], "attention: mask \(mask.shape) for \(q.shape[1]) queries x \(k.shape[1]) keys")
            scores = scores + mask
        }
        return scores.softmax().matmul(v)
    }
}
