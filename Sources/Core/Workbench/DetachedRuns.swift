import Foundation
import Imaging
import Jobs
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Jobs that run in a `clipscope runner` process of their own, in a new session with no
/// controlling terminal: closing the terminal (a dropped SSH link) or quitting the app leaves
/// them running. The run folder is the whole interface: the app writes `request.json` and
/// starts the runner; the runner writes `run.json` (progress, log lines), the job's files and
/// `preview.png` (the newest live picture); any app, on any machine that sees the folder,
/// watches it and cancels it through `cancel`.
public enum DetachedRuns {
    public static let requestFile = "request.json"
    public static let logFile = "runner.log"
    public static let previewFile = "preview.png"
    public static let cancelFile = "cancel"

    /// What to run: a job kind and its spec, as `run.json` records them.
    public struct Request: Codable, Sendable {
        public var kind: String
        public var parameters: JSONValue
        public var requested: Date
    }

    /// Writes the request into `folder` and starts `executable runner FOLDER` detached: a new
    /// session, stdin from /dev/null, stdout and stderr into `runner.log`. Returns its pid.
    public static func launch<Spec: JobSpec>(_ spec: Spec, folder: String, executable: String) throws -> pid_t {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let request = Request(kind: Spec.kind, parameters: JSONValue(data: try JSONValue.encode(spec)), requested: Date())
        let path = (folder as NSString).appendingPathComponent(requestFile)
        try JSONValue.encode(request, formatting: [.prettyPrinted, .sortedKeys], dates: .iso8601)
            .write(to: URL(fileURLWithPath: path), options: .atomic)
        try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(cancelFile))
        return try spawnDetached(executable: executable, arguments: ["runner", folder],
                                 log: (folder as NSString).appendingPathComponent(logFile))
    }

    static func spawnDetached(executable: String, arguments: [String], log: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        #if os(Linux)
        let setsid: Int32 = 0x80  // glibc's POSIX_SPAWN_SETSID (hidden behind _GNU_SOURCE)
        #else
        let setsid: Int32 = 0x400
        #endif
        posix_spawnattr_setflags(&attributes, Int16(setsid))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = [executable] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, environ)
        guard status == 0 else {
            throw JobFailure(message: "cannot start \(executable) runner: \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// The request in a run folder.
    public static func request(in folder: String) throws -> Request {
        let path = (folder as NSString).appendingPathComponent(requestFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobFailure(message: "\(path): no run request there")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(Request.self, from: data) } catch {
            throw JobFailure(message: "\(path): not a run request (\(error))")
        }
    }

    /// What `clipscope runner FOLDER` does: runs the folder's request at a lower priority than
    /// interactive work, taking its turn in `queue`; SIGTERM, SIGINT or a `cancel` file stop it
    /// at the next step (its checkpoints are kept); SIGHUP is ignored. `events` sees every
    /// event (the runner's own log). Returns how it ended.
    public static func run(folder: String, queue: MachineQueue?, events: JobEventSink? = nil) throws -> JobState.Status {
        let request = try request(in: folder)
        let spec = try JobCatalog.spec(kind: request.kind, parameters: request.parameters.data, folder: folder)
        // Interactive work (the app's cards, search, the attack lab) goes first.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        let token = CancellationToken()
        signal(SIGHUP, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { token.cancel() }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        let cancelPath = (folder as NSString).appendingPathComponent(cancelFile)
        let watcher = DispatchSource.makeTimerSource(queue: .global())
        watcher.schedule(deadline: .now(), repeating: 0.5)
        watcher.setEventHandler { if FileManager.default.fileExists(atPath: cancelPath) { token.cancel() } }
        watcher.resume()
        defer {
            watcher.cancel()
            unlink(cancelPath)
        }
        let previews = PreviewWriter(path: (folder as NSString).appendingPathComponent(previewFile))
        let sink: JobEventSink = { id, event in
            if case let .preview(preview) = event { previews.write(preview) }
            events?(id, event)
        }
        func start<Spec: JobSpec>(_ spec: Spec) -> JobState.Status {
            switch JobRunner.run(spec, token: token, queue: queue, sink: sink) {
            case .finished: .finished
            case .failed: .failed
            case .cancelled: .cancelled
            }
        }
        return start(spec)
    }

    /// Asks the run in `folder` to stop at its next step, wherever it runs: a `cancel` file the
    /// runner watches, and SIGTERM to its process when that runs on this machine. Says what it did.
    public static func cancel(folder: String) throws -> String {
        let record = try? RunFolder(path: folder).read()
        if let record, record.status(checkingProcess: true).isTerminal {
            return "\(folder): not running (\(record.status(checkingProcess: true).rawValue))"
        }
        let path = (folder as NSString).appendingPathComponent(cancelFile)
        guard FileManager.default.createFile(atPath: path, contents: Data("cancel\n".utf8)) else {
            throw JobFailure(message: "\(folder): cannot ask the run to stop (cannot write \(cancelFile))")
        }
        if let record, record.host == RunRecord.hostName, record.pid > 0, kill(record.pid, SIGTERM) == 0 {
            return "\(folder): asked process \(record.pid) to stop at its next step"
        }
        return "\(folder): asked the run to stop at its next step"
    }
}

/// Writes a job's newest preview as PNG, at most once a second, replacing the file whole.
final class PreviewWriter: Sendable {
    let path: String
    private let last = Mutex(-Double.infinity)

    init(path: String) { self.path = path }

    func write(_ preview: JobPreview) {
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let due = last.withLock { last -> Bool in
            guard now - last >= 1 else { return false }
            last = now
            return true
        }
        guard due else { return }
        let image = Image(width: preview.width, height: preview.height, channels: 3, pixels: preview.rgb)
        guard let data = try? image.pngData() else { return }
        let temporary = path + ".partial"
        guard (try? data.write(to: URL(fileURLWithPath: temporary))) != nil else { return }
        rename(temporary, path)
    }
}
