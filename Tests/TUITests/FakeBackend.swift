import Foundation
import Jobs
import Synchronization
@testable import TUI

/// A backend with no model, no index and no threads: it records every effect and answers
/// at once with the events a test scripts (posted to the mailbox, as the real one does).
final class FakeBackend: AppBackend {
    let mailbox: Mailbox
    private let effects = Mutex<[Effect]>([])
    private let answer: @Sendable (Effect) -> [AppEvent]

    init(mailbox: Mailbox, answer: @escaping @Sendable (Effect) -> [AppEvent] = { _ in [] }) {
        self.mailbox = mailbox
        self.answer = answer
    }

    func start() {}
    func waitForJobs(seconds: Double) {}

    func perform(_ effect: Effect) {
        effects.withLock { $0.append(effect) }
        for event in answer(effect) { mailbox.post(event) }
    }

    /// The effects performed so far (and forgets them).
    func takeEffects() -> [Effect] { effects.withLock { effects in defer { effects = [] }; return effects } }
}

/// The app's loop without a terminal: events into the state, its effects to the backend, the
/// backend's answers back in, until nothing is left (as `App.run` does frame by frame).
struct Harness {
    var state: AppState
    let mailbox = Mailbox()
    let backend: FakeBackend

    init(state: AppState, answer: @escaping @Sendable (Effect) -> [AppEvent] = { _ in [] }) {
        self.state = state
        backend = FakeBackend(mailbox: mailbox, answer: answer)
    }

    mutating func send(_ events: AppEvent...) {
        var queue = events
        while !queue.isEmpty {
            for event in queue {
                for effect in state.apply(event) { backend.perform(effect) }
            }
            queue = mailbox.drain()
        }
    }

    mutating func press(_ keys: Key...) { for key in keys { send(.key(key)) } }
    mutating func type(_ text: String) { for character in text { send(.key(.character(character))) } }
    mutating func command(_ text: String) {
        press(.character(":"))
        type(text)
        press(.enter)
    }

    /// The screen as drawn now.
    func screen() -> String {
        let canvas = TextCanvas(rows: state.rows, columns: state.columns)
        _ = Panes.draw(state, on: canvas)
        return canvas.text
    }
}

/// A job's events as a backend posts them: started, artefacts, then finished.
func jobEvents(_ id: UUID = UUID(), kind: String, artefacts: [JobArtefact] = [], summary: String? = nil) -> [AppEvent] {
    let info = JobInfo(id: id, kind: kind, parameters: Data("{}".utf8), unit: "steps")
    var events: [AppEvent] = [.job(id, .started(info))] + artefacts.map { .job(id, .artefact($0)) }
    if let summary { events.append(.job(id, .finished(summary: summary, result: Data()))) }
    return events
}
