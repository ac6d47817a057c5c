import Foundation
import Jobs
import Workbench
import XCTest

/// Jobs the app starts run in a `clipscope runner` of their own: a new session without a
/// terminal, at a lower priority, watched and cancelled through the run folder.
final class DetachedRunTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        _ = QueueIsolation.folder
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-detached-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func waitFor(_ what: String, seconds: Double = 120, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)") }
            usleep(20_000)
        }
    }

    func record(_ folder: String) -> RunRecord? { try? RunFolder(path: folder).read() }

    /// Runs clipscope to the end: its status and what it printed.
    func clipscope(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let (process, out, err) = try startClipscope(arguments, scratch: scratch)
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    func testARunStartedDetachedComputesInItsOwnSessionAndStopsWhenCancelledFromAnotherTerminal() throws {
        let workbench = Workbench(model: "toy", runs: scratch.path)
        var job = try XCTUnwrap(workbench.visualize(neuron: 3, preset: "direct") { $0.steps = 100_000 })
        job.checkpointEvery = 5
        let folder = job.output
        let pid = try DetachedRuns.launch(job, folder: folder, executable: CLITests.binary.path)
        waitFor("the runner's first steps") { (record(folder)?.step ?? 0) >= 6 }

        XCTAssertEqual(getsid(pid), pid, "a session of its own: closing the terminal sends it no SIGHUP")
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ") ")!.upperBound...].split(separator: " ")
        XCTAssertEqual(fields[4], "0", "no controlling terminal (tty_nr)")
        errno = 0
        XCTAssertEqual(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid)), 10, "interactive work goes first")
        XCTAssertEqual(record(folder)?.pid, pid)
        waitFor("the live picture") { FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("preview.png")) }

        let said = try clipscope(["runs", "--cancel", folder])
        XCTAssertEqual(said.status, 0, said.stderr)
        XCTAssertTrue(said.stdout.contains("asked process \(pid) to stop"), said.stdout)
        waitFor("the cancelled record") { record(folder)?.status == "cancelled" }
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        XCTAssertEqual((status >> 8) & 0xff, 130, "the runner says it was cancelled")
        XCTAssertTrue(FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("checkpoint.safetensors")),
                      "its work so far is kept")
        XCTAssertEqual(try clipscope(["runs", "--cancel", folder]).stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "\(folder): not running (cancelled)")
    }

    func testACommandLineJobWaitsForTheRunnersTurnAndSaysItIsQueued() throws {
        let workbench = Workbench(model: "toy", runs: scratch.path)
        var job = try XCTUnwrap(workbench.visualize(neuron: 4, preset: "direct") { $0.steps = 100_000 })
        job.checkpointEvery = 1_000
        let pid = try DetachedRuns.launch(job, folder: job.output, executable: CLITests.binary.path)
        waitFor("the runner's turn") { (record(job.output)?.step ?? 0) >= 1 }

        // The command line's job queues behind it, and runs once the runner is cancelled.
        let second = scratch.appendingPathComponent("second").path
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["visualize", "--neuron", "5", "--variant", "direct", "--steps", "3", "--output", second]
        let errors = scratch.appendingPathComponent("second-stderr")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        waitFor("the second job's queued record") { record(second)?.status == "queued" }
        XCTAssertEqual(record(second)?.queueAhead, 0, "next in line")
        XCTAssertEqual(record(second)?.step, 0, "no work before its turn")
        _ = try clipscope(["runs", "--cancel", job.output])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(record(second)?.status, "finished")
        let said = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertTrue(said.contains("visualize: queued behind the machine's other clipscope jobs, next in line"), said)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
