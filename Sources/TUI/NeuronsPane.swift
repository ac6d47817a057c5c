import Foundation
import Index

/// How the neuron list is ordered.
public enum SortOrder: String, Sendable, CaseIterable {
    case id, top, label
    /// Concept neurons first (by concept), then the rest by id.
    case concept
}

/// Which neurons the list shows.
public enum Filter: String, Sendable, CaseIterable {
    case all, labelled, starred
    /// Neurons that hold a shape cleanly, drawn and written.
    case concepts
}

/// The neuron list's slice of the state.
public struct NeuronListState {
    public var catalog: NeuronCatalog? { didSet { listChanged() } }
    public var sort: SortOrder = .id { didSet { listChanged() } }
    public var filter: Filter = .all { didSet { listChanged() } }
    /// The text filter of the last search (`/`), and its ranking by meaning when the model answered.
    public var query = "" { didSet { listChanged() } }
    public var meaning: (query: String, scores: [Int: Float])? { didSet { listChanged() } }
    /// The list's rows as of the properties above, computed once after each change of them:
    /// a frame reads them many times, and a paste into `/` changes the query thousands of times
    /// between two frames.
    private var visibleRowsCache = VisibleRowsCache()
    public var selection = 0
    /// The selected neuron's top images beside the list: a card's data, loaded as a card is.
    public var preview: CardData?
    /// The neuron whose data is being loaded for the list. One request at a time: a held-down
    /// `j` asks again only once the last answer came, and then for the newest selection, so
    /// stale requests never queue up behind the backend.
    var previewAsked: Int?
    /// The neuron whose load failed (an error came while it was out): not asked again until
    /// the selection moves, so a broken index does not loop.
    var previewFailed: Int?

    public init() {}

    /// The rows the list shows, in its order.
    public var visibleRows: [NeuronRow] {
        if let rows = visibleRowsCache.rows { return rows }
        let rows = computeVisibleRows()
        visibleRowsCache.rows = rows
        return rows
    }

    /// A new cache for a new list: a copy of the state keeps the old one, which still answers for it.
    private mutating func listChanged() { visibleRowsCache = VisibleRowsCache() }

    private func computeVisibleRows() -> [NeuronRow] {
        guard let catalog else { return [] }
        var rows = catalog.rows.filter { row in
            switch filter {
            case .all: true
            case .labelled: row.label != nil
            case .starred: row.starred
            case .concepts: row.concept != nil
            }
        }
        if let meaning, meaning.query == query {
            return rows.sorted { (meaning.scores[$0.neuron] ?? -1, -$0.neuron) > (meaning.scores[$1.neuron] ?? -1, -$1.neuron) }
        }
        let search = SearchText(query)
        if !search.isEmpty { rows = rows.filter(search.matches) }
        switch sort {
        case .id: break
        case .top: rows.sort { ($0.top, -$0.neuron) > ($1.top, -$1.neuron) }
        case .label: rows.sort { ($0.label ?? "\u{10FFFF}", $0.neuron) < ($1.label ?? "\u{10FFFF}", $1.neuron) }
        case .concept: rows.sort { ($0.concept ?? "\u{10FFFF}", $0.neuron) < ($1.concept ?? "\u{10FFFF}", $1.neuron) }
        }
        return rows
    }

    /// A typed search as rows are matched against it, trimmed and lowercased once (not once a row).
    struct SearchText {
        let text: String
        let isNumber: Bool

        init(_ query: String) {
            text = query.trimmingCharacters(in: .whitespaces).lowercased()
            isNumber = text.allSatisfy(\.isNumber)
        }

        var isEmpty: Bool { text.isEmpty }

        /// Whether a row matches: its id (digits), or words of its label or note.
        func matches(_ row: NeuronRow) -> Bool {
            if text.isEmpty { return true }
            if isNumber { return String(row.neuron).hasPrefix(text) }
            return (row.label?.lowercased().contains(text) ?? false) || (row.note?.lowercased().contains(text) ?? false)
        }
    }

    /// Where `visibleRows` keeps its answer (a class, so the getter can fill it).
    final class VisibleRowsCache {
        var rows: [NeuronRow]?
    }

    public var selectedRow: NeuronRow? {
        let rows = visibleRows
        return rows.indices.contains(selection) ? rows[selection] : nil
    }

    func row(of neuron: Int) -> NeuronRow? { catalog?.rows.first { $0.neuron == neuron } }

    mutating func clampSelection() {
        let count = visibleRows.count
        selection = count == 0 ? 0 : min(max(0, selection), count - 1)
    }

    // MARK: Keys

    static let keys = KeyTable(title: "neurons", bindings: [
        Binding(AppState.stepKeys, "move") { state, key in state.moveInList(key) },
        Binding(AppState.pageKeys, "a page up / down") { state, key in state.moveInList(key) },
        Binding(AppState.endKeys, "first, last") { state, key in state.moveInList(key) },
        Binding([.enter, .character("l"), .right], "open the neuron's card") { state, _ in
            state.selectedRow.map { state.openCard($0.neuron) } ?? []
        },
        Binding([.character("/")], "search ids, labels and notes as you type; Enter also ranks by meaning") { state, _ in
            state.input = .search(state.query)
            return []
        },
        Binding([.escape], "clear the search", disabled: { $0.query.isEmpty && $0.meaning == nil ? "no search" : nil }) { state, _ in
            state.query = ""
            state.meaning = nil
            state.clampSelection()
            return []
        },
        Binding([.character("o")], "sort: id, top activation, label, concept neurons first") { state, _ in
            let all = SortOrder.allCases
            state.sort = all[(all.firstIndex(of: state.sort)! + 1) % all.count]
            state.meaning = nil
            state.message = ("sorted by \(state.sort.rawValue)", false)
            return []
        },
        Binding([.character("f")], "filter: all, labelled, starred, concept neurons") { state, _ in
            let all = Filter.allCases
            state.filter = all[(all.firstIndex(of: state.filter)! + 1) % all.count]
            state.clampSelection()
            state.message = ("showing \(state.filter.rawValue) neurons", false)
            return []
        },
        Binding([.character("r")], "edit the label") { state, _ in
            if let row = state.selectedRow { state.input = .label(neuron: row.neuron, text: row.label ?? "") }
            return []
        },
        Binding([.character("n")], "edit the note (saved to the index at once)") { state, _ in
            if let row = state.selectedRow { state.input = .note(neuron: row.neuron, text: row.note ?? "") }
            return []
        },
        Binding([.character("s")], "star") { state, _ in state.selectedRow.map { state.toggleStar($0.neuron) } ?? [] },
        Binding([.character("e")], "export the card as PNG (beside the index)") { state, _ in
            state.selectedRow.map { [.exportCard($0.neuron)] } ?? []
        },
    ], notes: [("◆", "the neuron has a feature visualization (beside the list; :atlas draws them all)")])
}

extension AppState {
    public var catalog: NeuronCatalog? {
        get { neurons.catalog }
        set { neurons.catalog = newValue }
    }
    public var sort: SortOrder {
        get { neurons.sort }
        set { neurons.sort = newValue }
    }
    public var filter: Filter {
        get { neurons.filter }
        set { neurons.filter = newValue }
    }
    public var query: String {
        get { neurons.query }
        set { neurons.query = newValue }
    }
    public var meaning: (query: String, scores: [Int: Float])? {
        get { neurons.meaning }
        set { neurons.meaning = newValue }
    }
    public var selection: Int {
        get { neurons.selection }
        set { neurons.selection = newValue }
    }
    public var visibleRows: [NeuronRow] { neurons.visibleRows }
    public var selectedRow: NeuronRow? { neurons.selectedRow }
    func row(of neuron: Int) -> NeuronRow? { neurons.row(of: neuron) }
    mutating func clampSelection() { neurons.clampSelection() }

    /// Whether the list shares the window with the selected neuron's top images (the left half
    /// of a 120-column window was empty before).
    var listShowsPreviews: Bool { columns >= 120 && graphics != .none }

    /// `effects`, plus loading the selected neuron's pictures when the list shows them and
    /// no request is out (see `previewAsked`).
    mutating func requestingPreview(_ effects: [Effect]) -> [Effect] {
        guard screen == .neurons, listShowsPreviews, neurons.previewAsked == nil, let neuron = selectedRow?.neuron,
              neurons.preview?.neuron != neuron, neurons.previewFailed != neuron else { return effects }
        neurons.previewFailed = nil
        neurons.previewAsked = neuron
        return effects.contains(.loadCard(neuron)) ? effects : effects + [.loadCard(neuron)]
    }

    /// A card's data arrived: the list keeps it when it is the selection's.
    mutating func previewLoaded(_ data: CardData) {
        if data.neuron == neurons.previewAsked { neurons.previewAsked = nil }
        if data.neuron == selectedRow?.neuron { neurons.preview = data }
    }

    /// An error came: the request out, if any, is taken to have failed.
    mutating func previewMayHaveFailed() {
        if let asked = neurons.previewAsked { neurons.previewFailed = asked }
        neurons.previewAsked = nil
    }

    /// Rows of the list body at the current size (title, header and status bars aside).
    var listHeight: Int { max(1, rows - 4) }

    mutating func moveInList(_ key: Key) -> [Effect] {
        if let moved = Self.moved(selection, count: visibleRows.count, page: listHeight, by: key) { selection = moved }
        return []
    }

    mutating func toggleStar(_ neuron: Int) -> [Effect] {
        guard let index = catalog?.rows.firstIndex(where: { $0.neuron == neuron }) else { return [] }
        catalog!.rows[index].starred.toggle()
        let starred = catalog!.rows[index].starred
        message = (starred ? "starred \(neuron)" : "unstarred \(neuron)", false)
        clampSelection()
        return [.setStar(neuron: neuron, starred: starred)]
    }

    mutating func openCard(_ neuron: Int) -> [Effect] {
        guard let catalog, neuron >= 0, neuron < catalog.scan.model.neurons else {
            report("no neuron \(neuron)" + (catalog.map { " (this scan has 0-\($0.scan.model.neurons - 1))" } ?? ""), isError: true)
            return []
        }
        if cardNeuron != neuron { card = nil; cardSelection = 0 }
        cardNeuron = neuron
        if let index = visibleRows.firstIndex(where: { $0.neuron == neuron }) { selection = index }
        show(.card)
        return [.loadCard(neuron)]
    }
}

// MARK: View

extension NeuronListState: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.neuronList(state, canvas, area) }
}


extension Panes {
    static func neuronList(_ state: AppState, _ canvas: Canvas, _ fullArea: Rect) -> [ImagePlacement] {
        guard let catalog = state.catalog else {
            if let problem = state.indexProblem {
                canvas.put(fullArea.top + 1, 2, "No index is open: \(problem)", width: max(0, fullArea.width - 4), .bad)
                canvas.put(fullArea.top + 2, 2, "Start with --index I, or index a folder of images with :scan DIR.", .dim)
            } else if state.buildingDemo {
                canvas.put(fullArea.top + 1, 2, "Building the demo runs as jobs (Tab shows them).", .dim)
            } else {
                canvas.put(fullArea.top + 1, 2, "Opening the index (\(state.indexStatus)) ...", .dim)
            }
            return []
        }
        let (area, placements) = state.listShowsPreviews ? topImages(state, canvas, fullArea) : visualizationThumbnail(state, canvas, fullArea)
        let rows = state.visibleRows
        let meaning = state.meaning.flatMap { $0.query == state.query ? $0.scores : nil }
        // The same columns as the rows below: star, id, top, sparkline, (match), label.
        let header = "  neuron  " + padded("top", 7) + "  " + padded("top-k", 8) + "  "
            + (meaning != nil ? padded("match", 5) + "   " : "") + "label"
        let summary = "\(rows.count) of \(catalog.rows.count) · sort \(state.sort.rawValue) · \(state.filter.rawValue)"
            + (state.query.isEmpty ? "" : " · /" + TextCanvas.shortened(state.query, width: 24))
        canvas.put(area.top, 0, header, width: max(0, fullArea.width - summary.count - 1), .bold)
        canvas.put(area.top, max(0, fullArea.width - summary.count), summary, .dim)
        let height = area.height - 1
        let offset = listOffset(state, count: rows.count, height: height)
        for (line, index) in (offset..<min(rows.count, offset + height)).enumerated() {
            let row = rows[index]
            canvas.put(area.top + 1 + line, 0, neuronLine(state, row, meaning: meaning), width: area.width,
                       index == state.selection ? .selected : (row.label == nil ? .dim : .plain))
        }
        if rows.isEmpty {
            canvas.put(area.top + 2, 2, state.query.isEmpty ? "No neurons to show (filter: \(state.filter.rawValue))."
                                                            : "No neuron matches /\(TextCanvas.shortened(state.query, width: 40)).", .dim)
        }
        return placements
    }

    /// The selected neuron's top images as a 3x3 grid in the right half, its visualization
    /// under them when one exists; returns the area left for the list. Only the selection's
    /// own pictures are placed: while its data loads the grid stays empty.
    static func topImages(_ state: AppState, _ canvas: Canvas, _ fullArea: Rect) -> (Rect, [ImagePlacement]) {
        let area = Rect(top: fullArea.top, left: fullArea.left, height: fullArea.height, width: fullArea.width / 2)
        guard let neuron = state.selectedRow?.neuron else { return (area, []) }
        // Under the header row (its summary is right-aligned there), a caption, then the grid.
        let side = Rect(top: fullArea.top + 2, left: area.right + 1, height: fullArea.height - 2, width: fullArea.width - area.right - 1)
        let visualization = state.visualizations[neuron]
        let cellWidth = side.width / 3
        // Square pictures (cells are about twice as tall as wide) and a caption row, the grid
        // shorter when a visualization needs room under it.
        let cellHeight = max(3, min(cellWidth / 2 + 1, (side.height - (visualization != nil ? 9 : 0)) / 3))
        var placements: [ImagePlacement] = []
        let below = Rect(top: side.top + 3 * cellHeight, left: side.left, height: side.bottom - side.top - 3 * cellHeight, width: side.width)
        if let visualization, below.height >= 4 {
            canvas.put(below.top, below.left, "visualization of \(neuron)", width: below.width, .dim)
            let rows = below.height - 1
            placements.append(ImagePlacement(source: .file(visualization),
                                             rect: Rect(top: below.top + 1, left: below.left, height: rows, width: min(below.width, rows * 2))))
        }
        guard let data = state.neurons.preview, data.neuron == neuron else {
            canvas.put(fullArea.top + 1, side.left, "top images of \(neuron) ...", width: side.width, .dim)
            return (area, placements)
        }
        canvas.put(fullArea.top + 1, side.left, "top images of \(neuron) (Enter: its card)", width: side.width, .dim)
        for (index, image) in data.top.prefix(9).enumerated() {
            let cell = Rect(top: side.top + index / 3 * cellHeight, left: side.left + index % 3 * cellWidth,
                            height: cellHeight, width: cellWidth)
            placements.append(ImagePlacement(source: .file(image.path),
                                             rect: Rect(top: cell.top, left: cell.left, height: cell.height - 1, width: cell.width - 1)))
            canvas.put(cell.bottom - 1, cell.left, String(format: "%.2f ", image.value) + image.category, width: cell.width - 1, .dim)
        }
        if data.top.isEmpty { canvas.put(side.top, side.left, "no images in this scan", .dim) }
        return (area, placements)
    }

    /// The selected neuron's visualization beside the list, when there is room and a picture to
    /// show; returns the area left for the list.
    static func visualizationThumbnail(_ state: AppState, _ canvas: Canvas, _ fullArea: Rect) -> (Rect, [ImagePlacement]) {
        let thumbnailWidth = 30
        guard state.graphics != .none, fullArea.width >= 100, !state.visualizations.isEmpty else { return (fullArea, []) }
        let area = Rect(top: fullArea.top, left: fullArea.left, height: fullArea.height, width: fullArea.width - thumbnailWidth)
        // Under the header row (its summary is right-aligned there), a caption, then the picture.
        let side = Rect(top: fullArea.top + 2, left: area.right + 1, height: min(14, fullArea.height - 3), width: thumbnailWidth - 2)
        if let neuron = state.selectedRow?.neuron, let picture = state.visualizations[neuron] {
            canvas.put(fullArea.top + 1, side.left, "visualization of \(neuron)", width: side.width, .dim)
            return (area, [ImagePlacement(source: .file(picture), rect: side)])
        }
        canvas.put(fullArea.top + 1, side.left, "no visualization: v on a card", width: side.width, .dim)
        return (area, [])
    }

    static func neuronLine(_ state: AppState, _ row: NeuronRow, meaning: [Int: Float]?) -> String {
        let star = row.starred ? "★" : " "
        let pictured = state.visualizations[row.neuron] != nil ? "◆" : " "
        var text = "\(star)\(pictured)" + String(format: "%6d  %-7.3f  ", row.neuron, row.top)
        text += padded(sparkline(row.topValues, width: 8), 8) + "  "
        if let score = meaning?[row.neuron] { text += String(format: "%5.3f   ", score) }
        text += (row.label.map { $0 + (row.labelSource == .proposed ? " ?" : "") } ?? "-")
        if let concept = row.concept { text += "  [\(concept) neuron]" }
        if let note = row.note, !note.isEmpty { text += "  · " + note }
        return text
    }

    /// The first row shown so that the selection stays in view (kept near the middle when paging).
    static func listOffset(_ state: AppState, count: Int, height: Int) -> Int {
        guard count > height else { return 0 }
        return min(max(0, state.selection - height / 2), count - height)
    }
}
