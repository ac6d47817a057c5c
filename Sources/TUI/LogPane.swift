/// The log's slice of the state.
public struct LogState {
    public var entries: [(message: String, isError: Bool)] = []
    public var follow = true
    public var offset = 0
    public static let limit = 500

    public init() {}

    mutating func append(_ text: String, isError: Bool) {
        entries.append((text, isError))
        if entries.count > Self.limit { entries.removeFirst(entries.count - Self.limit) }
    }

    static let keys = KeyTable(title: "log", bindings: [
        Binding([.up, .character("k")], "scroll up") { state, _ in
            state.logFollow = false
            state.logOffset = max(0, state.logOffset - 1)
            return []
        },
        Binding([.down, .character("j")], "scroll down") { state, _ in
            state.logOffset = min(max(0, state.log.count - state.logPage), state.logOffset + 1)
            return []
        },
        Binding([.pageUp], "a page up") { state, _ in
            state.logFollow = false
            state.logOffset = max(0, state.logOffset - state.logPage)
            return []
        },
        Binding([.pageDown], "a page down") { state, _ in
            state.logOffset = min(max(0, state.log.count - state.logPage), state.logOffset + state.logPage)
            return []
        },
        Binding([.home, .character("g")], "the top") { state, _ in
            state.logFollow = false
            state.logOffset = 0
            return []
        },
        Binding([.end, .character("G")], "the end (following)") { state, _ in
            state.logFollow = true
            return []
        },
        Binding([.character("f")], "follow on / off", hint: "follow") { state, _ in
            state.logFollow.toggle()
            state.message = (state.logFollow ? "following the log" : "log paused", false)
            return []
        },
    ])
}

extension AppState {
    public var log: [(message: String, isError: Bool)] {
        get { logPane.entries }
        set { logPane.entries = newValue }
    }
    public var logFollow: Bool {
        get { logPane.follow }
        set { logPane.follow = newValue }
    }
    public var logOffset: Int {
        get { logPane.offset }
        set { logPane.offset = newValue }
    }
    public static var logLimit: Int { LogState.limit }
    var logPage: Int { max(1, rows - 4) }
}

// MARK: View

extension LogState: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        Panes.logPane(state, canvas, area)
        return []
    }
}


extension Panes {
    static func logPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) {
        let height = area.height - 1
        canvas.put(area.top, 0, "log (\(state.log.count) lines; f: \(state.logFollow ? "following" : "paused"))", width: area.width, .bold)
        let start = state.logFollow ? max(0, state.log.count - height) : min(state.logOffset, max(0, state.log.count - height))
        for (line, entry) in state.log[start..<min(state.log.count, start + height)].enumerated() {
            canvas.put(area.top + 1 + line, 0, entry.message, width: area.width, entry.isError ? .bad : .plain)
        }
    }
}
