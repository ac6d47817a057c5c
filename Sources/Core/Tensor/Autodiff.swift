/// One recorded operation: its inputs, and how to turn the gradient of its output
/// into gradients of those inputs (nil for an input that is not tracked).
final class Node {
    let name: String
    let inputs: [Tensor]
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

extension Tensor {
    /// Attaches the op's history to `self` when any input is tracked; otherwise
    /// records nothing (inference pays no closure and no allocation).
    @discardableResult
    func recording(_ name: String, _ inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if inputs.contains(where: \.isTracked) {
            node = Node(name: name, inputs: inputs, backward: backward)
        }
        return self
    }

    /// Back-propagates from this tensor (a scalar loss unless `seed` is given) and
    /// accumulates gradients into `grad` of every tracked leaf that requires it.
    public func backward(seed: Tensor? = nil) {
        precondition(seed != nil || count == 1, "backward: the loss has shape \(shape); pass a seed gradient")
        if let seed {
            precondition(seed.shape == shape, "backward: seed shape \(seed.shape) differs from \(shape)")
        }
        // Reverse topological order over the recorded graph.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.isTracked && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed ?? Tensor(shape: shape, repeating: 1)]
        for tensor in order.reversed() {
            guard let grad = grads.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
            if tensor.requiresGrad {
                // A private copy: op gradients may be shared between inputs.
                if let existing = tensor.grad {
                    existing.addInPlace(grad)
                } else {
                    tensor.grad = grad.copy()
                }
            }
            guard let node = tensor.node else { continue }
            let inputGrads = node.backward(grad)
            precondition(inputGrads.count == node.inputs.count, "backward of \(node.name): wrong gradient count")
            for (input, inputGrad) in zip(node.inputs, inputGrads) {
                guard input.isTracked, let inputGrad else { continue }
                precondition(inputGrad.shape == input.shape,
                             "backward of \(node.name): gradient \(inputGrad.shape) for input \(input.shape)")
                let key = ObjectIdentifier(input)
                if let existing = grads[key] {
                    grads[key] = existing.adding(inputGrad)
                } else {
                    grads[key] = inputGrad
                }
            }
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
