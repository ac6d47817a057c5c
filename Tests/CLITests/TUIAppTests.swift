import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// The real app driven in tmux (fixed size, send-keys, capture-pane), on a small toy demo
/// that the first test run builds (the same jobs a first `make run` runs, with fewer scenes).
final class TUIAppTests: XCTestCase {
    /// One tmux server per test (its own socket), one window running the app.
    final class Tmux {
        let socket = "clipscope-test-\(UUID().uuidString.prefix(8))"
        let session = "app"

        /// Runs a tmux client and returns what it printed. Spawned and reaped directly: tmux
        /// forks its server from the first client, which Foundation's Process would wait on.
        @discardableResult
        func run(_ arguments: [String]) throws -> String {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            let argv = ["tmux", "-L", socket] + arguments
            var cArguments = argv.map { strdup($0) } + [nil]
            defer { for pointer in cArguments { free(pointer) } }
            var pid: pid_t = 0
            let spawned = posix_spawnp(&pid, "tmux", &actions, nil, &cArguments, environ)
            guard spawned == 0 else { throw CLITests.SetupError(description: "cannot run tmux: \(spawned)") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data(), as: UTF8.self)
        }

        /// Starts `command` in a window of `columns` x `rows`; the shell prints EXIT=status when it ends.
        func start(_ command: String, columns: Int = 100, rows: Int = 30, environment: [String: String] = [:]) throws {
            let exports = environment.map { "export \($0.key)='\($0.value)';" }.joined(separator: " ")
            try run(["new-session", "-d", "-s", session, "-x", "\(columns)", "-y", "\(rows)",
                     "\(exports) \(command); echo EXIT=$?; sleep 60"])
        }

        func keys(_ keys: String...) throws { try run(["send-keys", "-t", session] + keys) }
        func type(_ text: String) throws { try run(["send-keys", "-t", session, "-l", text]) }
        func screen() throws -> String { try run(["capture-pane", "-p", "-t", session]) }
        func resize(columns: Int, rows: Int) throws {
            try run(["resize-window", "-t", session, "-x", "\(columns)", "-y", "\(rows)"])
        }
        /// Raw output of the program from now on, into `path`.
        func pipeOutput(to path: String) throws { try run(["pipe-pane", "-o", "-t", session, "cat >> \(path)"]) }
        func pid() throws -> Int32? { Int32(try run(["display-message", "-p", "-t", session, "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)) }
        func kill() { _ = try? run(["kill-server"]) }

        /// Waits until the screen contains `text` (the screen is returned), failing after `timeout` seconds.
        @discardableResult
        func wait(for text: String, timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line) throws -> String {
            try wait(until: "\"\(text)\"", timeout: timeout, file: file, line: line) { $0.contains(text) }
        }

        /// Polls the screen until `condition` holds (described in the failure).
        func wait(until description: String, timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line,
                  _ condition: (String) -> Bool) throws -> String {
            let deadline = Date().addingTimeInterval(timeout)
            var last = ""
            while Date() < deadline {
                last = try screen()
                if condition(last) { return last }
                Thread.sleep(forTimeInterval: 0.1)
            }
            XCTFail("timed out waiting for \(description); the screen was:\n\(last)", file: file, line: line)
            return last
        }
    }

    static var binary: String { CLITests.binary.path }

    /// A demo folder built once per test process (gallery, scan, labels: the app's own first-run jobs).
    nonisolated(unsafe) static var sharedDemo: URL?

    var tmux: Tmux!
    var scratch: URL!

    override class func tearDown() {
        if let demo = sharedDemo { try? FileManager.default.removeItem(at: demo) }
        sharedDemo = nil
    }

    override func setUpWithError() throws {
        _ = QueueIsolation.folder
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else { throw XCTSkip("tmux is not installed") }
        tmux = Tmux()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-tui-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        tmux?.kill()
        // The app's jobs run in runners that outlive it: stop this test's.
        if let scratch {
            let pkill = Process()
            pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            pkill.arguments = ["-TERM", "-f", "clipscope runner \(scratch.path)"]
            try? pkill.run()
            pkill.waitUntilExit()
            try? FileManager.default.removeItem(at: scratch)
        }
    }

    /// The app on a demo of 200 scenes in `demo` (built by the app on first use), listing
    /// run folders of the test's own runs directory.
    func openApp(demo: URL, extra: String = "", columns: Int = 100, rows: Int = 30) throws {
        try tmux.start("\(Self.binary) --demo \(demo.path) --demo-scenes 200 --graphics blocks --runs \(runs.path) \(extra)",
                       columns: columns, rows: rows)
    }

    var runs: URL { scratch.appendingPathComponent("runs") }

    func demo() throws -> URL {
        if let demo = Self.sharedDemo { return demo }
        let demo = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-tui-demo-\(UUID().uuidString)")
        Self.sharedDemo = demo
        return demo
    }

    func testFirstRunBuildsTheDemoThenBrowsesSearchesJumpsAndQuits() throws {
        // A demo of its own: this test watches the first run build it.
        let demo = scratch.appendingPathComponent("demo")
        try openApp(demo: demo)
        // The first frame is there at once; the demo is built by jobs, then the list opens.
        try tmux.wait(for: "clipscope", timeout: 5)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys("Tab")
        let jobs = try tmux.wait(for: "label  finished")
        XCTAssertTrue(jobs.contains("scan  finished"), jobs)
        try tmux.keys("Tab", "Tab")
        // The demo opens with its concept neurons first, marked; the first one's card says what it holds.
        var screen = try tmux.wait(for: "768 of 768 · sort concept")
        XCTAssertTrue(screen.contains(" neuron]"), "concept neurons marked in the list:\n\(screen)")
        try tmux.keys("Enter")
        try tmux.wait(for: "concept neuron: ")
        try tmux.keys("Escape")
        try tmux.keys("o")  // by id
        try tmux.wait(for: "768 of 768 · sort id")
        // Move and open a card: 5x5 pictures in blocks, captions under them, category bars.
        try tmux.keys("j", "j", "Enter")
        screen = try tmux.wait(for: "neuron 2")
        // The pictures load after the captions and charts.
        screen = try tmux.wait(until: "neuron 2's pictures drawn in half blocks") {
            $0.contains("categories by mean activation") && ($0.contains("▀") || $0.contains("▄"))
        }
        XCTAssertTrue(screen.contains("histogram"), screen)
        try tmux.keys("Escape")
        try tmux.wait(for: "768 of 768")
        // Search by id.
        try tmux.keys("/")
        try tmux.type("42")
        screen = try tmux.wait(for: "/42")
        XCTAssertTrue(screen.contains("    42  "), screen)
        try tmux.keys("Escape", "Escape")
        // Search by meaning: the match column appears, best first.
        try tmux.keys("/")
        try tmux.type("star")
        try tmux.keys("Enter")
        screen = try tmux.wait(for: "match")
        let firstRow = screen.split(separator: "\n").dropFirst(2).first.map(String.init) ?? ""
        XCTAssertTrue(firstRow.contains("star"), "the best match of 'star' is a star neuron:\n\(screen)")
        try tmux.keys("Escape")
        // Jump with :N.
        try tmux.keys(":")
        try tmux.type("89")
        try tmux.keys("Enter")
        try tmux.wait(for: "neuron 89")
        // Help lists the keys of the pane.
        try tmux.keys("?")
        // Waits for a line inside the box: the title alone may be captured before the frame is complete.
        screen = try tmux.wait(for: "top / bottom images")
        XCTAssertTrue(screen.contains("keys: Card"), screen)
        try tmux.keys("Escape")
        // Resizing re-lays out; a tiny window says so and comes back.
        try tmux.resize(columns: 80, rows: 24)
        try tmux.wait(for: "neuron 89")
        try tmux.resize(columns: 20, rows: 10)
        try tmux.wait(for: "too small")
        try tmux.resize(columns: 100, rows: 30)
        try tmux.wait(for: "neuron 89")
        try tmux.keys("q")
        try tmux.wait(for: "768 of 768")
        try tmux.keys("q")
        try tmux.wait(for: "EXIT=0")
    }

    /// At 120 columns the list keeps the left half and the selected neuron's top images fill the
    /// right one, in half blocks under tmux; a burst of keys ends on the newest selection's pictures.
    func testTheListPreviewsTheSelectedNeuronsTopImagesInHalfBlocks() throws {
        try openApp(demo: try demo(), columns: 120, rows: 40)
        try tmux.wait(for: "768 of 768", timeout: 300)
        try tmux.keys("o")  // by id: the rows are 0, 1, 2, ...
        try tmux.wait(for: "768 of 768 · sort id")
        func pictured(_ neuron: Int) -> (String) -> Bool {
            { screen in
                let lines = screen.split(separator: "\n").map { Array($0) }
                return screen.contains("top images of \(neuron) (Enter: its card)")
                    && lines.filter { $0.count > 62 && $0[62...].contains { $0 == "▀" || $0 == "▄" } }.count >= 9
                    && lines.contains { $0.count > 60 && String($0[..<60]).contains("     \(neuron)  ") }
            }
        }
        try tmux.wait(until: "neuron 0's top images in half blocks beside the list", pictured(0))
        try tmux.keys("j", "j", "j")
        try tmux.wait(until: "neuron 3's top images", pictured(3))
        // A held-down j: twenty keys at once end on neuron 23's pictures, and only those.
        try tmux.run(["send-keys", "-t", tmux.session] + Array(repeating: "j", count: 20))
        let screen = try tmux.wait(until: "neuron 23's top images", pictured(23))
        // The first picture's caption is the card's first one.
        let captionLine = screen.split(separator: "\n").map(String.init).first { $0.contains("top images of 23") }
        XCTAssertNotNil(captionLine, screen)
        let firstCaption = screen.split(separator: "\n").map { Array($0) }.compactMap { line -> String? in
            guard line.count > 62 else { return nil }
            let right = String(line[61...]).trimmingCharacters(in: .whitespaces)
            return right.range(of: #"^\d+\.\d\d \S+"#, options: .regularExpression).map { String(right[$0]) }
        }.first
        let caption = try XCTUnwrap(firstCaption, "a caption under the first picture:\n\(screen)")
        try tmux.keys("Enter")
        let card = try tmux.wait(for: "neuron 23")
        XCTAssertTrue(try tmux.wait(for: caption).contains(caption), "the card's pictures are the list's:\n\(card)")
        try tmux.keys("q")
        try tmux.wait(for: "768 of 768")
        try tmux.keys("q")
        try tmux.wait(for: "EXIT=0")
    }

    func testALabelAndANoteEditedInTheCardPersistAfterRestart() throws {
        let demo = try demo()
        try openApp(demo: demo)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys(":")
        try tmux.type("7")
        try tmux.keys("Enter")
        try tmux.wait(for: "neuron 7")
        try tmux.keys("r", "C-u")
        try tmux.type("striped things")
        try tmux.keys("Enter")
        try tmux.keys("n")
        try tmux.type("seen on zebras")
        try tmux.keys("Enter")
        try tmux.keys("s")
        try tmux.wait(for: "neuron 7 ★  striped things")
        try tmux.keys("q", "q")
        try tmux.wait(for: "EXIT=0")
        tmux.kill()

        tmux = Tmux()
        try openApp(demo: demo)
        try tmux.wait(for: "768 of 768", timeout: 30)
        try tmux.keys("f", "f")  // starred only
        let screen = try tmux.wait(for: "1 of 768 · sort concept · starred")
        XCTAssertTrue(screen.contains("★      7"), screen)
        XCTAssertTrue(screen.contains("seen on zebras"), screen)
        XCTAssertTrue(screen.contains("1 of 768"), screen)
    }

    func testAScanJobShowsProgressAndCancels() throws {
        let shared = try demo()
        try openApp(demo: shared)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys("q")
        try tmux.wait(for: "EXIT=0")
        tmux.kill()
        // The scan goes into the open index: a copy of the demo, so that the others stay as they are.
        let demo = scratch.appendingPathComponent("demo")
        try FileManager.default.copyItem(at: shared, to: demo)
        tmux = Tmux()
        try openApp(demo: demo)
        try tmux.wait(for: "768 of 768", timeout: 30)
        // A folder of many pictures: links to the demo's gallery, so the scan takes a while.
        let folder = scratch.appendingPathComponent("many")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let gallery = demo.appendingPathComponent("gallery")
        let pictures = try FileManager.default.subpathsOfDirectory(atPath: gallery.path).filter { $0.hasSuffix(".png") }
        for copy in 0..<24 {
            for (i, picture) in pictures.enumerated() {
                try FileManager.default.linkItem(atPath: gallery.appendingPathComponent(picture).path,
                                                 toPath: folder.appendingPathComponent("\(copy)-\(i).png").path)
            }
        }
        try tmux.keys(":")
        try tmux.type("scan \(folder.path)")
        try tmux.keys("Enter")
        try tmux.wait(for: "scan  running")
        let first = try tmux.wait(for: "images/s")
        XCTAssertTrue(first.contains("ETA"), first)
        // Progress advances.
        let deadline = Date().addingTimeInterval(20)
        var advanced = false
        let firstCount = Self.scanCount(first)
        while Date() < deadline, !advanced {
            Thread.sleep(forTimeInterval: 0.3)
            if let count = Self.scanCount(try tmux.screen()), let firstCount, count > firstCount { advanced = true }
        }
        XCTAssertTrue(advanced, "the scan's count should advance")
        // Select the running scan (the newest job) and cancel it.
        try tmux.keys("G", "c")
        try tmux.wait(for: "scan  cancelled")
        try tmux.keys("q", "q")
        try tmux.wait(for: "EXIT=0")
    }

    /// Runs the command line to its end and returns its output; fails the test unless it exits 0.
    @discardableResult
    func clipscope(_ arguments: [String]) throws -> Data {
        let process = Process()
        let output = scratch.appendingPathComponent("stdout-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "clipscope \(arguments.joined(separator: " "))")
        return try Data(contentsOf: output)
    }

    func record(_ folder: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent("run.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// Waits until the run folder's record says `status` and its `files` are there: the run this
    /// test started, not another one whose line on the screen looks the same.
    func waitForRun(_ folder: URL, status: String = "finished", files: [String] = [], timeout: Double = 120,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(timeout)
        func done() -> Bool {
            (try? record(folder)["status"] as? String) == status
                && files.allSatisfy { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        }
        while Date() < deadline, !done() { Thread.sleep(forTimeInterval: 0.2) }
        XCTAssertTrue(done(), "\(folder.lastPathComponent): \((try? record(folder)["status"]) ?? "no record"), want \(status) and \(files)",
                      file: file, line: line)
    }

    func testRunFoldersAreListedAndAnInterruptedToyTrainResumesFromTheJobsPane() throws {
        let small = ["--web-steps", "0", "--batch-size", "4", "--checkpoint-every", "2"]
        let done = runs.appendingPathComponent("done"), cut = runs.appendingPathComponent("cut")
        try clipscope(["toy", "train", "-o", done.path, "--steps", "3"] + small)
        // A run killed (no chance to say so) after its checkpoint at step 2.
        let training = Process()
        training.executableURL = URL(fileURLWithPath: Self.binary)
        training.arguments = ["toy", "train", "-o", cut.path, "--steps", "400"] + small
        training.standardOutput = FileHandle.nullDevice
        training.standardError = FileHandle.nullDevice
        try training.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !FileManager.default.fileExists(atPath: cut.appendingPathComponent("checkpoint.safetensors").path) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(training.processIdentifier, SIGKILL)
        training.waitUntilExit()
        let killedAt = try record(cut)["step"] as? Int ?? -1
        XCTAssertEqual(try record(cut)["status"] as? String, "running", "a killed run's record still says running")
        let listed = try JSONSerialization.jsonObject(with: try clipscope(["runs", "--runs", runs.path, "--json"])) as? [String: Any]
        let statuses = (listed?["runs"] as? [[String: Any]] ?? []).map { "\($0["folder"] ?? "") \($0["status"] ?? "")" }
        XCTAssertEqual(statuses, ["\(cut.path) interrupted", "\(done.path) finished"])

        try openApp(demo: try demo(), columns: 200)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys(":")
        try tmux.type("jobs")
        try tmux.keys("Enter")
        try tmux.wait(for: "· done", timeout: 60)
        var screen = try tmux.wait(for: "toy-train  interrupted")
        XCTAssertTrue(screen.contains("toy-train  finished"), screen)
        XCTAssertTrue(screen.contains("(R resumes)"), screen)
        // Enter on the finished run says where its model is.
        try tmux.keys("G", "Enter")
        try tmux.wait(for: "toy-train result: \(done.path)/model.safetensors")
        // R on the interrupted one continues it from its checkpoint, in this session.
        try tmux.keys("k", "R")
        try tmux.wait(for: "toy-train continues in \(cut.path)")
        screen = try tmux.wait(for: "toy-train  running")
        XCTAssertTrue(screen.contains("· cut"), screen)
        let resumed = Date().addingTimeInterval(90)
        var step = killedAt
        while Date() < resumed, step <= killedAt + 2 {
            Thread.sleep(forTimeInterval: 0.5)
            step = try record(cut)["step"] as? Int ?? step
        }
        XCTAssertGreaterThan(step, killedAt + 2, "the resumed run advances its record")
        try tmux.keys(":")
        try tmux.type("log")
        try tmux.keys("Enter")
        try tmux.wait(for: "toy-train: resuming from step")
        // Cancelled from the pane (the newest job of the session, above the finished run), the record says so.
        try tmux.keys(":")
        try tmux.type("jobs")
        try tmux.keys("Enter", "G", "k", "c")
        try tmux.wait(for: "toy-train  cancelled", timeout: 30)
        XCTAssertEqual(try record(cut)["status"] as? String, "cancelled")
        try tmux.keys(":")
        try tmux.type("q")
        try tmux.keys("Enter")
        try tmux.wait(for: "EXIT=0")
    }

    func testAJobStartedInTheAppKeepsRunningAfterItQuitsAndAnotherAppWatchesAndCancelsIt() throws {
        try openApp(demo: try demo())
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys(":")
        try tmux.type("visualize 7 direct steps=100000")
        try tmux.keys("Enter")
        try tmux.wait(for: "visualize  running")
        let names = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasPrefix("visualize-7-direct") }
        XCTAssertEqual(names.count, 1, "\(names)")
        let folder = runs.appendingPathComponent(names.first ?? "")
        try waitForRun(folder, status: "running")
        let pid = try XCTUnwrap(try record(folder)["pid"] as? Int)

        // Quitting says the job keeps running, and it does: in its runner, not the app.
        try tmux.keys("Escape", "q")
        try tmux.wait(for: "1 job(s) keep running after you quit")
        try tmux.keys("y")
        try tmux.wait(for: "EXIT=0")
        XCTAssertTrue(try tmux.screen().contains("1 job(s) keep running in the background"))
        XCTAssertEqual(kill(Int32(pid), 0), 0, "the runner outlives the app")
        let step = try XCTUnwrap(try record(folder)["step"] as? Int)
        let deadline = Date().addingTimeInterval(60)
        while (try record(folder)["step"] as? Int ?? 0) <= step, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        XCTAssertGreaterThan(try record(folder)["step"] as? Int ?? 0, step, "and computes on")

        // Another app shows it running and cancels it.
        tmux.kill()
        tmux = Tmux()
        try openApp(demo: try demo())
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys(":")
        try tmux.type("jobs")
        try tmux.keys("Enter")
        try tmux.wait(for: "visualize  running")
        try tmux.keys("c")
        try waitForRun(folder, status: "cancelled", files: ["checkpoint.safetensors"])
        try tmux.wait(for: "visualize  cancelled")
        let gone = Date().addingTimeInterval(30)
        while kill(Int32(pid), 0) == 0, Date() < gone { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertNotEqual(kill(Int32(pid), 0), 0, "the runner ended")
    }

    func testVMAndDFromACardVisualizeFindTextsAndDreamLive() throws {
        try openApp(demo: try demo(), columns: 120, rows: 36)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys(":")
        try tmux.type("551")
        try tmux.keys("Enter")
        try tmux.wait(for: "i: charts")
        // v pre-fills the command with the toy's own recipe; a shorter paper-code run here.
        try tmux.keys("v")
        try tmux.wait(for: ":visualize 551 toy")
        try tmux.keys("C-u")
        try tmux.type("visualize 551 paper-code steps=60")
        try tmux.keys("Enter")
        try tmux.wait(for: "visualize  running")
        // Not the spec's settings: the folder's name carries a hash of them.
        try tmux.wait(for: "· visualize-551-paper-code-")
        let names = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasPrefix("visualize-551-paper-code-") }
        XCTAssertEqual(names.count, 1, "\(names)")
        let folder = runs.appendingPathComponent(names.first ?? "")
        try waitForRun(folder, files: ["neuron-551.png"])
        let finished = try tmux.wait(for: "visualize  finished")
        XCTAssertTrue(finished.contains("1-cos"), finished)
        // Back on the card, the picture is there.
        try tmux.keys("Escape")
        try tmux.wait(for: "feature visualization (v: run another)")
        // m: maximal text for the neuron's top images; the candidate texts show as they come.
        try tmux.keys("m")
        try tmux.wait(for: "maxtext  running")
        // The candidate texts show as they come (the runner records them; a poll may take several).
        try tmux.wait(for: "epoch ")
        try waitForRun(runs.appendingPathComponent("maxtext-neuron-551"), files: ["texts.json"])
        let texts = try tmux.wait(for: "maxtext  finished")
        XCTAssertTrue(texts.contains("epoch 20:"), texts)
        let ranked = runs.appendingPathComponent("maxtext-neuron-551/texts.json")
        let list = try JSONSerialization.jsonObject(with: Data(contentsOf: ranked)) as? [[String: Any]] ?? []
        XCTAssertFalse(list.isEmpty)
        // d: Deep Dream of the neuron.
        try tmux.keys(":")
        try tmux.type("551")
        try tmux.keys("Enter")
        try tmux.wait(for: "i: charts")
        try tmux.keys("d")
        try waitForRun(runs.appendingPathComponent("dream-551"), files: ["dream-551.png"])
        try tmux.wait(for: "dream  finished")
        // :atlas sweeps neurons 16 a batch; each card then shows its neuron's picture.
        try tmux.keys(":")
        try tmux.type("atlas 0-31 steps=3")
        try tmux.keys("Enter")
        try tmux.wait(for: "· atlas-toy-0-31-steps-3")
        let atlas = runs.appendingPathComponent("atlas-toy-0-31-steps-3")
        try waitForRun(atlas, files: (0...31).map { "neuron-\($0).png" })
        try tmux.keys(":")
        try tmux.type("7")
        try tmux.keys("Enter")
        try tmux.wait(for: "feature visualization (v: run another)")
        try tmux.keys(":")
        try tmux.type("q")
        try tmux.keys("Enter")
        try tmux.wait(for: "EXIT=0")
    }

    func testTheAttackLabScoresTheFinalTextTypedFastAndMatchesTheCommandLine() throws {
        let demo = try demo()
        try openApp(demo: demo, columns: 120, rows: 36)
        try tmux.wait(for: "768 of 768", timeout: 120)
        let shapes = demo.appendingPathComponent("gallery/shapes")
        let image = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: shapes.path).sorted().first { $0.hasSuffix(".png") })
        let path = shapes.appendingPathComponent(image).path
        try tmux.keys(":")
        try tmux.type("attack \(path)")
        try tmux.keys("Enter")
        try tmux.wait(for: "after (type a text)")
        // Typed in one burst, changed, cleared and typed again: only the last text's scores may show.
        try tmux.type("moonstar")
        try tmux.keys("BSpace", "BSpace", "C-u")
        try tmux.type("heart")
        var screen = try tmux.wait(for: "after \"heart\"")
        let deadline = Date().addingTimeInterval(20)
        while screen.contains("scoring ...") && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            screen = try tmux.screen()
        }
        XCTAssertFalse(screen.contains("scoring ..."), screen)
        // The lab's side column (the picture is left of it): 44 cells at the right of a 120-column window.
        let lines = screen.split(separator: "\n").map { String($0.dropFirst(76)).trimmingCharacters(in: .whitespaces) }
        let placeLine = try XCTUnwrap(lines.first { $0.hasPrefix("at ") && $0.contains("size") }, screen)
        let numbers = placeLine.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        XCTAssertGreaterThanOrEqual(numbers.count, 3, placeLine)
        let afterIndex = try XCTUnwrap(lines.firstIndex(of: "after \"heart\""))
        let shownTop = lines[afterIndex + 1]
        // The command line with the position and size the lab shows gives the same top label and probability.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["attack", "--image", path, "--text", "heart", "--position", "\(numbers[0]),\(numbers[1])",
                             "--size", "\(numbers[2])", "--runs", runs.path, "--json"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let after = try XCTUnwrap((document["after"] as? [[String: Any]])?.first)
        let label = try XCTUnwrap(after["label"] as? String), probability = try XCTUnwrap(after["probability"] as? Double)
        XCTAssertTrue(shownTop.hasPrefix(String(format: "%5.1f%%", 100 * probability).trimmingCharacters(in: .whitespaces)), "\(shownTop) vs \(label) \(probability)")
        XCTAssertTrue(shownTop.hasSuffix(" " + label), "\(shownTop) vs \(label)")
        // ^W saves the attacked image and its scores as a job, into its own run folder (the command
        // line's run above is listed as "attack  finished" too: wait for this folder's record).
        try tmux.keys("C-w")
        let stem = (image as NSString).deletingPathExtension
        let saved = runs.appendingPathComponent("attack-\(stem)-heart")
        try waitForRun(saved, files: ["attacked.png"])
        try tmux.wait(until: "the saved attack's line") { $0.contains("attack  finished") && $0.contains("· attack-\(stem)-heart") }
        // The Stroop test from the command line shows its figure and numbers when it ends.
        try tmux.keys(":")
        try tmux.type("stroop")
        try tmux.keys("Enter")
        screen = try tmux.wait(for: "stroop: stroop figure", timeout: 60)
        XCTAssertTrue(screen.contains("of the conflicting images"), screen)
        try tmux.keys(":")
        try tmux.type("q")
        try tmux.keys("Enter")
        try tmux.wait(for: "EXIT=0")
    }

    /// 5,000 characters, as a paste brings them, ending in a mark to look for.
    static let paste = String(String(repeating: "pasted text ", count: 420).prefix(5000 - 12)) + "END-OF-PASTE"

    func testAPasteIntoSearchIsAnsweredAtOnceAndWhatTheAppLeftUnreadNeverReachesTheShell() throws {
        XCTAssertEqual(Self.paste.count, 5000)
        let demo = try demo()
        // After the app, the shell reads what is left in the terminal (half a second at most).
        try tmux.start("\(Self.binary) --demo \(demo.path) --demo-scenes 200 --graphics blocks --runs \(runs.path); status=$?; "
                       + "stty -icanon min 0 time 5; echo \"LEFT=[$(head -c 200 | tr -d '\\r\\n')]\"; (exit $status)")
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys("/")
        try tmux.type(Self.paste)
        // The line being typed shows its end, and the next key takes effect, each within a second.
        try tmux.wait(for: "END-OF-PASTE█", timeout: 1)
        try tmux.keys("C-u")
        try tmux.wait(for: "768 of 768", timeout: 1)
        try tmux.keys("Enter")
        // q quits at once (no job runs); the rest of the same write is never read by the app.
        try tmux.keys("qecho LEAKED-INPUT", "Enter")
        let screen = try tmux.wait(for: "EXIT=0")
        XCTAssertTrue(screen.contains("LEFT=[]"), screen)
        XCTAssertFalse(screen.contains("LEAKED-INPUT"), screen)
    }

    func testAPasteIntoTheAttackLabIsAnsweredAtOnce() throws {
        let demo = try demo()
        try openApp(demo: demo, columns: 120, rows: 36)
        try tmux.wait(for: "768 of 768", timeout: 120)
        let shapes = demo.appendingPathComponent("gallery/shapes")
        let image = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: shapes.path).sorted().first { $0.hasSuffix(".png") })
        try tmux.keys(":")
        try tmux.type("attack \(shapes.appendingPathComponent(image).path)")
        try tmux.keys("Enter")
        try tmux.wait(for: "after (type a text)")
        try tmux.type(Self.paste)
        try tmux.wait(for: "END-OF-PASTE█", timeout: 1)
        try tmux.keys("C-u")
        try tmux.wait(for: "text: █", timeout: 1)
        try tmux.keys("Escape")
        try tmux.wait(for: "768 of 768")
        try tmux.keys(":")
        try tmux.type("q")
        try tmux.keys("Enter")
        try tmux.wait(for: "EXIT=0")
    }

    /// "123/2400" of the scan's line.
    static func scanCount(_ screen: String) -> Int? {
        guard let line = screen.split(separator: "\n").first(where: { $0.contains("scan  running") }) else { return nil }
        let parts = line.split(separator: " ")
        guard let counts = parts.first(where: { $0.contains("/") }) else { return nil }
        return Int(counts.split(separator: "/").first ?? "")
    }

    func testSixelOnlyWhenAskedNeverInTheLastRowAndTheTerminalIsRestoredAfterSIGTERM() throws {
        let demo = try demo()
        for graphics in ["sixel", "blocks"] {
            tmux.kill()
            tmux = Tmux()
            let output = scratch.appendingPathComponent("\(graphics).out").path
            try tmux.start("sleep 0.5; \(Self.binary) --demo \(demo.path) --demo-scenes 200 --graphics \(graphics) --runs \(runs.path)", rows: 30)
            try tmux.pipeOutput(to: output)
            try tmux.wait(for: "768 of 768", timeout: 120)
            try tmux.keys(":")
            try tmux.type("3")
            try tmux.keys("Enter")
            try tmux.wait(for: "i: charts")
            if graphics == "blocks" { try tmux.wait(for: "categories by mean activation") }
            // The pictures go out once encoded: wait for them (sixel), or a moment (blocks).
            let deadline = Date().addingTimeInterval(graphics == "sixel" ? 30 : 2)
            while Date() < deadline {
                let sent = (try? String(decoding: Data(contentsOf: URL(fileURLWithPath: output)), as: UTF8.self)) ?? ""
                if graphics == "sixel", Self.sixelPlaces(sent).count >= 26 { break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            // SIGTERM ends the app; the shell then reports its status. Only this window's app: other
            // tests and other checkouts may run clipscope at the same time.
            let shell = try XCTUnwrap(try tmux.pid())
            let pids = try Self.pids(of: "clipscope", parent: shell)
            XCTAssertEqual(pids.count, 1, "\(pids)")
            for pid in pids { kill(pid, SIGTERM) }
            try tmux.wait(for: "EXIT=143")
            Thread.sleep(forTimeInterval: 0.3)
            let bytes = try String(decoding: Data(contentsOf: URL(fileURLWithPath: output)), as: UTF8.self)
            let places = Self.sixelPlaces(bytes)
            let sixels = places.map(\.row)
            if graphics == "sixel" {
                XCTAssertGreaterThanOrEqual(sixels.count, 26, "the card's 25 pictures and its chart went out as sixel")
                XCTAssertTrue(sixels.allSatisfy { $0 < 30 }, "no picture starts in the last row: \(sixels)")
                // The side panel (the right third of 100 columns) is a chart, not text.
                XCTAssertTrue(places.contains { $0.column > 67 }, "\(places)")
                XCTAssertFalse(try tmux.screen().contains("categories by mean activation"))
            } else {
                XCTAssertTrue(sixels.isEmpty, "no sixel in blocks mode")
            }
            XCTAssertTrue(bytes.hasSuffix(Self.restore) || bytes.contains(Self.restore), "the cursor and modes are restored")
            if let last = bytes.range(of: Self.restore, options: .backwards) {
                XCTAssertFalse(bytes[last.upperBound...].contains("\u{1B}P"), "nothing drawn after the restore")
            }
        }
    }

    func testAnIndexOfAnotherModelIsNamedAndTheCardsChartsFitAt80x24() throws {
        let demo = try demo()
        try openApp(demo: demo)
        try tmux.wait(for: "768 of 768", timeout: 120)
        try tmux.keys("q")
        try tmux.wait(for: "EXIT=0")
        tmux.kill()
        tmux = Tmux()
        let index = demo.appendingPathComponent("demo.index").path
        try tmux.start("\(Self.binary) --model \(CLITests.modelPT) --index \(index) --graphics blocks --runs \(runs.path)",
                       columns: 80, rows: 24)
        try tmux.wait(for: "768 of 768")
        try tmux.keys(":")
        try tmux.type("log")
        try tmux.keys("Enter")
        try tmux.wait(for: "demo.index was scanned with model toy")
        // Search by meaning would compare another model's texts with this index's pictures: refused.
        try tmux.keys("Escape", "/")
        try tmux.type("red")
        try tmux.keys("Enter")
        try tmux.wait(for: "search by meaning needs the index's own model")
        // At 80x24 the card has no room beside its pictures: i swaps them for the charts.
        try tmux.keys("Escape", "Enter")
        var screen = try tmux.wait(for: "i: charts")
        XCTAssertFalse(screen.contains("categories by mean activation"), screen)
        try tmux.keys("i")
        screen = try tmux.wait(for: "categories by mean activation")
        XCTAssertTrue(screen.contains("histogram"), screen)
        XCTAssertTrue(screen.contains("i: pictures"), screen)
        try tmux.keys("i")
        try tmux.wait(for: "i: charts")
        try tmux.keys(":")
        try tmux.type("q")
        try tmux.keys("Enter")
        try tmux.wait(for: "EXIT=0")
    }

    static let restore = "\u{1B}[?25h\u{1B}[0m\u{1B}[?80l"

    /// The 1-based cell each sixel image was placed at (from the cursor move before its DCS).
    static func sixelPlaces(_ bytes: String) -> [(row: Int, column: Int)] {
        var places: [(row: Int, column: Int)] = []
        let pattern = try! NSRegularExpression(pattern: "\u{1B}\\[(\\d+);(\\d+)H\u{1B}P")
        let range = NSRange(bytes.startIndex..., in: bytes)
        for match in pattern.matches(in: bytes, range: range) {
            if let row = Range(match.range(at: 1), in: bytes).flatMap({ Int(bytes[$0]) }),
               let column = Range(match.range(at: 2), in: bytes).flatMap({ Int(bytes[$0]) }) {
                places.append((row, column))
            }
        }
        return places
    }

    /// The processes named `name` whose parent is `parent`.
    static func pids(of name: String, parent: Int32) throws -> [Int32] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pgrep", "-P", "\(parent)", "-x", name]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
    }
}
