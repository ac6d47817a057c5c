import XCTest
@testable import Tensor

final class OptimizerTests: XCTestCase {
    func testSGDWithMomentum() {
        let w = Tensor(shape: [1], values: [1])
        w.requiresGrad = true
        var sgd = SGD(parameters: [w], learningRate: 0.1, momentum: 0.9)
        for _ in 0..<2 {
            sgd.zeroGrad()
            (w * w).sum().backward()   // gradient 2w
            sgd.step()
        }
        // v1 = 2, w1 = 0.8; v2 = 0.9*2 + 1.6 = 3.4, w2 = 0.8 - 0.34
        XCTAssertEqual(w.scalar, 0.46, accuracy: 1e-6)
    }

    func testAdamFirstStepMovesByLearningRate() {
        let w = Tensor(shape: [2], values: [1, -3])
        w.requiresGrad = true
        var adam = Adam(parameters: [w], learningRate: 0.01)
        (w * w * 5).sum().backward()
        adam.step()
        assertValues(w, [0.99, -2.99], accuracy: 1e-6)
    }

    func testAdamLearningRateScalesPerParameter() {
        let slow = Tensor(shape: [1], values: [1]), fast = Tensor(shape: [1], values: [1])
        slow.requiresGrad = true
        fast.requiresGrad = true
        var adam = Adam(parameters: [slow, fast], learningRate: 0.01)
        adam.learningRateScales[1] = 10
        ((slow + fast) * 3).sum().backward()
        adam.step()
        XCTAssertEqual(slow.scalar, 0.99, accuracy: 1e-6)
        XCTAssertEqual(fast.scalar, 0.9, accuracy: 1e-6)
    }

    func testAdamWDecaysWeightsDirectly() {
        let w = Tensor(shape: [1], values: [2])
        w.requiresGrad = true
        var adamW = Adam.adamW(parameters: [w], learningRate: 0.1, weightDecay: 0.5)
        (w * 0).sum().backward()   // zero gradient: only the decay acts
        adamW.step()
        XCTAssertEqual(w.scalar, 2 - 0.1 * 0.5 * 2, accuracy: 1e-6)
    }

    func testAdamWSparesParametersExemptFromDecay() {
        let decayed = Tensor(shape: [1], values: [2]), exempt = Tensor(shape: [1], values: [2])
        decayed.requiresGrad = true
        exempt.requiresGrad = true
        var adamW = Adam.adamW(parameters: [decayed, exempt], learningRate: 0.1, weightDecay: 0.5, decayed: [true, false])
        ((decayed + exempt) * 0).sum().backward()
        adamW.step()
        XCTAssertEqual(decayed.scalar, 2 - 0.1 * 0.5 * 2, accuracy: 1e-6)
        XCTAssertEqual(exempt.scalar, 2, accuracy: 1e-6)
    }

    func testAdamMinimisesAQuadratic() {
        let w = Tensor(shape: [3], values: [5, -4, 2])
        w.requiresGrad = true
        var adam = Adam(parameters: [w], learningRate: 0.1)
        for _ in 0..<500 {
            adam.zeroGrad()
            ((w - Tensor(shape: [3], values: [1, 2, 3])).squared()).sum().backward()
            adam.step()
        }
        assertValues(w, [1, 2, 3], accuracy: 1e-2)
    }
}
