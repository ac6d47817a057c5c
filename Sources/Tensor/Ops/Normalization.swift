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
        precondition(rank >= 2, "batchNormTraining: input must be [N, C, ...], got \(shape)")
        let (n, c) = (shape[0], shape[1])
        _ = checkChannelParameters("batchNormTraining", weight, bias)
        let plane = count / Swift.max(n * c, 1), m = n * plane
        precondition(m > 1, "batchNormTraining: need more than one value per channel, got shape \(shape)")
        var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
        var unbiased = [Float](repeating: 0, count: c)
        let p = data
        Parallel.forChunks(c) { r in
            for ch in r {
                var s: Double = 0, s2: Double = 0
                for b in 0..<n {
                    let row = p + (b * c + ch) * plane
                    for i in 0..<plane { s += Double(row[i]) }
                }
                let mu = s / Double(m)
                for b in 0..<n {
                    let row = p + (b * c + ch) * plane
                    for i in 0..<plane { let d = Double(row[i]) - mu; s2 += d * d }
                }
                mean[ch] = Float(mu)
                invStd[ch] = Float(1 / (s2 / Double(m) + Double(epsilon)).squareRoot())
                unbiased[ch] = Float(s2 / Double(m - 1))
            }
        }
        let normScale = Tensor(shape: [c], values: invStd)
        let normShift = Tensor(shape: [c]) { s in for i in 0..<c { s[i] = -mean[i] * invStd[i] } }
        let xhat = channelAffine(scale: normScale, shift: normShift)
        let out = xhat.channelAffine(scale: weight, shift: bias)
        out.recording("batchNormTraining", [self, weight, bias]) { [isTracked, weight, bias] g in
            var gx: Tensor?
            if isTracked {
                // dx = invStd/m * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)), dxhat = g*w.
                let dxhat = g.channelAffine(scale: weight.detached(), shift: Tensor(shape: [c], repeating: 0))
                let sumD = dxhat.sumChannels(), sumDX = (dxhat * xhat).sumChannels()
                let result = Tensor(uninitializedShape: g.shape)
                let pd = dxhat.data, px = xhat.data, pr = result.data
                for b in 0..<n {
                    for ch in 0..<c {
                        let base = (b * c + ch) * plane
                        let k = invStd[ch] / Float(m), sd = sumD.data[ch], sdx = sumDX.data[ch]
                        for i in 0..<plane {
                            pr[base + i] = k * (Float(m) * pd[base + i] - sd - px[base + i] * sdx)
                        }
                    }
                }
                gx = result
            }
            return [gx, weight.isTracked ? (g * xhat).sumChannels() : nil, bias.isTracked ? g.sumChannels() : nil]
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
                    var s: Float = 0
                    for i in 0..<d { s += x[i] }
                    let mu = s / Float(d)
                    var s2: Float = 0
                    for i in 0..<d { let t = x[i] - mu; s2 += t * t }
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
            var m = -Float.infinity
            for i in 0..<d { m = Swift.max(m, x[i]) }
            var s: Float = 0
            for i in 0..<d { y[i] = Foundation.exp(x[i] - m); s += y[i] }
            let k = 1 / s
            for i in 0..<d { y[i] *= k }
        }
        let y = out.detached()
        return out.recording("softmax", [self]) { g in
            // dx = y * (g - sum(g * y))
            [g.rowwise(d, with: y) { gr, yr, dx in
                var s: Float = 0
                for i in 0..<d { s += gr[i] * yr[i] }
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
