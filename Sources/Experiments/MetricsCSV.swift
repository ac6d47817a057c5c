import Foundation

/// A run folder's `metrics.csv`: a header, then one line per logged step. A resumed run
/// first drops the lines it is about to log again, so the file holds every step once.
final class MetricsCSV {
    let path: String
    private var handle: FileHandle?
    private var hasHeader: Bool

    /// Opens the file, keeping its header and the lines `keeping` accepts (given their fields).
    init(path: String, keeping: ([Substring]) -> Bool) throws {
        self.path = path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            hasHeader = false
            return
        }
        let lines = text.split(separator: "\n")
        hasHeader = !lines.isEmpty
        let kept = lines.prefix(1) + lines.dropFirst().filter { keeping($0.split(separator: ",")) }
        try kept.map { $0 + "\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Appends lines, writing `header` first into a file that has none.
    func append(_ lines: [String], header: @autoclosure () -> String) throws {
        if handle == nil {
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle?.seekToEnd()
        }
        var text = hasHeader ? "" : header() + "\n"
        hasHeader = true
        text += lines.map { $0 + "\n" }.joined()
        try handle?.write(contentsOf: Data(text.utf8))
    }

    deinit { try? handle?.close() }

    /// The lines after the header, split into fields.
    static func rows(path: String) -> [[Substring]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
    }
}
