import Foundation

// Element-wise arithmetic with broadcasting, and the activations. Each op is its
// forward followed by its backward.

extension Tensor {
    public func adding(_ other: Tensor) -> Tensor {
        let out = Tensor.broadcastMap(self, other, op: "add") { $0 + $1 }
        return out.recording("add", [self, other]) { [shape, other] g in
            [g.sum(toShape: shape), g.sum(toShape: other.shape)]
        }
    }

    public func subtracting(_ other: Tensor) -> Tensor {
        let out = Tensor.broadcastMap(self, other, op: "subtract") { $0 - $1 }
        return out.recording("subtract", [self, other]) { [shape, other] g in
            [g.sum(toShape: shape), g.negated().sum(toShape: other.shape)]
        }
    }

    public func multiplying(_ other: Tensor) -> Tensor {
        let out = Tensor.broadcastMap(self, other, op: "multiply") { $0 * $1 }
        let a = detached(), b = other.detached()
        return out.recording("multiply", [self, other]) { [isTracked, other] g in
            [isTracked ? (g * b).sum(toShape: a.shape) : nil,
             other.isTracked ? (g * a).sum(toShape: b.shape) : nil]
        }
    }

    public func dividing(_ other: Tensor) -> Tensor {
        let out = Tensor.broadcastMap(self, other, op: "divide") { $0 / $1 }
        let a = detached(), b = other.detached()
        return out.recording("divide", [self, other]) { [isTracked, other] g in
            [isTracked ? (g / b).sum(toShape: a.shape) : nil,
             other.isTracked ? (g * a / (b * b)).negated().sum(toShape: b.shape) : nil]
        }
    }

    /// relu(self + other) for equal shapes in one pass: a residual connection.
    public func addingReLU(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "addingReLU: shapes \(shape) and \(other.shape) differ")
        let out = Tensor(uninitializedShape: shape)
        let pa = data, pb = other.data, po = out.data
        Parallel.forChunks(count, grain: 32768) { r in
            for i in r { po[i] = Swift.max(pa[i] + pb[i], 0) }
        }
        let y = out.detached()
        return out.recording("addingReLU", [self, other]) { g in
            let masked = g.maskedByPositive(y)
            return [masked, masked]
        }
    }

    /// `f` applied to every element; `derivative(x, y)` gives dy/dx from the input
    /// and output values.
    @inline(__always)
    func map(_ name: String, _ f: (Float) -> Float, derivative: @escaping (Float, Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.forChunks(count, grain: 32768) { r in
            for i in r { po[i] = f(px[i]) }
        }
        let x = detached(), y = out.detached()
        return out.recording(name, [self]) { g in
            let gx = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pgx = gx.data, px = x.data, py = y.data
            Parallel.forChunks(g.count, grain: 32768) { r in
                for i in r { pgx[i] = pg[i] * derivative(px[i], py[i]) }
            }
            return [gx]
        }
    }

    public func adding(_ s: Float) -> Tensor { map("add scalar", { $0 + s }, derivative: { _, _ in 1 }) }
    public func multiplying(_ s: Float) -> Tensor { map("multiply scalar", { $0 * s }, derivative: { _, _ in s }) }
    public func negated() -> Tensor { map("negate", { -$0 }, derivative: { _, _ in -1 }) }
    public func exp() -> Tensor { map("exp", { Foundation.exp($0) }, derivative: { _, y in y }) }
    public func log() -> Tensor { map("log", { Foundation.log($0) }, derivative: { x, _ in 1 / x }) }
    public func sqrt() -> Tensor { map("sqrt", { $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
    public func squared() -> Tensor { map("square", { $0 * $0 }, derivative: { x, _ in 2 * x }) }
    public func abs() -> Tensor { map("abs", { Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }) }
    public func pow(_ p: Float) -> Tensor {
        map("pow", { Foundation.pow($0, p) }, derivative: { x, _ in p * Foundation.pow(x, p - 1) })
    }
    public func relu() -> Tensor { map("relu", { Swift.max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 }) }
    public func sigmoid() -> Tensor {
        map("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }, derivative: { _, y in y * (1 - y) })
    }
    public func tanh() -> Tensor { map("tanh", { Foundation.tanh($0) }, derivative: { _, y in 1 - y * y }) }
    /// CLIP's activation: x * sigmoid(1.702 x).
    public func quickGELU() -> Tensor {
        map("quickGELU", { $0 / (1 + Foundation.exp(-1.702 * $0)) }, derivative: { x, _ in
            let s = 1 / (1 + Foundation.exp(-1.702 * x))
            return s + 1.702 * x * s * (1 - s)
        })
    }
    /// Values limited to [low, high]; the gradient passes only inside the range.
    public func clamped(_ low: Float, _ high: Float) -> Tensor {
        precondition(low <= high, "clamped: low \(low) > high \(high)")
        return map("clamp", { Swift.min(Swift.max($0, low), high) }, derivative: { x, _ in x >= low && x <= high ? 1 : 0 })
    }

    /// Adds `other` into this tensor's values in place (same shape, untracked).
    public func addInPlace(_ other: Tensor) {
        precondition(other.shape == shape, "addInPlace: \(other.shape) into \(shape)")
        let pa = data, pb = other.data
        Parallel.forChunks(count, grain: 32768) { r in
            for i in r { pa[i] += pb[i] }
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.adding(b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.subtracting(b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.multiplying(b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.dividing(b) }
    public static func + (a: Tensor, s: Float) -> Tensor { a.adding(s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.adding(-s) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.multiplying(s) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.multiplying(s) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.multiplying(1 / s) }
    public static prefix func - (a: Tensor) -> Tensor { a.negated() }
}
