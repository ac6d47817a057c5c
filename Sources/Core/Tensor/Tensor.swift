import Foundation

/// A float32 n-dimensional array, row-major and contiguous, that can record the
/// operations applied to it for reverse-mode differentiation.
///
/// Tensors are reference types and not Sendable: a tensor lives on the compute
/// thread that made it. Reshapes are views sharing storage; every other op
/// allocates exactly one output.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    let storage: Storage
    let offset: Int

    /// Set on a leaf (an input image, a trainable parameter) to have `backward()`
    /// compute its gradient into `grad`. Untracked tensors record nothing.
    public var requiresGrad = false
    /// The gradient accumulated by `backward()` for a leaf that requires it.
    public var grad: Tensor?
    /// How this tensor was computed, when any input was tracked.
    var node: Node?
    /// Values derived from this tensor's contents and reused across calls (e.g.
    /// a convolution's flipped kernel); cleared by every write through the API.
    var derived: [String: Tensor] = [:]

    /// Whether gradients flow through this tensor.
    public var isTracked: Bool { requiresGrad || node != nil }

    init(shape: [Int], storage: Storage, offset: Int = 0) {
        let count = Tensor.elementCount(shape)
        precondition(offset + count <= storage.count, "Tensor: view \(shape) exceeds its storage")
        self.shape = shape
        self.count = count
        self.storage = storage
        self.offset = offset
    }

    /// An uninitialised tensor, for ops that write every element.
    convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: Storage(count: Tensor.elementCount(shape)))
    }

    public convenience init(shape: [Int], repeating value: Float = 0) {
        self.init(uninitializedShape: shape)
        data.update(repeating: value, count: count)
    }

    public convenience init(shape: [Int], values: [Float]) {
        let count = Tensor.elementCount(shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape) (\(count) elements)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor filled from `fill(pointer)`, which must write all `count` elements.
    public convenience init(shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.init(uninitializedShape: shape)
        fill(UnsafeMutableBufferPointer(start: data, count: count))
    }

    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

    static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "Tensor: negative dimension in shape \(shape)")
            n *= d
        }
        return n
    }

    /// The first element; tensors are always contiguous.
    var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    public var rank: Int { shape.count }

    /// A copy of the elements in row-major order.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The value of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements")
        return data[0]
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: data, count: count))
    }

    /// Writes in place. Only for tensors that no recorded op has read yet
    /// (parameters in an optimizer step, fresh buffers).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        derived.removeAll()
        return try body(UnsafeMutableBufferPointer(start: data, count: count))
    }

    public subscript(indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set {
            derived.removeAll()
            data[flatIndex(indices)] = newValue
        }
    }

    func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "Tensor: \(indices.count) indices for rank \(shape.count)")
        var index = 0
        for (i, d) in zip(indices, shape) {
            precondition(i >= 0 && i < d, "Tensor: index \(indices) out of bounds for shape \(shape)")
            index = index * d + i
        }
        return index
    }

    /// The same values without the recorded history: what an optimizer or a
    /// backward closure holds on to.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, offset: offset)
    }

    /// An independent copy of the values, untracked.
    public func copy() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// A value computed from this tensor once and kept while its contents stay
    /// the same. Only for untracked tensors (trainable ones change every step).
    func derivedValue(_ key: String, _ compute: () -> Tensor) -> Tensor {
        if !isTracked, let cached = derived[key] { return cached }
        let value = compute()
        if !isTracked { derived[key] = value }
        return value
    }

    /// Row-major strides of the shape.
    static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape)\(count > 8 ? ", [\(shown), ...]" : ", [\(shown)]"))"
    }
}

