import ArgumentParser
import Foundation
import TUI
import ToyWorld

struct TUICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "The app: browse neurons with their images inline, search them, run and watch jobs.",
        discussion: """
            What `clipscope` alone opens. With the toy model (the default) and no --index it opens \
            the toy demo, building it on first use as jobs you can watch (gallery, scan, labels from \
            the toy vocabulary) in $CLIPSCOPE_DEMO or ~/.cache/clipscope/demo. With another model and \
            no index, `:scan DIR` (or --scan DIR) makes one. Press ? in any pane for its keys.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("The index to browse (made by `clipscope scan`).", valueName: "PATH"))
    var index: String?

    @Option(help: ArgumentHelp("Scan this folder of images on start (into --index, or DIR/clipscope.index).", valueName: "DIR"))
    var scan: String?

    @OptionGroup var graphicsOptions: GraphicsOptions

    @Option(help: ArgumentHelp("Where the toy demo lives (default $CLIPSCOPE_DEMO or ~/.cache/clipscope/demo).", valueName: "DIR"))
    var demo: String?

    @OptionGroup var runsOption: RunsOption

    @Option(help: .hidden)
    var demoScenes = ToyDemo.galleryCount

    func validate() throws {
        if demoScenes < 8 { throw CommandFailure("--demo-scenes must be at least 8, got \(demoScenes)") }
        if let index, !FileManager.default.fileExists(atPath: index), scan == nil {
            throw CommandFailure("--index \(index): no such index (scan a folder into it with --scan DIR)")
        }
        if let scan {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: scan, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandFailure("--scan \(scan): no such folder")
            }
        }
    }

    func run() throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CommandFailure("the app needs a terminal (stdin and stdout); the other commands work in scripts")
        }
        var options = AppOptions(model: modelOptions.model, index: index, scan: scan, graphics: graphicsOptions.graphics.rawValue,
                                 demoDirectory: demo, demoScenes: demoScenes, runs: runsOption.directory)
        options.sixelColors = graphicsOptions.sixelColors
        let status = App.run(options, graphics: graphicsOptions.graphics)
        if status != 0 { throw ExitCode(status) }
    }
}
