import ArgumentParser
import CLIP
import Experiments
import Foundation
import Jobs
import Support
import Workbench

struct Gap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gap",
        abstract: "The modality gap: how far apart a model puts images and their captions.",
        discussion: """
            Embeds image-caption pairs, normalizes them, and reports the distance between the \
            image and text centroids and the mean cosine of matched and of unmatched pairs; draws \
            both clouds with UMAP (gap.png, a line per pair) and PCA (gap-pca.png). The pairs come \
            from --dir (images captioned "This is a " + the file's name, as the paper's) or --csv \
            (path,caption lines). With the toy model and neither, the toy world's own scenes and \
            captions are drawn into the run folder and used. Unreadable images are skipped and \
            listed. See docs/gap.md.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("A folder of images, each captioned \"This is a \" + its name (underscores and dashes as spaces).", valueName: "D"))
    var dir: String?

    @Option(help: ArgumentHelp("A CSV of path,caption lines (header optional; paths relative to the CSV's folder).", valueName: "F"))
    var csv: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Also write the UMAP figure here (it is always in the run folder as gap.png).", valueName: "PNG"))
    var output: String?

    @Option(help: "UMAP's neighbours (k, counting the point itself).")
    var neighbours = 15

    @Option(name: .customLong("min-dist"), help: "UMAP's minimum distance between embedded points.")
    var minDist = 0.1

    @Option(help: "Seed of UMAP's layout (and of the toy's scenes).")
    var seed: UInt64 = 42

    @Option(help: "Toy model without --dir or --csv: how many scenes.")
    var scenes = 200

    @Option(help: "Images per forward pass (results do not depend on it).")
    var batchSize = 16

    @Option(help: ArgumentHelp("The run folder (default: <runs>/gap-<folder, CSV or toy>).", valueName: "DIR"))
    var outputRun: String?

    @OptionGroup var runsOption: RunsOption
    @OptionGroup var json: JSONOption

    var usesToyScenes: Bool { dir == nil && csv == nil }

    func validate() throws {
        if dir != nil, csv != nil { throw CommandFailure("give --dir D or --csv F, not both") }
        if usesToyScenes, !modelOptions.profile.hasOwnScenes {
            throw CommandFailure("give --dir D or --csv F (only the toy model has scenes of its own)")
        }
        if neighbours < 2 { throw CommandFailure("--neighbours must be at least 2, got \(neighbours)") }
        if !(minDist >= 0) || !minDist.isFinite { throw CommandFailure("--min-dist must be at least 0, got \(minDist)") }
        if scenes < GapJob.minimumPairs { throw CommandFailure("--scenes must be at least \(GapJob.minimumPairs), got \(scenes)") }
        if batchSize < 1 { throw CommandFailure("--batch-size must be at least 1, got \(batchSize)") }
    }

    /// A job parameter as its option here.
    static func failure(_ error: Error) -> CommandFailure {
        CommandFailure(error, renaming: ["output": "--output-run"])
    }

    func run() throws {
        let source: Workbench.GapSource = dir.map { .directory($0) } ?? csv.map { .csv($0) } ?? .toyScenes(count: scenes)
        var resolution: Int?
        if usesToyScenes {
            let model = try CLIPModel.shared(model: modelOptions.model)
            resolution = ComputeExecutor.shared.run(.interactive) { model.config.imageResolution }
        }
        // Bad input fails here, before any model work, naming its option.
        let job: GapJob
        do {
            job = try Workbench(model: modelOptions.model, runs: runsOption.directory).gap(source, adjust: { job in
                job.neighbours = neighbours
                job.minimumDistance = minDist
                job.seed = seed
                job.batchSize = batchSize
            }, resolution: resolution, folder: outputRun)
        } catch {
            throw Self.failure(error)
        }
        let result: GapJob.Result
        do {
            result = try runCommandJob(job, token: InterruptCancels.installedToken(), interrupted: "gap interrupted")
        } catch {
            throw Self.failure(error)
        }
        if let output { try copyFile(result.figure, to: output) }
        if json.json {
            try Output.printJSON(result)
        } else {
            if usesToyScenes { modelOptions.noteImplicitModel(.gap, json: false) }
            print(Output.table([
                ["pairs", "\(result.pairs)"],
                ["centroid distance", String(format: "%.4f", result.centroidDistance)],
                ["matched cosine", String(format: "%.4f", result.matchedCosine)],
                ["unmatched cosine", String(format: "%.4f", result.unmatchedCosine)],
                ["nearest-centroid accuracy", String(format: "%.4f", result.nearestCentroidAccuracy)],
            ], rightAligned: [1]))
            print("figure: \(output ?? result.figure) (PCA: \(result.pcaFigure)); run folder \(result.run)")
        }
    }
}
