import Foundation

/// A run folder's `metrics.csv`: a header, then one line per logged step. A resumed run
/// first drops the lines it is about to log again, so the file holds every step once.
final class MetricsCSV {
    let path: String
    private var handle: FileHandle?
    private var hasHeader: Bool

    /// Opens the file, keeping its header and the lines `keeping` accepts (given their fields).
    init(path: String, keeping: ([String]) -> Bool) throws {
        self.path = path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            hasHeader = false
            return
        }
        let records = Self.records(text)
        hasHeader = !records.isEmpty
        let kept = records.prefix(1) + records.dropFirst().filter(keeping)
        try kept.map { CSV.line($0) + "\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Appends rows, writing `header` first into a file that has none.
    func append(_ rows: [[String]], header: @autoclosure () -> [String]) throws {
        if handle == nil {
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle?.seekToEnd()
        }
        var text = hasHeader ? "" : CSV.line(header()) + "\n"
        hasHeader = true
        text += rows.map { CSV.line($0) + "\n" }.joined()
        try handle?.write(contentsOf: Data(text.utf8))
    }

    deinit { try? handle?.close() }

    /// The rows after the header.
    static func rows(path: String) -> [[String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return Array(records(text).dropFirst())
    }

    /// The file's records, blank lines and a damaged tail (a quote never closed, from a killed write) dropped.
    private static func records(_ text: String) -> [[String]] {
        let records = (try? CSV.records(text)) ?? (try? CSV.records(String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]))) ?? []
        return records.map(\.fields).filter { $0 != [""] }
    }
}
