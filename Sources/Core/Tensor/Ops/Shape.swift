// Reshape (a view), permute, concatenate, slice, and the embedding gather.

extension Tensor {
    /// The same storage seen with another shape of equal element count; one
    /// dimension may be -1 to be inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshaped: cannot infer \(newShape) from \(shape)")
            target[inferred] = count / known
        }
        precondition(Tensor.elementCount(target) == count,
                     "reshaped: \(shape) (\(count) elements) cannot become \(newShape)")
        let out = Tensor(shape: target, storage: storage, offset: offset)
        return out.recording("reshape", [self]) { [shape] g in [g.reshaped(shape)] }
    }

    /// Dimensions reordered: output dimension i is input dimension `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permuted: \(order) is not a permutation of 0..<\(rank)")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        let inStrides = Tensor.strides(of: shape)
        let srcStrides = order.map { inStrides[$0] }
        let out = Tensor(uninitializedShape: outShape)
        let px = data, po = out.data
        let inner = outShape[rank - 1], innerStride = srcStrides[rank - 1]
        let rows = count / Swift.max(inner, 1)
        Parallel.forChunks(rows, grain: Swift.max(1, 8192 / Swift.max(inner, 1))) { r in
            for row in r {
                var rest = row, src = 0
                var d = rank - 2
                while d >= 0 {
                    src += (rest % outShape[d]) * srcStrides[d]
                    rest /= outShape[d]
                    d -= 1
                }
                let o = po + row * inner
                for i in 0..<inner { o[i] = px[src + i * innerStride] }
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recording("permute", [self]) { g in [g.permuted(inverse)] }
    }

    /// Two dimensions swapped (the last two by default).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        precondition(rank >= 2, "transposed: rank \(rank) tensor")
        var order = Array(0..<rank)
        order.swapAt(a < 0 ? a + rank : a, b < 0 ? b + rank : b)
        return permuted(order)
    }

    /// Tensors joined along `axis`; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors")
        let first = tensors[0]
        let a = axis < 0 ? axis + first.rank : axis
        precondition(a >= 0 && a < first.rank, "concatenate: axis \(axis) out of range for \(first.shape)")
        for t in tensors {
            var s1 = t.shape, s0 = first.shape
            precondition(s1.count == s0.count, "concatenate: shapes \(first.shape) and \(t.shape) differ in rank")
            s1[a] = 0; s0[a] = 0
            precondition(s1 == s0, "concatenate: shapes \(first.shape) and \(t.shape) differ outside axis \(a)")
        }
        var outShape = first.shape
        outShape[a] = tensors.map { $0.shape[a] }.reduce(0, +)
        let out = Tensor(uninitializedShape: outShape)
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let total = outShape[a] * inner
        var start = 0
        for t in tensors {
            let width = t.shape[a] * inner
            for o in 0..<outer {
                (out.data + o * total + start).update(from: t.data + o * width, count: width)
            }
            start += width
        }
        let extents = tensors.map { $0.shape[a] }
        return out.recording("concatenate", tensors) { g in
            var begin = 0
            return extents.map { n in
                defer { begin += n }
                return g.sliced(axis: a, begin..<(begin + n))
            }
        }
    }

    /// The elements whose index along `axis` lies in `range`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let (outer, n, inner, a) = axisExtents(axis, op: "sliced")
        precondition(range.lowerBound >= 0 && range.upperBound <= n,
                     "sliced: range \(range) out of bounds for dimension \(a) of \(shape)")
        var outShape = shape
        outShape[a] = range.count
        if a == 0 || outer == 1 {
            // A contiguous block: a view.
            let view = Tensor(shape: outShape, storage: storage, offset: offset + range.lowerBound * inner)
            return view.recording("slice", [self]) { [shape] g in [g.padded(axis: a, before: range.lowerBound, to: shape)] }
        }
        let out = Tensor(uninitializedShape: outShape)
        let width = range.count * inner
        for o in 0..<outer {
            (out.data + o * width).update(from: data + (o * n + range.lowerBound) * inner, count: width)
        }
        return out.recording("slice", [self]) { [shape] g in [g.padded(axis: a, before: range.lowerBound, to: shape)] }
    }

    /// This tensor placed at offset `before` along `axis` inside zeros of `shape`
    /// (the backward of a slice).
    func padded(axis a: Int, before: Int, to target: [Int]) -> Tensor {
        let out = Tensor(shape: target, repeating: 0)
        let outer = target[..<a].reduce(1, *)
        let inner = target[(a + 1)...].reduce(1, *)
        let width = shape[a] * inner
        for o in 0..<outer {
            (out.data + (o * target[a] + before) * inner).update(from: data + o * width, count: width)
        }
        return out.recording("pad", [self]) { [shape] g in [g.sliced(axis: a, before..<(before + shape[a]))] }
    }

    /// Rows of a [V, D] table picked by `ids`: an [ids.count, D] tensor. The
    /// backward scatter-adds into the table.
    public func gatherRows(_ ids: [Int]) -> Tensor {
        precondition(rank == 2, "gatherRows: expected a [V, D] table, got \(shape)")
        let (v, d) = (shape[0], shape[1])
        let out = Tensor(uninitializedShape: [ids.count, d])
        for (row, id) in ids.enumerated() {
            precondition(id >= 0 && id < v, "gatherRows: id \(id) out of range 0..<\(v)")
            (out.data + row * d).update(from: data + id * d, count: d)
        }
        return out.recording("gatherRows", [self]) { g in
            let table = Tensor(shape: [v, d], repeating: 0)
            for (row, id) in ids.enumerated() {
                let dst = table.data + id * d, src = g.data + row * d
                for i in 0..<d { dst[i] += src[i] }
            }
            return [table]
        }
    }
}

extension Tensor {
    /// The rows of a batch: element i holds the values of `self[i]` (the first axis), in order.
    public func rows() -> [[Float]] {
        precondition(rank >= 1, "rows: needs at least one axis, got a scalar")
        let width = shape.dropFirst().reduce(1, *)
        return withUnsafeBufferPointer { values in
            (0..<shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
        }
    }
}
