import Core
import Foundation
import Synchronization

/// Renders job events on stderr: on a terminal, one progress line rewritten with `\r`
/// (rate and ETA) and info lines above it; in a pipe (a log file), warnings, failures and
/// a plain progress line once a minute, so that a long job run in the background says
/// how far it is.
final class JobProgressLine: Sendable {
    private struct State {
        var lastDraw = 0.0
        var lastLogged: Double?
        var lineShown = false
        var unit = "steps"
        var kind = "job"
    }

    let isTerminal: Bool
    private let state = Mutex(State())

    init(isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.isTerminal = isTerminal
    }

    /// The sink to give `JobRunner`.
    var sink: JobEventSink { { [self] event in self.handle(event) } }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func handle(_ event: JobEvent) {
        state.withLock { state in
            let clear = state.lineShown ? "\r\u{1B}[2K" : ""
            switch event {
            case let .started(info):
                state.unit = info.unit
                state.kind = info.kind
            case let .progress(progress):
                let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                guard isTerminal else {
                    let last = state.lastLogged ?? now
                    if state.lastLogged == nil { state.lastLogged = now }
                    if now - last >= Self.logInterval {
                        state.lastLogged = now
                        Self.write(Self.line(progress, kind: state.kind, unit: state.unit) + "\n")
                    }
                    return
                }
                // At most ten redraws a second, but always the last step.
                guard now - state.lastDraw >= 0.1 || progress.step == progress.total else { return }
                state.lastDraw = now
                Self.write("\r\u{1B}[2K" + Self.line(progress, kind: state.kind, unit: state.unit))
                state.lineShown = true
            case let .log(level, message):
                if level == .warning {
                    Self.write(clear + "clipscope: \(message)\n")
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

    /// "scan  120/400  30%  12.3 images/s  ETA 0:23".
    static func line(_ progress: JobProgress, kind: String, unit: String) -> String {
        var parts = [kind]
        if let total = progress.total, total > 0 {
            parts.append("\(progress.step)/\(total)")
            parts.append(String(format: "%3.0f%%", 100 * Double(progress.step) / Double(total)))
        } else {
            parts.append("\(progress.step)")
        }
        parts.append(String(format: "%.1f %@/s", progress.rate, unit))
        if let eta = progress.eta, eta.isFinite { parts.append("ETA " + duration(eta)) }
        for metric in progress.metrics where !metric.name.hasSuffix("/s") {
            parts.append("\(metric.name) \(String(format: "%.4g", metric.value))")
        }
        return parts.joined(separator: "  ")
    }

    /// 83 -> "1:23", 3723 -> "1:02:03".
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }
}

/// Runs a job as a command does: progress on stderr, `token` (see `InterruptCancels`) to
/// stop it, and any failure as one line; a cancelled run fails with `interrupted` when given.
func runCommandJob<Spec: JobSpec>(_ job: Spec, token: CancellationToken, interrupted: String? = nil) throws -> Spec.Result {
    do {
        return try JobRunner.run(job, token: token, sink: JobProgressLine().sink).get()
    } catch let cancelled as JobCancelled {
        throw CommandFailure(interrupted ?? "\(cancelled)")
    } catch {
        throw CommandFailure("\(error)")
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
