import Foundation
import Experiments
import Imaging
import Index
import Jobs
import ToyWorld
import Workbench

/// The backend's index work, on its one serial queue: opening an index and its catalog,
/// cards, an image's neurons, labels, notes, stars, exports; and the run folders' listing.
extension Backend {

    /// Opens an index and loads every neuron's row.
    func openIndex(_ path: String) {
        indexQueue.async { [self] in
            do {
                let index = try ActivationIndex(path: path)
                let scan = try index.scan()
                guard !scan.stale else {
                    throw IndexError("\(path): its last scan did not finish; run :scan on its folder to complete it")
                }
                withShared {
                    $0.index = index
                    $0.scan = scan
                    $0.centroids = nil
                    $0.mismatch = nil
                }
                mailbox.post(.catalogLoaded(try catalog(index: index, scan: scan)))
                checkModelMatch()
            } catch {
                mailbox.post(.catalogFailed("\(error)"))
            }
        }
    }

    /// Says so once when the index was scanned with another model than the open one: its
    /// activations and labels are that model's; search by meaning and zero-shot would mix the two.
    func checkModelMatch() {
        let warning = withShared { shared -> String? in
            guard shared.mismatch == nil, let fingerprint = shared.modelFingerprint, let scan = shared.scan,
                  scan.model.fingerprint != fingerprint else { return nil }
            let text = "\((shared.index?.path as NSString?)?.lastPathComponent ?? "the index") was scanned with model "
                + "\(scan.model.name) (\(scan.model.fingerprint)), not the open model \(options.model): "
                + "its neurons are that model's; open it with --model \(scan.model.name) to search by meaning"
            shared.mismatch = text
            return text
        }
        if let warning { mailbox.post(.message(warning, isError: true)) }
    }

    func catalog(index: ActivationIndex, scan: ScanInfo) throws -> NeuronCatalog {
        var labels: [Int: NeuronLabel] = [:]
        for label in try index.labels(scan: scan) { labels[label.neuron] = label }
        let notes = try index.userLabels(fingerprint: scan.model.fingerprint)
        let stars = try index.stars(fingerprint: scan.model.fingerprint)
        var rows: [NeuronRow] = [], topEntries: [[Int64]] = []
        rows.reserveCapacity(scan.model.neurons)
        for neuron in 0..<scan.model.neurons {
            let summary = try index.summary(scan: scan, neuron: neuron)
            let label = labels[neuron]
            rows.append(NeuronRow(neuron: neuron, label: label?.label, labelSource: label.flatMap { LabelSource(rawValue: $0.source) },
                                  note: notes[neuron]?.note ?? nil, starred: stars.contains(neuron),
                                  top: Float(summary.stats.max), topValues: summary.top.prefix(25).map(\.value)))
            topEntries.append(summary.top.prefix(ConceptPurity.defaultTop).map(\.entry))
        }
        // A toy gallery's file names say what each scene shows: mark its clean concept neurons.
        let entries = try index.entries(ids: Array(Set(topEntries.joined())))
        let shown = topEntries.map { ids in ids.map { entries[$0].flatMap { ShownConcepts(fileName: ($0.path as NSString).lastPathComponent) } } }
        if shown.joined().contains(where: { $0 != nil }) {
            for concept in ConceptPurity(topLists: shown, images: scan.imageCount).cleanConcepts { rows[concept.neuron].concept = concept.concept }
        }
        return NeuronCatalog(indexPath: index.path, scan: scan, rows: rows)
    }

    func saveLabel(_ neuron: Int, label: String?, note: String?) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            do {
                try index.setUserLabel(fingerprint: scan.model.fingerprint, neuron: neuron, label: label, note: note)
            } catch {
                mailbox.post(.message("could not save the label: \(error)", isError: true))
            }
        }
    }

    func setStar(_ neuron: Int, starred: Bool) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            do { try index.setStar(fingerprint: scan.model.fingerprint, neuron: neuron, starred: starred) } catch {
                mailbox.post(.message("could not save the star: \(error)", isError: true))
            }
        }
    }

    func loadCard(_ neuron: Int) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            do {
                let summary = try index.summary(scan: scan, neuron: neuron)
                let ids = (summary.top.prefix(25) + summary.bottom.prefix(25)).map(\.entry)
                let entries = try index.entries(ids: ids)
                func images(_ ranked: ArraySlice<RankedEntry>) -> [RankedImage] {
                    ranked.compactMap { item in
                        entries[item.entry].map { RankedImage(path: $0.path, category: $0.category, value: item.value) }
                    }
                }
                mailbox.post(.cardLoaded(CardData(
                    neuron: neuron, top: images(summary.top.prefix(25)), bottom: images(summary.bottom.prefix(25)),
                    stats: summary.stats, categories: try index.categories(scan: scan, neuron: neuron), bins: summary.bins,
                    visualization: visualization(of: neuron))))
            } catch {
                mailbox.post(.message("neuron \(neuron): \(error)", isError: true))
            }
        }
    }

    func openImage(_ path: String) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            var neurons: [(neuron: Int, value: Float)] = []
            if let activations = try? index.activations(scan: scan.id, path: path)?.activations {
                let ranked = activations.indices.sorted { activations[$0] > activations[$1] }.prefix(40)
                neurons = ranked.map { (neuron: $0, value: activations[$0]) }
            }
            mailbox.post(.imageDetails(ImageDetails(path: path, neurons: neurons, zeroShot: [])))
            classify(path, neurons: neurons)
        }
    }

    /// Zero-shot top-5 of an image: the toy vocabulary for the toy model, ImageNet's classes otherwise.
    /// Writes the neuron's top images as the PNG `clipscope top -o` draws, beside the index.
    func export(_ neuron: Int) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            let folder = ((index.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("exports")
            let path = (folder as NSString).appendingPathComponent("neuron-\(neuron).png")
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let picture = try NeuronPictures.ranked(index: index, scan: scan, neuron: neuron, font: try Font.standard())
                try picture.writePNG(path: path)
                mailbox.post(.message("wrote \(path)", isError: false))
            } catch {
                mailbox.post(.message("could not export neuron \(neuron): \(error)", isError: true))
            }
        }
    }


    // MARK: Run folders

    /// Every neuron's newest visualization among the runs (newest first): one listing per run folder.
    static func visualizations(in runs: [PastRun]) -> [Int: String] {
        var found: [Int: String] = [:]
        for run in runs where JobKind(named: run.state.kind) == .visualize {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: run.folder)) ?? [] {
                guard name.hasPrefix("neuron-"), name.hasSuffix(".png"),
                      let neuron = Int(name.dropFirst("neuron-".count).dropLast(".png".count)), found[neuron] == nil else { continue }
                found[neuron] = VisualizeJob.picturePath(folder: run.folder, neuron: neuron)
            }
        }
        return found
    }

    /// The newest picture of a neuron among the visualization runs found under the runs
    /// directory: from the last listing, or listed again when that has none (it may have
    /// finished since).
    func visualization(of neuron: Int) -> String? {
        if let known = withShared({ $0.visualizations?[neuron] }) { return known }
        return Self.visualizations(in: withShared { $0.runs ?? [] })[neuron]
    }

    /// Reads the run folders under the runs directory; posts them when they changed.
    func listRuns() {
        let (found, unreadable) = RunFolder.list(in: options.runs, cache: recordCache)
        let runs = found.map { folder, record in
            PastRun(folder: folder.path, state: record.jobState(folder: folder.path),
                    resumable: JobCatalog.resumes(kind: record.kind))
        }
        let (changed, newlyUnreadable) = withShared { shared -> (Bool, [(path: String, error: String)]) in
            let changed = shared.runs != runs
            shared.runs = runs
            let fresh = unreadable.filter { !shared.reportedUnreadable.contains($0.path) }
            shared.reportedUnreadable.formUnion(fresh.map(\.path))
            return (changed, fresh)
        }
        if changed { mailbox.post(.runsFound(runs)) }
        // Runs of other processes (another app's runners, a command, a Slurm task) show live too.
        for run in runs where !run.state.status.isTerminal { follow(folder: run.folder, runner: nil) }
        let pictures = Self.visualizations(in: runs)
        if withShared({ shared -> Bool in
            defer { shared.visualizations = pictures }
            return shared.visualizations != pictures
        }) {
            mailbox.post(.visualizationsFound(pictures))
        }
        for item in newlyUnreadable { mailbox.post(.message("skipped run folder \(item.error)", isError: true)) }
    }

}
