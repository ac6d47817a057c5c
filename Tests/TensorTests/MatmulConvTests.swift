import XCTest
@testable import Tensor

/// Direct convolution, the definition, to check im2col + GEMM against.
func naiveConv(_ x: Tensor, _ w: Tensor, stride: Int, padding: Int) -> [Float] {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1
    var out = [Float](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n { for f in 0..<o { for y in 0..<oh { for xx in 0..<ow {
        var s: Float = 0
        for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
            let iy = y * stride - padding + i, ix = xx * stride - padding + j
            if iy >= 0 && iy < h && ix >= 0 && ix < wd { s += x[b, ch, iy, ix] * w[f, ch, i, j] }
        } } }
        out[((b * o + f) * oh + y) * ow + xx] = s
    } } } }
    return out
}

final class MatmulConvTests: XCTestCase {
    func testMatmulForward() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], values: [7, 8, 9, 10, 11, 12])
        assertValues(a.matmul(b), [58, 64, 139, 154])
        assertValues(a.matmul(a, transposeOther: true), [14, 32, 32, 77])
        assertValues(a.matmul(a, transposeSelf: true), [17, 22, 27, 22, 29, 36, 27, 36, 45])
        let batched = Tensor.concatenate([a.reshaped([1, 2, 3]), (a * 2).reshaped([1, 2, 3])], axis: 0)
        assertValues(batched.matmul(b), [58, 64, 139, 154, 116, 128, 278, 308])
    }

    func testMatmulGradientsForEveryTransposeAndBatching() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randomTensor(ta ? [4, 3] : [3, 4], seed: 20), b = randomTensor(tb ? [5, 4] : [4, 5], seed: 21)
            assertGradientsMatch([a, b]) { $0[0].matmul($0[1], transposeSelf: ta, transposeOther: tb) }
            let ba = randomTensor(ta ? [2, 4, 3] : [2, 3, 4], seed: 22), bb = randomTensor(tb ? [2, 5, 4] : [2, 4, 5], seed: 23)
            assertGradientsMatch([ba, bb]) { $0[0].matmul($0[1], transposeSelf: ta, transposeOther: tb) }
            assertGradientsMatch([ba, b]) { $0[0].matmul($0[1], transposeSelf: ta, transposeOther: tb) }
        }
    }

    func testLinear() {
        let x = randomTensor([2, 3, 4], seed: 24), w = randomTensor([5, 4], seed: 25), b = randomTensor([5], seed: 26)
        let y = x.linear(weight: w, bias: b)
        XCTAssertEqual(y.shape, [2, 3, 5])
        var expected: Float = b[2]
        for i in 0..<4 { expected += x[1, 2, i] * w[2, i] }
        XCTAssertEqual(y[1, 2, 2], expected, accuracy: 1e-5)
        assertGradientsMatch([x, w, b]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x, w]) { $0[0].linear(weight: $0[1]) }
    }

    func testConvMatchesDirectDefinition() {
        for (k, stride, padding, channels) in [(3, 1, 1, 3), (3, 2, 1, 2), (1, 1, 0, 4), (1, 2, 0, 3), (5, 1, 2, 2), (3, 1, 0, 2), (3, 3, 2, 1)] {
            let x = randomTensor([2, channels, 7, 6], seed: UInt64(30 + k + stride))
            let w = randomTensor([4, channels, k, k], seed: UInt64(40 + k))
            let y = x.conv2d(weight: w, stride: stride, padding: padding)
            let expected = naiveConv(x, w, stride: stride, padding: padding)
            XCTAssertEqual(y.shape, [2, 4, (7 + 2 * padding - k) / stride + 1, (6 + 2 * padding - k) / stride + 1])
            assertValues(y, expected, accuracy: 1e-4)
        }
    }

    func testConvHandCheckedValue() {
        // A 3x3 all-ones kernel with padding 1 sums each 3x3 neighbourhood.
        let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = Tensor(shape: [1, 1, 3, 3], repeating: 1)
        assertValues(x.conv2d(weight: w, bias: Tensor(shape: [1], values: [0.5]), padding: 1),
                     [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5])
    }

    func testConvGradients() {
        for (k, stride, padding) in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (2, 2, 0)] {
            let x = randomTensor([2, 3, 5, 6], seed: UInt64(50 + k * 3 + stride))
            let w = randomTensor([4, 3, k, k], seed: UInt64(60 + k)), b = randomTensor([4], seed: 61)
            assertGradientsMatch([x, w, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], stride: stride, padding: padding) }
        }
    }

    func testFusedReLUConvAndResidual() {
        let x = randomTensor([2, 3, 5, 5], seed: 74), w = randomTensor([4, 3, 3, 3], seed: 75), b = randomTensor([4], seed: 76)
        let fused = x.conv2d(weight: w, bias: b, padding: 1, relu: true)
        assertValues(fused, x.conv2d(weight: w, bias: b, padding: 1).relu().values)
        assertGradientsMatch([x, w, b], epsilon: 1e-3) { $0[0].conv2d(weight: $0[1], bias: $0[2], padding: 1, relu: true) }
        let residual = randomTensor([2, 4, 5, 5], seed: 83)
        assertValues(x.conv2d(weight: w, bias: b, padding: 1, residual: residual, relu: true),
                     (x.conv2d(weight: w, bias: b, padding: 1) + residual).relu().values)
        assertGradientsMatch([x, w, b, residual], epsilon: 1e-3) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], padding: 1, residual: $0[3], relu: true)
        }
        let smallResidual = randomTensor([2, 4, 2, 2], seed: 84)
        assertGradientsMatch([x, w, smallResidual], epsilon: 1e-3) { $0[0].conv2d(weight: $0[1], stride: 2, residual: $0[2]) }
        let a = randomTensor([2, 3, 4], seed: 77, margin: 0.1), c = randomTensor([2, 3, 4], seed: 78, margin: 0.1)
        assertValues(a.addingReLU(c), (a + c).relu().values)
        assertGradientsMatch([a, c], epsilon: 1e-3) { $0[0].addingReLU($0[1]) }
    }

    func testSameSizeConvInputGradientsIncludingFiveByFive() {
        let x = randomTensor([2, 2, 6, 5], seed: 79), w = randomTensor([3, 2, 5, 5], seed: 80)
        assertGradientsMatch([x, w]) { $0[0].conv2d(weight: $0[1], padding: 2) }
    }

    func testFrozenKernelCacheFollowsWeightWrites() {
        let w = randomTensor([3, 2, 3, 3], seed: 81)
        func inputGradient() -> [Float] {
            let x = randomTensor([1, 2, 4, 4], seed: 82)
            x.requiresGrad = true
            x.conv2d(weight: w, padding: 1).sum().backward()
            return x.grad!.values
        }
        let first = inputGradient()
        XCTAssertEqual(inputGradient(), first, "cached flipped kernel gives the same gradient")
        w.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] *= 2 } }
        for (a, b) in zip(inputGradient(), first) { XCTAssertEqual(a, 2 * b, accuracy: 1e-5) }
    }

    func testConvInputGradientOnlyWithFrozenWeights() {
        let x = randomTensor([1, 2, 4, 4], seed: 70), w = randomTensor([3, 2, 3, 3], seed: 71)
        x.requiresGrad = true
        x.conv2d(weight: w, padding: 1).sum().backward()
        XCTAssertNotNil(x.grad)
        XCTAssertNil(w.grad, "frozen weights get no gradient")
    }

    func testAvgPool() {
        let x = Tensor(shape: [1, 1, 4, 4], values: (0..<16).map(Float.init))
        assertValues(x.avgPool2d(2), [2.5, 4.5, 10.5, 12.5])
        let odd = Tensor(shape: [1, 1, 5, 5], values: (0..<25).map(Float.init))
        assertValues(odd.avgPool2d(2), [3, 5, 13, 15])
        assertGradientsMatch([randomTensor([2, 3, 6, 6], seed: 72)]) { $0[0].avgPool2d(2) }
        assertGradientsMatch([randomTensor([1, 2, 7, 7], seed: 73)]) { $0[0].avgPool2d(3) }
    }
}
