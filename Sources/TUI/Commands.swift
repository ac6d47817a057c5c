import Experiments
import Foundation
import Index
import Support
import Workbench

/// One `:` command: the words it answers to, its usage, what it does. The table is the
/// parser, `:help` and the README's command table.
struct Command: Sendable {
    var names: [String]
    /// The command and its main argument ("visualize N").
    var syntax: String
    /// Its options ("[steps=S] ...").
    var options: String = ""
    var description: String
    var run: @Sendable (inout AppState, String) -> [Effect]

    var usage: String { options.isEmpty ? syntax : syntax + " " + options }
}

enum Commands {
    static let table: [Command] = [
        Command(names: [], syntax: "N", description: "open neuron N's card") { _, _ in [] },
        Command(names: ["scan"], syntax: "scan DIR", description: "index a folder of images (a job; into the open index)") { state, argument in
            guard !argument.isEmpty else { state.report("usage: :scan DIR", isError: true); return [] }
            state.show(.jobs)
            return [.startScan(folder: (argument as NSString).expandingTildeInPath)]
        },
        Command(names: ["visualize", "vis"], syntax: "visualize N", options: "[\(VisualizeRecipe.words.joined(separator: "|"))] " + VisualizeTweaks.usage,
                description: "a feature visualization of neuron N (a job; v on a card fills it in)") { state, argument in
            state.visualizeCommand(argument)
        },
        Command(names: ["atlas"], syntax: "atlas", options: "[FIRST-LAST] [steps=S]", description: "visualize every neuron (or a range) in the background") { state, argument in
            state.atlasCommand(argument)
        },
        Command(names: ["attack"], syntax: "attack", options: "[IMAGE]", description: "the attack lab on an image (the open one without IMAGE)") { state, argument in
            state.attackCommand(argument)
        },
        Command(names: ["stroop"], syntax: "stroop", description: "the Stroop test (a job; its figure shows when it ends)") { state, _ in
            state.show(.jobs)
            return [.stroop]
        },
        Command(names: ["gap"], syntax: "gap", options: "[DIR|FILE.csv]", description: "the modality gap of captioned images (the toy's own scenes without one)") { state, argument in
            state.show(.jobs)
            return [.gap(argument.isEmpty ? nil : (argument as NSString).expandingTildeInPath)]
        },
        Command(names: ["sort"], syntax: "sort", options: SortOrder.allCases.map(\.rawValue).joined(separator: "|"), description: "order the neuron list") { state, argument in
            guard let order = SortOrder(rawValue: argument) else {
                state.report("usage: :sort " + SortOrder.allCases.map(\.rawValue).joined(separator: "|"), isError: true)
                return []
            }
            state.sort = order
            state.meaning = nil
            return []
        },
        Command(names: ["filter"], syntax: "filter", options: Filter.allCases.map(\.rawValue).joined(separator: "|"), description: "which neurons the list shows") { state, argument in
            guard let value = Filter(rawValue: argument) else {
                state.report("usage: :filter " + Filter.allCases.map(\.rawValue).joined(separator: "|"), isError: true)
                return []
            }
            state.filter = value
            state.clampSelection()
            return []
        },
        Command(names: ["jobs"], syntax: "jobs", description: "the jobs pane") { state, _ in state.show(.jobs); return [] },
        Command(names: ["log"], syntax: "log", description: "the log pane") { state, _ in state.show(.log); return [] },
        Command(names: ["help", "h"], syntax: "help", description: "these commands") { state, _ in state.help = .commands; return [] },
        Command(names: ["q", "quit"], syntax: "q", description: "quit (asking first while jobs run)") { state, _ in state.requestQuit() },
        Command(names: ["q!", "quit!"], syntax: "q!", description: "quit at once (running jobs stop at their next step)") { state, _ in
            state.quitting = true
            return [.quit]
        },
    ]

    /// The commands in one line: ":N :scan DIR :visualize N ...".
    static var summary: String { table.map { ":" + $0.syntax }.joined(separator: " ") }

    /// `:help`'s lines.
    static var help: [(String, String)] {
        table.map { (":" + $0.syntax, $0.description + ($0.options.isEmpty ? "" : ": " + $0.options)) }
    }

    static func command(named name: String) -> Command? { table.first { $0.names.contains(name) } }
}

/// The app's reach into the world that the reducer may ask about (injected for tests).
public struct AppEnvironment: Sendable {
    public var isReadableFile: @Sendable (String) -> Bool

    public init(isReadableFile: @escaping @Sendable (String) -> Bool = { FileManager.default.isReadableFile(atPath: $0) }) {
        self.isReadableFile = isReadableFile
    }
}

/// How a `:visualize` run starts: one of the presets (`VisualizationPresets`: the paper's
/// variants, or the toy model's recipe), by the name `clipscope visualize --variant` takes.
public enum VisualizeRecipe: Sendable, Equatable {
    case variant(VisualizationVariant)
    /// The toy model's own recipe (`VisualizationPresets.toy`).
    case toy

    public init?(word: String) {
        guard VisualizationPresets.settings(named: word) != nil else { return nil }
        self = VisualizationVariant(rawValue: word).map(Self.variant) ?? .toy
    }

    public var word: String {
        switch self {
        case let .variant(variant): variant.rawValue
        case .toy: VisualizationPresets.toy
        }
    }

    public var settings: VisualizationSettings { VisualizationPresets.settings(named: word)! }

    static var words: [String] { VisualizationPresets.names }
}

extension VisualizeTweaks {
    static let usage = "[steps=S] [seed=S] [lr=F] [jitter=F] [scale=F] [rotate=DEG] [decay=F] [reduce=mean|max]"
}

// MARK: The input line

/// The keys of the line typed at the bottom (`/`, `:`, r, n): they take every printable character.
enum InputLine {
    static let keys = KeyTable(title: "input line", bindings: [
        Binding.typing("letters", "type (a search filters the list as you type)") { state, key in
            guard case let .character(character) = key else { return [] }
            return state.edit { $0.append(character) }
        },
        Binding([.backspace, .delete], "delete a letter (Backspace on an empty search closes it)") { state, key in
            if state.input?.text.isEmpty == true, key == .backspace, case .search = state.input {
                state.input = nil
                return []
            }
            return state.edit { if !$0.isEmpty { $0.removeLast() } }
        },
        Binding([.control("u")], "delete the line") { state, _ in state.edit { $0 = "" } },
        Binding([.enter], "run the command, rank the search by meaning, or save the label or note") { state, _ in
            guard let input = state.input else { return [] }
            // Too long a label or note stays open, to be shortened.
            if let problem = AppState.lengthProblem(of: input) {
                state.message = (problem, true)
                return []
            }
            state.input = nil
            return state.submit(input)
        },
        Binding([.escape], "close the line (a search keeps filtering)") { state, _ in
            state.input = nil
            return []
        },
    ])
}

extension AppState {
    /// A key while a line is open: the quit question takes y or anything else; the rest are `InputLine.keys`.
    mutating func handleInput(_ key: Key, _ input: Input) -> [Effect] {
        if case .confirmQuit = input {
            self.input = nil
            if key == .character("y") || key == .character("Y") {
                quitting = true
                return [.quit]
            }
            message = ("still running", false)
            return []
        }
        return InputLine.keys.bindings.first { $0.takes(key) }?.action(&self, key) ?? []
    }

    /// The open line's text changed (a search filters the list as it is typed).
    mutating func edit(_ change: (inout String) -> Void) -> [Effect] {
        guard let input else { return [] }
        var text = input.text
        change(&text)
        self.input = input.with(text: text)
        if case .search = input {
            query = text
            selection = 0
        }
        return []
    }

    static func lengthProblem(of input: Input) -> String? {
        switch input {
        case let .label(_, text): NeuronLabel.lengthProblem(label: text.trimmingCharacters(in: .whitespaces), note: nil)
        case let .note(_, text): NeuronLabel.lengthProblem(label: nil, note: text)
        default: nil
        }
    }

    mutating func submit(_ input: Input) -> [Effect] {
        switch input {
        case let .search(text):
            query = text.trimmingCharacters(in: .whitespaces)
            clampSelection()
            if !query.isEmpty, !query.allSatisfy(\.isNumber), modelReady { return [.searchByMeaning(query)] }
            if !query.isEmpty, !modelReady { message = ("searching labels and notes (the model is still loading)", false) }
            return []
        case let .command(text):
            return command(text.trimmingCharacters(in: .whitespaces))
        case let .label(neuron, text):
            return setLabel(neuron, label: text, note: row(of: neuron)?.note)
        case let .note(neuron, text):
            let row = row(of: neuron)
            return setLabel(neuron, label: row?.labelSource == .user ? row?.label : nil, note: text)
        case .confirmQuit:
            return []
        }
    }

    mutating func setLabel(_ neuron: Int, label: String?, note: String?) -> [Effect] {
        let label = label.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
        let note = note.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        if let index = catalog?.rows.firstIndex(where: { $0.neuron == neuron }) {
            if let label {
                catalog!.rows[index].label = label
                catalog!.rows[index].labelSource = .user
            }
            catalog!.rows[index].note = note
        }
        message = ("saved neuron \(neuron)'s label and note", false)
        return [.saveLabel(neuron: neuron, label: label, note: note)]
    }

    // MARK: Commands

    /// Runs a `:` command from `Commands.table`.
    mutating func command(_ text: String) -> [Effect] {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        guard let name = parts.first else { return [] }
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        if let neuron = Int(name) { return openCard(neuron) }
        guard let command = Commands.command(named: name) else {
            report("unknown command :\(name) (try \(Commands.summary))", isError: true)
            return []
        }
        return command.run(&self, argument)
    }

    mutating func attackCommand(_ argument: String) -> [Effect] {
        let path = argument.isEmpty ? (lab?.imagePath ?? image?.path) : (argument as NSString).expandingTildeInPath
        guard let path else { report("usage: :attack IMAGE (or a from an image or a card)", isError: true); return [] }
        guard environment.isReadableFile(path) else { report("\(path): no such image", isError: true); return [] }
        return openLab(path)
    }

    /// `:visualize N [paper-code|paper-formula|gray|direct|toy] [steps=S] [seed=S] [lr=F] ...` (see `VisualizeTweaks`).
    mutating func visualizeCommand(_ argument: String) -> [Effect] {
        let usage = "usage: :" + Commands.command(named: "visualize")!.usage
        let words = argument.split(separator: " ").map(String.init)
        guard let first = words.first, let neuron = Int(first) else { report(usage, isError: true); return [] }
        guard let catalog, neuron >= 0, neuron < catalog.scan.model.neurons else {
            report("no neuron \(neuron)" + (catalog.map { " (this scan has 0-\($0.scan.model.neurons - 1))" } ?? ""), isError: true)
            return []
        }
        var recipe = VisualizeRecipe.variant(.paperCode), tweaks = VisualizeTweaks()
        for word in words.dropFirst() {
            if let named = VisualizeRecipe(word: word) { recipe = named; continue }
            guard tweaks.read(word) else { report("\(word)? " + usage, isError: true); return [] }
            do {
                try tweaks.applied(to: recipe.settings).validate()
            } catch {
                report("\(word)? " + ((error as? InvalidParameter)?.detail ?? "\(error)"), isError: true)
                return []
            }
        }
        show(.jobs)
        return [.visualize(neuron: neuron, recipe: recipe, tweaks: tweaks)]
    }

    /// Steps per neuron of `:atlas` unless given (direct, lucid's transforms).
    static let atlasSteps = 100

    /// `:atlas [FIRST-LAST] [steps=S]`: visualize every neuron (or a range) in the background.
    mutating func atlasCommand(_ argument: String) -> [Effect] {
        let usage = "usage: :" + Commands.command(named: "atlas")!.usage
        guard let catalog else { report("no index open", isError: true); return [] }
        var range = 0...(catalog.scan.model.neurons - 1), steps = AppState.atlasSteps
        for word in argument.split(separator: " ").map(String.init) {
            if word.hasPrefix("steps="), let value = Int(word.dropFirst(6)), value > 0 {
                steps = value
            } else if let bounds = NeuronList.range(word), bounds.upperBound < catalog.scan.model.neurons {
                range = bounds
            } else {
                report("\(word)? " + usage, isError: true)
                return []
            }
        }
        show(.jobs)
        return [.atlas(neurons: range, steps: steps)]
    }
}
