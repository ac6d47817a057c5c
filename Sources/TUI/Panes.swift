import Foundation
import Index
import Jobs

/// Where a picture comes from.
public enum ImageSource: Sendable, Hashable {
    case file(String)
    /// A job's latest preview, by job id and step.
    case preview(UUID, step: Int)
    /// A neuron card's side panel drawn as a chart (category bars and histogram).
    case cardPanel(neuron: Int)
    /// The attack lab's image as of one of its answers.
    case attackLab(generation: Int)
}

/// A picture to show in a rectangle of cells, after the text of the frame is out.
public struct ImagePlacement: Sendable, Hashable {
    public var source: ImageSource
    public var rect: Rect
}

/// The identity of one encoded picture: what, how big, where and in which graphics.
public struct ImageKey: Sendable, Hashable {
    public var source: ImageSource
    public var rect: Rect
    public var graphics: String
}

/// One pane of the app: its slice of the state has its keys and its view. Adding one is a
/// `Screen` case naming it, the type (slice, keys, view, in one file), and its place in `AppState.tabOrder`.
protocol Pane {
    /// Its key bindings (they drive dispatch, help, hints and the README).
    static var keys: KeyTable { get }
    /// Draws it into `area`; returns the pictures to place.
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement]
}

extension Screen {
    var pane: any Pane.Type {
        switch self {
        case .neurons: NeuronListState.self
        case .card: CardState.self
        case .image: ImageState.self
        case .lab: AttackLab.self
        case .figure: FigureView.self
        case .jobs: JobsState.self
        case .log: LogState.self
        }
    }
}

/// Draws the state into a canvas: pure views of the one state. Returns the pictures the
/// frame wants placed (the compositor sends them after the text).
public enum Panes {
    public static func draw(_ state: AppState, on canvas: Canvas) -> [ImagePlacement] {
        canvas.clear()
        guard !state.isTooSmall else {
            let message = ["window too small:", "\(state.columns)x\(state.rows),", "need at least",
                           "\(AppState.minimumSize.columns)x\(AppState.minimumSize.rows)"]
            for (i, line) in message.enumerated() where i < state.rows { canvas.put(i, 0, line, width: state.columns, .warning) }
            return []
        }
        let body = Rect(top: 1, left: 0, height: state.rows - 2, width: state.columns)
        tabs(state, canvas)
        let placements = state.screen.pane.draw(state, canvas, body)
        statusBar(state, canvas, row: state.rows - 1)
        if let page = state.help {
            helpOverlay(state, page, canvas, body)
            return []
        }
        return placements
    }

    // MARK: Bars

    static func tabs(_ state: AppState, _ canvas: Canvas) {
        var column = 0
        canvas.put(0, 0, String(repeating: " ", count: state.columns), .inverse)
        canvas.put(0, column, " clipscope ", .title)
        column += 12
        for screen in state.tabOrder {
            var title = screen.title
            if screen == .card, let neuron = state.cardNeuron { title += " \(neuron)" }
            if screen == .jobs, !state.jobs.running.isEmpty { title += " (\(state.jobs.running.count))" }
            let text = " \(title) "
            canvas.put(0, column, text, screen == state.screen ? .selected : .inverse)
            column += text.count + 1
        }
        let hint = " " + Bindings.global.bindings.compactMap { binding in binding.hint.map { "\(binding.label):\($0)" } }.joined(separator: " ") + " "
        if column + hint.count <= state.columns { canvas.put(0, state.columns - hint.count, hint, .inverse) }
    }

    static func statusBar(_ state: AppState, _ canvas: Canvas, row: Int) {
        let width = state.columns
        if let input = state.input {
            let prompt: String
            switch input {
            case let .search(text): prompt = "/" + text
            case let .command(text): prompt = ":" + text
            case let .label(neuron, text): prompt = "label of \(neuron): " + text
            case let .note(neuron, text): prompt = "note of \(neuron): " + text
            case .confirmQuit:
                let (stopping, continuing) = state.jobsAtQuit
                prompt = continuing == 0 ? "\(stopping) job(s) running: quit and stop them? (y/n)"
                    : "\(continuing) job(s) keep running after you quit\(stopping > 0 ? ", \(stopping) stop" : ""): quit? (y: yes, c: cancel them all and quit, n: no)"
            }
            // The end of what is typed stays in view (the terminal's last cell is never written).
            canvas.put(row, 0, TextCanvas.fittedEnd(prompt + "█", width: width - 1), width: width, .bold)
            // The visualize command is the app's form for a visualization: its fields, after the cursor.
            if case let .command(text) = input, text.hasPrefix("visualize "), prompt.count + 3 < width {
                let fields = "  " + VisualizeRecipe.words.joined(separator: "|") + " steps= seed= lr= jitter= scale= rotate= decay= reduce=mean|max"
                canvas.put(row, prompt.count + 1, fields, width: width - prompt.count - 1, .dim)
            }
            return
        }
        if let message = state.message {
            canvas.put(row, 0, message.text, width: width, message.isError ? .bad : .accent)
            return
        }
        let jobs = state.jobs.running.map { job in
            job.fraction.map { "\(job.kind) \(Int(($0 * 100).rounded()))%" } ?? job.kind
        }
        let parts = ["model \(state.modelName) (\(state.modelStatus))",
                     "index \(state.catalog.map { ($0.indexPath as NSString).lastPathComponent } ?? "-") (\(state.indexStatus))",
                     state.graphicsName] + (jobs.isEmpty ? [] : ["running: " + jobs.joined(separator: ", ")])
        canvas.put(row, 0, parts.joined(separator: " │ "), width: width, .dim)
    }

    // MARK: Sparklines and bars

    static let sparks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// A sparkline of values (scaled to their own range).
    public static func sparkline(_ values: [Float], width: Int) -> String {
        let shown = Array(values.prefix(width))
        guard let low = shown.min(), let high = shown.max() else { return "" }
        let span = max(1e-9, high - low)
        return String(shown.map { sparks[min(7, Int(((($0 - low) / span) * 7).rounded()))] })
    }

    /// A bar of `fraction` of `width` cells in eighths.
    public static func bar(_ fraction: Double, width: Int) -> String {
        let eighths = Int((max(0, min(1, fraction)) * Double(width * 8)).rounded())
        let partial: [Character] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"].map { $0.first ?? " " }
        var text = String(repeating: "█", count: eighths / 8)
        if eighths % 8 > 0 { text.append(partial[eighths % 8]) }
        return text
    }

    // MARK: Help

    static func helpOverlay(_ state: AppState, _ page: HelpPage, _ canvas: Canvas, _ area: Rect) {
        let entries = page == .keys ? Bindings.help(for: state.screen) : Commands.help
        let title = page == .keys ? "keys: \(state.screen.title) (Esc closes)" : "commands: type : then one of these (Esc closes)"
        let width = min(area.width - 2, 90)
        let keyWidth = min(22, (entries.map(\.0.count).max() ?? 8) + 2)
        // Long descriptions go on over the next lines.
        let lines = entries.flatMap { key, action in
            wrapped(action, width: width - keyWidth - 4).enumerated().map { ($0.offset == 0 ? key : "", $0.element) }
        }
        let height = min(area.height - 1, lines.count + 3)
        let box = Rect(top: area.top + max(0, (area.height - height) / 2), left: max(0, (area.width - width) / 2), height: height, width: width)
        canvas.fill(box)
        canvas.box(box, title: title, focused: true)
        for (i, (key, action)) in lines.prefix(box.height - 2).enumerated() {
            canvas.put(box.top + 1 + i, box.left + 2, key, width: keyWidth, .accent)
            canvas.put(box.top + 1 + i, box.left + 2 + keyWidth, action, width: box.width - keyWidth - 4)
        }
    }
}

/// `text` padded or cut to `width` cells.
func padded(_ text: String, _ width: Int) -> String { TextCanvas.fitted(text, width: width) }
