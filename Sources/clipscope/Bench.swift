import ArgumentParser
import Foundation
import Imaging
import Synchronization
import Terminal
import TUI
import Workbench

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the operations that matter (build with -c release).",
        discussion: """
            Medians of --runs timed runs after one warm-up. The trunk figures use the RN50x4 \
            shape at 288x288, batch 1, random weights. GFLOP/s counts a multiply-add as 2. \
            3x3 stride-1 convolutions take im2col or Winograd by a fixed rule of spatial size; \
            CLIPSCOPE_CONV3X3=measure times the candidates once per shape instead, \
            =im2col|winograd2x2|winograd4x4 forces one. OpenBLAS runs one thread per call; \
            a large GEMM is cut into one part per worker (CLIPSCOPE_WORKERS, default the \
            cores). Peak RSS is the process's resident peak while a benchmark is prepared \
            and run (its model included).
            """)

    @Option(help: "Run only benchmarks whose name contains this text (or any of several, comma-separated).")
    var filter: String?

    @Option(help: "Timed runs per benchmark.")
    var runs = 5

    @Flag(help: "Print one JSON document.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw CommandFailure("--runs must be at least 1") }
    }


    func run() throws {
        #if DEBUG
        FileHandle.standardError.write(Data("warning: a debug build; timings are meaningless (use `make bench`)\n".utf8))
        #endif
        let selected = Benchmarks.selected(filter: filter, display: Self.display)
        guard !selected.isEmpty else { throw CommandFailure("no benchmark matches --filter \(filter!)") }
        if !json { print(Benchmarks.blasLine) }
        var results: [BenchResult] = []
        for benchmark in selected {
            let result = benchmark.measure(runs: runs)
            results.append(result)
            if !json {
                // The table's name column is 30 wide; a longer name pushes its line right rather than being cut.
                let line = result.name.count > 30 ? result.name + " " + result.line.dropFirst(31) : result.line
                print(line + (Self.bytes.withLock { $0[result.name] }.map { "  \($0) bytes" } ?? ""))
            }
        }
        if json {
            print(String(decoding: try Benchmarks.json(results), as: UTF8.self))
        } else {
            for line in Benchmarks.convolutionLines() { print(line) }
        }
    }

    /// Bytes a display benchmark sends to the terminal, by name (shown after its time).
    static let bytes = Mutex<[String: Int]>([:])

    /// The 25 400x300 PNG pictures of the card benchmarks (written once).
    static func benchPictures() -> [String] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-bench-card")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let paths = (0..<25).map { folder.appendingPathComponent("\($0).png").path }
        for (i, path) in paths.enumerated() where !FileManager.default.fileExists(atPath: path) {
            try? Image.testCard(width: 400, height: 300, seed: UInt64(i + 1)).writePNG(path: path)
        }
        return paths
    }

    /// `tui.card_bytes.<graphics>.<size>.<view>`: a card's first view (pictures encoded and
    /// sent) and repeat view (opened again: sixel and iTerm2 send the pictures again, kitty
    /// only places them), timed, with the bytes the terminal receives.
    static var cardBytes: [Benchmark] {
        var list: [Benchmark] = []
        for graphics: TerminalCapabilities.Graphics in [.sixel, .kitty, .iterm] {
            for (rows, columns) in [(40, 120), (24, 80)] {
                for repeatView in [false, true] {
                    let name = "tui.card_bytes.\(graphics.rawValue).\(columns)x\(rows).\(repeatView ? "repeat" : "first")"
                    list.append(Benchmark(name: name, flops: nil) {
                        let paths = benchPictures()
                        let view = TUIBenchmarks.CardView(graphics: graphics, rows: rows, columns: columns, paths: paths)
                        let first = view.show()
                        view.leave()
                        bytes.withLock { $0[name] = repeatView ? view.show() : first }
                        if repeatView {
                            return { view.leave(); _ = view.show() }
                        }
                        return { _ = TUIBenchmarks.CardView(graphics: graphics, rows: rows, columns: columns, paths: paths).show() }
                    })
                }
            }
        }
        return list
    }

    /// What is timed of the terminal and the app (their types are not the core's).
    static var display: [Benchmark] {
        cardBytes + [
        Benchmark(name: "tui.frame", flops: nil) {
            // The neuron-card frame at 120x40 composed off-screen (pictures are placed, not drawn).
            let state = TUIBenchmarks.cardState(rows: 40, columns: 120, paths: (0..<25).map { "/bench/\($0).png" })
            let canvas = TextCanvas(rows: 40, columns: 120)
            return { _ = TUIBenchmarks.frame(state, canvas: canvas) }
        },
        Benchmark(name: "tui.open_card", flops: nil) {
            // A card's 25 pictures (400x300 PNG files) decoded, fitted to their cells and sixel-encoded.
            let paths = benchPictures()
            let state = TUIBenchmarks.cardState(rows: 40, columns: 120, paths: paths)
            let capabilities = TerminalCapabilities(graphics: .sixel, cellSize: CellSize(width: 10, height: 20),
                                                    columns: 120, rows: 40)
            for colors in [256, 64, 16] {
                var fewer = capabilities
                fewer.sixelColors = colors
                let pictures = TUIBenchmarks.encodePictures(state, capabilities: fewer)
                let charts = TUIBenchmarks.encodePictures(state, capabilities: fewer, charts: true)
                FileHandle.standardError.write(Data("tui.open_card: a 5x5 card at 120x40 (10x20 px cells) in sixel of \(colors) colours: \(pictures) bytes of pictures, \(charts) of charts\n".utf8))
            }
            return { _ = TUIBenchmarks.encodePictures(state, capabilities: capabilities) }
        },
        Benchmark(name: "tui.card_charts", flops: nil) {
            // The card's side panel drawn (category bars and histogram) and sixel-encoded.
            let state = TUIBenchmarks.cardState(rows: 40, columns: 120, paths: [])
            let capabilities = TerminalCapabilities(graphics: .sixel, cellSize: CellSize(width: 10, height: 20),
                                                    columns: 120, rows: 40)
            return { _ = TUIBenchmarks.encodePictures(state, capabilities: capabilities, charts: true) }
        },
        Benchmark(name: "sixel.encode_288", flops: nil) {
            let photo = Image.testCard(width: 288, height: 288)
            return { _ = try? Sixel.encode(photo) }
        },
        ]
    }
}
