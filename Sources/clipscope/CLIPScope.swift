import ArgumentParser
import Foundation
import Index
import Support
import Terminal
import Jobs

@main
struct CLIPScope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipscope",
        abstract: "A terminal microscope for CLIP's multimodal neurons.",
        subcommands: [TUICommand.self],
        groupedSubcommands: [
            CommandGroup(name: "Models", subcommands: [
                Info.self, Embed.self, Activations.self, Classify.self, Tokenize.self, Convert.self,
            ]),
            CommandGroup(name: "Dataset examples", subcommands: [
                Scan.self, Top.self, Categories.self, Histogram.self, Neurons.self, Label.self, IndexCommand.self,
            ]),
            CommandGroup(name: "Feature visualization", subcommands: [Visualize.self, Dream.self, MaxText.self, Atlas.self]),
            CommandGroup(name: "Attacks", subcommands: [Attack.self, Stroop.self, Gap.self]),
            CommandGroup(name: "Pictures", subcommands: [Show.self, Grid.self]),
            CommandGroup(name: "Toy world", subcommands: [Tour.self, Toy.self]),
            CommandGroup(name: "Tools", subcommands: [Runs.self, Runner.self, Bench.self, Version.self]),
        ],
        defaultSubcommand: TUICommand.self
    )

    /// Every failure is printed as `clipscope: <one line>` (errors describe themselves in one line).
    static var _errorPrefix: String { "clipscope: " }

    /// The one error funnel: parameters named by the libraries are shown as options, and every
    /// failure exits 1 (docs/CLI.md), usage errors too (ArgumentParser's own would exit 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let error = presentable(error)
            let code = exitCode(for: error)
            // Help and --version print as ArgumentParser does; a failure's message is made safe to show.
            guard code != .success else { exit(withError: error) }
            let message = fullMessage(for: error)
            if !message.isEmpty {
                FileHandle.standardError.write(Data((message.terminalSafe(keepingLineBreaks: true) + "\n").utf8))
            }
            exit(withError: code == .validationFailure ? ExitCode.failure : code)
        }
    }

    /// Library errors as the command line words them; argument parser errors as they are.
    static func presentable(_ error: Error) -> Error {
        switch error {
        case is InvalidParameter, is JobFailure, is IndexError: CommandFailure(error)
        default: error
        }
    }

    /// A library's parameter as the option that sets it: "batchSize" -> "--batch-size", and
    /// the parameters whose option has another name (the libraries never name options).
    static func option(for parameter: String) -> String {
        optionsNamedOtherwise[parameter] ?? "--" + optionName(parameter)
    }

    static let optionsNamedOtherwise = [
        "directory": "--dir", "minimumDistance": "--min-dist", "source": "--dir D or --csv F",
    ]

    /// "batchSize" -> "batch-size".
    static func optionName(_ parameter: String) -> String {
        parameter.reduce(into: "") { name, character in
            if character.isUppercase { name += "-" + character.lowercased() } else { name.append(character) }
        }
    }
}
