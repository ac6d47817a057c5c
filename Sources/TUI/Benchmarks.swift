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
