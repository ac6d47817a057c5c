import Foundation
import Imaging
import Support
import Tensor

/// Images decoded and preprocessed for a model a batch at a time, in order: memory stays
/// bounded for long lists, and a file that cannot be read is reported and skipped while
/// the rest go on. With `prefetch`, decoding runs on its own thread ahead of the caller's
/// model work.
public struct ImageBatches {
    /// An image that could not be read: its position in the list, its path, and why
    /// (the reason without the path, which the decoders' errors start with).
    public struct Failure: Sendable, Equatable {
        public let index: Int
        public let path: String
        public let reason: String
    }

    public let paths: [String]
    public let batchSize: Int
    public let preprocessing: ModelInputPreprocessing
    public var prefetch: Bool

    public init(paths: [String], batchSize: Int, preprocessing: ModelInputPreprocessing, prefetch: Bool = false) {
        precondition(batchSize >= 1, "ImageBatches: batch size must be at least 1, got \(batchSize)")
        self.paths = paths
        self.batchSize = batchSize
        self.preprocessing = preprocessing
        self.prefetch = prefetch
    }

    private enum Item: Sendable {
        case pixels(Int, [Float])
        case failed(Failure)
    }

    /// Calls `skipped` for each unreadable file and `body` with each full batch (and the last
    /// partial one): the list positions of its images and their pixels [n, 3, R, R], in list
    /// order. Stops early, without error, once `isCancelled` says so.
    public func forEach(isCancelled: @escaping @Sendable () -> Bool = { false },
                        skipped: (Failure) throws -> Void,
                        _ body: (_ indices: [Int], _ pixels: Tensor) throws -> Void) throws {
        var indices: [Int] = [], planes: [[Float]] = []
        func flush() throws {
            guard !indices.isEmpty else { return }
            try body(indices, Self.stack(planes, size: preprocessing.size))
            indices.removeAll(keepingCapacity: true)
            planes.removeAll(keepingCapacity: true)
        }
        func handle(_ item: Item) throws {
            switch item {
            case let .failed(failure): try skipped(failure)
            case let .pixels(index, plane):
                indices.append(index)
                planes.append(plane)
                if indices.count == batchSize { try flush() }
            }
        }
        if prefetch {
            let queue = BoundedQueue<Item>(capacity: 2 * batchSize)
            let finished = DispatchSemaphore(value: 0)
            let (paths, preprocessing) = (self.paths, self.preprocessing)
            let decoder = Thread {
                for (index, path) in paths.enumerated() {
                    if isCancelled() || !queue.put(Self.decode(index, path, preprocessing)) { break }
                }
                queue.close()
                finished.signal()
            }
            decoder.name = "clipscope.decode"
            decoder.start()
            defer {
                queue.close()
                finished.wait()
            }
            while let item = queue.take() {
                if isCancelled() { return }
                try handle(item)
            }
        } else {
            for (index, path) in paths.enumerated() {
                if isCancelled() { return }
                try handle(Self.decode(index, path, preprocessing))
            }
        }
        if !isCancelled() { try flush() }
    }

    private static func decode(_ index: Int, _ path: String, _ preprocessing: ModelInputPreprocessing) -> Item {
        do {
            return .pixels(index, preprocessing.tensor(try DecodedImage.load(path: path)))
        } catch {
            return .failed(Failure(index: index, path: path, reason: reason(error, path: path)))
        }
    }

    /// An error as one line without a leading "path: " (decoders name the file; the caller has it).
    public static func reason(_ error: Error, path: String) -> String {
        let message = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        return message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }

    /// Planes of 3 x size x size values as one batch [n, 3, size, size].
    public static func stack(_ planes: [[Float]], size: Int) -> Tensor {
        let plane = 3 * size * size
        return Tensor(shape: [planes.count, 3, size, size]) { p in
            for (i, values) in planes.enumerated() {
                values.withUnsafeBufferPointer { (p.baseAddress! + i * plane).update(from: $0.baseAddress!, count: plane) }
            }
        }
    }
}
