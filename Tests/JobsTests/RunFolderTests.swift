import Foundation
import Synchronization
import XCTest
@testable import Jobs

/// A job that writes into its run folder: a picture per step and a loss that falls.
struct FolderJob: JobSpec {
    static let kind = "folder"
    var output: String
    var steps: Int
    var seed: UInt64
    var stopAt: Int?

    struct Result: Codable, Sendable { let finalLoss: Double }

    var runFolder: String? { output }

    func run(_ context: JobContext) throws -> Result {
        context.setTotal(steps)
        var loss = 1.0
        for step in 1...steps {
            if step == stopAt { context.token.cancel() }
            try context.checkCancellation()
            loss *= 0.5
            context.progress(step: step, metrics: [JobMetric("loss", loss), JobMetric("steps/s", 100)])
        }
        let picture = (output as NSString).appendingPathComponent("final.png")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: picture))
        context.artefact(JobArtefact(name: "image", path: picture, step: steps))
        context.artefact(JobArtefact(name: "elsewhere", path: "/somewhere/else.png"))
        return Result(finalLoss: loss)
    }
}

/// A job whose numbers are not all finite (a broken model): its record is written all the same.
struct NonFiniteJob: JobSpec {
    static let kind = "non-finite"
    var output: String
    struct Result: Codable, Sendable { let value: Double }
    var runFolder: String? { output }

    func run(_ context: JobContext) throws -> Result {
        context.setTotal(2)
        context.progress(step: 1, metrics: [JobMetric("loss", 0.5)])
        context.progress(step: 2, metrics: [JobMetric("loss", .nan), JobMetric("scale", -.infinity)])
        return Result(value: .infinity)
    }
}

/// A job whose parameters JSON cannot hold (its encoding throws), or whose result cannot be.
struct UnrecordableJob: JobSpec {
    static let kind = "unrecordable"
    var output: String
    var specEncodes: Bool
    struct Unencodable: Error, CustomStringConvertible { var description: String { "no JSON for this" } }
    struct Result: Codable, Sendable {
        init() {}
        init(from decoder: Decoder) throws { throw Unencodable() }
        func encode(to encoder: Encoder) throws { throw Unencodable() }
    }
    var runFolder: String? { output }

    init(output: String, specEncodes: Bool) {
        self.output = output
        self.specEncodes = specEncodes
    }
    init(from decoder: Decoder) throws { throw Unencodable() }
    func encode(to encoder: Encoder) throws {
        guard specEncodes else { throw Unencodable() }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(output, forKey: .output)
    }
    enum CodingKeys: CodingKey { case output }

    func run(_ context: JobContext) throws -> Result {
        context.setTotal(1)
        context.progress(step: 1, metrics: [JobMetric("loss", 0.5)])
        return Result()
    }
}

final class RunFolderTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-runs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func testAFinishedJobLeavesARecordThatRebuildsItsStateAndItsSpec() throws {
        let folder = scratch.appendingPathComponent("a").path
        // A seed past Int64's range survives the record (decoding the spec again needs it exactly).
        let spec = FolderJob(output: folder, steps: 5, seed: .max - 1, stopAt: nil)
        let seen = Mutex<[JobEvent]>([])
        let outcome = JobRunner.run(spec) { _, event in seen.withLock { $0.append(event) } }
        let events = seen.withLock { $0 }
        XCTAssertEqual(try outcome.get().finalLoss, 1.0 / 32)

        let record = try RunFolder(path: folder).read()
        XCTAssertEqual(record.kind, "folder")
        XCTAssertEqual(record.status, "finished")
        XCTAssertEqual(record.step, 5)
        XCTAssertEqual(record.total, 5)
        XCTAssertEqual(record.history, [0.5, 0.25, 0.125, 0.0625, 0.03125])
        XCTAssertEqual(record.metrics.first, JobMetric("loss", 1.0 / 32))
        // Paths inside the folder are kept relative (the folder can move), others whole.
        XCTAssertEqual(record.artefacts.map(\.path), ["final.png", "/somewhere/else.png"])
        XCTAssertEqual(record.pid, getpid())
        XCTAssertEqual(try JSONDecoder().decode(FolderJob.self, from: record.parameters.data).seed, .max - 1)
        XCTAssertEqual(record.result, .object(["finalLoss": .number(1.0 / 32)]))

        // Moved elsewhere, the record's state points at the moved files.
        let moved = scratch.appendingPathComponent("moved").path
        try FileManager.default.moveItem(atPath: folder, toPath: moved)
        let state = try RunFolder(path: moved).read().jobState(folder: moved)
        XCTAssertEqual(state.status, .finished)
        XCTAssertEqual(state.step, 5)
        XCTAssertEqual(state.fraction, 1)
        XCTAssertEqual(state.artefacts.first?.path, moved + "/final.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: state.artefacts.first!.path!))
        XCTAssertEqual(state.outcome, "done")
        // The downstream sink saw every event, the record changed nothing of them.
        XCTAssertEqual(events.filter { if case .progress = $0 { true } else { false } }.count, 5)
        XCTAssertFalse(events.contains { if case .log(.warning, _) = $0 { true } else { false } })
    }

    func testNumbersThatAreNotFiniteAreWrittenAsNullNeverAsStrings() throws {
        struct Document: Encodable { let loss: Float; let values: [Double]; let name: String }
        let data = try JSONValue.encode(Document(loss: .nan, values: [1.5, .infinity, -.infinity], name: "nan"))
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"loss":null,"name":"nan","values":[1.5,null,null]}"#)

        let folder = scratch.appendingPathComponent("non-finite").path
        XCTAssertEqual(try JobRunner.run(NonFiniteJob(output: folder)) { _, _ in }.get().value, .infinity)
        let text = try String(contentsOfFile: folder + "/run.json", encoding: .utf8)
        XCTAssertFalse(["\"nan\"", "\"inf\"", "\"-inf\""].contains { text.contains($0) }, text)
        XCTAssertTrue(text.contains("\"value\" : null"), text)
        let record = try RunFolder(path: folder).read()
        XCTAssertEqual(record.status, "finished")
        XCTAssertEqual(record.metrics.map(\.name), ["loss", "scale"])
        XCTAssertTrue(record.metrics.allSatisfy(\.value.isNaN), "null reads back as NaN: \(record.metrics)")
        XCTAssertEqual(record.history, [0.5], "the sparkline keeps the finite values")
        XCTAssertEqual(record.result, .object(["value": .null]))
    }

    func testACancelledJobSaysSoAndARunWhoseProcessIsGoneReadsAsInterrupted() throws {
        let folder = scratch.appendingPathComponent("b").path
        let outcome = JobRunner.run(FolderJob(output: folder, steps: 10, seed: 1, stopAt: 4)) { _, _ in }
        guard case .cancelled = outcome else { return XCTFail("expected cancelled, got \(outcome)") }
        var record = try RunFolder(path: folder).read()
        XCTAssertEqual(record.status, "cancelled")
        XCTAssertEqual(record.step, 3)

        // As a process killed mid-run leaves it: "running", by a process that no longer exists.
        record.status = "running"
        XCTAssertEqual(record.status(), .running, "this process is alive")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        record.pid = child.processIdentifier
        try RunFolder(path: folder).write(record)
        let state = try RunFolder(path: folder).read().jobState(folder: folder)
        XCTAssertEqual(state.status, .interrupted)
        XCTAssertEqual(state.outcome, "interrupted at step 3")
        XCTAssertTrue(state.status.isTerminal)
        // Another machine's run is taken at its word.
        record.host = "elsewhere"
        XCTAssertEqual(record.status(), .running)
    }

    func testAListingWithACacheReadsOnlyTheRecordsThatChanged() throws {
        for name in ["a", "b", "c"] {
            let folder = scratch.appendingPathComponent(name).path
            _ = JobRunner.run(FolderJob(output: folder, steps: 2, seed: 1, stopAt: nil)) { _, _ in }
        }
        let cache = RecordCache()
        XCTAssertEqual(RunFolder.list(in: scratch.path, cache: cache).runs.count, 3)
        XCTAssertEqual(cache.reads, 3)
        let again = RunFolder.list(in: scratch.path, cache: cache).runs
        XCTAssertEqual(cache.reads, 3, "unchanged records are not read again")
        XCTAssertEqual(again.map(\.record), RunFolder.list(in: scratch.path).runs.map(\.record), "the same records as a full read")
        _ = JobRunner.run(FolderJob(output: scratch.appendingPathComponent("b").path, steps: 4, seed: 2, stopAt: nil)) { _, _ in }
        let changed = RunFolder.list(in: scratch.path, cache: cache).runs
        XCTAssertEqual(cache.reads, 4, "only the rewritten record is read")
        XCTAssertEqual(changed.first { $0.folder.path.hasSuffix("/b") }?.record.step, 4)
    }

    func testListingFindsRunsNewestFirstAndNamesUnreadableRecords() throws {
        let old = scratch.appendingPathComponent("old").path, new = scratch.appendingPathComponent("new").path
        _ = JobRunner.run(FolderJob(output: old, steps: 2, seed: 1, stopAt: nil)) { _, _ in }
        _ = JobRunner.run(FolderJob(output: new, steps: 3, seed: 2, stopAt: nil)) { _, _ in }
        var record = try RunFolder(path: old).read()
        record.updated = Date(timeIntervalSinceNow: -3600)
        try RunFolder(path: old).write(record)
        // A folder without a record is not a run; a broken record is reported, not fatal.
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("plain"), withIntermediateDirectories: true)
        let broken = scratch.appendingPathComponent("broken")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("{\"kind\": 3".utf8).write(to: broken.appendingPathComponent("run.json"))

        let (runs, unreadable) = RunFolder.list(in: scratch.path)
        XCTAssertEqual(runs.map { ($0.folder.path as NSString).lastPathComponent }, ["new", "old"])
        XCTAssertEqual(runs.map(\.record.step), [3, 2])
        XCTAssertEqual(unreadable.count, 1)
        XCTAssertTrue(unreadable[0].error.contains("broken/run.json"), unreadable[0].error)
        XCTAssertTrue(RunFolder.list(in: scratch.appendingPathComponent("missing").path).runs.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: new + "/run.json.partial"))
    }

    func testAnUnwritableFolderCostsTheJobOneWarningAndNothingElse() throws {
        let blocker = scratch.appendingPathComponent("file")
        try Data().write(to: blocker)
        let seen = Mutex<[String]>([])
        // The run folder would be inside a regular file: no record, but the job runs.
        let outcome = JobRunner.run(FolderJob(output: blocker.appendingPathComponent("run").path, steps: 3, seed: 1, stopAt: 1)) { _, event in
            if case let .log(.warning, text) = event { seen.withLock { $0.append(text) } }
        }
        let warnings = seen.withLock { $0 }
        guard case .cancelled = outcome else { return XCTFail("expected cancelled, got \(outcome)") }
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        XCTAssertTrue(warnings.first?.contains("could not keep the run record") ?? false)
    }

    func testTheDefaultRunsDirectory() {
        XCTAssertEqual(RunFolder.defaultRunsDirectory(environment: ["CLIPSCOPE_RUNS": "/r", "HOME": "/h"]), "/r")
        XCTAssertEqual(RunFolder.defaultRunsDirectory(environment: ["XDG_DATA_HOME": "/d", "HOME": "/h"]), "/d/clipscope/runs")
        XCTAssertEqual(RunFolder.defaultRunsDirectory(environment: ["HOME": "/h"]), "/h/.local/share/clipscope/runs")
    }
}

final class RunFolderLockTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-lock-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func testASecondJobOnAHeldFolderFailsAtOnceNamingTheOwnerAndWritesNothing() throws {
        let held = try XCTUnwrap(try RunFolderLock.acquire(RunFolder(path: folder)))
        let lockText = try String(contentsOfFile: held.path, encoding: .utf8)
        XCTAssertEqual(RunFolderLock.ownerPID(in: lockText), getpid())
        let seen = Mutex<[JobEvent]>([])
        let outcome = JobRunner.run(FolderJob(output: folder, steps: 3, seed: 1, stopAt: nil)) { _, event in
            seen.withLock { $0.append(event) }
        }
        guard case let .failed(failure) = outcome else { return XCTFail("expected a failure, got \(outcome)") }
        XCTAssertEqual(failure.message.split(separator: "\n").count, 1, failure.message)
        XCTAssertTrue(failure.message.hasPrefix("\(folder!) is in use by process \(getpid()) since "), failure.message)
        let kinds = seen.withLock { $0 }.map { event -> String in
            switch event {
            case .started: "started"
            case .failed: "failed"
            default: "other"
            }
        }
        XCTAssertEqual(kinds, ["started", "failed"], "the job did no work")
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunFolder(path: folder).recordPath), "no record written over the owner's")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/final.png"))

        held.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: held.path), "a released lock leaves no file")
        XCTAssertEqual(try JobRunner.run(FolderJob(output: folder, steps: 3, seed: 1, stopAt: nil)) { _, _ in }.get().finalLoss, 0.125)
        XCTAssertFalse(FileManager.default.fileExists(atPath: held.path), "the job gave the folder up when it ended")
    }

    func testAJobWhoseParametersCannotBeRecordedFailsBeforeItStartsAndOneWhoseResultCannotFailsToo() throws {
        let folder: String = folder
        let unrecordable = JobRunner.run(UnrecordableJob(output: folder, specEncodes: false)) { _, _ in }
        guard case let .failed(failure) = unrecordable else { return XCTFail("expected a failure, got \(unrecordable)") }
        XCTAssertEqual(failure.message, "cannot record the unrecordable job's parameters as JSON: no JSON for this")
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunFolder(path: folder).recordPath), "no run.json with an empty spec")

        let noResult = JobRunner.run(UnrecordableJob(output: folder, specEncodes: true)) { _, _ in }
        guard case let .failed(failure) = noResult else { return XCTFail("expected a failure, got \(noResult)") }
        XCTAssertEqual(failure.message, "cannot record the unrecordable job's result as JSON: no JSON for this")
        let record = try RunFolder(path: folder).read()
        XCTAssertEqual(record.status, "failed", "the record says the run failed instead of finishing with {}")
        XCTAssertEqual(record.parameters, JSONValue.object(["output": JSONValue.string(folder)]))
    }

    func testALockLeftByADeadProcessIsTakenOver() throws {
        // A process that has ended: its pid is no longer alive, as after a kill -9.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let dead = ended.processIdentifier
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let lockPath = RunFolder(path: folder).lockPath
        try Data("pid \(dead)\nstarted 2026-01-01T00:00:00Z\nhost \(RunRecord.hostName)\n".utf8).write(to: URL(fileURLWithPath: lockPath))

        let taken = try XCTUnwrap(try RunFolderLock.acquire(RunFolder(path: folder)))
        XCTAssertEqual(RunFolderLock.ownerPID(in: try String(contentsOfFile: lockPath, encoding: .utf8)), getpid(), "the lock names its new owner")
        taken.release()

        try Data("pid \(dead)\n".utf8).write(to: URL(fileURLWithPath: lockPath))
        let outcome = JobRunner.run(FolderJob(output: folder, steps: 2, seed: 1, stopAt: nil)) { _, _ in }
        XCTAssertEqual(try outcome.get().finalLoss, 0.25)
        XCTAssertEqual(try RunFolder(path: folder).read().status, "finished")
    }
}
