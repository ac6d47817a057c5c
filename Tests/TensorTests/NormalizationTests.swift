import XCTest
import Foundation
@testable import Tensor

final class NormalizationTests: XCTestCase {
    func testBatchNormInferenceForward() {
        let x = Tensor(shape: [1, 2, 1, 2], values: [1, 3, 10, 20])
        let y = x.batchNorm(mean: Tensor(shape: [2], values: [2, 10]), variance: Tensor(shape: [2], values: [4, 25]),
                            weight: Tensor(shape: [2], values: [1, 2]), bias: Tensor(shape: [2], values: [0, 1]), epsilon: 0)
        assertValues(y, [-0.5, 0.5, 1, 5])
    }

    func testBatchNormGradients() {
        let x = randomTensor([2, 3, 2, 2], seed: 80)
        let mean = randomTensor([3], seed: 81), variance = randomTensor([3], seed: 82).abs() + 0.5
        let w = randomTensor([3], seed: 83), b = randomTensor([3], seed: 84)
        assertGradientsMatch([x, w, b]) { $0[0].batchNorm(mean: mean, variance: variance, weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x, w, b], epsilon: 5e-3) { $0[0].batchNormTraining(weight: $0[1], bias: $0[2]).output }
    }

    func testBatchNormTrainingStatistics() {
        let x = Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 6])
        let result = x.batchNormTraining(weight: Tensor(shape: [1], values: [1]), bias: Tensor(shape: [1], values: [0]), epsilon: 0)
        XCTAssertEqual(result.mean[0], 3, accuracy: 1e-6)
        XCTAssertEqual(result.unbiasedVariance[0], 14.0 / 3, accuracy: 1e-5)
        let std = Float(3.5).squareRoot()
        assertValues(result.output, [-2 / std, -1 / std, 0, 3 / std])
    }

    func testLayerNorm() {
        let x = Tensor(shape: [1, 4], values: [1, 2, 3, 4])
        let y = x.layerNorm(weight: Tensor(shape: [4], values: [1, 1, 2, 2]), bias: Tensor(shape: [4], values: [0, 0, 0, 1]), epsilon: 0)
        let s = Float(1.25).squareRoot()
        assertValues(y, [-1.5 / s, -0.5 / s, 1 / s, 3 / s + 1])
        assertGradientsMatch([randomTensor([3, 5], seed: 85), randomTensor([5], seed: 86), randomTensor([5], seed: 87)], epsilon: 5e-3) {
            $0[0].layerNorm(weight: $0[1], bias: $0[2])
        }
    }

    func testSoftmaxFamily() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, -Float.infinity])
        let e = [Foundation.exp(Float(1)), Foundation.exp(Float(2)), Foundation.exp(Float(3))]
        let s = e.reduce(0, +)
        assertValues(x.softmax(), [e[0] / s, e[1] / s, e[2] / s, 0.5, 0.5, 0])
        assertValues(x.sliced(axis: 0, 0..<1).logSoftmax(), e.map { Foundation.log($0 / s) })
        let r = randomTensor([3, 4], seed: 88)
        assertGradientsMatch([r]) { $0[0].softmax() }
        assertGradientsMatch([r]) { $0[0].logSoftmax() }
    }

    func testCrossEntropy() {
        let logits = Tensor(shape: [2, 3], values: [2, 0, 0, 0, 0, 0])
        let expected = (-(2 - Foundation.log(Foundation.exp(Float(2)) + 2)) + Foundation.log(Float(3))) / 2
        XCTAssertEqual(logits.crossEntropy(targets: [0, 1]).scalar, expected, accuracy: 1e-5)
        assertGradientsMatch([randomTensor([4, 5], seed: 89)]) { $0[0].crossEntropy(targets: [0, 4, 2, 2]) }
    }

    func testCosineAndNormalisation() {
        let a = Tensor(shape: [2, 2], values: [3, 4, 1, 0]), b = Tensor(shape: [2, 2], values: [6, 8, 0, 1])
        assertValues(a.l2Normalized(), [0.6, 0.8, 1, 0])
        assertValues(a.cosineSimilarity(b), [1, 0])
        assertGradientsMatch([randomTensor([3, 4], seed: 90), randomTensor([3, 4], seed: 91)]) { $0[0].cosineSimilarity($0[1]) }
    }

    func testAttentionWithCausalMask() {
        let mask = Tensor(shape: [3, 3], values: [0, -.infinity, -.infinity, 0, 0, -.infinity, 0, 0, 0])
        let q = randomTensor([2, 3, 4], seed: 92), k = randomTensor([2, 3, 4], seed: 93), v = randomTensor([2, 3, 2], seed: 94)
        let out = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
        // The first query sees only the first key: its output is the first value.
        XCTAssertEqual(out[0, 0, 0], v[0, 0, 0], accuracy: 1e-6)
        XCTAssertEqual(out[1, 0, 1], v[1, 0, 1], accuracy: 1e-6)
        assertGradientsMatch([q, k, v]) { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask) }
    }
}
