import Foundation
import Jobs
import Workbench

/// The figures of a finished experiment and its numbers (the figure pane's slice of the state).
public struct FigureView: Sendable, Equatable {
    public var kind: JobKind
    /// (name, path) of each picture the job made.
    public var pictures: [(name: String, path: String)]
    public var shown = 0
    public var summary: String

    /// The view of a finished Stroop or gap job (nil for other jobs or before a figure exists).
    init?(job: JobState) {
        guard let kind = JobKind(named: job.kind), JobCatalog.hasFigure(kind: job.kind) else { return nil }
        pictures = JobCatalog.pictures(job.artefacts)
        guard !pictures.isEmpty else { return nil }
        self.kind = kind
        summary = job.outcome ?? ""
    }

    public static func == (a: FigureView, b: FigureView) -> Bool {
        a.kind == b.kind && a.pictures.map(\.path) == b.pictures.map(\.path) && a.shown == b.shown && a.summary == b.summary
    }

    mutating func step(by delta: Int) {
        guard pictures.count > 1 else { return }
        shown = (shown + delta + pictures.count) % pictures.count
    }

    static let keys = KeyTable(title: "figure", bindings: [
        Binding([.right, .down, .character("l"), .character("j"), .character("n")], "the next figure (UMAP, PCA)", hint: "next") { state, _ in
            state.figure?.step(by: 1)
            return []
        },
        Binding([.left, .up, .character("h"), .character("k"), .character("p")], "the previous figure", hint: "previous") { state, _ in
            state.figure?.step(by: -1)
            return []
        },
    ])
}

// MARK: View

extension FigureView: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.figurePane(state, canvas, area) }
}


extension Panes {
    static func figurePane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let view = state.figure, view.pictures.indices.contains(view.shown) else { return [] }
        let picture = view.pictures[view.shown]
        let others = view.pictures.count > 1 ? "  (\(view.shown + 1)/\(view.pictures.count); \(Bindings.hints(for: .figure)))" : ""
        canvas.put(area.top, 0, "\(view.kind.rawValue): \(picture.name)" + others, width: area.width, .title)
        // The numbers, wrapped to the width, above the picture.
        let lines = wrapped(view.summary, width: area.width - 1)
        for (i, line) in lines.prefix(3).enumerated() { canvas.put(area.top + 1 + i, 0, line, width: area.width, .accent) }
        let top = area.top + 1 + min(3, lines.count)
        canvas.put(area.bottom - 1, 0, picture.path, width: area.width, .dim)
        return [ImagePlacement(source: .file(picture.path), rect: Rect(top: top, left: 0, height: max(1, area.bottom - 1 - top), width: area.width))]
    }

    /// Words of `text` in lines of at most `width` cells.
    static func wrapped(_ text: String, width: Int, separator: Character = " ", joiner: String = " ") -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: separator) {
            if current.count + word.count + joiner.count > width, !current.isEmpty { lines.append(current); current = "" }
            current += (current.isEmpty ? "" : joiner) + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
