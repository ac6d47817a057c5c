import Foundation
import Support
import Synchronization

/// A long-running operation (a scan, a feature visualization, training): its kind and
/// the full parameter snapshot that reproduces it. `run` executes on a dedicated
/// compute thread and reports through the context.
public protocol JobSpec: Codable, Sendable {
    /// What the job returns when it finishes.
    associatedtype Result: Codable, Sendable
    /// A stable name for this kind of job ("scan", "visualize", ...).
    static var kind: String { get }
    /// The unit `step` counts ("images", "steps").
    static var unit: String { get }
    /// Does the work; throws `JobCancelled` (via `context.checkCancellation()`) when cancelled.
    func run(_ context: JobContext) throws -> Result
    /// A one-line human summary of a result.
    static func summary(of result: Result) -> String
    /// The folder the job writes its results to, if it has one: the runner keeps a
    /// `run.json` there (see `RunRecorder`), which is how later sessions find the run.
    var runFolder: String? { get }
}

extension JobSpec {
    public static var unit: String { "steps" }
    public static func summary(of result: Result) -> String { "done" }
    public var runFolder: String? { nil }
}

/// Thrown by `JobContext.checkCancellation()` once the job has been cancelled.
public struct JobCancelled: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "cancelled" }
}

/// A thread-safe flag that any thread can raise and the compute thread polls between batches.
public final class CancellationToken: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func cancel() { raised.store(true, ordering: .releasing) }
    public var isCancelled: Bool { raised.load(ordering: .acquiring) }
}

/// The identity of one run of a job, sent with `started`.
public struct JobInfo: Sendable, Equatable, Codable {
    public let id: UUID
    public let kind: String
    /// The parameter snapshot as JSON (seeds included), enough to reproduce the run.
    public let parameters: Data
    public let unit: String

    public init(id: UUID, kind: String, parameters: Data, unit: String) {
        self.id = id
        self.kind = kind
        self.parameters = parameters
        self.unit = unit
    }
}

/// One progress report: where the job stands, how fast it goes, and named metrics.
public struct JobProgress: Sendable, Equatable {
    public let step: Int
    /// Nil when the total is not known in advance.
    public let total: Int?
    /// Steps per second since the job started.
    public let rate: Double
    /// Seconds left at the current rate; nil without a total or a rate.
    public let eta: Double?
    public let elapsed: Double
    /// Ordered named numbers (loss, images/s, ...).
    public let metrics: [JobMetric]

    public init(step: Int, total: Int?, rate: Double, eta: Double?, elapsed: Double, metrics: [JobMetric]) {
        self.step = step
        self.total = total
        self.rate = rate
        self.eta = eta
        self.elapsed = elapsed
        self.metrics = metrics
    }
}

/// A named number reported with progress.
public struct JobMetric: Sendable, Equatable, Codable {
    public let name: String
    public let value: Double
    public init(_ name: String, _ value: Double) { self.name = name; self.value = value }

    enum CodingKeys: String, CodingKey { case name, value }

    /// A value written as null (not a finite number) reads back as NaN.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        value = try container.decodeIfPresent(Double.self, forKey: .value) ?? .nan
    }
}

/// A small picture of a job's current state (an optimization's image), sent by value so
/// that a viewer shows it without reading files. 8-bit RGB, row-major.
public struct JobPreview: Sendable, Equatable {
    public let step: Int
    public let width: Int
    public let height: Int
    public let rgb: [UInt8]

    public init(step: Int, width: Int, height: Int, rgb: [UInt8]) {
        precondition(rgb.count == width * height * 3, "JobPreview: \(rgb.count) bytes for \(width)x\(height) RGB")
        self.step = step
        self.width = width
        self.height = height
        self.rgb = rgb
    }
}

/// Something a job produced along the way: a file it wrote.
public struct JobArtefact: Sendable, Equatable, Codable {
    public let name: String
    public let path: String?
    public let step: Int?
    public init(name: String, path: String?, step: Int? = nil) { self.name = name; self.path = path; self.step = step }
}

/// Severity of a job's log line.
public enum JobLogLevel: String, Sendable, Codable { case info, warning }

/// What a job tells its observer, in order: `started` first; then progress, artefacts
/// and log lines; then exactly one of `finished`, `failed` or `cancelled`.
public enum JobEvent: Sendable, Equatable {
    case started(JobInfo)
    case progress(JobProgress)
    case artefact(JobArtefact)
    case preview(JobPreview)
    case log(JobLogLevel, String)
    /// Where the job stands in the machine's queue: `ahead` jobs compute or wait before it;
    /// nil once it has its turn and computes.
    case queue(ahead: Int?)
    /// The result as JSON plus a one-line summary.
    case finished(summary: String, result: Data)
    case failed(String)
    case cancelled

    /// True for the last event of a run.
    public var isTerminal: Bool {
        switch self {
        case .finished, .failed, .cancelled: return true
        default: return false
        }
    }
}

/// Receives each event with the id of the run that sent it (`JobInfo.id`), so one mailbox
/// serves many jobs. Called on the thread that emits (the compute thread): it must be quick
/// and thread-safe; hop to a queue if it does real work.
public typealias JobEventSink = @Sendable (_ job: UUID, _ event: JobEvent) -> Void

/// How a run ended, typed.
public enum JobOutcome<Result: Sendable>: Sendable {
    case finished(Result)
    case failed(JobFailure)
    case cancelled

    /// The result, or the failure thrown as a one-line error (an invalid parameter as itself).
    public func get() throws -> Result {
        switch self {
        case .finished(let result): return result
        case .failed(let failure): throw failure.invalidParameter ?? failure
        case .cancelled: throw JobCancelled()
        }
    }
}

/// A job's failure message as an error.
public struct JobFailure: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    public let message: String
    /// The failure was a parameter the job could not work with.
    public var invalidParameter: InvalidParameter?
    public init(message: String, invalidParameter: InvalidParameter? = nil) {
        self.message = message
        self.invalidParameter = invalidParameter
    }
    public var description: String { message }
    public var errorDescription: String? { message }
}

extension JobFailure {
    /// An optimization whose loss (or state) stopped being finite, from a learning rate too
    /// large or a broken model: it stops there rather than go on and write garbage, and the
    /// checkpoint at `checkpoint` (only ever written with finite values) stays for a look or
    /// a resume.
    public static func diverged(_ kind: String, step: Int, loss: Double? = nil, checkpoint: String?) -> JobFailure {
        let what = loss.map { "the loss became \($0.isNaN ? "nan" : "\($0)") at step \(step)" }
            ?? "its values stopped being finite at step \(step)"
        let kept = checkpoint.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        return JobFailure(message: "\(kind): \(what), a smaller learning rate may help; "
            + (kept.map { "the last good checkpoint is kept: \($0)" } ?? "there was no checkpoint yet"))
    }
}

/// The compute thread's side of a job: report progress, log, publish artefacts, and
/// check for cancellation between batches.
public final class JobContext: Sendable {
    public let id: UUID
    public let token: CancellationToken
    /// The compute lane the job's model work goes through (see `compute`).
    public let executor: ComputeExecutor
    /// At most one preview per this many seconds (the first always goes out).
    public let previewInterval: Double
    private let sink: JobEventSink
    private let start: Mutex<Double>
    private let total: Mutex<Int?>
    private let lastPreview = Mutex<Double?>(nil)

    init(id: UUID, token: CancellationToken, executor: ComputeExecutor, previewInterval: Double,
         sink: @escaping JobEventSink, total: Int?) {
        self.id = id
        self.token = token
        self.executor = executor
        self.previewInterval = previewInterval
        self.sink = sink
        self.total = Mutex(total)
        start = Mutex(JobContext.now())
    }

    func send(_ event: JobEvent) { sink(id, event) }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public var isCancelled: Bool { token.isCancelled }

    /// Throws `JobCancelled` once cancellation was asked for.
    public func checkCancellation() throws {
        if token.isCancelled { throw JobCancelled() }
    }

    /// Sets (or changes) the number of steps the job expects.
    public func setTotal(_ newTotal: Int?) { total.withLock { $0 = newTotal } }

    /// Reports `step` steps done; rate and ETA are computed from the job's start.
    /// `rateSteps`, when given, is what the rate counts instead of `step` (e.g. images, not skips).
    public func progress(step: Int, metrics: [JobMetric] = [], rateSteps: Int? = nil) {
        let elapsed = max(self.elapsed, 1e-9)
        let counted = rateSteps ?? step
        let rate = Double(counted) / elapsed
        let total = self.total.withLock { $0 }
        let eta: Double? = total.flatMap { total in rate > 0 ? Double(max(0, total - step)) / rate : nil }
        send(.progress(JobProgress(step: step, total: total, rate: rate, eta: eta, elapsed: elapsed, metrics: metrics)))
    }

    public func log(_ message: String, level: JobLogLevel = .info) { send(.log(level, message)) }

    public func artefact(_ artefact: JobArtefact) { send(.artefact(artefact)) }

    /// Sends a preview when one is due (`previewInterval` since the last); `make` runs only
    /// then, so a job may call this every step. `force` sends regardless (a final image).
    /// Returns whether one was sent.
    @discardableResult
    public func preview(force: Bool = false, _ make: () -> JobPreview) -> Bool {
        let now = JobContext.now()
        let due = lastPreview.withLock { last -> Bool in
            guard force || last.map({ now - $0 >= previewInterval }) ?? true else { return false }
            last = now
            return true
        }
        if due { send(.preview(make())) }
        return due
    }

    /// Runs model work on the executor's compute lane at job priority: BLAS-heavy steps of
    /// several jobs interleave instead of competing for the cores, and interactive calls
    /// go first.
    public func compute<T>(_ body: () throws -> T) rethrows -> T {
        try executor.run(.job, body)
    }

    /// Seconds since the job started (or since `restartClock`).
    public var elapsed: Double { JobContext.now() - start.withLock { $0 } }

    /// Measures rate and ETA from now on: call it after setup (loading a model) so that
    /// the rate counts only the work.
    public func restartClock() { start.withLock { $0 = JobContext.now() } }
}

/// A running job: cancel it, or wait for its typed outcome. Thread-safe.
public final class JobHandle<Spec: JobSpec>: Sendable {
    public let info: JobInfo
    public let token: CancellationToken
    private let outcome = Mutex<JobOutcome<Spec.Result>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(info: JobInfo, token: CancellationToken) {
        self.info = info
        self.token = token
    }

    /// Asks the job to stop at its next check; `wait()` then returns `.cancelled`.
    public func cancel() { token.cancel() }

    /// Blocks the calling thread until the job ends (never call it from the compute thread).
    public func wait() -> JobOutcome<Spec.Result> {
        done.wait()
        done.signal()  // later waiters return at once
        return outcome.withLock { $0! }
    }

    /// True once the job has ended.
    public var isDone: Bool { outcome.withLock { $0 != nil } }

    fileprivate func finish(_ result: JobOutcome<Spec.Result>) {
        outcome.withLock { $0 = result }
        done.signal()
    }
}

/// A spec or result that JSON cannot hold, so its run could not be recorded honestly.
public struct UnrecordableValue: Error, CustomStringConvertible {
    public let what: String
    public let error: any Error
    public var description: String { "cannot record \(what) as JSON: \(error)" }
}

/// Starts jobs on dedicated compute threads.
public enum JobRunner {
    /// Stack size of compute threads: model code recurses little but keeps big frames.
    public static let stackSize = 16 << 20

    /// Runs `spec` on a new thread; events go to `sink` from that thread, `started` first,
    /// each with the run's id. Model work goes through `executor`'s compute lane.
    @discardableResult
    public static func start<Spec: JobSpec>(_ spec: Spec, total: Int? = nil, token: CancellationToken = CancellationToken(),
                                            executor: ComputeExecutor = .shared, previewInterval: Double = 0.25,
                                            queue: MachineQueue? = nil, sink: @escaping JobEventSink) -> JobHandle<Spec> {
        // A run whose parameters cannot be recorded could never be resumed or compared: it
        // fails before it starts instead of recording an empty spec.
        let encoded = Result { try JSONValue.encode(spec) }
        let info = JobInfo(id: UUID(), kind: Spec.kind, parameters: (try? encoded.get()) ?? Data("null".utf8), unit: Spec.unit)
        let handle = JobHandle<Spec>(info: info, token: token)
        let thread = Thread {
            // Two jobs never write one run folder: the second fails before it records anything.
            let lock: RunFolderLock?
            do {
                if case let .failure(error) = encoded { throw UnrecordableValue(what: "the \(Spec.kind) job's parameters", error: error) }
                lock = try spec.runFolder.flatMap { try RunFolderLock.acquire(RunFolder(path: $0)) }
            } catch {
                sink(info.id, .started(info))
                sink(info.id, .failed("\(error)"))
                handle.finish(.failed(JobFailure(message: "\(error)")))
                return
            }
            let sink = spec.runFolder.map { RunRecorder(folder: RunFolder(path: $0)).recording(sink) } ?? sink
            let context = JobContext(id: info.id, token: token, executor: executor, previewInterval: previewInterval,
                                     sink: sink, total: total)
            context.send(.started(info))
            let outcome: JobOutcome<Spec.Result>
            var turn: MachineQueue.Turn?
            do {
                // The run folder is ours first (a second writer fails at once, never queued).
                if let queue {
                    var waited = false
                    turn = try queue.waitForTurn(token: token) { ahead in
                        waited = true
                        context.send(.queue(ahead: ahead))
                    }
                    if waited { context.send(.queue(ahead: nil)) }
                }
                let result = try spec.run(context)
                let data: Data
                do { data = try JSONValue.encode(result) } catch {
                    throw UnrecordableValue(what: "the \(Spec.kind) job's result", error: error)
                }
                context.send(.finished(summary: Spec.summary(of: result), result: data))
                outcome = .finished(result)
            } catch is JobCancelled {
                context.send(.cancelled)
                outcome = .cancelled
            } catch {
                let message = "\(error)"
                context.send(.failed(message))
                outcome = .failed(JobFailure(message: message, invalidParameter: error as? InvalidParameter))
            }
            turn?.release()
            lock?.release()  // before the waiter may start the next job there
            handle.finish(outcome)
        }
        thread.name = "clipscope.job.\(Spec.kind)"
        thread.stackSize = stackSize
        thread.start()
        return handle
    }

    /// Runs `spec` on a compute thread and blocks until it ends (the CLI's way).
    public static func run<Spec: JobSpec>(_ spec: Spec, token: CancellationToken = CancellationToken(),
                                          executor: ComputeExecutor = .shared, queue: MachineQueue? = nil,
                                          sink: @escaping JobEventSink) -> JobOutcome<Spec.Result> {
        start(spec, token: token, executor: executor, queue: queue, sink: sink).wait()
    }
}
