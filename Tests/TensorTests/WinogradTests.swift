import XCTest
@testable import Tensor

/// Winograd F(2x2, 3x3) and F(4x4, 3x3) against im2col (itself checked against the
/// definition in MatmulConvTests) and against finite differences.
final class WinogradTests: XCTestCase {
    static let winograd: [ConvAlgorithm] = [.winograd2x2, .winograd4x4]

    override func tearDown() {
        ConvAlgorithmChoice.forced = nil
        super.tearDown()
    }

    /// max |a - b| / max |b|.
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        var diff: Float = 0, scale: Float = 0
        for (x, y) in zip(a.values, b.values) {
            diff = max(diff, abs(x - y))
            scale = max(scale, abs(y))
        }
        return scale == 0 ? diff : diff / scale
    }

    func forward(_ x: Tensor, _ w: Tensor, _ algorithm: ConvAlgorithm, bias: Tensor? = nil, residual: Tensor? = nil,
                 relu: Bool = false) -> Tensor {
        ConvAlgorithmChoice.forced = algorithm
        defer { ConvAlgorithmChoice.forced = nil }
        return x.conv2d(weight: w, bias: bias, padding: 1, residual: residual, relu: relu)
    }

    /// The input gradient of sum(conv(x) * projection), through the autodiff path.
    func inputGradient(_ x: Tensor, _ w: Tensor, _ projection: Tensor, _ algorithm: ConvAlgorithm) -> Tensor {
        ConvAlgorithmChoice.forced = algorithm
        defer { ConvAlgorithmChoice.forced = nil }
        let input = x.detached()
        input.requiresGrad = true
        (input.conv2d(weight: w, padding: 1) * projection).sum().backward()
        return input.grad!
    }

    /// Forward and input gradient of every Winograd variant within 1e-4 of im2col.
    func assertWinogradMatches(batch: Int, channels: Int, outputs: Int, size: Int, seed: UInt64,
                               file: StaticString = #filePath, line: UInt = #line) {
        let x = randomTensor([batch, channels, size, size], seed: seed)
        // Kaiming-like scale, so that values stay O(1) whatever the channel count.
        let w = randomTensor([outputs, channels, 3, 3], seed: seed + 1) * (1 / Float(channels * 9).squareRoot())
        let projection = randomTensor([batch, outputs, size, size], seed: seed + 2)
        let expected = forward(x, w, .im2col)
        let expectedGradient = inputGradient(x, w, projection, .im2col)
        for algorithm in Self.winograd {
            let forwardError = relativeError(forward(x, w, algorithm), expected)
            XCTAssertLessThanOrEqual(forwardError, 1e-4, "\(algorithm) forward \(batch)x\(channels)->\(outputs)@\(size)",
                                     file: file, line: line)
            let gradientError = relativeError(inputGradient(x, w, projection, algorithm), expectedGradient)
            XCTAssertLessThanOrEqual(gradientError, 1e-4, "\(algorithm) input gradient \(batch)x\(channels)->\(outputs)@\(size)",
                                     file: file, line: line)
        }
    }

    func testMatchesDirectDefinitionOnSmallShapes() {
        for (size, channels, outputs) in [(1, 2, 3), (3, 3, 2), (4, 2, 2), (5, 1, 4), (7, 3, 5), (9, 5, 3)] {
            let x = randomTensor([2, channels, size, size], seed: UInt64(size))
            let w = randomTensor([outputs, channels, 3, 3], seed: UInt64(size + 100))
            let expected = naiveConv(x, w, stride: 1, padding: 1)
            for algorithm in Self.winograd {
                assertValues(forward(x, w, algorithm), expected, accuracy: 1e-4)
            }
        }
    }

    func testRectangularInput() {
        let x = randomTensor([1, 3, 6, 11], seed: 5), w = randomTensor([2, 3, 3, 3], seed: 6)
        let expected = naiveConv(x, w, stride: 1, padding: 1)
        for algorithm in Self.winograd { assertValues(forward(x, w, algorithm), expected, accuracy: 1e-4) }
    }

    func testOddSizesBatchesAndChannelCounts() {
        for (batch, channels, outputs, size) in [(1, 3, 5, 1), (3, 5, 7, 3), (2, 6, 3, 9), (2, 7, 9, 17), (1, 13, 6, 10)] {
            assertWinogradMatches(batch: batch, channels: channels, outputs: outputs, size: size, seed: UInt64(size * 10 + batch))
        }
    }

    /// Every 3x3 stride-1 shape of RN50x4 at 288x288 (stem 40->40 and 40->80 at 144, then
    /// the bottlenecks' conv2 at widths 80/160/320/640): full sizes where they are cheap in
    /// a debug build, the channel counts reduced (keeping the spatial size) where not.
    func testEveryRN50x4Shape() {
        let shapes: [(channels: Int, outputs: Int, size: Int)] = [
            (40, 40, 144), (40, 80, 144),           // stem (the 3->40 stride-2 conv stays im2col)
            (80, 80, 72),                           // layer1
            (160, 160, 72), (160, 160, 36),         // layer2: first block, then the rest
            (320, 320, 36), (320, 320, 18),         // layer3
            (640, 640, 18), (640, 640, 9),          // layer4
        ]
        for (index, shape) in shapes.enumerated() {
            // Debug builds run these loops ~50x slower: cap the work per shape.
            let flops = shape.channels * shape.outputs * shape.size * shape.size
            let scale = flops > 40_000_000 ? 4 : 1
            assertWinogradMatches(batch: 1, channels: shape.channels / scale, outputs: shape.outputs / scale,
                                  size: shape.size, seed: UInt64(200 + 10 * index))
        }
    }

    func testDeepChannelsKeepAccuracy() {
        // 640 input channels at 9x9: the longest sums of RN50x4, at full width.
        assertWinogradMatches(batch: 1, channels: 640, outputs: 64, size: 9, seed: 300)
    }

    func testFusedBiasResidualAndReLU() {
        let x = randomTensor([2, 4, 10, 10], seed: 310), w = randomTensor([6, 4, 3, 3], seed: 311)
        let b = randomTensor([6], seed: 312), r = randomTensor([2, 6, 10, 10], seed: 313)
        let expected = forward(x, w, .im2col, bias: b, residual: r, relu: true)
        for algorithm in Self.winograd {
            XCTAssertLessThanOrEqual(relativeError(forward(x, w, algorithm, bias: b, residual: r, relu: true), expected), 1e-5)
            XCTAssertLessThanOrEqual(relativeError(forward(x, w, algorithm, bias: b), forward(x, w, .im2col, bias: b)), 1e-5)
        }
    }

    func testGradientsMatchFiniteDifferences() {
        for algorithm in Self.winograd {
            ConvAlgorithmChoice.forced = algorithm
            let x = randomTensor([2, 3, 7, 6], seed: 320), w = randomTensor([4, 3, 3, 3], seed: 321)
            let b = randomTensor([4], seed: 322)
            assertGradientsMatch([x, w, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], padding: 1) }
            let frozen = randomTensor([4, 3, 3, 3], seed: 323)
            assertGradientsMatch([x]) { $0[0].conv2d(weight: frozen, padding: 1) }
            let residual = randomTensor([2, 4, 7, 6], seed: 324, margin: 0.1)
            assertGradientsMatch([x, residual], epsilon: 1e-3) {
                $0[0].conv2d(weight: frozen, bias: b, padding: 1, residual: $0[1], relu: true)
            }
        }
    }

    func testTransformedKernelCacheFollowsWeightWrites() {
        let w = randomTensor([3, 2, 3, 3], seed: 330), x = randomTensor([1, 2, 8, 8], seed: 331)
        for algorithm in Self.winograd {
            let first = forward(x, w, algorithm).values
            XCTAssertEqual(forward(x, w, algorithm).values, first, "cached transformed kernel gives the same output")
            w.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] *= 2 } }
            for (a, b) in zip(forward(x, w, algorithm).values, first) { XCTAssertEqual(a, 2 * b, accuracy: 1e-4) }
            w.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] /= 2 } }
        }
    }

    func testTheStandardChoiceIsFixedBySizeAndGivesTheSameNumbersEveryTime() {
        ConvAlgorithmChoice.forced = nil
        ConvAlgorithmChoice.reset()
        XCTAssertEqual(ConvAlgorithmChoice.standard(Conv3x3Shape(batch: 1, inputChannels: 80, outputChannels: 80, height: 72, width: 72)), .winograd4x4)
        XCTAssertEqual(ConvAlgorithmChoice.standard(Conv3x3Shape(batch: 1, inputChannels: 320, outputChannels: 320, height: 18, width: 18)), .winograd2x2)
        XCTAssertEqual(ConvAlgorithmChoice.standard(Conv3x3Shape(batch: 1, inputChannels: 640, outputChannels: 640, height: 9, width: 9)), .im2col)
        let x = randomTensor([1, 6, 33, 33], seed: 350), w = randomTensor([5, 6, 3, 3], seed: 351)
        let first = x.conv2d(weight: w, padding: 1).values
        XCTAssertEqual(ConvAlgorithmChoice.choices[Conv3x3Shape(batch: 1, inputChannels: 6, outputChannels: 5, height: 33, width: 33)], .winograd4x4)
        ConvAlgorithmChoice.reset()
        XCTAssertEqual(x.conv2d(weight: w, padding: 1).values, first, "no timing decides, so the numbers are the same")
        assertValues(x.conv2d(weight: w, padding: 1), naiveConv(x, w, stride: 1, padding: 1), accuracy: 1e-4)
    }

    func testMeasuredChoiceExistsForEveryShape() {
        ConvAlgorithmChoice.forced = nil
        ConvAlgorithmChoice.measures = true
        defer { ConvAlgorithmChoice.measures = false; ConvAlgorithmChoice.reset() }
        ConvAlgorithmChoice.reset()
        let shapes = [(1, 3, 4, 1), (2, 5, 3, 9), (1, 8, 8, 17), (1, 4, 4, 3)]
        for (batch, channels, outputs, size) in shapes {
            let x = randomTensor([batch, channels, size, size], seed: 340), w = randomTensor([outputs, channels, 3, 3], seed: 341)
            let expected = naiveConv(x, w, stride: 1, padding: 1)
            // The first call measures (and must still return the right values); the second uses the choice.
            assertValues(x.conv2d(weight: w, padding: 1), expected, accuracy: 1e-4)
            assertValues(x.conv2d(weight: w, padding: 1), expected, accuracy: 1e-4)
            let key = Conv3x3Shape(batch: batch, inputChannels: channels, outputChannels: outputs, height: size, width: size)
            let choice = ConvAlgorithmChoice.choices[key]
            XCTAssertNotNil(choice, "no choice recorded for \(key)")
            XCTAssertEqual(Set(ConvAlgorithmChoice.timings[key]?.keys.map { $0 } ?? []), Set(ConvAlgorithm.allCases))
        }
        // Other geometries never enter the cache.
        let before = ConvAlgorithmChoice.choices.count
        _ = randomTensor([1, 2, 6, 6], seed: 342).conv2d(weight: randomTensor([2, 2, 3, 3], seed: 343), stride: 2, padding: 1)
        _ = randomTensor([1, 2, 6, 6], seed: 344).conv2d(weight: randomTensor([2, 2, 5, 5], seed: 345), padding: 2)
        XCTAssertEqual(ConvAlgorithmChoice.choices.count, before)
    }

    func testAnImageGivesTheSameNumbersInAnyBatch() {
        // 64 channels at 24x24: the im2col GEMM (64 x 576 x 576) is cut into parts on the
        // workers for one image and runs its parts in order on one worker inside a batch.
        let saved = Parallel.workers
        Parallel.workers = max(saved, 2)
        defer { Parallel.workers = saved }
        let w = randomTensor([64, 64, 3, 3], seed: 360)
        let batch = randomTensor([3, 64, 24, 24], seed: 361)
        XCTAssertGreaterThan(GEMMParts.count(m: 64, n: 24 * 24, k: 64 * 9), 1)
        for algorithm in [ConvAlgorithm.im2col] + Self.winograd {
            let together = forward(batch, w, algorithm).values
            let per = 64 * 24 * 24
            for item in 0..<3 {
                let alone = forward(batch.sliced(axis: 0, item..<(item + 1)), w, algorithm).values
                XCTAssertEqual(alone, Array(together[(item * per)..<((item + 1) * per)]), "\(algorithm) item \(item)")
            }
        }
    }

    func testAlgorithmNames() {
        XCTAssertEqual(ConvAlgorithm(name: "im2col"), .im2col)
        XCTAssertEqual(ConvAlgorithm(name: "winograd2x2"), .winograd2x2)
        XCTAssertEqual(ConvAlgorithm(name: "F4"), .winograd4x4)
        XCTAssertNil(ConvAlgorithm(name: "measure"))
    }
}
