import XCTest
@testable import Tensor

/// Compares the tape's gradients with central finite differences of a random
/// projection of the output, for every input element (or a sample of them).
func assertGradientsMatch(_ inputs: [Tensor], epsilon: Float = 1e-2, tolerance: Float = 2e-2, samples: Int = 48,
                          file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    for input in inputs { input.requiresGrad = true; input.grad = nil }
    let output = f(inputs)
    var generator = SeededGenerator(seed: 99)
    let projection = Tensor.randomNormal(output.shape, generator: &generator)
    (output * projection).sum().backward()

    func loss() -> Double {
        let out = f(inputs)
        var s: Double = 0
        for (a, b) in zip(out.values, projection.values) { s += Double(a) * Double(b) }
        return s
    }
    for (index, input) in inputs.enumerated() {
        guard let grad = input.grad else {
            XCTFail("input \(index) got no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(grad.shape, input.shape, file: file, line: line)
        let step = max(1, input.count / samples)
        for i in stride(from: 0, to: input.count, by: step) {
            let original = input.data[i]
            input.data[i] = original + epsilon
            let plus = loss()
            input.data[i] = original - epsilon
            let minus = loss()
            input.data[i] = original
            let numeric = Float((plus - minus) / Double(2 * epsilon))
            let analytic = grad.data[i]
            let scale = max(1, abs(numeric), abs(analytic))
            XCTAssertLessThanOrEqual(abs(numeric - analytic), tolerance * scale,
                                     "input \(index) element \(i): analytic \(analytic), numeric \(numeric)",
                                     file: file, line: line)
        }
    }
}

/// Random values in [-1, 1) kept at least `margin` away from 0 (for kinks).
func randomTensor(_ shape: [Int], seed: UInt64, margin: Float = 0) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor(shape: shape) { p in
        for i in 0..<p.count {
            let v = generator.nextUniform() * 2 - 1
            p[i] = v < 0 ? min(v, -margin) : max(v, margin)
        }
    }
}

func assertValues(_ t: Tensor, _ expected: [Float], accuracy: Float = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(t.count, expected.count, "element count", file: file, line: line)
    for (i, (a, b)) in zip(t.values, expected).enumerated() {
        XCTAssertEqual(a, b, accuracy: accuracy, "element \(i)", file: file, line: line)
    }
}

/// Distinct values 0.1 apart in shuffled order, so that maxima are unambiguous.
func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    let count = shape.reduce(1, *)
    let values = (0..<count).map { Float($0) * 0.1 - Float(count) * 0.05 }.shuffled(using: &generator)
    return Tensor(shape: shape, values: values)
}
