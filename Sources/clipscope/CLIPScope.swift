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
        ]
    )
}
