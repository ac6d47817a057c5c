import ArgumentParser
import CLIP
import Foundation
import Index
import Support
import Workbench

extension ActivationReduce: ExpressibleByArgument {}

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scan folders of images into an activation index (resumable, incremental).",
        discussion: """
            Every image under each DIR (jpg, jpeg, png; the first sub-folder's name is its \
            category) is run through the image tower in batches, and its activation for every \
            neuron of the tap is stored. Only new or changed files are computed (size and \
            modification time), files gone from disk are dropped, and unreadable files are \
            recorded as skipped with the reason. An interrupted or killed scan keeps every \
            committed batch: run the same command again to continue. One index holds one scan \
            per model, tap and reduction. --shard K/N (K from 0) scans a fixed 1/N of the files, \
            chosen by a hash of each file's path below its DIR; combine shard indexes with \
            `clipscope index merge`. Progress goes to stderr on a terminal only.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: ArgumentHelp("Folders of images.", valueName: "DIR"))
    var folders: [String] = []

    @Option(help: ArgumentHelp("The index file (made if missing).", valueName: "PATH"))
    var index = "clipscope.index"

    @Option(help: "Where to read the neurons: conv3 (the paper's) or block (Microscope's).")
    var tap: NeuronTap = .conv3

    @Option(help: "Reduce each neuron's map by max or mean.")
    var reduce: ActivationReduce = .max

    @OptionGroup var batching: BatchOptions

    @Option(help: ArgumentHelp("Scan only shard K of N (K from 0), e.g. 0/4.", valueName: "K/N"))
    var shard: String?

    @Flag(help: "Also store each image's CLIP embedding (lets `label` skip recomputing them).")
    var embeddings = false

    @Option(help: .hidden)
    var pauseAfterBatchMs = 0

    @OptionGroup var output: JSONOption

    func validate() throws {
        if folders.isEmpty { throw CommandFailure("give at least one DIR of images to scan") }
    }

    func run() throws {
        let job = Workbench(model: modelOptions.model).scan(folders: folders, index: index, tap: tap, reduce: reduce, batchSize: batching.batchSize,
                                                            shard: try shard.map(Shard.init(parsing:)), storeEmbeddings: embeddings)
        let result = try runCommandJob(job, token: InterruptCancels.installedToken(), pauseAfterProgressMilliseconds: pauseAfterBatchMs,
                                       interrupted: "scan interrupted; committed batches are kept in \(index): run the same command to continue")
        if output.json {
            try Output.printJSON(result)
        } else {
            print(ScanJob.summary(of: result))
            for skipped in result.skipped { print("skipped \(skipped.path): \(skipped.error)") }
        }
    }
}

/// `--index I` and `--scan S` of the query commands.
struct IndexOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The index file made by `clipscope scan`.", valueName: "PATH"))
    var index: String

    @Option(help: ArgumentHelp("Which scan of the index: its number or words of its model, tap and reduction (default: the only or latest).",
                               valueName: "S"))
    var scan: String?

    /// The index and the selected scan; read-only unless the command changes the index.
    func open(writable: Bool = false) throws -> (ActivationIndex, ScanInfo) {
        do {
            let opened = try ActivationIndex(path: index, readOnly: !writable)
            return (opened, try opened.scan(scan))
        } catch {
            throw CommandFailure(error)
        }
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Work on activation indexes.",
        subcommands: [Merge.self, List.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge shard indexes into one (the same answers as one scan over all the files).",
            discussion: """
                Scans of the same model, tap and reduction are united; a file found in several \
                inputs keeps its newest version; people's labels are carried over; summaries are \
                recomputed. OUT must not exist.
                """)

        @Argument(help: ArgumentHelp("Shard indexes.", valueName: "INDEX"))
        var inputs: [String] = []

        @Option(name: .shortAndLong, help: ArgumentHelp("The merged index to write.", valueName: "OUT"))
        var output: String

        @OptionGroup var json: JSONOption

        func validate() throws {
            if inputs.isEmpty { throw CommandFailure("give the INDEX files to merge") }
        }

        func run() throws {
            let report: MergeReport
            do { report = try ActivationIndex.merge(inputs: inputs, output: output) } catch { throw CommandFailure(error) }
            if json.json {
                try Output.printJSON(report)
            } else {
                print("merged \(inputs.count) index(es) into \(output)")
                for scan in report.scans { print("  \(scan.scan): \(scan.images) images, \(scan.skipped) skipped") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the scans of an index.")

        @Argument(help: ArgumentHelp("The index file.", valueName: "INDEX"))
        var index: String

        @OptionGroup var json: JSONOption

        func run() throws {
            let scans: [ScanInfo]
            do { scans = try ActivationIndex(path: index, readOnly: true).scans() } catch { throw CommandFailure(error) }
            if json.json {
                try Output.printJSON(["scans": scans])
            } else {
                for scan in scans {
                    print("#\(scan.id)  \(scan.model.name)  tap \(scan.tap.rawValue)  reduce \(scan.reduce.rawValue)  "
                          + "\(scan.imageCount) images, \(scan.skippedCount) skipped\(scan.stale ? "  (interrupted)" : "")")
                }
            }
        }
    }
}
