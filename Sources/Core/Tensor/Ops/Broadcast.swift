/// Iteration over two operands broadcast against each other, with adjacent
/// dimensions merged wherever both operands are laid out alike, so that the inner
/// loop is as long as possible.
struct BroadcastPlan {
    let shape: [Int]          // output shape
    let dims: [Int]           // merged dimensions
    let stridesA: [Int]       // element strides of A per merged dim (0 = broadcast)
    let stridesB: [Int]

    init(_ a: [Int], _ b: [Int], op: String) {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            precondition(pa[i] == pb[i] || pa[i] == 1 || pb[i] == 1,
                         "\(op): shapes \(a) and \(b) do not broadcast (dimension \(i): \(pa[i]) vs \(pb[i]))")
            out[i] = max(pa[i], pb[i])
        }
        shape = out
        let fullA = Tensor.strides(of: pa).enumerated().map { pa[$0.offset] == 1 ? 0 : $0.element }
        let fullB = Tensor.strides(of: pb).enumerated().map { pb[$0.offset] == 1 ? 0 : $0.element }
        var dims: [Int] = [], sa: [Int] = [], sb: [Int] = []
        for i in 0..<rank where out[i] != 1 {
            // Merge with the previous dimension when both operands step through the
            // two as through one.
            if let strideA = sa.last, let strideB = sb.last,
               strideA == fullA[i] * out[i], strideB == fullB[i] * out[i] {
                dims[dims.count - 1] *= out[i]
                sa[sa.count - 1] = fullA[i]
                sb[sb.count - 1] = fullB[i]
            } else {
                dims.append(out[i]); sa.append(fullA[i]); sb.append(fullB[i])
            }
        }
        if dims.isEmpty { dims = [1]; sa = [0]; sb = [0] }
        self.dims = dims
        stridesA = sa
        stridesB = sb
    }

    var count: Int { dims.reduce(1, *) }
    var inner: Int { dims[dims.count - 1] }
    var rows: Int { count / inner }

    /// Offsets into A and B of the first element of output row `row`.
    @inline(__always)
    func rowOffsets(_ row: Int) -> (Int, Int) {
        var rest = row, oa = 0, ob = 0
        var d = dims.count - 2
        while d >= 0 {
            let i = rest % dims[d]
            rest /= dims[d]
            oa += i * stridesA[d]
            ob += i * stridesB[d]
            d -= 1
        }
        return (oa, ob)
    }

    /// Runs `body(row, offsetA, offsetB)` for every output row, in parallel for big outputs.
    @inline(__always)
    func forEachRow(_ body: (Int, Int, Int) -> Void) {
        let inner = self.inner
        Parallel.forChunks(rows, grain: max(1, 16384 / inner)) { range in
            for row in range {
                let (oa, ob) = rowOffsets(row)
                body(row, oa, ob)
            }
        }
    }
}

extension Tensor {
    /// Element-wise `f(a, b)` with NumPy broadcasting.
    @inline(__always)
    static func broadcastMap(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) -> Tensor {
        if a.shape == b.shape {
            let out = Tensor(uninitializedShape: a.shape)
            let pa = a.data, pb = b.data, po = out.data
            Parallel.forChunks(a.count, grain: 32768) { r in
                for i in r { po[i] = f(pa[i], pb[i]) }
            }
            return out
        }
        let plan = BroadcastPlan(a.shape, b.shape, op: op)
        let out = Tensor(uninitializedShape: plan.shape)
        let pa = a.data, pb = b.data, po = out.data
        let inner = plan.inner
        let sa = plan.stridesA.last!, sb = plan.stridesB.last!
        plan.forEachRow { row, oa, ob in
            let o = po + row * inner, x = pa + oa, y = pb + ob
            switch (sa, sb) {
            case (1, 1): for i in 0..<inner { o[i] = f(x[i], y[i]) }
            case (1, 0): let v = y[0]; for i in 0..<inner { o[i] = f(x[i], v) }
            case (0, 1): let v = x[0]; for i in 0..<inner { o[i] = f(v, y[i]) }
            default: for i in 0..<inner { o[i] = f(x[i * sa], y[i * sb]) }
            }
        }
        return out
    }

    /// Sums this tensor down to `target` (a shape it was broadcast from): the
    /// backward of broadcasting.
    public func sum(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(Tensor.elementCount(target) > 0 || count == 0, "sum(toShape:): empty target \(target)")
        let plan = BroadcastPlan(shape, target, op: "sum(toShape:)")
        precondition(plan.shape == shape, "sum(toShape:): \(target) does not broadcast to \(shape)")
        let out = Tensor(shape: target, repeating: 0)
        let pg = data, po = out.data
        let inner = plan.inner
        let sb = plan.stridesB.last!
        // Serial: different rows may add into the same output element.
        for row in 0..<plan.rows {
            let (_, ob) = plan.rowOffsets(row)
            let g = pg + row * inner, o = po + ob
            if sb == 0 {
                var s: Float = 0
                for i in 0..<inner { s += g[i] }
                o[0] += s
            } else {
                for i in 0..<inner { o[i * sb] += g[i] }
            }
        }
        let result = out
        return result.recording("sum(toShape:)", [self]) { [shape] g in [g.broadcast(to: shape)] }
    }

    /// This tensor repeated along broadcast dimensions to `target`.
    public func broadcast(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let zero = Tensor(shape: target, repeating: 0)
        let out = Tensor.broadcastMap(zero, self, op: "broadcast(to:)") { _, b in b }
        precondition(out.shape == target, "broadcast(to:): \(shape) does not broadcast to \(target)")
        return out.recording("broadcast(to:)", [self]) { [shape] g in [g.sum(toShape: shape)] }
    }
}
