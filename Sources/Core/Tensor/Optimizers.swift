import Foundation

/// Updates parameters in place from their accumulated `grad`.
public protocol Optimizer {
    var parameters: [Tensor] { get }
    mutating func step()
}

extension Optimizer {
    /// Clears the gradients of every parameter.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Stochastic gradient descent, with optional momentum and (coupled) weight decay.
public struct SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    private var velocity: [[Float]]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocity = parameters.map { [Float](repeating: 0, count: momentum == 0 ? 0 : $0.count) }
    }

    public mutating func step() {
        for (index, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let (lr, mu, wd) = (learningRate, momentum, weightDecay)
            let g = grad.data
            p.withUnsafeMutableBufferPointer { w in
                if mu == 0 {
                    for i in 0..<w.count { w[i] -= lr * (g[i] + wd * w[i]) }
                } else {
                    velocity[index].withUnsafeMutableBufferPointer { v in
                        for i in 0..<w.count {
                            v[i] = mu * v[i] + g[i] + wd * w[i]
                            w[i] -= lr * v[i]
                        }
                    }
                }
            }
        }
    }
}

/// Adam, or AdamW when `decoupledWeightDecay` is set (decay applied to the
/// weights directly rather than added to the gradient).
public struct Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var decoupledWeightDecay: Bool
    /// Per parameter, whether weight decay applies (CLIP exempts gains, biases and the temperature).
    public let decayed: [Bool]
    /// Per parameter, a factor on the learning rate (1 unless set).
    public var learningRateScales: [Float]
    public private(set) var stepCount = 0
    private var firstMoment: [[Float]]
    private var secondMoment: [[Float]]

    public init(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false, decayed: [Bool]? = nil) {
        precondition(decayed == nil || decayed!.count == parameters.count, "Adam: one decay flag per parameter")
        self.parameters = parameters
        self.decayed = decayed ?? parameters.map { _ in true }
        learningRateScales = parameters.map { _ in 1 }
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoment = parameters.map { [Float](repeating: 0, count: $0.count) }
        secondMoment = parameters.map { [Float](repeating: 0, count: $0.count) }
    }

    /// AdamW as in Loshchilov & Hutter (PyTorch's default decay 0.01).
    public static func adamW(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                             epsilon: Float = 1e-8, weightDecay: Float = 0.01, decayed: [Bool]? = nil) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
             weightDecay: weightDecay, decoupledWeightDecay: true, decayed: decayed)
    }

    /// The moment estimates and step count, for checkpoints that resume exactly.
    public struct State: Sendable {
        public var stepCount: Int
        public var firstMoment: [[Float]]
        public var secondMoment: [[Float]]
    }

    public var state: State {
        get { State(stepCount: stepCount, firstMoment: firstMoment, secondMoment: secondMoment) }
        set {
            precondition(newValue.firstMoment.map(\.count) == parameters.map(\.count)
                         && newValue.secondMoment.map(\.count) == parameters.map(\.count),
                         "Adam: restored state does not match the parameters")
            stepCount = newValue.stepCount
            firstMoment = newValue.firstMoment
            secondMoment = newValue.secondMoment
        }
    }

    public mutating func step() {
        stepCount += 1
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let correction1 = 1 - Foundation.pow(b1, Float(stepCount))
        let correction2 = 1 - Foundation.pow(b2, Float(stepCount))
        let decoupled = decoupledWeightDecay
        for (index, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let g = grad.data
            let wd = decayed[index] ? weightDecay : 0
            let lr = learningRate * learningRateScales[index]
            firstMoment[index].withUnsafeMutableBufferPointer { m in
                secondMoment[index].withUnsafeMutableBufferPointer { v in
                    p.withUnsafeMutableBufferPointer { w in
                        for i in 0..<w.count {
                            var gi = g[i]
                            if decoupled { w[i] -= lr * wd * w[i] } else { gi += wd * w[i] }
                            m[i] = b1 * m[i] + (1 - b1) * gi
                            v[i] = b2 * v[i] + (1 - b2) * gi * gi
                            let mHat = m[i] / correction1, vHat = v[i] / correction2
                            w[i] -= lr * mHat / (vHat.squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }
}
