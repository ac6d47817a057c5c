import Foundation
import GRDB
@testable import Index
import XCTest

/// The index's schema moves with GRDB's migrator, and indexes made before it still open.
final class IndexMigrationTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// An index as the first clipscope wrote it: format 1's tables, no stars, no migrations table.
    func makeFirstFormatIndex(at path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE scans (id INTEGER PRIMARY KEY, model TEXT NOT NULL, fingerprint TEXT NOT NULL, tap TEXT NOT NULL,
                    reduce TEXT NOT NULL, stale INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL,
                    UNIQUE (fingerprint, tap, reduce));
                CREATE TABLE entries (id INTEGER PRIMARY KEY, scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                    path TEXT NOT NULL, category TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, status TEXT NOT NULL,
                    error TEXT, activations BLOB, embedding BLOB, has_embedding INTEGER NOT NULL DEFAULT 0, UNIQUE (scan_id, path));
                CREATE INDEX entries_by_status ON entries (scan_id, status, has_embedding);
                CREATE TABLE summaries (scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE, neuron INTEGER NOT NULL,
                    summary BLOB NOT NULL, categories BLOB NOT NULL, PRIMARY KEY (scan_id, neuron));
                CREATE TABLE user_labels (fingerprint TEXT NOT NULL, neuron INTEGER NOT NULL, label TEXT, note TEXT,
                    PRIMARY KEY (fingerprint, neuron));
                CREATE TABLE proposed_labels (scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE, neuron INTEGER NOT NULL,
                    label TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (scan_id, neuron));
                INSERT INTO meta (key, value) VALUES ('format', 'clipscope-index'), ('version', '1');
                INSERT INTO user_labels (fingerprint, neuron, label, note) VALUES ('abc', 7, 'spider', 'from the first version');
                """)
        }
        try queue.close()
    }

    func migrations(at path: String) throws -> [String] {
        try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
    }

    func testAnIndexMadeBeforeMigrationsOpensKeepsItsLabelsAndGainsStars() throws {
        let path = scratch.appendingPathComponent("old.index").path
        try makeFirstFormatIndex(at: path)

        // Read-only: nothing is written, and the missing stars table reads as no stars.
        let readOnly = try ActivationIndex(path: path, readOnly: true)
        XCTAssertEqual(try readOnly.stars(fingerprint: "abc"), [])
        XCTAssertEqual(try readOnly.userLabels(fingerprint: "abc")[7]?.label, "spider")
        XCTAssertFalse(try DatabaseQueue(path: path).read { try $0.tableExists("grdb_migrations") })

        let index = try ActivationIndex(path: path)
        XCTAssertEqual(try index.userLabels(fingerprint: "abc")[7]?.note, "from the first version")
        try index.setStar(fingerprint: "abc", neuron: 7, starred: true)
        XCTAssertEqual(try index.stars(fingerprint: "abc"), [7])
        XCTAssertEqual(try migrations(at: path), ["format 1", "stars"])
    }

    func testANewIndexRecordsEveryMigrationAndTheSameTablesAsAnUpdatedOldOne() throws {
        let old = scratch.appendingPathComponent("old.index").path, new = scratch.appendingPathComponent("new.index").path
        try makeFirstFormatIndex(at: old)
        _ = try ActivationIndex(path: old)
        _ = try ActivationIndex(path: new, create: true)
        XCTAssertEqual(try migrations(at: new), ["format 1", "stars"])
        let schema = { (path: String) in
            try DatabaseQueue(path: path).read {
                try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            }
        }
        XCTAssertEqual(try schema(new), try schema(old))
    }

    func testAnIndexMigratedByANewerClipscopeOpensAsItIs() throws {
        let path = scratch.appendingPathComponent("newer.index").path
        _ = try ActivationIndex(path: path, create: true)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('from a newer clipscope')") }
        let index = try ActivationIndex(path: path)
        try index.setUserLabel(fingerprint: "abc", neuron: 1, label: "dog", note: nil)
        XCTAssertEqual(try index.userLabels(fingerprint: "abc")[1]?.label, "dog")
        XCTAssertEqual(try migrations(at: path), ["format 1", "from a newer clipscope", "stars"])
    }
}
