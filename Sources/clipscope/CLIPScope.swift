import ArgumentParser

@main
struct CLIPScope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipscope",
        abstract: "A terminal microscope for CLIP's multimodal neurons.",
        subcommands: [
            Bench.self,
            Convert.self,
            Version.self,
            Show.self,
            Grid.self,
            Tokenize.self,
            Info.self,
            Embed.self,
            Activations.self,
            Classify.self,
            Scan.self,
            Top.self,
            Categories.self,
            Histogram.self,
            Neurons.self,
            Label.self,
            IndexCommand.self,
        ]
    )

    /// Every failure is printed as `clipscope: <one line>` (errors describe themselves in one line).
    static var _errorPrefix: String { "clipscope: " }
}
