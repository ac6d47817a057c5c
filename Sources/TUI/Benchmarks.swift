import CLIP
import Foundation
import Index
import Synchronization
import Terminal

/// What `clipscope bench` times of the app, without a terminal.
public enum TUIBenchmarks {
    /// The app showing a neuron card of `paths` (25 pictures) with category bars and a
    /// histogram, at a window size.
    public static func cardState(rows: Int, columns: Int, paths: [String]) -> AppState {
        let neurons = 768
        let identity = ModelIdentity(name: "toy", fingerprint: "bench", neurons: neurons, embedDim: 128, resolution: 96)
        let scan = ScanInfo(id: 1, model: identity, tap: .conv3, reduce: .max, imageCount: 2400)
        let neuronRows = (0..<neurons).map { n in
            NeuronRow(neuron: n, label: "concept \(n % 40)", labelSource: .proposed, note: nil, starred: n % 9 == 0,
                      top: Float(n % 13) / 3, topValues: (0..<25).map { Float(25 - $0) / 5 })
        }
        var state = AppState(rows: rows, columns: columns, modelName: "toy", graphics: .sixel)
        _ = state.apply(.catalogLoaded(NeuronCatalog(indexPath: "/bench/demo.index", scan: scan, rows: neuronRows)))
        _ = state.apply(.key(.enter))
        let images = paths.enumerated().map { RankedImage(path: $1, category: "category \($0 % 22)", value: Float(30 - $0) / 7) }
        let categories = (0..<22).map { i in
            CategorySummary(name: "a long category name \(i)", stats: ActivationStats(values: [Float(i), Float(i) / 2, 1]),
                            density: Array(repeating: i, count: CategorySummary.densityBins))
        }
        let bins = (0..<NeuronSummary.histogramBins).map { HistogramBin(low: Double($0), high: Double($0 + 1), count: $0 * 7 % 50, example: nil) }
        _ = state.apply(.cardLoaded(CardData(neuron: 0, top: images, bottom: images.reversed(),
                                             stats: ActivationStats(values: images.map(\.value)), categories: categories, bins: bins)))
        return state
    }

    /// Composes one frame off-screen; returns the pictures it places.
    public static func frame(_ state: AppState, canvas: TextCanvas) -> Int {
        Panes.draw(state, on: canvas).count
    }

    /// Decodes, fits and encodes the pictures of the frame as the compositor does (two at a
    /// time): the image files (`charts` false) or the charts drawn from the card's data;
    /// returns the bytes.
    public static func encodePictures(_ state: AppState, capabilities: TerminalCapabilities, charts: Bool = false) -> Int {
        let placements = Panes.draw(state, on: TextCanvas(rows: state.rows, columns: state.columns))
            .filter { $0.source.needsRenderer == charts }
        let renderers = App.renderers(state)
        let sizes = Mutex([Int](repeating: 0, count: placements.count))
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for index in stride(from: worker, to: placements.count, by: 2) {
                let key = ImageKey(source: placements[index].source, rect: placements[index].rect, graphics: "sixel")
                let count = ImageCompositor.encode(key, preview: nil, renderer: renderers[key.source], capabilities: capabilities).count
                sizes.withLock { $0[index] = count }
            }
        }
        return sizes.withLock { $0.reduce(0, +) }
    }
}

extension TUIBenchmarks {
    /// A card on an off-screen terminal through the app's compositor, counting the bytes the
    /// terminal receives: the first view encodes and sends every picture; a repeat view (the
    /// card left and opened again) finds them encoded, and kitty then only places them by id.
    public final class CardView {
        let compositor: ImageCompositor
        let placements: [ImagePlacement]
        let renderers: [ImageSource: ImageCompositor.Renderer]
        let ready = DispatchSemaphore(value: 0)
        let kitty: Bool

        public init(graphics: TerminalCapabilities.Graphics, rows: Int, columns: Int, paths: [String]) {
            let capabilities = TerminalCapabilities(graphics: graphics, cellSize: CellSize(width: 10, height: 20), columns: columns, rows: rows)
            let ready = self.ready
            compositor = ImageCompositor(capabilities: capabilities, mailbox: Mailbox(wake: { ready.signal() }))
            compositor.output = { _ in }
            var state = cardState(rows: rows, columns: columns, paths: paths)
            state.graphics = graphics
            state.graphicsName = compositor.graphicsName
            placements = Panes.draw(state, on: TextCanvas(rows: rows, columns: columns))
            renderers = App.renderers(state)
            kitty = graphics == .kitty
        }

        /// Shows the card, frame after frame until every picture is on screen; returns the bytes sent.
        public func show() -> Int {
            let before = compositor.bytesSent
            while true {
                _ = compositor.rowsToErase(for: placements)
                compositor.place(placements, previews: [:], renderers: renderers)
                if (kitty ? compositor.kittyPlaced.count : compositor.shown.count) >= placements.count { break }
                _ = ready.wait(timeout: .now() + 5)
            }
            return compositor.bytesSent - before
        }

        /// Another screen (the card's pictures go).
        public func leave() {
            _ = compositor.rowsToErase(for: [])
            compositor.place([], previews: [:])
        }
    }
}
