import Foundation
import Index

/// The neuron card's slice of the state.
public struct CardState {
    public var neuron: Int?
    public var data: CardData?
    public var showsBottom = false
    /// The card shows its category bars and histogram in place of the pictures (`i`; small windows).
    public var showsPanel = false
    public var selection = 0

    public init() {}

    static let keys = KeyTable(title: "card", bindings: [
        Binding([.left, .right, .up, .down, .character("h"), .character("j"), .character("k"), .character("l")],
                "move over the pictures") { state, key in state.moveOnCard(key); return [] },
        Binding([.home, .end, .character("g"), .character("G")], "first, last picture") { state, key in state.moveOnCard(key); return [] },
        Binding([.enter], "open the picture") { state, _ in
            guard state.cardImages.indices.contains(state.cardSelection) else { return [] }
            state.show(.image)
            state.image = nil
            return [.openImage(state.cardImages[state.cardSelection].path)]
        },
        Binding([.character("b")], "top / bottom images") { state, _ in
            state.cardShowsBottom.toggle()
            state.cardShowsPanel = false
            state.cardSelection = 0
            return []
        },
        Binding([.character("i")], "category bars and histogram in place of the pictures (and back)") { state, _ in
            state.cardShowsPanel.toggle()
            return []
        },
        Binding([.character("]"), .pageDown], "next neuron") { state, _ in state.stepCard(by: 1) },
        Binding([.character("["), .pageUp], "previous neuron") { state, _ in state.stepCard(by: -1) },
        Binding([.character("v")], "visualize the neuron (a job; edit the recipe and steps, Enter)") { state, _ in
            guard let neuron = state.cardNeuron else { return [] }
            // The profile's recipe: the toy's own (ToyVisualization); the paper's code for other models.
            state.input = .command(state.profile.visualizeCommand(neuron: neuron))
            return []
        },
        Binding([.character("m")], "maximal text: the texts closest to the neuron's top 10 images (a job)") { state, _ in
            guard let neuron = state.cardNeuron else { return [] }
            state.show(.jobs)
            return [.maxText(neuron: neuron)]
        },
        Binding([.character("d")], "Deep Dream of the neuron (a job; its picture shows in the jobs pane)") { state, _ in
            guard let neuron = state.cardNeuron else { return [] }
            state.show(.jobs)
            return [.dream(neuron: neuron)]
        },
        Binding([.character("a")], "attack the selected picture (the attack lab)") { state, _ in
            guard state.cardImages.indices.contains(state.cardSelection) else { return [] }
            return state.openLab(state.cardImages[state.cardSelection].path)
        },
        Binding([.character("r")], "edit the label") { state, _ in
            if let neuron = state.cardNeuron { state.input = .label(neuron: neuron, text: state.row(of: neuron)?.label ?? "") }
            return []
        },
        Binding([.character("n")], "edit the note (saved to the index at once)") { state, _ in
            if let neuron = state.cardNeuron { state.input = .note(neuron: neuron, text: state.row(of: neuron)?.note ?? "") }
            return []
        },
        Binding([.character("s")], "star") { state, _ in state.cardNeuron.map { state.toggleStar($0) } ?? [] },
        Binding([.character("e")], "export the card as PNG (beside the index)") { state, _ in state.cardNeuron.map { [.exportCard($0)] } ?? [] },
        Binding([.character("/")], "search the neuron list") { state, _ in
            state.screen = .neurons
            state.input = .search(state.query)
            return []
        },
    ])
}

extension AppState {
    public var card: CardData? {
        get { cardPane.data }
        set { cardPane.data = newValue }
    }
    public var cardNeuron: Int? {
        get { cardPane.neuron }
        set { cardPane.neuron = newValue }
    }
    public var cardShowsBottom: Bool {
        get { cardPane.showsBottom }
        set { cardPane.showsBottom = newValue }
    }
    public var cardShowsPanel: Bool {
        get { cardPane.showsPanel }
        set { cardPane.showsPanel = newValue }
    }
    public var cardSelection: Int {
        get { cardPane.selection }
        set { cardPane.selection = newValue }
    }

    /// Columns of the card's image grid.
    public var cardGridColumns: Int { 5 }
    /// Rows of the card's image grid: 5x5, or 3x5 when the window is small.
    public var cardGridRows: Int { rows >= 30 ? 5 : 3 }

    var cardImages: [RankedImage] {
        guard let card else { return [] }
        return Array((cardShowsBottom ? card.bottom : card.top).prefix(cardGridColumns * cardGridRows))
    }

    mutating func moveOnCard(_ key: Key) {
        let count = cardImages.count, columns = cardGridColumns
        switch key {
        case .right, .character("l"): if count > 0 { cardSelection = min(count - 1, cardSelection + 1) }
        case .left, .character("h"): cardSelection = max(0, cardSelection - 1)
        case .down, .character("j"): if count > 0 { cardSelection = min(count - 1, cardSelection + columns) }
        case .up, .character("k"): cardSelection = max(0, cardSelection - columns)
        case .home, .character("g"): cardSelection = 0
        case .end, .character("G"): cardSelection = max(0, count - 1)
        default: break
        }
    }

    /// The card of the next or previous neuron of the list.
    mutating func stepCard(by delta: Int) -> [Effect] {
        let rows = visibleRows
        guard !rows.isEmpty else { return [] }
        let current = rows.firstIndex { $0.neuron == cardNeuron } ?? selection
        let next = min(max(0, current + delta), rows.count - 1)
        selection = next
        let neuron = rows[next].neuron
        guard neuron != cardNeuron else { return [] }
        card = nil
        cardSelection = 0
        cardNeuron = neuron
        return [.loadCard(neuron)]
    }
}

// MARK: View

extension CardState: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.card(state, canvas, area) }
}


extension Panes {
    /// The card's layout: the grid of pictures, one cell rect per picture, and the side panel.
    public struct CardLayout: Equatable {
        public var header: Rect
        public var grid: Rect
        public var cells: [Rect]
        public var side: Rect
    }

    public static func cardLayout(_ state: AppState, _ area: Rect) -> CardLayout {
        let (header, rest) = area.splitTop(2)
        if state.cardShowsPanel {
            return CardLayout(header: header, grid: Rect(top: rest.top, left: rest.left, height: 0, width: rest.width),
                              cells: [], side: rest)
        }
        let sideWidth = area.width >= 100 ? min(44, area.width / 3) : 0
        var (gridArea, side) = rest.splitLeft(rest.width - sideWidth)
        let columns = state.cardGridColumns, gridRows = state.cardGridRows
        let cellWidth = max(4, gridArea.width / columns)
        // Keep the grid within the rows it has; a caption line under each picture.
        var cellHeight = max(2, (gridArea.height) / gridRows)
        if sideWidth == 0, gridArea.height - cellHeight * gridRows < 6, gridArea.height >= gridRows * 5 + 6 {
            cellHeight = (gridArea.height - 6) / gridRows
        }
        if sideWidth == 0 {
            let used = cellHeight * gridRows
            side = Rect(top: gridArea.top + used, left: area.left, height: gridArea.height - used, width: area.width)
            gridArea = Rect(top: gridArea.top, left: gridArea.left, height: used, width: gridArea.width)
        }
        var cells: [Rect] = []
        for r in 0..<gridRows {
            for c in 0..<columns {
                cells.append(Rect(top: gridArea.top + r * cellHeight, left: gridArea.left + c * cellWidth,
                                  height: cellHeight, width: cellWidth))
            }
        }
        return CardLayout(header: header, grid: gridArea, cells: cells, side: side)
    }

    static func card(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let neuron = state.cardNeuron else { return [] }
        let row = state.row(of: neuron)
        let layout = cardLayout(state, area)
        var title = "neuron \(neuron)" + (row?.starred == true ? " ★" : "")
        if let label = row?.label { title += "  \(label)" + (row?.labelSource == .proposed ? " (proposed)" : "") }
        if let concept = row?.concept { title += "  · concept neuron: \(concept), drawn and written" }
        canvas.put(area.top, 0, title, width: area.width, .title)
        guard let card = state.card else {
            canvas.put(area.top + 2, 2, "loading neuron \(neuron) ...", .dim)
            return []
        }
        let shown = (state.cardShowsBottom ? "bottom " : "top ") + "\(state.cardImages.count)"
        var details = shown + (state.cardShowsBottom ? " (b: top, " : " (b: bottom, ") + (state.cardShowsPanel ? "i: pictures)" : "i: charts)")
        details += String(format: "  mean %.3f  sd %.3f  min %.3f  max %.3f", card.stats.mean, card.stats.std, card.stats.min, card.stats.max)
        if let note = row?.note, !note.isEmpty { details += "  · note: \(note)" }
        canvas.put(area.top + 1, 0, details, width: area.width, .dim)

        var placements: [ImagePlacement] = []
        let images = state.cardImages
        for (index, cell) in layout.cells.enumerated() where index < images.count {
            let image = images[index]
            let picture = Rect(top: cell.top, left: cell.left, height: max(1, cell.height - 1), width: max(1, cell.width - 1))
            placements.append(ImagePlacement(source: .file(image.path), rect: picture))
            let caption = String(format: "%.2f ", image.value) + image.category
            canvas.put(cell.bottom - 1, cell.left, caption, width: max(1, cell.width - 1),
                       index == state.cardSelection ? .selected : .dim)
        }
        if images.isEmpty, !state.cardShowsPanel { canvas.put(layout.grid.top + 1, 2, "no images in this scan", .dim) }
        return placements + cardSide(state, card, canvas, layout.side)
    }

    /// The side of the card: the neuron's visualization, then its charts (in pixels) or text bars.
    static func cardSide(_ state: AppState, _ card: CardData, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        var side = area, placements: [ImagePlacement] = []
        // The neuron's feature visualization, when one exists, tops the side panel (cells are about twice as tall as wide).
        if let visualization = card.visualization, state.graphics != .none, side.height >= 12, side.width >= 16 {
            let rows = min(side.height / 2, max(4, side.width / 2))
            canvas.put(side.top, side.left + 1, "feature visualization (v: run another)", width: side.width - 1, .bold)
            placements.append(ImagePlacement(source: .file(visualization),
                                             rect: Rect(top: side.top + 1, left: side.left + 1, height: rows - 1, width: min(side.width - 1, rows * 2))))
            side = Rect(top: side.top + rows, left: side.left, height: side.height - rows, width: side.width)
        }
        // In pixels (sixel, kitty, iTerm2) the panel is a chart; half blocks are too coarse for its names and numbers.
        if state.drawsPixels, side.height >= 8, side.width >= 24 {
            placements.append(ImagePlacement(source: .cardPanel(neuron: card.neuron),
                                             rect: Rect(top: side.top, left: side.left + 1, height: side.height, width: side.width - 1)))
        } else {
            sidePanel(card, canvas, side)
        }
        return placements
    }

    /// Category bars sorted by mean (full names), then the histogram, as text bars.
    static func sidePanel(_ card: CardData, _ canvas: Canvas, _ area: Rect) {
        guard area.height >= 3, area.width >= 20 else { return }
        var row = area.top
        let categories = card.categories.sorted { ($0.stats.mean, $1.name) > ($1.stats.mean, $0.name) }
        let nameWidth = min(max(8, categories.map(\.name.count).max() ?? 8), area.width / 2)
        let barWidth = max(4, area.width - nameWidth - 10)
        let low = min(0, categories.map(\.stats.mean).min() ?? 0), high = max(1e-9, categories.map(\.stats.mean).max() ?? 1)
        let histogramRows = min(card.bins.count, max(0, (area.height - 2) / 2))
        let categoryRows = max(0, area.height - 1 - (histogramRows > 0 ? histogramRows + 1 : 0))
        canvas.put(row, area.left + 1, "categories by mean activation", width: area.width - 1, .bold)
        row += 1
        for category in categories.prefix(categoryRows) {
            let fraction = (category.stats.mean - low) / (high - low)
            let line = padded(category.name, nameWidth) + " " + String(format: "%6.3f ", category.stats.mean)
            canvas.put(row, area.left + 1, line, .plain)
            canvas.put(row, area.left + 1 + line.count, bar(fraction, width: barWidth), .accent)
            row += 1
        }
        guard histogramRows > 0, row < area.bottom else { return }
        canvas.put(row, area.left + 1, "histogram", width: area.width - 1, .bold)
        histogram(card.bins, canvas, Rect(top: row + 1, left: area.left, height: area.bottom - row - 1, width: area.width), rows: histogramRows)
    }

    /// The histogram's bins merged to `rows` rows, as bars.
    static func histogram(_ bins: [HistogramBin], _ canvas: Canvas, _ area: Rect, rows: Int) {
        var row = area.top
        let group = Int((Double(bins.count) / Double(rows)).rounded(.up))
        var merged: [(low: Double, high: Double, count: Int)] = []
        for start in stride(from: 0, to: bins.count, by: max(1, group)) {
            let part = bins[start..<min(bins.count, start + group)]
            merged.append((part.first!.low, part.last!.high, part.map(\.count).reduce(0, +)))
        }
        let most = max(1, merged.map(\.count).max() ?? 1)
        for bin in merged where row < area.bottom {
            let label = String(format: "%7.2f %6d ", bin.low, bin.count)
            canvas.put(row, area.left + 1, label, .dim)
            canvas.put(row, area.left + 1 + label.count, bar(Double(bin.count) / Double(most), width: max(4, area.width - label.count - 2)), .good)
            row += 1
        }
    }
}
