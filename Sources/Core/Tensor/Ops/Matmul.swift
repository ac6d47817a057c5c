import CBLAS
import Dispatch
import Synchronization

/// C[m, n] = alpha * op(A) op(B) + beta * C with row-major operands. Everything else
/// calls this one function.
///
/// OpenBLAS runs single-threaded; a large GEMM is cut into one part per worker (the
/// larger of C's two sides, at multiples of 16) and the parts run on our workers. The cut
/// depends only on the shape and the worker count, never on who calls: inside a worker
/// (one image of a batch, one of Winograd's GEMMs) the same parts run in order, so an
/// image's numbers do not depend on its batch. `whole` keeps the GEMM in one call, for
/// callers that spread many GEMMs over the workers themselves.
func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
          b: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, whole: Bool = false) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
        return
    }
    BLAS.singleThreaded()
    let nested = Parallel.isInsideWorker
    let parts = whole ? 1 : GEMMParts.count(m: m, n: n, k: k)
    // A parallel loop counts itself as one caller (see `Parallel.forEach`).
    let counted = !nested && parts == 1
    let start = DispatchTime.now().uptimeNanoseconds
    if counted { BLAS.enterCompute() }
    defer {
        if counted { BLAS.leaveCompute() }
        BLAS.recordTime(since: start, concurrently: nested)
    }
    let opA = transposeA ? CblasTrans : CblasNoTrans, opB = transposeB ? CblasTrans : CblasNoTrans
    if parts == 1 {
        cblas_sgemm(CblasRowMajor, opA, opB, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        return
    }
    let alongColumns = n >= m
    let box = UncheckedBox((a, b, c))
    Parallel.forEach(parts) { part in
        let (a, b, c) = box.value
        let range = GEMMParts.range(part, of: parts, extent: alongColumns ? n : m)
        let size = Int32(range.count)
        if alongColumns {
            cblas_sgemm(CblasRowMajor, opA, opB, Int32(m), size, Int32(k), alpha, a, Int32(lda),
                        transposeB ? b + range.lowerBound * ldb : b + range.lowerBound, Int32(ldb),
                        beta, c + range.lowerBound, Int32(ldc))
        } else {
            cblas_sgemm(CblasRowMajor, opA, opB, size, Int32(n), Int32(k), alpha,
                        transposeA ? a + range.lowerBound : a + range.lowerBound * lda, Int32(lda),
                        b, Int32(ldb), beta, c + range.lowerBound * ldc, Int32(ldc))
        }
    }
}

/// How `gemm` cuts a GEMM for the workers.
enum GEMMParts {
    /// Below this many multiply-adds a GEMM stays one call (OpenBLAS's own threading
    /// starts at the same size).
    static let minimumWork = 1 << 18

    static func count(m: Int, n: Int, k: Int) -> Int {
        let extent = max(m, n)
        guard Parallel.workers > 1, m * n * k >= minimumWork else { return 1 }
        return max(1, min(Parallel.workers, extent / 32))
    }

    /// Part `part` of 0..<extent in `parts` parts, boundaries at multiples of 16.
    static func range(_ part: Int, of parts: Int, extent: Int) -> Range<Int> {
        func boundary(_ p: Int) -> Int { p == parts ? extent : min(extent, (extent * p / parts + 15) / 16 * 16) }
        return boundary(part)..<boundary(part + 1)
    }
}

extension Tensor {
    /// Matrix product of the last two dimensions, optionally transposing either
    /// operand: [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N] (a 2-D
    /// right operand is shared by the whole batch).
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        precondition(rank == 2 || rank == 3, "matmul: left operand must be 2-D or 3-D, got \(shape)")
        precondition(other.rank == 2 || other.rank == 3, "matmul: right operand must be 2-D or 3-D, got \(other.shape)")
        precondition(other.rank <= rank, "matmul: batched right operand \(other.shape) with 2-D left \(shape)")
        let batch = rank == 3 ? shape[0] : 1
        if other.rank == 3 {
            precondition(other.shape[0] == batch, "matmul: batch sizes \(batch) and \(other.shape[0]) differ")
        }
        let (r0, c0) = (shape[rank - 2], shape[rank - 1])
        let (r1, c1) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        let (m, k) = transposeSelf ? (c0, r0) : (r0, c0)
        let (k2, n) = transposeOther ? (c1, r1) : (r1, c1)
        precondition(k == k2, "matmul: inner dimensions differ: \(shape)\(transposeSelf ? "ᵀ" : "") x \(other.shape)\(transposeOther ? "ᵀ" : "")")
        let out = Tensor(uninitializedShape: rank == 3 ? [batch, m, n] : [m, n])
        let strideB = other.rank == 3 ? r1 * c1 : 0
        for i in 0..<batch {
            gemm(transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
                 a: data + i * r0 * c0, lda: c0, b: other.data + i * strideB, ldb: c1,
                 c: out.data + i * m * n, ldc: n)
        }
        let a = detached(), b = other.detached()
        return out.recording("matmul", [self, other]) { [isTracked, other] g in
            // d op(A) = G op(B)ᵀ, d op(B) = op(A)ᵀ G, then undo the transposes.
            var ga: Tensor?
            if isTracked {
                let gOpA = g.matmul(b, transposeOther: !transposeOther)
                ga = transposeSelf ? gOpA.transposed() : gOpA
            }
            var gb: Tensor?
            if other.isTracked {
                if b.rank == 3 || a.rank == 2 {
                    gb = transposeOther
                        ? g.matmul(a, transposeSelf: true, transposeOther: transposeSelf)
                        : a.matmul(g, transposeSelf: !transposeSelf, transposeOther: false)
                } else {
                    // A shared 2-D right operand: its gradient sums over the batch.
                    let a2 = transposeSelf ? a.transposed() : a
                    let flatA = a2.reshaped([batch * m, k]), flatG = g.reshaped([batch * m, n])
                    gb = transposeOther
                        ? flatG.matmul(flatA, transposeSelf: true)
                        : flatA.matmul(flatG, transposeSelf: true)
                }
            }
            return [ga, gb]
        }
    }

    /// x Wᵀ + b over the last dimension: x [..., in], weight [out, in], bias [out].
    /// The bias is written first and the GEMM accumulates onto it (one pass).
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        precondition(rank >= 1 && shape.last == inFeatures,
                     "linear: input \(shape) does not end in the weight's \(inFeatures) input features")
        if let bias {
            precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) for weight \(weight.shape)")
        }
        let rows = count / inFeatures
        let out = Tensor(uninitializedShape: Array(shape.dropLast()) + [outFeatures])
        if let bias {
            for r in 0..<rows { (out.data + r * outFeatures).update(from: bias.data, count: outFeatures) }
        }
        gemm(transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
             a: data, lda: inFeatures, b: weight.data, ldb: inFeatures,
             beta: bias == nil ? 0 : 1, c: out.data, ldc: outFeatures)
        let x = detached(), w = weight.detached()
        return out.recording("linear", [self, weight] + (bias.map { [$0] } ?? [])) { [isTracked, weight, shape] g in
            let g2 = g.reshaped([rows, outFeatures])
            let gx = isTracked ? g2.matmul(w).reshaped(shape) : nil                                    // G W
            let gw = weight.isTracked ? g2.matmul(x.reshaped([rows, inFeatures]), transposeSelf: true) : nil  // Gᵀ X
            guard let bias else { return [gx, gw] }
            return [gx, gw, bias.isTracked ? g2.sum(axis: 0) : nil]
        }
    }
}
