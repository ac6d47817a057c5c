import Foundation
import Imaging
import Index
import Jobs
import Synchronization
import Terminal

/// The ncurses app: one thread (this one) owns the terminal, applies events to the one
/// state, draws it and places pictures; everything slow happens in the backend, which
/// only posts events.
public enum App {
    /// Signals that end the app (the terminal is restored and jobs stop at their next step).
    static let endingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Runs until the user quits or a signal ends it; returns the exit status.
    public static func run(_ options: AppOptions, graphics: GraphicsMode) -> Int32 {
        run(options, graphics: graphics) { Backend(options: options, mailbox: $0) }
    }

    /// The same with another backend (made with the app's mailbox).
    static func run(_ options: AppOptions, graphics: GraphicsMode, backend makeBackend: (Mailbox) -> any AppBackend) -> Int32 {
        // Ask the terminal before ncurses takes it (the query never waits past its timeout).
        var capabilities = TerminalQuery.detect(mode: graphics)
        capabilities.sixelColors = options.sixelColors
        let received = SignalFlag()
        let sources = watch(endingSignals, into: received)
        defer { sources.forEach { $0.cancel() } }

        let mailbox = Mailbox()
        let backend = makeBackend(mailbox)
        let screen = CursesScreen()
        let compositor = ImageCompositor(capabilities: capabilities, mailbox: mailbox)
        var state = AppState(rows: screen.rows, columns: screen.columns, modelName: options.model,
                             graphics: capabilities.graphics, graphicsName: compositor.graphicsName)
        compositor.resized(rows: screen.rows, columns: screen.columns, cellSize: nil)
        if let note = capabilities.note { state.message = (note, false) }

        // The first frame goes out before anything loads.
        var dirty = true
        var lastDraw = 0.0
        backend.start()
        var status: Int32 = 0
        while true {
            let signalNumber = received.value.load(ordering: .relaxed)
            if signalNumber != 0 {
                status = 128 + signalNumber
                break
            }
            if dirty || now() - lastDraw > 0.5 {
                draw(&state, screen: screen, compositor: compositor)
                lastDraw = now()
                dirty = false
            }
            let events = mailbox.drain()
            for event in events {
                for effect in state.apply(event) { backend.perform(effect) }
                dirty = true
            }
            // Every key already typed goes in before the next frame, so a paste costs one frame,
            // not one a character. Reading stops at a quit: what is left is flushed on the way
            // out, never handed to the shell.
            var wait = events.isEmpty ? 30 : 0
            while !state.quitting, received.value.load(ordering: .relaxed) == 0, let raw = screen.readKey(milliseconds: wait) {
                wait = 0
                for effect in state.apply(event(for: raw, screen: screen, compositor: compositor)) { backend.perform(effect) }
                dirty = true
            }
            if state.quitting { break }
        }
        backend.perform(.quit)
        compositor.removeEverything()
        screen.end()
        backend.waitForJobs(seconds: 10)
        // Keys typed while the jobs stopped were meant for the app, not the shell.
        CursesScreen.discardTypedInput()
        return status
    }

    /// Set by the signal that ends the app (0 until one comes).
    final class SignalFlag: Sendable {
        let value = Atomic<Int32>(0)
    }

    /// Ignores `signals` and has each of them set `flag` instead (the loop reads it).
    static func watch(_ signals: [Int32], into flag: SignalFlag) -> [DispatchSourceSignal] {
        signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { flag.value.store(number, ordering: .relaxed) }
            source.resume()
            return source
        }
    }

    /// The event of what the terminal read; a resize lays the pictures out again first.
    static func event(for raw: CursesScreen.RawKey, screen: CursesScreen, compositor: ImageCompositor) -> AppEvent {
        switch raw {
        case let .key(key): return .key(key)
        case .resize:
            let window = TerminalQuery.windowSize(of: STDOUT_FILENO)
            let cell = window.flatMap { $0.pixelWidth > 0 && $0.pixelHeight > 0
                ? CellSize(width: max(1, $0.pixelWidth / $0.columns), height: max(1, $0.pixelHeight / $0.rows)) : nil }
            compositor.resized(rows: screen.rows, columns: screen.columns, cellSize: cell)
            screen.repaintAll()
            return .resize(rows: screen.rows, columns: screen.columns)
        }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// One frame: text through ncurses, then the pictures.
    static func draw(_ state: inout AppState, screen: CursesScreen, compositor: ImageCompositor) {
        let placements = Panes.draw(state, on: screen)
        for rows in compositor.rowsToErase(for: placements) { screen.repaint(top: rows.top, count: rows.count) }
        screen.refresh()
        var previews: [UUID: JobPreview] = [:]
        for job in state.jobs.all { if let preview = job.preview { previews[job.id] = preview } }
        compositor.place(placements, previews: previews, renderers: renderers(state))
    }

    /// How to draw the pictures that come from the state's data.
    static func renderers(_ state: AppState) -> [ImageSource: ImageCompositor.Renderer] {
        var renderers: [ImageSource: ImageCompositor.Renderer] = [:]
        if let card = state.card {
            renderers[.cardPanel(neuron: card.neuron)] = { width, height in
                guard let font = try? Font.standard() else { return Image(width: 8, height: 8, color: .white) }
                return NeuronPictures.panel(categories: card.categories, bins: card.bins, width: width, height: height, font: font)
            }
        }
        if let result = state.lab?.result {
            let image = result.image
            renderers[.attackLab(generation: result.generation)] = { _, _ in image }
        }
        return renderers
    }
}
