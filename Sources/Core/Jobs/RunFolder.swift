import Foundation
import Synchronization

/// Any JSON value: a job's parameters and result, kept verbatim in its run record.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// Integers past Int64's range (64-bit seeds).
    case unsigned(UInt64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(UInt64.self) { self = .unsigned(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .integer(value): try container.encode(value)
        case let .unsigned(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    /// Parses JSON bytes (`.null` when they are not JSON).
    public init(data: Data) {
        self = (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .null
    }

    /// The value as JSON bytes (keys sorted), e.g. to decode a job's spec again.
    public var data: Data {
        (try? JSONValue.encode(self)) ?? Data("null".utf8)
    }

    /// JSON as clipscope writes it (documents on stdout, run records, result files): numbers
    /// are numbers, and a NaN or an infinity (a broken model) is written as null, never as a
    /// string and never as a failure to write (docs/CLI.md).
    public static func encode<Value: Encodable>(_ value: Value, formatting: JSONEncoder.OutputFormatting = [.sortedKeys],
                                                dates: JSONEncoder.DateEncodingStrategy = .deferredToDate) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        encoder.dateEncodingStrategy = dates
        // Non-finite numbers are marked on the way out, then turned into nulls.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFiniteMark, negativeInfinity: nonFiniteMark, nan: nonFiniteMark)
        let data = try encoder.encode(value)
        guard data.range(of: Data(nonFiniteMark.utf8)) != nil else { return data }
        return try encoder.encode(JSONDecoder().decode(JSONValue.self, from: data).replacingNonFiniteMarks())
    }

    static let nonFiniteMark = "clipscope.non-finite.5d1c0e"

    func replacingNonFiniteMarks() -> JSONValue {
        switch self {
        case .string(JSONValue.nonFiniteMark): .null
        case let .array(values): .array(values.map { $0.replacingNonFiniteMarks() })
        case let .object(members): .object(members.mapValues { $0.replacingNonFiniteMarks() })
        default: self
        }
    }
}

/// What a run folder's `run.json` says about the job that ran there: enough to list it,
/// show how far it got and how it ended, and start it again with the same parameters.
/// Written by `RunRecorder` while the job runs; a record still "running" whose process
/// is gone reads as interrupted.
public struct RunRecord: Codable, Sendable, Equatable {
    public var format = 1
    public var id: UUID
    public var kind: String
    public var unit: String
    /// running, finished, failed or cancelled (see `status(checkingProcess:)`).
    public var status: String
    public var step: Int
    public var total: Int?
    public var metrics: [JobMetric]
    /// The main metric over time, the newest `historyLimit` values.
    public var history: [Double]
    /// Files the job wrote; paths inside the run folder are relative to it.
    public var artefacts: [JobArtefact]
    /// The result's summary, or why it failed.
    public var outcome: String?
    /// The newest log lines (absent in records made before they were kept).
    public var log: [String]?
    /// Jobs before this one in the machine's queue while it is queued.
    public var queueAhead: Int?
    public var parameters: JSONValue
    public var result: JSONValue?
    public var started: Date
    public var updated: Date
    /// Seconds of work (as the job measured them).
    public var elapsed: Double
    /// The process that ran it, and on which machine.
    public var pid: Int32
    public var host: String

    public static let fileName = "run.json"
    public static let historyLimit = 200
    /// Log lines a record keeps, for an app watching the run from elsewhere.
    public static let logLimit = 100

    enum CodingKeys: String, CodingKey {
        case format, id, kind, unit, status, step, total, metrics, history, artefacts, outcome, log, parameters, result
        case queueAhead = "queue_ahead"
        case started, updated, elapsed, pid, host
    }

    /// The record of a job as its state stands now.
    public init(state: JobState, folder: String, started: Date, updated: Date = Date()) {
        id = state.id
        kind = state.kind
        unit = state.unit
        status = state.status.rawValue
        step = state.step
        total = state.total
        metrics = state.metrics
        // A sparkline cannot draw a NaN (and a record's numbers are numbers).
        history = Array(state.history.suffix(Self.historyLimit)).filter(\.isFinite)
        artefacts = state.artefacts.map { $0.relative(to: folder) }
        outcome = state.outcome
        log = state.logs.suffix(Self.logLimit).map { "\($0.level == .info ? "" : "\($0.level): ")\($0.message)" }
        queueAhead = state.queueAhead
        parameters = JSONValue(data: state.parameters)
        result = state.result.map { JSONValue(data: $0) }
        self.started = started
        self.updated = updated
        elapsed = state.progress?.elapsed ?? updated.timeIntervalSince(started)
        pid = getpid()
        host = RunRecord.hostName
    }

    /// The status, with a run whose process ended without a word (killed, crashed, a
    /// dropped SSH session) as "interrupted".
    public func status(checkingProcess: Bool = true) -> JobState.Status {
        let status = JobState.Status(rawValue: self.status) ?? .failed
        guard status == .running || status == .queued, checkingProcess, host == RunRecord.hostName else { return status }
        return RunRecord.processIsAlive(pid) ? status : .interrupted
    }

    /// The record as the jobs pane shows a job (artefact paths made whole again).
    public func jobState(folder: String, checkingProcess: Bool = true) -> JobState {
        var state = JobState(info: JobInfo(id: id, kind: kind, parameters: parameters.data, unit: unit))
        state.status = status(checkingProcess: checkingProcess)
        state.progress = JobProgress(step: step, total: total, rate: elapsed > 0 ? Double(step) / elapsed : 0, eta: nil,
                                     elapsed: elapsed, metrics: metrics)
        state.history = history
        state.queueAhead = state.status == .queued ? queueAhead : nil
        state.logs = (log ?? []).map { (.info, $0) }
        state.artefacts = artefacts.map { $0.resolved(in: folder) }
        state.outcome = state.status == .interrupted ? "interrupted at step \(step)" : outcome
        state.result = result?.data
        return state
    }

    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    static func processIsAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}

extension JobArtefact {
    func relative(to folder: String) -> JobArtefact {
        guard let path else { return self }
        let prefix = (folder as NSString).standardizingPath + "/"
        let whole = (path as NSString).standardizingPath
        return whole.hasPrefix(prefix) ? JobArtefact(name: name, path: String(whole.dropFirst(prefix.count)), step: step) : self
    }

    func resolved(in folder: String) -> JobArtefact {
        guard let path, !path.hasPrefix("/") else { return self }
        return JobArtefact(name: name, path: (folder as NSString).appendingPathComponent(path), step: step)
    }
}

/// A folder a job writes its results to, with its `run.json`.
public struct RunFolder: Sendable, Equatable {
    public let path: String

    public init(path: String) { self.path = path }

    public var recordPath: String { (path as NSString).appendingPathComponent(RunRecord.fileName) }
    public var lockPath: String { (path as NSString).appendingPathComponent(RunFolderLock.fileName) }

    /// Where run folders go unless told otherwise: `$CLIPSCOPE_RUNS`, else
    /// `$XDG_DATA_HOME/clipscope/runs` (`~/.local/share/clipscope/runs`).
    public static func defaultRunsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory = environment["CLIPSCOPE_RUNS"], !directory.isEmpty { return directory }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((home as NSString).appendingPathComponent(".local") as NSString).appendingPathComponent("share")
        return ((data as NSString).appendingPathComponent("clipscope") as NSString).appendingPathComponent("runs")
    }

    public func read() throws -> RunRecord {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: recordPath)) } catch {
            throw JobFailure(message: "\(recordPath): cannot read it (\(error.localizedDescription))")
        }
        do { return try RunFolder.decoder.decode(RunRecord.self, from: data) } catch {
            throw JobFailure(message: "\(recordPath): not a run record (\(error))")
        }
    }

    /// Writes the record whole or not at all (a temporary file renamed over the old one),
    /// so a kill never leaves half a record.
    public func write(_ record: RunRecord) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let temporary = recordPath + ".partial"
        try JSONValue.encode(record, formatting: [.prettyPrinted, .sortedKeys], dates: .iso8601).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, recordPath) == 0 else {
            throw JobFailure(message: "\(recordPath): cannot replace it (\(String(cString: strerror(errno))))")
        }
    }

    /// Every run folder directly under `directory`, newest first, and those whose
    /// `run.json` cannot be read (with why). A missing directory has none. With a `cache`, a
    /// record whose file has not changed (mtime and size) is not read again: watching a runs
    /// folder of hundreds of runs every few seconds costs a stat per run.
    public static func list(in directory: String, cache: RecordCache? = nil) -> (runs: [(folder: RunFolder, record: RunRecord)], unreadable: [(path: String, error: String)]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return ([], []) }
        var runs: [(folder: RunFolder, record: RunRecord)] = []
        var unreadable: [(path: String, error: String)] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let folder = RunFolder(path: (directory as NSString).appendingPathComponent(name))
            var info = stat()
            guard stat(folder.recordPath, &info) == 0 else { continue }
            let stamp = RecordCache.Stamp(seconds: Int(info.st_mtim.tv_sec), nanoseconds: Int(info.st_mtim.tv_nsec), size: Int(info.st_size))
            if let cached = cache?.record(folder.recordPath, stamp: stamp) {
                runs.append((folder, cached))
                continue
            }
            do {
                let record = try folder.read()
                cache?.store(record, for: folder.recordPath, stamp: stamp)
                runs.append((folder, record))
            } catch { unreadable.append((folder.path, "\(error)")) }
        }
        runs.sort { ($0.record.updated, $0.folder.path) > ($1.record.updated, $1.folder.path) }
        return (runs, unreadable)
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// One process's hold on a run folder while a job writes it: `.lock` in the folder, locked
/// with flock and holding the owner's pid, start time and host. The kernel drops a flock
/// when its process ends, however it ends (kill -9 too), so a lock file left behind by a
/// dead process is taken over, never trusted; a second writer fails at once, naming the
/// owner. (flock also refuses a second job of the same process.)
public final class RunFolderLock {
    public static let fileName = ".lock"
    public let path: String
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes `folder` (creating it), or throws naming the process that holds it. A folder
    /// that cannot be created gets no lock (nil): nothing can be written there, and the
    /// run's recorder says so.
    public static func acquire(_ folder: RunFolder) throws -> RunFolderLock? {
        let path = folder.lockPath
        func failure(_ what: String) -> JobFailure {
            JobFailure(message: "\(folder.path): cannot lock the run folder (\(what): \(String(cString: strerror(errno))))")
        }
        guard (try? FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)) != nil else {
            return nil
        }
        // A few tries: the owner may remove the file between our open and our flock.
        for _ in 0..<8 {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw failure("open") }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                let busy = errno == EWOULDBLOCK
                let owner = busy ? ownerDescription(descriptor) : ""
                let error = failure("flock")
                close(descriptor)
                guard busy else { throw error }
                throw JobFailure(message: "\(folder.path) is in use by \(owner); wait for it to end or choose another folder")
            }
            var opened = stat(), named = stat()
            guard fstat(descriptor, &opened) == 0, stat(path, &named) == 0,
                  opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
                close(descriptor)
                continue
            }
            let started = ISO8601DateFormatter().string(from: Date())
            let owner = Data("pid \(getpid())\nstarted \(started)\nhost \(RunRecord.hostName)\n".utf8)
            let written = ftruncate(descriptor, 0) == 0 && owner.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } == owner.count
            guard written else {
                let error = failure("write")
                close(descriptor)
                throw error
            }
            return RunFolderLock(path: path, descriptor: descriptor)
        }
        throw JobFailure(message: "\(folder.path): cannot lock the run folder (its lock file keeps changing)")
    }

    /// The pid recorded in a lock file's text, if any.
    public static func ownerPID(in text: String) -> Int32? {
        text.split(separator: "\n").lazy.compactMap { line in
            line.hasPrefix("pid ") ? Int32(line.dropFirst(4)) : nil
        }.first
    }

    /// "process 123 (started 2026-...)", from the lock file the owner wrote.
    private static func ownerDescription(_ descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 512)
        let count = pread(descriptor, &bytes, bytes.count, 0)
        let text = String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self)
        // An owner that has just taken the lock may not have written its pid yet.
        guard let pid = ownerPID(in: text) else { return "another process" }
        let started = text.split(separator: "\n").first { $0.hasPrefix("started ") }.map { " since \($0.dropFirst(8))" } ?? ""
        return "process \(pid)\(started)"
    }

    /// Gives the folder up (removing the lock file first, so no one takes a lock on a file
    /// that is about to go).
    public func release() {
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// Keeps a job's `run.json` up to date from its events: at the start, on every artefact
/// and at the end, and at most once a second in between. A record that cannot be written
/// costs the job nothing but one warning.
public final class RunRecorder: Sendable {
    public let folder: RunFolder
    /// Seconds between writes of progress alone.
    public let interval: Double
    private struct Progress {
        var state: JobState?
        var started = Date()
        var lastWrite = -Double.infinity
        var warned = false
    }
    private let progress = Mutex(Progress())

    public init(folder: RunFolder, interval: Double = 1) {
        self.folder = folder
        self.interval = interval
    }

    /// A sink that records each event, then passes it on to `downstream`.
    public func recording(_ downstream: @escaping JobEventSink) -> JobEventSink {
        { [self] id, event in
            let warning = record(event)
            downstream(id, event)
            if let warning { downstream(id, .log(.warning, warning)) }
        }
    }

    /// Folds the event; writes when due; returns a warning the first time a write fails.
    func record(_ event: JobEvent) -> String? {
        progress.withLock { progress -> String? in
            if case let .started(info) = event {
                progress.state = JobState(info: info)
                progress.started = Date()
            } else {
                progress.state?.apply(event)
            }
            guard let state = progress.state else { return nil }
            let now = JobContext.now()
            let due: Bool
            switch event {
            case .progress, .preview: due = now - progress.lastWrite >= interval
            // Log lines are what a watcher of the folder reads as they come: kept fresher.
            case .log: due = now - progress.lastWrite >= min(interval, 0.1)
            case .started, .artefact, .queue, .finished, .failed, .cancelled: due = true
            }
            guard due else { return nil }
            progress.lastWrite = now
            do {
                try folder.write(RunRecord(state: state, folder: folder.path, started: progress.started))
                return nil
            } catch {
                guard !progress.warned else { return nil }
                progress.warned = true
                return "could not keep the run record: \(error)"
            }
        }
    }
}

/// The run records read by `RunFolder.list`, by path, with the mtime and size they were read at.
public final class RecordCache: Sendable {
    struct Stamp: Equatable, Sendable {
        let seconds: Int, nanoseconds: Int, size: Int
    }
    private let records = Mutex<[String: (stamp: Stamp, record: RunRecord)]>([:])
    /// Records read from files (not from the cache) since the start, for tests.
    public var reads: Int { readCount.load(ordering: .relaxed) }
    private let readCount = Atomic<Int>(0)

    public init() {}

    func record(_ path: String, stamp: Stamp) -> RunRecord? {
        records.withLock { $0[path].flatMap { $0.stamp == stamp ? $0.record : nil } }
    }

    func store(_ record: RunRecord, for path: String, stamp: Stamp) {
        readCount.add(1, ordering: .relaxed)
        records.withLock { $0[path] = (stamp, record) }
    }
}
