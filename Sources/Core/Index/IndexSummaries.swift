import Foundation
import GRDB
import Jobs

extension ActivationIndex {
    /// Floats held at once while summarising (neurons are processed in blocks of columns).
    static let summaryBlockFloats = 32 << 20

    /// Recomputes every neuron's summary of a scan from its stored activations and
    /// clears its stale flag. Ties between equal activations are broken by path, so that
    /// the same images give the same summaries however they were scanned or merged.
    public func summarize(scan: ScanInfo, isCancelled: () -> Bool = { false }) throws {
        let rows: [(id: Int64, path: String, category: String)] = try read { db in
            try Row.fetchAll(db, sql: "SELECT id, path, category FROM entries WHERE scan_id = ? AND status = 'ok' ORDER BY id",
                             arguments: [scan.id]).map { ($0["id"], $0["path"], $0["category"]) }
        }
        let count = rows.count
        let neurons = scan.model.neurons
        // Rank of each row by path: the tie-breaker.
        let byPath = rows.indices.sorted { rows[$0].path < rows[$1].path }
        var pathRank = [UInt32](repeating: 0, count: count)
        for (rank, row) in byPath.enumerated() { pathRank[row] = UInt32(rank) }
        let rowOfRank = byPath
        let categoryNames = Array(Set(rows.map(\.category))).sorted()
        let categoryCode = Dictionary(uniqueKeysWithValues: categoryNames.enumerated().map { ($1, $0) })
        let codes = rows.map { categoryCode[$0.category]! }
        let ids = rows.map(\.id)

        var summaries: [(neuron: Int, summary: Data, categories: Data)] = []
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if count > 0 {
            let blockSize = max(1, min(neurons, Self.summaryBlockFloats / max(1, count)))
            var block = [Float](repeating: 0, count: blockSize * count)
            for blockStart in stride(from: 0, to: neurons, by: blockSize) {
                if isCancelled() { throw JobCancelled() }
                let blockEnd = min(neurons, blockStart + blockSize)
                let width = blockEnd - blockStart
                // One pass over the blobs fills the block, neuron-major.
                try read { db in
                    let cursor = try Row.fetchCursor(db, sql: """
                        SELECT activations FROM entries WHERE scan_id = ? AND status = 'ok' ORDER BY id
                        """, arguments: [scan.id])
                    var r = 0
                    try block.withUnsafeMutableBufferPointer { out in
                        while let row = try cursor.next() {
                            guard r < count else { break }
                            let blob: Data = row["activations"]
                            guard blob.count == 2 * neurons else {
                                throw IndexError("\(path): an activation row has \(blob.count / 2) values, expected \(neurons)")
                            }
                            blob.withUnsafeBytes { raw in
                                for n in 0..<width {
                                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * (blockStart + n), as: UInt16.self))
                                    out[n * count + r] = HalfFloat.value(bits)
                                }
                            }
                            r += 1
                        }
                    }
                }
                for n in 0..<width {
                    let (summary, categories) = block.withUnsafeBufferPointer { all in
                        Self.summarizeNeuron(UnsafeBufferPointer(rebasing: all[(n * count)..<((n + 1) * count)]), ids: ids,
                                             pathRank: pathRank, rowOfRank: rowOfRank, codes: codes, categoryNames: categoryNames)
                    }
                    summaries.append((blockStart + n, try encoder.encode(summary), try encoder.encode(categories)))
                }
            }
        }
        try write("store summaries") { db in
            try db.execute(sql: "DELETE FROM summaries WHERE scan_id = ?", arguments: [scan.id])
            let statement = try db.cachedStatement(sql: "INSERT INTO summaries (scan_id, neuron, summary, categories) VALUES (?, ?, ?, ?)")
            for item in summaries { try statement.execute(arguments: [scan.id, item.neuron, item.summary, item.categories]) }
            try db.execute(sql: "UPDATE scans SET stale = 0 WHERE id = ?", arguments: [scan.id])
        }
    }

    /// The `k` images that excite a neuron most (or, with `bottom`, least), equal values in
    /// path order: from the stored summary when it holds enough, else ranked from all rows.
    public func ranking(scan: ScanInfo, neuron: Int, k: Int, bottom: Bool = false) throws -> [(entry: IndexEntry, value: Float)] {
        let summary = try summary(scan: scan, neuron: neuron)
        var ranked: [(entry: Int64, value: Float)]
        if k <= summary.top.count || summary.top.count < NeuronSummary.rankedCount {
            ranked = (bottom ? summary.bottom : summary.top).prefix(k).map { ($0.entry, $0.value) }
        } else {
            let rank = Dictionary(uniqueKeysWithValues: try entries(scan: scan.id, status: .ok).enumerated().map { ($1.id, $0) })
            let values = try values(scan: scan, neuron: neuron)
            ranked = values.sorted { a, b in
                a.value != b.value ? (bottom ? a.value < b.value : a.value > b.value) : rank[a.entry]! < rank[b.entry]!
            }.prefix(k).map { ($0.entry, $0.value) }
        }
        let found = try entries(ids: ranked.map(\.entry))
        return ranked.compactMap { item in found[item.entry].map { ($0, item.value) } }
    }

    /// A key whose unsigned order is (value, path rank) order.
    @inline(__always)
    static func sortKey(_ value: Float, rank: UInt32) -> UInt64 {
        let bits = value.bitPattern
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(ordered) << 32 | UInt64(rank)
    }

    static func summarizeNeuron(_ values: UnsafeBufferPointer<Float>, ids: [Int64], pathRank: [UInt32], rowOfRank: [Int],
                                codes: [Int], categoryNames: [String]) -> (NeuronSummary, [CategorySummary]) {
        let count = values.count
        var keys = [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
            for r in 0..<count { buffer[r] = sortKey(values[r], rank: pathRank[r]) }
            initialized = count
        }
        keys.sort()
        let order = keys.map { rowOfRank[Int($0 & 0xffff_ffff)] }
        let sorted = order.map { values[$0] }
        let stats = sorted.withUnsafeBufferPointer { ActivationStats(sorted: $0) }

        let ranked = min(NeuronSummary.rankedCount, count)
        // Highest first; equal values keep path order, as in `bottom`.
        var top: [RankedEntry] = []
        top.reserveCapacity(ranked)
        var end = count - 1
        while top.count < ranked && end >= 0 {
            var start = end
            while start > 0 && sorted[start - 1] == sorted[end] { start -= 1 }
            for i in start...end where top.count < ranked { top.append(RankedEntry(entry: ids[order[i]], value: sorted[i])) }
            end = start - 1
        }
        let bottom = (0..<ranked).map { i in RankedEntry(entry: ids[order[i]], value: sorted[i]) }

        // Bins span the finite values; a broken model's infinities land in the end
        // bins and NaNs in none, rather than stopping the summary.
        let finite = sorted.filter(\.isFinite)
        let low = Double(finite.first ?? 0), high = Double(finite.last ?? 0)
        let binCount = NeuronSummary.histogramBins
        let width = high > low ? (high - low) / Double(binCount) : 1
        func bin(_ value: Float, _ bins: Int, _ width: Double) -> Int {
            guard value.isFinite else { return value > 0 ? bins - 1 : 0 }
            return min(bins - 1, max(0, Int((Double(value) - low) / width)))
        }
        var binCounts = [Int](repeating: 0, count: binCount)
        var examples = [(index: Int, distance: Double)?](repeating: nil, count: binCount)
        for i in 0..<count where !sorted[i].isNaN {
            let b = bin(sorted[i], binCount, width)
            binCounts[b] += 1
            let distance = abs(Double(sorted[i]) - (low + (Double(b) + 0.5) * width))
            if examples[b] == nil || distance < examples[b]!.distance { examples[b] = (i, distance) }
        }
        let bins = (0..<binCount).map { b in
            HistogramBin(low: low + Double(b) * width, high: low + Double(b + 1) * width, count: binCounts[b],
                         example: examples[b].map { ids[order[$0.index]] })
        }

        // Per category: values arrive in sorted order, so each category's list is sorted.
        var perCategory = [[Float]](repeating: [], count: categoryNames.count)
        for i in 0..<count { perCategory[codes[order[i]]].append(sorted[i]) }
        let densityBins = CategorySummary.densityBins
        let densityWidth = high > low ? (high - low) / Double(densityBins) : 1
        let categories = categoryNames.indices.map { c in
            var density = [Int](repeating: 0, count: densityBins)
            for value in perCategory[c] where !value.isNaN { density[bin(value, densityBins, densityWidth)] += 1 }
            return CategorySummary(name: categoryNames[c],
                                   stats: perCategory[c].withUnsafeBufferPointer { ActivationStats(sorted: $0) },
                                   density: density)
        }
        return (NeuronSummary(stats: stats, top: top, bottom: bottom, bins: bins), categories)
    }
}
