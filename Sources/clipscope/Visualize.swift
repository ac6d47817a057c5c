import ArgumentParser
import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import Terminal
import Workbench

extension VisualizationVariant: ExpressibleByArgument {}
extension ImageParameterization: ExpressibleByArgument {}

struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Feature visualization: an image optimized to excite a neuron (or a sweep of neurons).",
        discussion: """
            Variants (docs/visualize.md has each in full): paper-code (the paper's code: the network cut \
            after the last block's conv2, 1 - cos to the neuron's conv3 weight row times C, the code's range \
            penalty, TV, one random translation up to ±50% a step, Adam lr 0.01, seed 10, 1000 steps), \
            paper-formula (Mahendran & Vedaldi's alpha-norm, pixels bounded), gray (a cross-channel \
            penalty in place of TV, 200 steps) and direct (the neuron's own activation, as lucid does). \
            Every number is an option with the spec's default. The run folder keeps neuron-N.png, \
            metrics.csv, parameters.json and a checkpoint: run the same command again to continue an \
            interrupted run exactly. --neurons 0-767 sweeps B neurons a batch; --shard K/N takes every \
            N-th of them (a sweep over many machines); `clipscope atlas` draws the contact sheet.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(parsing: .unconditional, help: "The neuron to visualize.")
    var neuron: Int?

    @Option(help: ArgumentHelp("Neurons to sweep: ids and ranges, e.g. 0-767 or 89,2191,100-199.", valueName: "LIST"))
    var neurons: String?

    @Option(help: ArgumentHelp("Sweep only shard K of N (K from 0): the listed neurons whose position mod N is K.", valueName: "K/N"))
    var shard: String?

    @Option(help: "paper-code, paper-formula, gray or direct.")
    var variant: VisualizationVariant = .paperCode

    @Option(help: "Optimization steps (default 1000; gray 200; direct 512).")
    var steps: Int?

    @Option(help: "Seed of the starting noise and of the translations.")
    var seed: UInt64 = 10

    @Option(help: "Adam's learning rate.")
    var learningRate: Float?

    @Option(help: "C, the weight of the neuron term.")
    var objectiveWeight: Float = 10

    @Option(help: "Largest random translation per step, as a fraction of the side (default 0.5; paper-formula 0.125; direct 0.0625).")
    var jitter: Double?

    @Option(help: "alpha of the alpha-norm (paper-formula) and of the gray term's scale.")
    var alpha: Float = 6

    @Option(help: "B, the pixel bound (paper-formula keeps pixels within 2B; TV uses V = B/6.5).")
    var bound: Float = 2.12

    @Option(help: "beta of TV and of the gray term.")
    var beta: Float = 2

    @Option(help: "Weight of TV (or of the gray term); 0 turns it off (default 1; direct 0).")
    var smoothnessWeight: Float?

    @Option(help: "direct: read the neuron's map by its mean or max.")
    var reduce: ActivationReduce = .mean

    @Option(help: "direct: conv3 (the paper's neuron) or block (after the residual add).")
    var tap: NeuronTap = .conv3

    @Option(help: "Image side in pixels (default: the model's input resolution).")
    var size: Int?

    @Option(help: "What is optimized: pixels, or fourier (lucid's decorrelated Fourier coefficients; the default for direct).")
    var parameterization: ImageParameterization?

    @Option(help: "Random change of size per step, a fraction (0.1: 0.9-1.1 times; lucid's transform; default 0.1 for direct, else 0).")
    var scale: Double?

    @Option(help: "Random turn per step, up to this many degrees either way (lucid's transform; default 10 for direct, else 0).")
    var rotate: Double?

    @Option(help: "fourier: coefficients scaled by 1/frequency^decay; above 1 favours smoother images (default 1, lucid's).")
    var decay: Double?

    @Option(help: "Neurons optimized together (one per batch item).")
    var batchSize = 1

    @Option(help: "Show (--show) and report the current image every K steps.")
    var previewEvery = 10

    @Option(help: "Steps between checkpoints.")
    var checkpointEvery = 50

    @Option(name: .shortAndLong, help: ArgumentHelp("The run folder (default: <runs>/visualize-<neuron>-<variant>).", valueName: "DIR"))
    var output: String?

    @OptionGroup var runsOption: RunsOption

    @Flag(help: "Print the current image in the terminal every --preview-every steps.")
    var show = false

    @OptionGroup var graphicsOptions: GraphicsOptions
    @OptionGroup var json: JSONOption

    func selectedNeurons() throws -> [Int] {
        var list: [Int] = []
        if let neuron { list.append(neuron) }
        if let neurons { list += try failing { try NeuronList.parse(neurons) } }
        if list.isEmpty { throw CommandFailure("give --neuron N or --neurons LIST") }
        if let shard {
            let part = try Shard(parsing: shard)
            list = list.enumerated().filter { $0.offset % part.count == part.index }.map(\.element)
            if list.isEmpty { throw CommandFailure("--shard \(shard): no neuron falls in this shard") }
        }
        return list
    }

    func job() throws -> VisualizeJob {
        let neurons = try selectedNeurons()
        var settings = VisualizationSettings(variant: variant)
        if let steps { settings.steps = steps }
        settings.seed = seed
        if let learningRate { settings.learningRate = learningRate }
        settings.objectiveWeight = objectiveWeight
        if let jitter { settings.jitter = jitter }
        settings.alpha = alpha
        settings.bound = bound
        settings.beta = beta
        if let smoothnessWeight { settings.smoothnessWeight = smoothnessWeight }
        if let parameterization { settings.parameterization = parameterization }
        settings.reduce = reduce
        settings.tap = tap
        settings.size = size
        settings.fourierDecay = decay
        settings.changeTransforms(scale: scale, rotation: rotate)
        var job = Workbench(model: modelOptions.model, runs: runsOption.directory)
            .visualize(neurons: neurons, settings: settings, shard: shard, folder: output)
        job.batchSize = batchSize
        job.previewEvery = previewEvery
        job.checkpointEvery = checkpointEvery
        return job
    }

    func validate() throws {
        try checkNeuron(neuron)
        do { try job().validate() } catch let error as InvalidParameter { throw CommandFailure(error) }
    }

    func run() throws {
        let job = try job()
        let capabilities = show ? graphicsOptions.detect() : nil
        let result = try runCommandJob(job, token: InterruptCancels.installedToken(), interrupted:
            "visualization interrupted; the run so far is in \(job.output): run the same command to continue",
            also: { _, event in
                guard let capabilities, case let .preview(preview) = event else { return }
                let image = Image(width: preview.width, height: preview.height, channels: 3, pixels: preview.rgb)
                let rows = max(4, min(16, capabilities.rows / 2))
                if let bytes = try? TerminalImage.render(image, columns: rows * 2, rows: rows, capabilities: capabilities) {
                    FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8) + Data(bytes) + Data("\n".utf8))
                }
            })
        if json.json {
            try Output.printJSON(result)
        } else {
            print(VisualizeJob.summary(of: result))
            if let last = result.losses.last { print(String(format: "final loss %.4f, %.3f s a step", last, result.secondsPerStep)) }
        }
    }
}
