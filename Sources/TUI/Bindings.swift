/// One key binding of a pane (lazygit's controllers are the model): the keys it takes, what
/// the help says of it, what it does, and when it is off. The tables drive the dispatch of
/// keys, the help overlay, the key hints and the README's key table, so they cannot drift.
struct Binding: Sendable {
    /// The keys dispatched to it.
    var keys: [Key]
    /// Any printable character (the attack lab's text); shown as `label`.
    var typed = false
    /// How help shows the keys (made from `keys` unless given).
    var label: String
    var description: String
    /// A short name for the pane's key hints line (nil: not in it).
    var hint: String?
    /// Why the binding is off in a state (shown as the message when its key is pressed), nil when on.
    var disabled: @Sendable (AppState) -> String?
    var action: @Sendable (inout AppState, Key) -> [Effect]

    init(_ keys: [Key], label: String? = nil, _ description: String, hint: String? = nil,
         disabled: @escaping @Sendable (AppState) -> String? = { _ in nil },
         _ action: @escaping @Sendable (inout AppState, Key) -> [Effect]) {
        self.keys = keys
        self.label = label ?? Key.label(keys)
        self.description = description
        self.hint = hint
        self.disabled = disabled
        self.action = action
    }

    /// Every printable character: typed text.
    static func typing(_ label: String, _ description: String, _ action: @escaping @Sendable (inout AppState, Key) -> [Effect]) -> Binding {
        var binding = Binding([], label: label, description, action)
        binding.typed = true
        return binding
    }

    func takes(_ key: Key) -> Bool {
        if typed, case .character = key { return true }
        return keys.contains(key)
    }
}

/// The keys of one pane, in the order help lists them.
struct KeyTable: Sendable {
    var title: String
    var bindings: [Binding]
    /// Lines help adds after the keys (legends, not keys).
    var notes: [(String, String)] = []
}

extension Key {
    /// How help writes a key.
    var name: String {
        switch self {
        case .up: "↑"
        case .down: "↓"
        case .left: "←"
        case .right: "→"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .home: "Home"
        case .end: "End"
        case .enter: "Enter"
        case .escape: "Esc"
        case .tab: "Tab"
        case .backTab: "S-Tab"
        case .backspace: "Backspace"
        case .delete: "Del"
        case let .character(c): String(c)
        case let .control(c): "^" + String(c).uppercased()
        }
    }

    /// Keys as help writes them: arrows run together, the rest spaced.
    static func label(_ keys: [Key]) -> String {
        var text = ""
        var lastWasArrow = false
        for key in keys {
            let isArrow = [.up, .down, .left, .right].contains(key)
            if !text.isEmpty, !(isArrow && lastWasArrow) { text += " " }
            text += key.name
            lastWasArrow = isArrow
        }
        return text
    }
}

enum Bindings {
    /// Keys of every pane (after the pane's own: a pane can take one of them first).
    static let global = KeyTable(title: "every pane", bindings: [
        Binding([.tab], "next pane") { state, _ in state.cycle(forward: true); return [] },
        Binding([.backTab], "previous pane") { state, _ in state.cycle(forward: false); return [] },
        Binding([.character(":")], "a command: :N opens neuron N's card, :help lists them all") { state, _ in state.input = .command(""); return [] },
        Binding([.character("?")], "this help (every key of the pane)", hint: "help") { state, _ in state.help = .keys; return [] },
        Binding([.escape], "back") { state, _ in state.goBack() },
        Binding([.character("q")], "back (on the neuron list: quit, asking first while jobs run)") { state, _ in
            state.screen == .neurons ? state.requestQuit() : state.goBack()
        },
    ])

    /// The table of a pane.
    static func table(for screen: Screen) -> KeyTable { screen.pane.keys }

    /// What a key does on a screen: the first binding of the pane's table, then the global
    /// table's, that takes it and is on; else the first that takes it (off: its reason).
    static func binding(for key: Key, on screen: Screen, in state: AppState) -> (Binding, reason: String?)? {
        let candidates = (table(for: screen).bindings + global.bindings).filter { $0.takes(key) }
        if let on = candidates.first(where: { $0.disabled(state) == nil }) { return (on, nil) }
        return candidates.first.map { ($0, $0.disabled(state)) }
    }

    /// The help overlay's lines of a screen: the pane's keys, its notes, then the global ones.
    static func help(for screen: Screen) -> [(String, String)] {
        let table = table(for: screen)
        return table.bindings.map { ($0.label, $0.description) } + table.notes + global.bindings.map { ($0.label, $0.description) }
    }

    /// The key hints line of a screen: "c x: cancel, R: run again".
    static func hints(for screen: Screen, separator: String = ", ") -> String {
        hintItems(for: screen).joined(separator: separator)
    }

    static func hintItems(for screen: Screen) -> [String] {
        table(for: screen).bindings.compactMap { binding in binding.hint.map { "\(binding.label): \($0)" } }
    }

    /// docs/keys.md's key table: every binding once, with the panes that have it.
    static func keysTable() -> String {
        var rows: [(label: String, description: String, panes: [String])] = []
        for table in [global] + Screen.allCases.map(table(for:)) + [InputLine.keys] {
            for binding in table.bindings {
                if let index = rows.firstIndex(where: { $0.label == binding.label && $0.description == binding.description }) {
                    rows[index].panes.append(table.title)
                } else {
                    rows.append((binding.label, binding.description, [table.title]))
                }
            }
        }
        let lines = ["| keys | where | what |", "| --- | --- | --- |"]
            + rows.map { "| `\(tableCell($0.label))` | \($0.panes.joined(separator: ", ")) | \(tableCell($0.description)) |" }
        return lines.joined(separator: "\n")
    }

    /// The README's short key table: one row a pane, each key with the first words of what it does.
    static func readmeTable() -> String {
        func short(_ binding: Binding) -> String {
            let cut = binding.description.firstIndex { "(;:".contains($0) } ?? binding.description.endIndex
            return "`\(tableCell(binding.label))` \(binding.description[..<cut].trimmingCharacters(in: .whitespaces))"
        }
        let tables = [global] + Screen.allCases.map(table(for:))
        let lines = ["| pane | keys |", "| --- | --- |"]
            + tables.map { "| \($0.title) | \($0.bindings.map(short).joined(separator: " · ")) |" }
        return lines.joined(separator: "\n")
    }

    static func tableCell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

    /// The README's line of `:` commands (their first words; docs/keys.md has the table).
    static func readmeCommandsLine() -> String {
        Commands.table.map { "`:\($0.usage.split(separator: " ").first.map(String.init) ?? $0.usage)`" }.joined(separator: " ")
    }

    /// docs/keys.md's table of `:` commands.
    static func commandsTable() -> String {
        let lines = ["| command | what |", "| --- | --- |"]
            + Commands.table.map { "| `:\(tableCell($0.usage))` | \(tableCell($0.description)) |" }
        return lines.joined(separator: "\n")
    }
}
