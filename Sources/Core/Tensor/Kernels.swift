/// Vectorised reductions. A plain `s += x[i]` loop runs one add at a time: the
/// compiler may not reorder float additions. These keep SIMD partial sums.
enum Kernels {
    typealias Vector = SIMD16<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    /// Σ p[i].
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Vector(), i = 0
        while i + 16 <= n { acc += load(p + i); i += 16 }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// Σ a[i] b[i].
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Vector(), i = 0
        while i + 16 <= n { acc += load(a + i) * load(b + i); i += 16 }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Σ (p[i] - center)².
    @inline(__always)
    static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from center: Float) -> Float {
        var acc = Vector(), i = 0
        let c = Vector(repeating: center)
        while i + 16 <= n { let d = load(p + i) - c; acc += d * d; i += 16 }
        var s = acc.sum()
        while i < n { let d = p[i] - center; s += d * d; i += 1 }
        return s
    }

    /// max p[i] (n > 0).
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0, m = -Float.infinity
        if n >= 16 {
            var acc = load(p)
            i = 16
            while i + 16 <= n { acc = pointwiseMax(acc, load(p + i)); i += 16 }
            m = acc.max()
        }
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }
}
