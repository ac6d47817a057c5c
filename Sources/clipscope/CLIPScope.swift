import ArgumentParser

@main
struct CLIPScope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipscope",
        abstract: "A terminal microscope for CLIP's multimodal neurons.",
        groupedSubcommands: [
            CommandGroup(name: "Models", subcommands: [
                Info.self, Embed.self, Activations.self, Classify.self, Tokenize.self, Convert.self,
            ]),
            CommandGroup(name: "Dataset examples", subcommands: [
                Scan.self, Top.self, Categories.self, Histogram.self, Neurons.self, Label.self, IndexCommand.self,
            ]),
            CommandGroup(name: "Pictures", subcommands: [Show.self, Grid.self]),
            CommandGroup(name: "Toy world", subcommands: [Tour.self, Toy.self]),
            CommandGroup(name: "Tools", subcommands: [Bench.self, Version.self]),
        ]
    )

    /// Every failure is printed as `clipscope: <one line>` (errors describe themselves in one line).
    static var _errorPrefix: String { "clipscope: " }
}
