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
        var placements: [ImagePlacement] = []
        switch state.screen {
        case .neurons: placements = neuronList(state, canvas, body)
        case .card: placements = card(state, canvas, body)
        case .image: placements = imageView(state, canvas, body)
        case .lab: placements = labPane(state, canvas, body)
        case .figure: placements = figurePane(state, canvas, body)
        case .jobs: placements = jobsPane(state, canvas, body)
        case .log: logPane(state, canvas, body)
        }
        statusBar(state, canvas, row: state.rows - 1)
        if state.help {
            helpOverlay(state, canvas, body)
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
        var screens: [Screen] = [.neurons]
        if state.cardNeuron != nil { screens.append(.card) }
        if state.image != nil || state.screen == .image { screens.append(.image) }
        if state.lab != nil { screens.append(.lab) }
        if state.figure != nil { screens.append(.figure) }
        screens += [.jobs, .log]
        for screen in screens {
            var title = screen.title
            if screen == .card, let neuron = state.cardNeuron { title += " \(neuron)" }
            if screen == .jobs, !state.jobs.running.isEmpty { title += " (\(state.jobs.running.count))" }
            let text = " \(title) "
            canvas.put(0, column, text, screen == state.screen ? .selected : .inverse)
            column += text.count + 1
        }
        let hint = " ?:help "
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
            case .confirmQuit: prompt = "\(state.jobs.running.count) job(s) running: quit and stop them? (y/n)"
            }
            // The end of what is typed stays in view (the terminal's last cell is never written).
            canvas.put(row, 0, TextCanvas.fittedEnd(prompt + "█", width: width - 1), width: width, .bold)
            // The visualize command is the app's form for a visualization: its fields, after the cursor.
            if case let .command(text) = input, text.hasPrefix("visualize "), prompt.count + 3 < width {
                let fields = "  paper-code|paper-formula|gray|direct|toy steps= seed= lr= jitter= scale= rotate= decay= reduce=mean|max"
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

    // MARK: Neuron list

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
        // The selected neuron's visualization beside the list, when there is room and a picture to show.
        var area = fullArea, placements: [ImagePlacement] = []
        let thumbnailWidth = 30
        if state.graphicsName != "no graphics", fullArea.width >= 100, !state.visualizations.isEmpty {
            area = Rect(top: fullArea.top, left: fullArea.left, height: fullArea.height, width: fullArea.width - thumbnailWidth)
            // Under the header row (its summary is right-aligned there), a caption, then the picture.
            let side = Rect(top: fullArea.top + 2, left: area.right + 1, height: min(14, fullArea.height - 3), width: thumbnailWidth - 2)
            if let neuron = state.selectedRow?.neuron, let picture = state.visualizations[neuron] {
                canvas.put(fullArea.top + 1, side.left, "visualization of \(neuron)", width: side.width, .dim)
                placements.append(ImagePlacement(source: .file(picture), rect: side))
            } else {
                canvas.put(fullArea.top + 1, side.left, "no visualization: v on a card", width: side.width, .dim)
            }
        }
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
            let star = row.starred ? "★" : " "
            let pictured = state.visualizations[row.neuron] != nil ? "◆" : " "
            var text = "\(star)\(pictured)" + String(format: "%6d  %-7.3f  ", row.neuron, row.top)
            text += padded(sparkline(row.topValues, width: 8), 8) + "  "
            if let score = meaning?[row.neuron] { text += String(format: "%5.3f   ", score) }
            text += (row.label.map { $0 + (row.labelSource == "proposed" ? " ?" : "") } ?? "-")
            if let concept = row.concept { text += "  [\(concept) neuron]" }
            if let note = row.note, !note.isEmpty { text += "  · " + note }
            canvas.put(area.top + 1 + line, 0, text, width: area.width, index == state.selection ? .selected : (row.label == nil ? .dim : .plain))
        }
        if rows.isEmpty {
            canvas.put(area.top + 2, 2, state.query.isEmpty ? "No neurons to show (filter: \(state.filter.rawValue))."
                                                            : "No neuron matches /\(TextCanvas.shortened(state.query, width: 40)).", .dim)
        }
        return placements
    }

    /// The first row shown so that the selection stays in view (kept near the middle when paging).
    static func listOffset(_ state: AppState, count: Int, height: Int) -> Int {
        guard count > height else { return 0 }
        return min(max(0, state.selection - height / 2), count - height)
    }

    // MARK: Card

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
        if let label = row?.label { title += "  \(label)" + (row?.labelSource == "proposed" ? " (proposed)" : "") }
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
        var side = layout.side
        // The neuron's feature visualization, when one exists, tops the side panel (cells are about twice as tall as wide).
        if let visualization = card.visualization, state.graphicsName != "no graphics", side.height >= 12, side.width >= 16 {
            let rows = min(side.height / 2, max(4, side.width / 2))
            canvas.put(side.top, side.left + 1, "feature visualization (v: run another)", width: side.width - 1, .bold)
            placements.append(ImagePlacement(source: .file(visualization),
                                             rect: Rect(top: side.top + 1, left: side.left + 1, height: rows - 1, width: min(side.width - 1, rows * 2))))
            side = Rect(top: side.top + rows, left: side.left, height: side.height - rows, width: side.width)
        }
        // With sixel the panel is a chart; half blocks are too coarse for its names and numbers.
        if state.graphicsName.hasPrefix("sixel"), side.height >= 8, side.width >= 24 {
            placements.append(ImagePlacement(source: .cardPanel(neuron: neuron),
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
        row += 1
        // Merge bins to the rows there are.
        let group = Int((Double(card.bins.count) / Double(histogramRows)).rounded(.up))
        var merged: [(low: Double, high: Double, count: Int)] = []
        for start in stride(from: 0, to: card.bins.count, by: max(1, group)) {
            let part = card.bins[start..<min(card.bins.count, start + group)]
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

    // MARK: Image view

    static func imageView(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let image = state.image else {
            canvas.put(area.top + 1, 2, "loading the image ...", .dim)
            return []
        }
        canvas.put(area.top, 0, image.path, width: area.width, .title)
        let (pictureArea, side) = Rect(top: area.top + 1, left: 0, height: area.height - 1, width: area.width)
            .splitLeft(max(20, area.width - 36))
        var row = side.top
        canvas.put(row, side.left + 1, "most excited neurons (Enter opens)", width: side.width - 1, .bold)
        row += 1
        let shown = min(image.neurons.count, max(0, side.height - 8))
        for (index, item) in image.neurons.prefix(shown).enumerated() {
            let label = state.row(of: item.neuron)?.label ?? ""
            canvas.put(row, side.left + 1, String(format: "%6d %7.3f ", item.neuron, item.value) + label, width: side.width - 1,
                       index == state.imageSelection ? .selected : .plain)
            row += 1
        }
        row += 1
        if row < side.bottom { canvas.put(row, side.left + 1, "zero-shot", width: side.width - 1, .bold); row += 1 }
        if image.zeroShot.isEmpty, row < side.bottom { canvas.put(row, side.left + 1, state.modelReady ? "-" : "(model loading)", .dim) }
        for item in image.zeroShot where row < side.bottom {
            canvas.put(row, side.left + 1, String(format: "%5.1f%% ", item.probability * 100) + item.label, width: side.width - 1)
            row += 1
        }
        return [ImagePlacement(source: .file(image.path), rect: pictureArea.inset(0))]
    }

    // MARK: Attack lab

    static func labPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let lab = state.lab else { return [] }
        canvas.put(area.top, 0, "attack " + lab.imagePath, width: area.width, .title)
        let (pictureArea, side) = Rect(top: area.top + 1, left: 0, height: area.height - 1, width: area.width)
            .splitLeft(max(20, area.width - 44))
        var row = side.top
        func line(_ text: String, _ style: Style = .plain) {
            guard row < side.bottom else { return }
            canvas.put(row, side.left + 1, text, width: side.width - 1, style)
            row += 1
        }
        line(TextCanvas.fittedEnd("text: " + lab.text + "█", width: side.width - 1), .bold)
        if let result = lab.result {
            let place: String
            switch result.style.placement {
            case let .origin(x, y): place = "at \(x),\(y)"
            case .paper: place = "at the paper's 8 places"
            case .centered: place = "centred"
            }
            line(String(format: "%@, size %.0f, %@ on %@", place, result.size, result.style.fill, result.style.outline), .dim)
            if let coverage = result.coverage {
                line(String(format: "coverage %.2f%%  changed px %.2f%%", 100 * coverage.coverage, 100 * coverage.changedPixels), .dim)
            }
            if let problem = result.problem { line(problem, .bad) }
        }
        line(lab.isCurrent ? "" : "scoring ...", .accent)
        if let result = lab.result {
            line("before", .bold)
            for score in result.comparison.before { line(String(format: "%5.1f%% ", 100 * score.probability) + score.label) }
            line("")
            line(lab.text.isEmpty ? "after (type a text)" : "after \"\(lab.text)\"", .bold)
            var shown = result.comparison.after
            if let former = result.cleanTopAfter, !shown.contains(where: { $0.label == former.label }) { shown.append(former) }
            for score in shown {
                let delta = score.delta.map { String(format: " %+6.1f", 100 * $0) } ?? ""
                line(String(format: "%5.1f%%", 100 * score.probability) + delta + " " + score.label,
                     (score.delta ?? 0) > 0.005 ? .good : (score.delta ?? 0) < -0.005 ? .bad : .plain)
            }
        }
        line("")
        line("arrows move · PgUp/PgDn size", .dim)
        line("^N colour · ^P paper's 8 · ^W save · Esc", .dim)
        let source: ImageSource = lab.result.map { .attackLab(generation: $0.generation) } ?? .file(lab.imagePath)
        return [ImagePlacement(source: source, rect: pictureArea.inset(0))]
    }

    // MARK: Figures

    static func figurePane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let view = state.figure, view.pictures.indices.contains(view.shown) else { return [] }
        let picture = view.pictures[view.shown]
        let others = view.pictures.count > 1 ? "  (\(view.shown + 1)/\(view.pictures.count), ←→ for the others)" : ""
        canvas.put(area.top, 0, "\(view.kind): \(picture.name)" + others, width: area.width, .title)
        // The numbers, wrapped to the width, above the picture.
        var lines: [String] = [], current = ""
        for word in view.summary.split(separator: " ") {
            if current.count + word.count + 1 > area.width - 1, !current.isEmpty { lines.append(current); current = "" }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(current) }
        for (i, line) in lines.prefix(3).enumerated() { canvas.put(area.top + 1 + i, 0, line, width: area.width, .accent) }
        let top = area.top + 1 + min(3, lines.count)
        canvas.put(area.bottom - 1, 0, picture.path, width: area.width, .dim)
        return [ImagePlacement(source: .file(picture.path), rect: Rect(top: top, left: 0, height: max(1, area.bottom - 1 - top), width: area.width))]
    }

    // MARK: Jobs

    static func jobsPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        let rows = state.jobRows
        canvas.put(area.top, 0, "jobs of this session and run folders (c: cancel, R: run again / resume, Enter: result)",
                   width: area.width, .bold)
        if rows.isEmpty {
            canvas.put(area.top + 2, 2, "No jobs yet. :scan DIR starts a scan.", .dim)
            return []
        }
        var placements: [ImagePlacement] = []
        // The picture goes beside the list on wide windows, below it on narrow ones (80x24 over SSH).
        let beside = area.width >= 120
        let previewWidth = beside ? 32 : 0
        let belowRows = !beside && area.height >= 16 ? min(12, area.height / 2 - 1) : 0
        let listWidth = area.width - previewWidth
        let perJob = 3
        let visible = max(1, (area.height - belowRows - 1) / perJob)
        let offset = min(max(0, state.jobSelection - visible + 1), max(0, rows.count - visible))
        for (line, index) in (offset..<min(rows.count, offset + visible)).enumerated() {
            let row = rows[index], job = row.state
            let top = area.top + 1 + line * perJob
            let selected = index == state.jobSelection
            var status = job.status.rawValue
            if job.status == .running, state.stopping.contains(job.id) { status = "stopping" }
            if job.status == .running, !row.live { status = "running elsewhere" }
            let progress = job.fraction.map { String(format: "%3.0f%% ", $0 * 100) + "[" + padded(bar($0, width: 12), 12) + "]  " } ?? ""
            let counts = job.total.map { "\(job.step)/\($0)" } ?? "\(job.step)"
            var first = "\(selected ? "▶" : " ") \(job.kind)  \(status)  \(progress)\(counts) \(job.unit)"
            if let folder = row.folder { first += "  · " + (folder as NSString).lastPathComponent }
            let style: Style = job.status == .failed || job.status == .interrupted ? .bad
                : job.status == .running ? (selected ? .selected : .plain) : (selected ? .selected : .dim)
            canvas.put(top, 0, first, width: listWidth, style)
            var rate = ""
            if let value = job.rate, job.status == .running { rate = String(format: "%.1f %@/s  ", value, job.unit) }
            if let eta = job.eta, eta.isFinite, job.status == .running { rate += "ETA " + JobState.duration(eta) + "  " }
            let metrics = job.metrics.filter { !$0.name.hasSuffix("/s") }.map { "\($0.name) \(String(format: "%.4g", $0.value))" }
            var second = "    " + rate + (metrics.isEmpty ? (job.outcome ?? job.logs.last?.message ?? "") : metrics.joined(separator: "  "))
            if !job.history.isEmpty { second += "  " + sparkline(job.history.suffix(30).map(Float.init), width: 30) }
            if job.status == .interrupted, row.resumable { second += "  (R resumes)" }
            canvas.put(top + 1, 0, second, width: listWidth, .dim)
            // The newest log line under the metrics (maximal text's candidate texts, resumes).
            if !metrics.isEmpty, let latest = job.logs.last?.message, top + 2 < area.bottom {
                canvas.put(top + 2, 4, latest, width: listWidth - 4, .dim)
            }
        }
        // The selected job's picture, else the newest running job's preview.
        if beside || belowRows > 0 {
            let rect = beside ? Rect(top: area.top + 1, left: listWidth + 1, height: min(12, area.height - 2), width: previewWidth - 2)
                : Rect(top: area.top + area.height - belowRows, left: 4, height: belowRows, width: belowRows * 2)
            let selected = rows.indices.contains(state.jobSelection) ? rows[state.jobSelection].state : nil
            let shown = selected.flatMap(Self.picture)
                ?? rows.reversed().lazy.filter { $0.state.status == .running }.compactMap { Self.picture($0.state) }.first
            if let picture = shown { placements.append(ImagePlacement(source: picture, rect: rect)) }
        }
        return placements
    }

    /// What the jobs pane shows of a job: its latest preview, else its latest picture.
    static func picture(_ job: JobState) -> ImageSource? {
        if let preview = job.preview { return .preview(job.id, step: preview.step) }
        return job.artefacts.last(where: { $0.path.map(isPicture) ?? false })?.path.map { .file($0) }
    }

    static func isPicture(_ path: String) -> Bool {
        ["png", "jpg", "jpeg"].contains((path as NSString).pathExtension.lowercased())
    }

    // MARK: Log

    static func logPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) {
        let height = area.height - 1
        canvas.put(area.top, 0, "log (\(state.log.count) lines; f: \(state.logFollow ? "following" : "paused"))", width: area.width, .bold)
        let start = state.logFollow ? max(0, state.log.count - height) : min(state.logOffset, max(0, state.log.count - height))
        for (line, entry) in state.log[start..<min(state.log.count, start + height)].enumerated() {
            canvas.put(area.top + 1 + line, 0, entry.message, width: area.width, entry.isError ? .bad : .plain)
        }
    }

    // MARK: Help

    /// Every key of a screen, as the help overlay lists it.
    public static func keys(for screen: Screen) -> [(String, String)] {
        let common: [(String, String)] = [
            ("Tab / S-Tab", "next / previous pane"), (":", "command: :89 (open neuron), :scan DIR, :atlas, :sort top, :filter starred, :q"),
            ("?", "this help"), ("Esc / q", "back (q on the neuron list quits)"),
        ]
        let specific: [(String, String)]
        switch screen {
        case .neurons:
            specific = [("↑↓ j k", "move"), ("PgUp PgDn g G", "page, first, last"), ("Enter / l", "open the neuron's card"),
                        ("/", "search ids, labels and notes; Enter also ranks by meaning"), ("Esc", "clear the search"),
                        ("o", "sort: id, top activation, label, concept neurons first"), ("f", "filter: all, labelled, starred, concept neurons"),
                        ("r", "edit the label"), ("n", "edit the note"), ("s", "star"), ("e", "export the card as PNG"),
                        ("◆", "the neuron has a feature visualization (beside the list; :atlas draws them all)")]
        case .card:
            specific = [("←→↑↓ h j k l", "move over the pictures"), ("Enter", "open the picture"), ("b", "top / bottom images"),
                        ("i", "category bars and histogram in place of the pictures (and back)"),
                        ("v", "visualize the neuron (a feature visualization job; edit the variant and steps, Enter)"),
                        ("m", "maximal text: the texts closest to the neuron's top 10 images (a job)"),
                        ("d", "Deep Dream of the neuron (a job; its picture shows in the jobs pane)"),
                        ("[ ] PgUp PgDn", "previous / next neuron"), ("r", "edit the label"), ("n", "edit the note"),
                        ("s", "star"), ("e", "export the card as PNG"), ("a", "attack the selected picture (the attack lab)")]
        case .image:
            specific = [("↑↓ j k", "move over the neurons"), ("Enter", "open that neuron's card"),
                        ("a", "attack the image: the typographic attack lab")]
        case .lab:
            specific = [("letters", "type the attack text (scored as you type)"), ("Backspace / ^U", "delete a letter / all"),
                        ("←→↑↓", "move the text"), ("PgUp PgDn", "bigger / smaller"), ("^N", "next text colour"),
                        ("^P", "the paper's eight positions (and back)"), ("^W", "save the attacked image and its scores"),
                        ("Esc", "back"), ("Tab", "next pane")]
        case .figure:
            specific = [("←→ h l", "the next figure (UMAP, PCA)")]
        case .jobs:
            specific = [("↑↓ j k", "select a job or run folder"), ("c", "cancel it (work so far is kept)"),
                        ("R", "run it again (a scan or an interrupted toy train resumes)"), ("Enter", "open its result")]
        case .log:
            specific = [("↑↓ PgUp PgDn", "scroll"), ("g G", "top, end (follow)"), ("f", "follow on/off")]
        }
        return specific + common
    }

    static func helpOverlay(_ state: AppState, _ canvas: Canvas, _ area: Rect) {
        let keys = keys(for: state.screen)
        let width = min(area.width - 2, 90), height = min(area.height - 1, keys.count + 3)
        let box = Rect(top: area.top + max(0, (area.height - height) / 2), left: max(0, (area.width - width) / 2), height: height, width: width)
        canvas.fill(box)
        canvas.box(box, title: "keys: \(state.screen.title) (Esc closes)", focused: true)
        let keyWidth = min(16, (keys.map(\.0.count).max() ?? 8) + 2)
        for (i, (key, action)) in keys.prefix(box.height - 2).enumerated() {
            canvas.put(box.top + 1 + i, box.left + 2, key, width: keyWidth, .accent)
            canvas.put(box.top + 1 + i, box.left + 2 + keyWidth, action, width: box.width - keyWidth - 4)
        }
    }
}

/// `text` padded or cut to `width` cells.
func padded(_ text: String, _ width: Int) -> String { TextCanvas.fitted(text, width: width) }
