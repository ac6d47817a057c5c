import CLIP
import Foundation
import GRDB
import Jobs
import Support

/// A persistent activation index: one SQLite file (WAL mode) holding one or more scans,
/// each with every image's activation for every neuron (binary16 blobs), skipped files
/// with their reasons, per-neuron summaries (stats, top/bottom lists, histograms,
/// per-category stats), and neuron labels.
///
/// Writes commit per batch, so a killed scan loses at most its batch in flight, and a
/// file is keyed by (scan, path), so it is never counted twice.
public final class ActivationIndex: Sendable {
    /// Written into `meta` so that another SQLite file is recognised as not an index.
    public static let formatName = "clipscope-index"
    public static let formatVersion = 1

    public let path: String
    /// A WAL pool (readers never wait for a scan's writes), or a queue for a read-only file.
    let database: any DatabaseWriter

    /// Opens an index; with `create`, makes it (and its tables) if missing. `readOnly`
    /// (queries) never writes the file, so a file that is not an index stays as it was; a
    /// writable open first checks the file's structure (SQLite's quick_check), so that
    /// nothing is added to a damaged index as if it were whole.
    public init(path: String, create: Bool = false, readOnly: Bool = false) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create { throw IndexError("\(path): no such index", remedy: .scanToCreate) }
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(30)
        configuration.label = "clipscope.index"
        if exists && !create && (readOnly || !FileManager.default.isWritableFile(atPath: path)) {
            configuration.readonly = true
            configuration.journalMode = .default
        }
        do {
            database = configuration.readonly ? try DatabaseQueue(path: path, configuration: configuration)
                : try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError("\(path): not a clipscope index (\(Self.reason(error)))")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            throw Self.damaged(path, Self.reason(error))
        } catch {
            throw IndexError("\(path): cannot open the index: \(Self.reason(error))")
        }
        if exists && !configuration.readonly { try checkStructure() }
        try prepare(create: create)
    }

    /// The one-line refusal of a damaged index, with the way out.
    static func damaged(_ path: String, _ reason: String) -> IndexError {
        IndexError("\(path): the index is damaged (\(reason)); move it aside and scan again to rebuild it")
    }

    /// SQLite's quick_check: every page's structure, in one pass over the file.
    private func checkStructure() throws {
        let problems: [String]
        do {
            problems = try database.read { try String.fetchAll($0, sql: "PRAGMA quick_check(3)") }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError("\(path): not a clipscope index (\(Self.reason(error)))")
        } catch {
            throw Self.damaged(path, Self.reason(error))
        }
        guard problems == ["ok"] else {
            throw Self.damaged(path, problems.first.map { $0.split(separator: "\n").joined(separator: " ") } ?? "quick_check found problems")
        }
    }

    /// SQLite's message without GRDB's SQL echo.
    static func reason(_ error: Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }

    /// Runs a write, turning database errors into one line naming the file.
    func write<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch let error as IndexError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            throw Self.damaged(path, Self.reason(error))
        } catch {
            throw IndexError("\(path): cannot \(what): \(Self.reason(error))")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as IndexError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            throw Self.damaged(path, Self.reason(error))
        } catch {
            throw IndexError("\(path): cannot read the index: \(Self.reason(error))")
        }
    }

    private func prepare(create: Bool) throws {
        let hasMeta: Bool
        do {
            hasMeta = try database.read { try $0.tableExists("meta") }
        } catch {
            throw IndexError("\(path): not a clipscope index (\(Self.reason(error)))")
        }
        if !hasMeta {
            let empty = try read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") ?? 0 } == 0
            guard empty && create else { throw IndexError("\(path): not a clipscope index") }
        } else {
            let format = try read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'format'") }
            let version = try read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'version'") }
            guard format == Self.formatName else { throw IndexError("\(path): not a clipscope index") }
            guard version == String(Self.formatVersion) else {
                throw IndexError("\(path): index format version \(version ?? "?") is not supported (this clipscope reads \(Self.formatVersion))")
            }
        }
        // A read-only open changes nothing (what it lacks, such as stars, reads as empty); a
        // file migrated by a newer clipscope is left as that one made it.
        guard !(database is DatabaseQueue), try !read({ try Self.migrator.hasBeenSuperseded($0) }) else { return }
        do { try Self.migrator.migrate(database) } catch {
            throw IndexError("\(path): cannot update the index's tables: \(Self.reason(error))")
        }
    }

    /// The index's schema, one migration per change, recorded in the file by GRDB.
    /// Indexes made before migrations were recorded hold the first one's tables already:
    /// it only creates what is missing, so they take it as a no-op and then get the rest.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("format 1") { db in try createSchema(db) }
        migrator.registerMigration("stars") { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS stars (fingerprint TEXT NOT NULL, neuron INTEGER NOT NULL, PRIMARY KEY (fingerprint, neuron))")
        }
        return migrator
    }

    /// The tables of format 1 as the first indexes had them (stars came later).
    static func createSchema(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS scans (
                id INTEGER PRIMARY KEY,
                model TEXT NOT NULL,            -- ModelIdentity as JSON
                fingerprint TEXT NOT NULL,
                tap TEXT NOT NULL,
                reduce TEXT NOT NULL,
                stale INTEGER NOT NULL DEFAULT 0,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                UNIQUE (fingerprint, tap, reduce));
            CREATE TABLE IF NOT EXISTS entries (
                id INTEGER PRIMARY KEY,
                scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                category TEXT NOT NULL,
                size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL,
                status TEXT NOT NULL,
                error TEXT,
                activations BLOB,
                embedding BLOB,
                has_embedding INTEGER NOT NULL DEFAULT 0,
                UNIQUE (scan_id, path));
            -- Counting a scan's images reads this small index, not the rows with their blobs.
            CREATE INDEX IF NOT EXISTS entries_by_status ON entries (scan_id, status, has_embedding);
            CREATE TABLE IF NOT EXISTS summaries (
                scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                neuron INTEGER NOT NULL,
                summary BLOB NOT NULL,          -- NeuronSummary as JSON
                categories BLOB NOT NULL,       -- [CategorySummary] as JSON
                PRIMARY KEY (scan_id, neuron));
            CREATE TABLE IF NOT EXISTS user_labels (
                fingerprint TEXT NOT NULL,
                neuron INTEGER NOT NULL,
                label TEXT,
                note TEXT,
                PRIMARY KEY (fingerprint, neuron));
            CREATE TABLE IF NOT EXISTS proposed_labels (
                scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                neuron INTEGER NOT NULL,
                label TEXT NOT NULL,
                score REAL NOT NULL,
                PRIMARY KEY (scan_id, neuron));
            """)
        try db.execute(sql: "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?), ('version', ?)",
                       arguments: [formatName, String(formatVersion)])
    }

    // MARK: Scans

    /// Every scan, oldest first.
    public func scans() throws -> [ScanInfo] {
        try read { db in
            let counts = try Row.fetchAll(db, sql: """
                SELECT scan_id, status, has_embedding, count(*) AS n FROM entries INDEXED BY entries_by_status
                GROUP BY scan_id, status, has_embedding
                """)
            var byScan: [Int64: (Int, Int, Int)] = [:]
            for row in counts {
                let n: Int = row["n"]
                var count = byScan[row["scan_id"]] ?? (0, 0, 0)
                if row["status"] == EntryStatus.ok.rawValue { count.0 += n } else { count.1 += n }
                if row["has_embedding"] != 0 { count.2 += n }
                byScan[row["scan_id"]] = count
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM scans ORDER BY id").map { row in
                let id: Int64 = row["id"]
                let model = try JSONDecoder().decode(ModelIdentity.self, from: Data((row["model"] as String).utf8))
                let count = byScan[id] ?? (0, 0, 0)
                return ScanInfo(id: id, model: model, tap: NeuronTap(rawValue: row["tap"]) ?? .conv3,
                                reduce: ActivationReduce(rawValue: row["reduce"]) ?? .max, imageCount: count.0,
                                skippedCount: count.1, stale: row["stale"] != 0, embeddingCount: count.2,
                                updated: row["updated"])
            }
        }
    }

    /// The scan `selector` names (its id, or words matching its model name, tap and
    /// reduction, e.g. "block" or "RN50x4 conv3 mean"); without one, the only scan or the latest.
    public func scan(_ selector: String? = nil) throws -> ScanInfo {
        let all = try scans()
        guard !all.isEmpty else { throw IndexError("\(path): the index holds no scan yet") }
        guard let selector, !selector.isEmpty else {
            return all.max { ($0.updated, $0.id) < ($1.updated, $1.id) }!
        }
        let trimmed = selector.hasPrefix("#") ? String(selector.dropFirst()) : selector
        if let id = Int64(trimmed) {
            if let found = all.first(where: { $0.id == id }) { return found }
            throw IndexError("\(path): no scan #\(id); scans: \(all.map(\.label).joined(separator: ", "))")
        }
        let words = selector.lowercased().split(whereSeparator: { $0 == " " || $0 == "/" || $0 == "," }).map(String.init)
        let matching = all.filter { scan in
            let names = [scan.model.name.lowercased(), scan.tap.rawValue, scan.reduce.rawValue]
            return words.allSatisfy { names.contains($0) }
        }
        if matching.count == 1 { return matching[0] }
        let scansList = all.map(\.label).joined(separator: ", ")
        if matching.isEmpty { throw InvalidParameter("scan", "'\(selector)': no scan matches it in \(path); scans: \(scansList)") }
        throw InvalidParameter("scan", "'\(selector)' matches \(matching.count) scans in \(path); pick one of: \(scansList)")
    }

    /// The scan of this model, tap and reduction, made if missing.
    public func scan(model: ModelIdentity, tap: NeuronTap, reduce: ActivationReduce) throws -> ScanInfo {
        let id: Int64 = try write("add a scan") { db in
            if let id = try Int64.fetchOne(db, sql: "SELECT id FROM scans WHERE fingerprint = ? AND tap = ? AND reduce = ?",
                                           arguments: [model.fingerprint, tap.rawValue, reduce.rawValue]) {
                return id
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let now = Date().timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO scans (model, fingerprint, tap, reduce, stale, created, updated) VALUES (?, ?, ?, ?, 0, ?, ?)
                """, arguments: [String(decoding: try encoder.encode(model), as: UTF8.self), model.fingerprint,
                                 tap.rawValue, reduce.rawValue, now, now])
            return db.lastInsertedRowID
        }
        return try scans().first { $0.id == id }!
    }

    // MARK: Entries

    /// Size and modification time of every file of a scan, by path (to find new and changed files).
    public func fileStates(scan: Int64) throws -> [String: (size: Int64, mtimeNanoseconds: Int64)] {
        try read { db in
            var states: [String: (size: Int64, mtimeNanoseconds: Int64)] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT path, size, mtime_ns FROM entries WHERE scan_id = ?", arguments: [scan])
            while let row = try rows.next() { states[row["path"]] = (row["size"], row["mtime_ns"]) }
            return states
        }
    }

    /// Inserts an entry or replaces the earlier row of the same file (scans and merges).
    static let upsertEntrySQL = """
        INSERT INTO entries (scan_id, path, category, size, mtime_ns, status, error, activations, embedding, has_embedding)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (scan_id, path) DO UPDATE SET category = excluded.category, size = excluded.size,
            mtime_ns = excluded.mtime_ns, status = excluded.status, error = excluded.error,
            activations = excluded.activations, embedding = excluded.embedding, has_embedding = excluded.has_embedding
        """

    /// Writes a batch in one transaction (replacing earlier rows of the same files) and
    /// marks the scan's summaries stale.
    public func commit(scan: Int64, records: [EntryRecord]) throws {
        guard !records.isEmpty else { return }
        try write("write a batch") { db in
            let statement = try db.cachedStatement(sql: Self.upsertEntrySQL)
            for record in records {
                let status: EntryStatus = record.activations == nil ? .skipped : .ok
                try statement.execute(arguments: [
                    scan, record.path, record.category, record.size, record.mtimeNanoseconds, status.rawValue, record.error,
                    record.activations.map { HalfFloat.encode($0) }, record.embedding.map { HalfFloat.encode($0) },
                    record.embedding != nil,
                ])
            }
            try db.execute(sql: "UPDATE scans SET stale = 1, updated = ? WHERE id = ?",
                           arguments: [Date().timeIntervalSince1970, scan])
        }
    }

    /// Drops files from a scan (they were removed from disk); marks it stale if any went.
    @discardableResult
    public func remove(scan: Int64, paths: [String]) throws -> Int {
        guard !paths.isEmpty else { return 0 }
        return try write("remove files") { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM entries WHERE scan_id = ? AND path = ?")
            var removed = 0
            for path in paths {
                try statement.execute(arguments: [scan, path])
                removed += db.changesCount
            }
            if removed > 0 {
                try db.execute(sql: "UPDATE scans SET stale = 1, updated = ? WHERE id = ?",
                               arguments: [Date().timeIntervalSince1970, scan])
            }
            return removed
        }
    }

    static func entry(_ row: Row) -> IndexEntry {
        IndexEntry(id: row["id"], path: row["path"], category: row["category"], size: row["size"],
                   mtimeNanoseconds: row["mtime_ns"], status: EntryStatus(rawValue: row["status"]) ?? .skipped,
                   error: row["error"])
    }

    /// The files of a scan, by path.
    public func entries(scan: Int64, status: EntryStatus? = nil) throws -> [IndexEntry] {
        try read { db in
            let filter = status.map { " AND status = '\($0.rawValue)'" } ?? ""
            return try Row.fetchAll(db, sql: """
                SELECT id, path, category, size, mtime_ns, status, error FROM entries WHERE scan_id = ?\(filter) ORDER BY path
                """, arguments: [scan]).map(Self.entry)
        }
    }

    /// Entries by id (for the ids in summaries).
    public func entries(ids: [Int64]) throws -> [Int64: IndexEntry] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            let list = ids.map(String.init).joined(separator: ",")
            var found: [Int64: IndexEntry] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, path, category, size, mtime_ns, status, error FROM entries WHERE id IN (\(list))") {
                let entry = Self.entry(row)
                found[entry.id] = entry
            }
            return found
        }
    }

    /// A file's entry and activations (nil activations when it was skipped); nil when not in the scan.
    public func activations(scan: Int64, path: String) throws -> (entry: IndexEntry, activations: [Float]?)? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, path, category, size, mtime_ns, status, error, activations FROM entries WHERE scan_id = ? AND path = ?
                """, arguments: [scan, path]) else { return nil }
            let blob: Data? = row["activations"]
            return (Self.entry(row), blob.map(HalfFloat.decode))
        }
    }

    /// Stored image embeddings of some entries (those that have one).
    public func embeddings(ids: [Int64]) throws -> [Int64: [Float]] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            let list = ids.map(String.init).joined(separator: ",")
            var found: [Int64: [Float]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, embedding FROM entries WHERE id IN (\(list)) AND embedding IS NOT NULL") {
                found[row["id"]] = HalfFloat.decode(row["embedding"])
            }
            return found
        }
    }

    /// One neuron's value for every image of a scan, read from the blobs (a full pass:
    /// for plots and rankings longer than the stored ones).
    public func values(scan: ScanInfo, neuron: Int) throws -> [(entry: Int64, category: String, value: Float)] {
        try checkNeuron(neuron, scan: scan)
        return try read { db in
            var result: [(entry: Int64, category: String, value: Float)] = []
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, category, substr(activations, ?, 2) AS value FROM entries WHERE scan_id = ? AND status = 'ok'
                """, arguments: [2 * neuron + 1, scan.id])
            while let row = try rows.next() {
                let bytes: Data = row["value"]
                result.append((row["id"], row["category"], HalfFloat.decode(bytes, at: 0)))
            }
            return result
        }
    }

    // MARK: Summaries

    /// Throws unless `neuron` exists in the scan's model.
    public func checkNeuron(_ neuron: Int, scan: ScanInfo) throws {
        guard (0..<scan.model.neurons).contains(neuron) else {
            throw InvalidParameter("neuron", "\(neuron) is out of range: \(scan.model.name) has neurons 0...\(scan.model.neurons - 1)")
        }
    }

    private func summaryBlob(scan: ScanInfo, neuron: Int, column: String) throws -> Data {
        try checkNeuron(neuron, scan: scan)
        if scan.stale {
            throw IndexError("\(path): scan \(scan.label) was interrupted", remedy: .scanToFinish)
        }
        guard let blob = try read({ try Data.fetchOne($0, sql: "SELECT \(column) FROM summaries WHERE scan_id = ? AND neuron = ?",
                                                      arguments: [scan.id, neuron]) }) else {
            throw IndexError("\(path): scan \(scan.label) has no images")
        }
        return blob
    }

    /// A neuron's precomputed stats, top and bottom images, and histogram.
    public func summary(scan: ScanInfo, neuron: Int) throws -> NeuronSummary {
        try JSONDecoder().decode(NeuronSummary.self, from: summaryBlob(scan: scan, neuron: neuron, column: "summary"))
    }

    /// A neuron's precomputed per-category stats, by category name.
    public func categories(scan: ScanInfo, neuron: Int) throws -> [CategorySummary] {
        try JSONDecoder().decode([CategorySummary].self, from: summaryBlob(scan: scan, neuron: neuron, column: "categories"))
    }

    // MARK: Labels

    /// A person's label and note for a neuron of a model (nil clears a field).
    public func setUserLabel(fingerprint: String, neuron: Int, label: String?, note: String?) throws {
        if let problem = NeuronLabel.lengthProblem(label: label, note: note) { throw IndexError(problem) }
        try write("store the label") { db in
            if label == nil && note == nil {
                try db.execute(sql: "DELETE FROM user_labels WHERE fingerprint = ? AND neuron = ?", arguments: [fingerprint, neuron])
            } else {
                try db.execute(sql: """
                    INSERT INTO user_labels (fingerprint, neuron, label, note) VALUES (?, ?, ?, ?)
                    ON CONFLICT (fingerprint, neuron) DO UPDATE SET label = excluded.label, note = excluded.note
                    """, arguments: [fingerprint, neuron, label, note])
            }
        }
    }

    /// People's labels and notes for a model's neurons.
    public func userLabels(fingerprint: String) throws -> [Int: (label: String?, note: String?)] {
        try read { db in
            var labels: [Int: (label: String?, note: String?)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT neuron, label, note FROM user_labels WHERE fingerprint = ?",
                                        arguments: [fingerprint]) {
                labels[row["neuron"]] = (row["label"], row["note"])
            }
            return labels
        }
    }

    /// Stars a model's neuron, or takes the star away.
    public func setStar(fingerprint: String, neuron: Int, starred: Bool) throws {
        try write("store the star") { db in
            try db.execute(sql: starred ? "INSERT OR IGNORE INTO stars (fingerprint, neuron) VALUES (?, ?)"
                                        : "DELETE FROM stars WHERE fingerprint = ? AND neuron = ?", arguments: [fingerprint, neuron])
        }
    }

    /// A model's starred neurons (none in a read-only index made before stars existed).
    public func stars(fingerprint: String) throws -> Set<Int> {
        try read { db in
            guard try db.tableExists("stars") else { return [] }
            return Set(try Int.fetchAll(db, sql: "SELECT neuron FROM stars WHERE fingerprint = ?", arguments: [fingerprint]))
        }
    }

    /// Stores proposed labels of a scan (replacing earlier proposals for the same neurons).
    public func storeProposedLabels(scan: Int64, _ labels: [(neuron: Int, label: String, score: Double)]) throws {
        try write("store proposed labels") { db in
            let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO proposed_labels (scan_id, neuron, label, score) VALUES (?, ?, ?, ?)")
            for item in labels { try statement.execute(arguments: [scan, item.neuron, item.label, item.score]) }
        }
    }

    /// Labels of a scan's neurons: a person's label wins over a proposal.
    public func labels(scan: ScanInfo) throws -> [NeuronLabel] {
        let people = try userLabels(fingerprint: scan.model.fingerprint)
        let proposed: [Int: (String, Double)] = try read { db in
            var result: [Int: (String, Double)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT neuron, label, score FROM proposed_labels WHERE scan_id = ?", arguments: [scan.id]) {
                result[row["neuron"]] = (row["label"], row["score"])
            }
            return result
        }
        return Set(people.keys).union(proposed.keys).sorted().compactMap { neuron in
            let person = people[neuron]
            if let label = person?.label { return NeuronLabel(neuron: neuron, label: label, score: nil, source: "user", note: person?.note) }
            if let (label, score) = proposed[neuron] {
                return NeuronLabel(neuron: neuron, label: label, score: score, source: "proposed", note: person?.note ?? nil)
            }
            return nil
        }
    }
}
