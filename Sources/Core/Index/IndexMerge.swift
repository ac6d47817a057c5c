import Foundation
import GRDB
import Support

/// What `ActivationIndex.merge` did.
public struct MergeReport: Codable, Sendable, Equatable {
    public let output: String
    public let inputs: [String]
    /// Scans in the output, each with its number of entries.
    public let scans: [MergedScan]
}

public struct MergedScan: Codable, Sendable, Equatable {
    public let scan: String
    public let images: Int
    public let skipped: Int
}

extension ActivationIndex {
    /// Combines shard indexes into a new one: scans of the same model, tap and reduction
    /// are united (a file present in several inputs keeps its newest version), people's
    /// labels are carried over, and summaries are recomputed, so the output answers
    /// exactly as one scan over all the files would.
    @discardableResult
    public static func merge(inputs: [String], output: String) throws -> MergeReport {
        guard !inputs.isEmpty else { throw IndexError("index merge: give at least one input index") }
        let outputPath = ImageFolders.absolute(output)
        for input in inputs where ImageFolders.absolute(input) == outputPath {
            throw IndexError("index merge: the output \(output) is also an input")
        }
        guard !FileManager.default.fileExists(atPath: output) else {
            throw IndexError("\(output): already exists (merge writes a new index)")
        }
        let sources = try inputs.map { try ActivationIndex(path: $0, readOnly: true) }
        for source in sources {
            for scan in try source.scans() where scan.stale {
                throw IndexError("\(source.path): scan \(scan.label) was interrupted", remedy: .finishBeforeMerging)
            }
        }
        // Write beside the output and rename at the end, so a failure leaves no half index.
        let temporary = output + ".partial"
        try? FileManager.default.removeItem(atPath: temporary)
        var succeeded = false
        defer {
            if !succeeded {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
            }
        }
        var report: [MergedScan] = []
        do {
            let target = try ActivationIndex(path: temporary, create: true)
            var targetScans: [String: ScanInfo] = [:]
            for source in sources {
                for scan in try source.scans() {
                    let key = "\(scan.model.fingerprint)/\(scan.tap.rawValue)/\(scan.reduce.rawValue)"
                    let merged = try targetScans[key] ?? target.scan(model: scan.model, tap: scan.tap, reduce: scan.reduce)
                    targetScans[key] = merged
                    try copyEntries(from: source, scan: scan.id, to: target, scan: merged.id)
                    try copyLabels(from: source, to: target, fingerprint: scan.model.fingerprint)
                }
            }
            for scan in try target.scans() {
                try target.summarize(scan: scan)
                report.append(MergedScan(scan: scan.label, images: scan.imageCount, skipped: scan.skippedCount))
            }
        }
        // Fold the write-ahead log into the file before it moves.
        _ = try? DatabaseQueue(path: temporary).writeWithoutTransaction { try $0.checkpoint(.truncate) }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
        do {
            try FileManager.default.moveItem(atPath: temporary, toPath: output)
        } catch {
            throw IndexError("\(output): cannot write the merged index: \(error.localizedDescription)")
        }
        succeeded = true
        return MergeReport(output: output, inputs: inputs, scans: report)
    }

    private static func copyEntries(from source: ActivationIndex, scan sourceScan: Int64, to target: ActivationIndex, scan targetScan: Int64) throws {
        let existing = try target.fileStates(scan: targetScan)
        var batch: [Row] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            try target.write("write merged entries") { db in
                let statement = try db.cachedStatement(sql: ActivationIndex.upsertEntrySQL)
                for row in batch {
                    try statement.execute(arguments: [targetScan, row["path"], row["category"], row["size"], row["mtime_ns"],
                                                      row["status"], row["error"], row["activations"], row["embedding"],
                                                      row["has_embedding"]])
                }
                try db.execute(sql: "UPDATE scans SET stale = 1 WHERE id = ?", arguments: [targetScan])
            }
            batch.removeAll(keepingCapacity: true)
        }
        try source.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT path, category, size, mtime_ns, status, error, activations, embedding, has_embedding FROM entries WHERE scan_id = ? ORDER BY path
                """, arguments: [sourceScan])
            while let row = try rows.next() {
                let path: String = row["path"]
                // The same file in two inputs: the newer version wins.
                if let state = existing[path], state.mtimeNanoseconds >= row["mtime_ns"] { continue }
                batch.append(row.copy())
                if batch.count >= 256 { try flush() }
            }
        }
        try flush()
    }

    private static func copyLabels(from source: ActivationIndex, to target: ActivationIndex, fingerprint: String) throws {
        let theirs = try source.userLabels(fingerprint: fingerprint)
        let ours = try target.userLabels(fingerprint: fingerprint)
        for (neuron, value) in theirs.sorted(by: { $0.key < $1.key }) where ours[neuron] == nil {
            try target.setUserLabel(fingerprint: fingerprint, neuron: neuron, label: value.label, note: value.note)
        }
    }
}
