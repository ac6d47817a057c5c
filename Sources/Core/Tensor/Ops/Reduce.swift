// Reductions: over everything, along one axis, and over the spatial dimensions.

extension Tensor {
    /// Sum of all elements, as a scalar tensor.
    public func sum() -> Tensor {
        // Float partial sums per block, added up in Double.
        var s: Double = 0
        let block = 4096
        for start in stride(from: 0, to: count, by: block) {
            s += Double(Kernels.sum(data + start, Swift.min(block, count - start)))
        }
        let out = Tensor(scalar: Float(s))
        return out.recording("sum", [self]) { [shape] g in [Tensor(shape: shape, repeating: g.scalar)] }
    }

    /// Mean of all elements, as a scalar tensor.
    public func mean() -> Tensor {
        precondition(count > 0, "mean: empty tensor")
        return sum() * (1 / Float(count))
    }

    /// Splits the shape around `axis` into (outer, n, inner) extents.
    func axisExtents(_ axis: Int, op: String) -> (outer: Int, n: Int, inner: Int, axis: Int) {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        return (outer, shape[a], inner, a)
    }

    func shapeReducing(_ axis: Int, keepingDimension: Bool) -> [Int] {
        var s = shape
        if keepingDimension { s[axis] = 1 } else { s.remove(at: axis) }
        return s
    }

    /// Sum along one axis.
    public func sum(axis: Int, keepingDimension: Bool = false) -> Tensor {
        let (outer, n, inner, a) = axisExtents(axis, op: "sum(axis:)")
        let out = Tensor(shape: shapeReducing(a, keepingDimension: keepingDimension), repeating: 0)
        let px = data, po = out.data
        Parallel.forChunks(outer, grain: Swift.max(1, 4096 / Swift.max(n * inner, 1))) { r in
            for o in r {
                let dst = po + o * inner
                for j in 0..<n {
                    let src = px + (o * n + j) * inner
                    for i in 0..<inner { dst[i] += src[i] }
                }
            }
        }
        var kept = shape
        kept[a] = 1
        return out.recording("sum(axis:)", [self]) { [shape] g in
            [g.reshaped(kept).broadcast(to: shape)]
        }
    }

    /// Mean along one axis.
    public func mean(axis: Int, keepingDimension: Bool = false) -> Tensor {
        let (_, n, _, _) = axisExtents(axis, op: "mean(axis:)")
        return sum(axis: axis, keepingDimension: keepingDimension) * (1 / Float(n))
    }

    /// Maximum along one axis; the gradient goes to the first maximal element.
    public func max(axis: Int, keepingDimension: Bool = false) -> Tensor {
        let (outer, n, inner, a) = axisExtents(axis, op: "max(axis:)")
        precondition(n > 0, "max(axis:): axis \(axis) is empty in shape \(shape)")
        let out = Tensor(uninitializedShape: shapeReducing(a, keepingDimension: keepingDimension))
        // Positions of the maxima, kept only when a backward will need them.
        let tracked = isTracked
        var argmax = [Int32](repeating: 0, count: tracked ? outer * inner : 0)
        let px = data, po = out.data
        argmax.withUnsafeMutableBufferPointer { am in
            // An empty array may still have a base address: test `tracked`, not the pointer.
            let am = tracked ? am.baseAddress : nil
            Parallel.forChunks(outer, grain: Swift.max(1, 4096 / Swift.max(n * inner, 1))) { r in
                for o in r {
                    for i in 0..<inner {
                        var best = px[o * n * inner + i], bestJ = 0
                        for j in 1..<n where px[(o * n + j) * inner + i] > best {
                            best = px[(o * n + j) * inner + i]
                            bestJ = j
                        }
                        po[o * inner + i] = best
                        am?[o * inner + i] = Int32(bestJ)
                    }
                }
            }
        }
        return out.recording("max(axis:)", [self]) { [shape] g in
            let gx = Tensor(shape: shape, repeating: 0)
            let pg = g.data, pgx = gx.data
            for o in 0..<outer {
                for i in 0..<inner {
                    pgx[(o * n + Int(argmax[o * inner + i])) * inner + i] = pg[o * inner + i]
                }
            }
            return [gx]
        }
    }

    /// [N, C, H, W] -> [N, C]: the maximum over each channel's spatial positions.
    public func spatialMax() -> Tensor {
        precondition(rank == 4, "spatialMax: expected [N, C, H, W], got \(shape)")
        return reshaped([shape[0], shape[1], shape[2] * shape[3]]).max(axis: 2)
    }

    /// [N, C, H, W] -> [N, C]: the mean over each channel's spatial positions.
    public func spatialMean() -> Tensor {
        precondition(rank == 4, "spatialMean: expected [N, C, H, W], got \(shape)")
        return reshaped([shape[0], shape[1], shape[2] * shape[3]]).mean(axis: 2)
    }
}
