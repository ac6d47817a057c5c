import Foundation
import Terminal
import Index
import Jobs
import Synchronization
import ToyWorld

/// Renders job events on stderr: on a terminal, one progress line rewritten with `\r`
/// (rate and ETA) and info lines above it; in a pipe (a log file), warnings, failures and
/// a plain progress line once a minute, so that a long job run in the background says
/// how far it is.
final class JobProgressLine: Sendable {
    private struct State {
        var lastDraw = 0.0
        var lastLogged: Double?
        var lineShown = false
        var job: JobState?
    }

    let isTerminal: Bool
    private let state = Mutex(State())

    init(isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.isTerminal = isTerminal
    }

    /// The sink to give `JobRunner`.
    var sink: JobEventSink { { [self] _, event in self.handle(event) } }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func handle(_ event: JobEvent) {
        state.withLock { state in
            let clear = state.lineShown ? "\r\u{1B}[2K" : ""
            if case let .started(info) = event { state.job = JobState(info: info) } else { state.job?.apply(event) }
            guard let line = state.job?.line.terminalSafe(keepingLineBreaks: false) else { return }
            switch event {
            case .started, .preview:
                break
            case let .queue(ahead):
                // Waiting for the machine's other heavy job: say so once per change.
                guard let ahead else {
                    if state.lineShown { Self.write(clear) }
                    state.lineShown = false
                    return
                }
                Self.write(clear + "\(state.job?.kind ?? "job"): queued behind the machine's other clipscope jobs, \(JobState.ahead(ahead))\n")
                state.lineShown = false
            case let .progress(progress):
                let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                guard isTerminal else {
                    let last = state.lastLogged ?? now
                    if state.lastLogged == nil { state.lastLogged = now }
                    if now - last >= Self.logInterval {
                        state.lastLogged = now
                        Self.write(line + "\n")
                    }
                    return
                }
                // At most ten redraws a second, but always the last step.
                guard now - state.lastDraw >= 0.1 || progress.step == progress.total else { return }
                state.lastDraw = now
                Self.write("\r\u{1B}[2K" + line)
                state.lineShown = true
            case let .log(level, message):
                if level == .warning {
                    Self.write(clear + "clipscope: \(message.terminalSafe(keepingLineBreaks: true))\n")
                    state.lineShown = false
                } else if isTerminal {
                    Self.write(clear + "\(message)\n")
                    state.lineShown = false
                }
            case let .artefact(artefact):
                if isTerminal, let path = artefact.path {
                    Self.write(clear + "\(artefact.name): \(path)\n")
                    state.lineShown = false
                }
            case .finished, .failed, .cancelled:
                if state.lineShown { Self.write(clear) }
                state.lineShown = false
            }
        }
    }

    /// Seconds between progress lines in a pipe.
    static let logInterval = 60.0
}

/// Runs a job as a command does: progress on stderr, `token` (see `InterruptCancels`) to
/// stop it, and any failure as one line; a cancelled run fails with `interrupted` when given.
/// `pauseAfterProgressMilliseconds` holds the job after each progress report (after each
/// committed batch of a scan): a hidden option that lets tests interrupt a job mid-way.
/// `also` sees every event after the progress line (e.g. to show previews). The job takes its
/// turn in the machine's queue (`MachineQueue.standard()`), as the app's runners do.
func runCommandJob<Spec: JobSpec>(_ job: Spec, token: CancellationToken, pauseAfterProgressMilliseconds: Int = 0,
                                  interrupted: String? = nil, also: JobEventSink? = nil) throws -> Spec.Result {
    let progressLine = JobProgressLine().sink
    let pause = Double(pauseAfterProgressMilliseconds) / 1000
    let sink: JobEventSink = { id, event in
        progressLine(id, event)
        also?(id, event)
        if pause > 0, case .progress = event { Thread.sleep(forTimeInterval: pause) }
    }
    do {
        return try JobRunner.run(job, token: token, queue: MachineQueue.standard(), sink: sink).get()
    } catch let cancelled as JobCancelled {
        throw CommandFailure(interrupted ?? "\(cancelled)")
    }
}

/// Cancels a job on Ctrl-C (SIGINT) so that it stops at the next batch, leaving its
/// work committed; a second Ctrl-C exits at once.
enum InterruptCancels {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// A new token that Ctrl-C cancels.
    static func installedToken() -> CancellationToken {
        let token = CancellationToken()
        install(token)
        return token
    }

    private static func install(_ token: CancellationToken) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            if token.isCancelled { exit(130) }
            FileHandle.standardError.write(Data("\nclipscope: interrupted; stopping after the current batch (Ctrl-C again to quit now)\n".utf8))
            token.cancel()
        }
        source.resume()
        sources.append(source)
    }
}
