import ArgumentParser
import CLIP
import Experiments
import Foundation
import Jobs
import Support
import Workbench

struct Dream: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deep Dream of a neuron (the paper's Algorithm 1): from noise or an image, through a pyramid of sizes.",
        discussion: """
            Each iteration shifts the image circularly by up to --max-shift pixels, takes the gradient \
            of the mean square of the neuron's activation map, smooths it with three Gaussian 9x9 blurs \
            (sigma growing over the level, times 0.5, 1 and 2), averages and normalizes it, steps by \
            --learning-rate, shifts back and clamps to 0...1. --levels sizes, each --ratio times the \
            previous, end at the model's resolution. The run folder keeps dream-N.png, metrics.csv and a \
            checkpoint after each level: run the same command again to continue.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(parsing: .unconditional, help: "The neuron to dream of.")
    var neuron: Int

    @Option(help: ArgumentHelp("Start from this image instead of noise.", valueName: "FILE"))
    var image: String?

    @Option(help: "Pyramid levels.")
    var levels = 4

    @Option(help: "Side ratio between levels.")
    var ratio = 1.8

    @Option(help: "Iterations per level.")
    var iterations = 10

    @Option(help: "Step size of the normalized gradient.")
    var learningRate: Float = 0.09

    @Option(help: "Largest random circular shift per iteration, in pixels.")
    var maxShift = 32

    @Option(help: "Seed of the noise and the shifts.")
    var seed: UInt64 = 10

    @Option(help: "conv3 (the paper's neuron) or block.")
    var tap: NeuronTap = .conv3

    @Option(help: "The last level's side (default: the model's input resolution).")
    var size: Int?

    @Option(name: .shortAndLong, help: ArgumentHelp("The run folder (default: <runs>/dream-<neuron>).", valueName: "DIR"))
    var output: String?

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

    func job() -> DreamJob {
        var settings = DreamSettings()
        settings.levels = levels
        settings.ratio = ratio
        settings.iterations = iterations
        settings.learningRate = learningRate
        settings.maxShift = maxShift
        settings.seed = seed
        settings.tap = tap
        settings.size = size
        return Workbench(model: modelOptions.model, runs: runsOption.directory).dream(neuron: neuron, settings: settings, start: image, folder: output)
    }

    func validate() throws {
        try checkNeuron(neuron)
        do { try job().settings.validate() } catch let error as InvalidParameter { throw CommandFailure(error) }
        if let image, !FileManager.default.isReadableFile(atPath: image) { throw CommandFailure("--image \(image): no such file") }
    }

    func run() throws {
        let job = job()
        let result = try runCommandJob(job, token: InterruptCancels.installedToken(), interrupted:
            "dream interrupted; the finished levels are in \(job.output): run the same command to continue")
        if json.json {
            try Output.printJSON(result)
        } else {
            print(DreamJob.summary(of: result))
        }
    }
}
