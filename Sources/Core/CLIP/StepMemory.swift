import Foundation
import Support

/// What one optimization step through the image tower (forward on the tape, then the
/// gradient back to the pixels) needs in memory, from the architecture's shapes alone, so
/// that an image too large is refused before anything is allocated.
extension CLIPConfig {
    /// About how many bytes one step of `batch` images of `size` x `size` pixels takes: every
    /// convolution's output three times (kept for the backward pass, its gradient, and the
    /// activation beside it), the largest im2col buffer, and the job's own buffers (the
    /// image through the jitter and penalties, its gradient, the optimizer's moments). A
    /// visualization step measured 750 bytes a pixel on the toy model (estimate 1005) and
    /// 433 on the tests' small model (514); the tests check that it stays above the measure.
    public func stepBytes(size: Int, batch: Int = 1) -> Double {
        let side = Double(size), width = visionWidth
        var outputs = 0.0, im2col = 0.0
        func convolution(input: Int, output: Int, kernel: Int, side: Double) {
            outputs += Double(output) * side * side
            if kernel > 1 { im2col = max(im2col, Double(input * kernel * kernel) * side * side) }
        }
        // The stem: three 3x3 convolutions at half the side, then a 2x2 average pool.
        convolution(input: 3, output: width / 2, kernel: 3, side: side / 2)
        convolution(input: width / 2, output: width / 2, kernel: 3, side: side / 2)
        convolution(input: width / 2, output: width, kernel: 3, side: side / 2)
        outputs += Double(width) * (side / 4) * (side / 4)
        // The bottlenecks, as `ModifiedResNet` builds them (a pool in place of each stride).
        var inplanes = width, current = side / 4
        for (index, blocks) in visionLayers.enumerated() {
            let planes = width << index
            for block in 0..<blocks {
                let stride = block == 0 && index > 0 ? 2.0 : 1
                convolution(input: inplanes, output: planes, kernel: 1, side: current)
                convolution(input: planes, output: planes, kernel: 3, side: current)
                let next = current / stride
                if stride > 1 { outputs += Double(planes + inplanes) * next * next }
                convolution(input: planes, output: planes * 4, kernel: 1, side: next)
                if stride > 1 || inplanes != planes * 4 { convolution(input: inplanes, output: planes * 4, kernel: 1, side: next) }
                inplanes = planes * 4
                current = next
            }
        }
        // The image's own tensors on the tape (jitter, transforms, penalties) and the optimizer's.
        let ownBuffers = 64.0 * side * side
        return Double(MemoryLayout<Float>.size) * (3 * outputs + im2col + ownBuffers) * Double(max(1, batch))
    }

    /// The largest side (a multiple of 32, at least 32) whose step fits in `memory` bytes.
    public func largestStepSize(batch: Int = 1, memory: Double) -> Int {
        // The bytes grow with the square of the side: start from that guess, then step to the exact answer.
        let perPixel = stepBytes(size: 1024, batch: batch) / (1024 * 1024)
        var size = max(32, Int((memory / perPixel).squareRoot()) / 32 * 32)
        while size > 32, stepBytes(size: size, batch: batch) > memory { size -= 32 }
        while stepBytes(size: size + 32, batch: batch) <= memory { size += 32 }
        return size
    }

    /// Refuses (naming `size`) a step that would not fit in `memory` bytes, with the largest
    /// side that would.
    public func checkStepFits(size: Int, batch: Int = 1, memory: Double = CLIPConfig.memoryForSteps) throws {
        let needed = stepBytes(size: size, batch: batch)
        guard needed > memory else { return }
        let images = batch > 1 ? " of \(batch) images" : ""
        let largest = largestStepSize(batch: batch, memory: memory)
        throw InvalidParameter("size", "\(size) needs about \(Self.describe(bytes: needed)) for one step\(images), more than the "
            + "\(Self.describe(bytes: memory)) of memory this machine can give it; "
            + (stepBytes(size: largest, batch: batch) <= memory ? "the largest size that fits is \(largest)" : "no size fits"))
    }

    /// What a step may use: most of the physical memory, less what the process holds already
    /// (the model among it).
    public static var memoryForSteps: Double {
        let resident = Double(ProcessMemory.residentBytes ?? 0)
        return max(0, 0.8 * Double(ProcessInfo.processInfo.physicalMemory) - resident)
    }

    static func describe(bytes: Double) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB"]
        var value = bytes, unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: unit == 0 ? "%.0f %@" : "%.1f %@", value, units[unit])
    }
}
