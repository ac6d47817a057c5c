import Assets
import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Jobs
import Support
import Synchronization
import Terminal
import ToyWorld

/// Where the app's data comes from, and what it opens with.
public struct AppOptions: Sendable {
    public var model: String
    /// The index to open; nil: the toy model's demo index, or none for other models.
    public var index: String?
    /// A folder to scan on start (into `index`, or a new index in the folder).
    public var scan: String?
    /// How pictures are drawn (`App.run` asks the terminal what it can do with this).
    public var graphics: GraphicsMode
    /// Where the toy demo lives (default `ToyDemo.defaultDirectory()`).
    public var demoDirectory: String?
    /// Scenes in a demo gallery the app builds (tests make small ones).
    public var demoScenes: Int
    /// Where run folders are listed from (the jobs pane).
    public var runs: String
    /// Colours of each sixel picture (fewer for slow links).
    public var sixelColors = 256

    public init(model: String, index: String?, scan: String?, graphics: GraphicsMode, demoDirectory: String? = nil,
                demoScenes: Int = ToyDemo.galleryCount, runs: String = RunFolder.defaultRunsDirectory()) {
        self.runs = runs
        self.model = model
        self.index = index
        self.scan = scan
        self.graphics = graphics
        self.demoDirectory = demoDirectory
        self.demoScenes = demoScenes
    }

    /// The same with the graphics as the command line spells them (`auto` when unknown).
    public init(model: String, index: String?, scan: String?, graphics: String, demoDirectory: String? = nil,
                demoScenes: Int = ToyDemo.galleryCount, runs: String = RunFolder.defaultRunsDirectory()) {
        self.init(model: model, index: index, scan: scan, graphics: GraphicsMode(rawValue: graphics) ?? .auto,
                  demoDirectory: demoDirectory, demoScenes: demoScenes, runs: runs)
    }
}

/// The app's background work: loading the model and the index, cards, searches and
/// jobs. Nothing here touches the terminal; every answer is an event in the mailbox.
/// Index reads run on one serial queue, model calls on their own threads through the
/// compute executor (interactive, so they go before queued job steps).
public final class Backend: @unchecked Sendable {
    let options: AppOptions
    let mailbox: Mailbox
    let executor: ComputeExecutor
    private let indexQueue = DispatchQueue(label: "clipscope.tui.index")

    private struct Shared {
        var index: ActivationIndex?
        var scan: ScanInfo?
        var model: CLIPModel?
        var centroids: [Int: [Float]]?
        var classifier: ZeroShotClassifier?
        var cancels: [UUID: CancellationToken] = [:]
        var waits: [UUID: @Sendable () -> Void] = [:]
        var restarts: [UUID: @Sendable () -> Void] = [:]
        var runs: [PastRun]?
        var visualizations: [Int: String]?
        /// The open model's fingerprint, and whether the index's model was found to differ.
        var modelFingerprint: String?
        var mismatch: String?
        var quitting = false
        var reportedUnreadable: Set<String> = []
    }
    // Guarded by `lock`; the model inside is used only under `executor.run`.
    private let lock = NSLock()
    private var shared = Shared()
    let labWorker = AttackLabWorker()

    public init(options: AppOptions, mailbox: Mailbox, executor: ComputeExecutor = .shared) {
        self.options = options
        self.mailbox = mailbox
        self.executor = executor
    }

    private func withShared<T>(_ body: (inout Shared) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&shared)
    }

    var isToy: Bool { options.model.lowercased() == ModelLocator.toyName }

    var demo: ToyDemo { ToyDemo(directory: options.demoDirectory ?? ToyDemo.defaultDirectory()) }

    // MARK: Start

    /// Loads the model and opens (or builds) the index, all in the background; keeps the
    /// list of run folders fresh.
    public func start() {
        thread("clipscope.tui.runs") { [self] in
            while !withShared({ $0.quitting }) {
                listRuns()
                Thread.sleep(forTimeInterval: 2)
            }
        }
        thread("clipscope.tui.model") { [self] in
            do {
                let model = try CLIPModel.shared(model: options.model, executor: executor)
                let (neurons, fingerprint) = executor.run(.interactive) { (model.config.neuronCount, model.identity.fingerprint) }
                withShared {
                    $0.model = model
                    $0.modelFingerprint = fingerprint
                }
                mailbox.post(.modelLoaded(name: options.model, neurons: neurons))
                checkModelMatch()
            } catch {
                mailbox.post(.modelFailed("model \(options.model): \(error)"))
            }
        }
        if let folder = options.scan {
            startScan(folder: folder)
        } else if let index = options.index {
            openIndex(index)
        } else if isToy {
            buildDemo()
        } else {
            mailbox.post(.catalogFailed("no index: give --index, or scan a folder of images with :scan DIR"))
        }
    }

    /// The demo of the toy model: gallery, scan and labels from the toy vocabulary, each a
    /// visible job, then the index opens. An existing demo opens at once.
    func buildDemo() {
        let demo = self.demo
        if demo.galleryIsComplete, FileManager.default.fileExists(atPath: demo.indexPath),
           let index = try? ActivationIndex(path: demo.indexPath, readOnly: true), let scan = try? index.scan(), !scan.stale, scan.imageCount > 0 {
            openIndex(demo.indexPath)
            return
        }
        mailbox.post(.demoBuilding)
        thread("clipscope.tui.demo") { [self] in
            let gallery = ToyGallery(output: demo.galleryPath, count: options.demoScenes,
                                     resolution: ToyTrainJob.defaultConfig.imageResolution)
            guard demo.galleryIsComplete || run(gallery) else { return }
            guard run(demo.scanJob(model: options.model)) else { return }
            guard run(LabelJob(model: options.model, index: demo.indexPath, scan: nil, neurons: nil,
                               words: ToyWorld.words, template: "a photo of {}.", topK: 10)) else { return }
            openIndex(demo.indexPath)
            mailbox.post(.message("the demo is ready; :atlas visualizes every neuron in the background (about 15 minutes), v one", isError: false))
        }
    }

    /// Runs a job to its end on its own thread (this one waits); true when it finished.
    @discardableResult
    func run<Spec: JobSpec>(_ spec: Spec) -> Bool {
        if case .finished = start(spec).wait() { return true }
        return false
    }

    /// Starts a job whose events go to the mailbox; it can be cancelled from the jobs pane.
    func start<Spec: JobSpec>(_ spec: Spec, restart: (@Sendable () -> Void)? = nil) -> JobHandle<Spec> {
        let mailbox = self.mailbox
        let token = CancellationToken()
        let handle = JobRunner.start(spec, token: token, executor: executor) { id, event in mailbox.post(.job(id, event)) }
        withShared {
            $0.cancels[handle.info.id] = token
            $0.waits[handle.info.id] = { _ = handle.wait() }
            if let restart { $0.restarts[handle.info.id] = restart }
        }
        return handle
    }

    /// Scans a folder into the open index (or a new one in the folder), then reopens it.
    func startScan(folder: String) {
        let indexPath = withShared { $0.index?.path } ?? options.index
            ?? (folder as NSString).appendingPathComponent("clipscope.index")
        let job = ScanJob(model: options.model, folders: [folder], index: indexPath, batchSize: 16, storeEmbeddings: true)
        thread("clipscope.tui.scan") { [self] in
            let handle = start(job, restart: { [self] in startScan(folder: folder) })
            if case .finished = handle.wait() { openIndex(indexPath) }
        }
    }

    // MARK: Run folders

    /// Kinds of run the app can start again from their folder's record (they continue from
    /// their last checkpoint); nil for kinds it cannot.
    func restart(kind: String, parameters: Data, folder: String) throws -> (@Sendable () -> Void)? {
        /// The job decoded from its record, in the folder where it is now (it may have moved).
        func resume<Spec: JobSpec>(_ type: Spec.Type, _ place: (inout Spec) -> Void) throws -> @Sendable () -> Void {
            var job = try JSONDecoder().decode(type, from: parameters)
            place(&job)
            return { [self, job] in _ = start(job, restart: { [self] in resumeRun(folder) }) }
        }
        switch kind {
        case ToyTrainJob.kind: return try resume(ToyTrainJob.self) { $0.output = folder }
        case DreamJob.kind: return try resume(DreamJob.self) { $0.output = folder }
        case MaxTextJob.kind: return try resume(MaxTextJob.self) { $0.output = folder }
        case VisualizeJob.kind: return try resume(VisualizeJob.self) { $0.output = folder }
        default: return nil
        }
    }

    /// Starts a feature visualization of one neuron into `<runs>/visualize-N-variant[-hash]`
    /// (the folder `clipscope visualize` uses for the same settings, so either continues the
    /// other's run).
    func visualize(neuron: Int, recipe: VisualizeRecipe, tweaks: VisualizeTweaks) {
        let settings = tweaks.applied(to: recipe.settings)
        let folder = (options.runs as NSString).appendingPathComponent(VisualizeJob.folderName(neurons: [neuron], settings: settings))
        let job = VisualizeJob(model: options.model, neurons: [neuron], settings: settings, output: folder)
        _ = start(job, restart: { [self] in visualize(neuron: neuron, recipe: recipe, tweaks: tweaks) })
    }

    /// Maximal text for a neuron's top 10 images into `<runs>/maxtext-neuron-N` (the folder
    /// `clipscope maxtext --index I --neuron N` uses).
    func maxText(neuron: Int) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            do {
                let paths = try index.ranking(scan: scan, neuron: neuron, k: 10).map(\.entry.path)
                let folder = (options.runs as NSString).appendingPathComponent("maxtext-neuron-\(neuron)")
                let job = MaxTextJob(model: options.model, images: paths, settings: MaximalTextSettings(),
                                     vocabulary: isToy ? ToyWorld.words : nil, output: folder)
                _ = start(job, restart: { [self] in maxText(neuron: neuron) })
            } catch {
                mailbox.post(.message("maxtext for neuron \(neuron): \(error)", isError: true))
            }
        }
    }

    /// Every neuron's newest visualization among the runs (newest first): one listing per run folder.
    static func visualizations(in runs: [PastRun]) -> [Int: String] {
        var found: [Int: String] = [:]
        for run in runs where run.state.kind == VisualizeJob.kind {
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
        let (found, unreadable) = RunFolder.list(in: options.runs)
        let runs = found.map { folder, record in
            PastRun(folder: folder.path, state: record.jobState(folder: folder.path),
                    resumable: (try? restart(kind: record.kind, parameters: record.parameters.data, folder: folder.path)) != nil)
        }
        let (changed, newlyUnreadable) = withShared { shared -> (Bool, [(path: String, error: String)]) in
            let changed = shared.runs != runs
            shared.runs = runs
            let fresh = unreadable.filter { !shared.reportedUnreadable.contains($0.path) }
            shared.reportedUnreadable.formUnion(fresh.map(\.path))
            return (changed, fresh)
        }
        if changed { mailbox.post(.runsFound(runs)) }
        let pictures = Self.visualizations(in: runs)
        if withShared({ shared -> Bool in
            defer { shared.visualizations = pictures }
            return shared.visualizations != pictures
        }) {
            mailbox.post(.visualizationsFound(pictures))
        }
        for item in newlyUnreadable { mailbox.post(.message("skipped run folder \(item.error)", isError: true)) }
    }

    /// Starts a run folder's job again from its record.
    func resumeRun(_ folder: String) {
        do {
            let record = try RunFolder(path: folder).read()
            guard let start = try restart(kind: record.kind, parameters: record.parameters.data, folder: folder) else {
                mailbox.post(.message("\(record.kind) runs cannot be started again from here", isError: false))
                return
            }
            start()
            mailbox.post(.message("\(record.kind) continues in \(folder)", isError: false))
        } catch {
            mailbox.post(.message("\(folder): cannot resume it: \(error)", isError: true))
        }
    }

    // MARK: The index

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

    var opened: (index: ActivationIndex, scan: ScanInfo)? {
        withShared { shared in shared.index.flatMap { index in shared.scan.map { (index, $0) } } }
    }

    // MARK: Effects

    /// Does what a state change asked for, off the UI thread.
    public func perform(_ effect: Effect) {
        switch effect {
        case let .loadCard(neuron): loadCard(neuron)
        case let .openImage(path): openImage(path)
        case let .saveLabel(neuron, label, note):
            indexQueue.async { [self] in
                guard let (index, scan) = opened else { return }
                do {
                    try index.setUserLabel(fingerprint: scan.model.fingerprint, neuron: neuron, label: label, note: note)
                } catch {
                    mailbox.post(.message("could not save the label: \(error)", isError: true))
                }
            }
        case let .setStar(neuron, starred):
            indexQueue.async { [self] in
                guard let (index, scan) = opened else { return }
                do { try index.setStar(fingerprint: scan.model.fingerprint, neuron: neuron, starred: starred) } catch {
                    mailbox.post(.message("could not save the star: \(error)", isError: true))
                }
            }
        case let .searchByMeaning(query): search(query)
        case let .startScan(folder):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                mailbox.post(.message("\(folder): no such folder", isError: true))
                return
            }
            startScan(folder: folder)
        case let .cancelJob(id):
            withShared { $0.cancels[id] }?.cancel()
        case let .resumeJob(id):
            if let restart = withShared({ $0.restarts[id] }) {
                restart()
            } else {
                mailbox.post(.message("this kind of job cannot run again from here", isError: false))
            }
        case let .exportCard(neuron): export(neuron)
        case let .visualize(neuron, recipe, tweaks): visualize(neuron: neuron, recipe: recipe, tweaks: tweaks)
        case let .atlas(neurons, steps):
            var settings = VisualizationSettings(variant: .direct)
            settings.steps = steps
            let name = (options.model as NSString).lastPathComponent.split(separator: ".").first.map(String.init) ?? "model"
            var job = VisualizeJob(model: options.model, neurons: Array(neurons), settings: settings,
                                   output: (options.runs as NSString).appendingPathComponent("atlas-\(name)-\(neurons.lowerBound)-\(neurons.upperBound)"
                                                                             + (steps == AppState.atlasSteps ? "" : "-steps-\(steps)")))
            job.batchSize = 16
            _ = start(job, restart: { [self] in perform(.atlas(neurons: neurons, steps: steps)) })
        case let .dream(neuron):
            let job = DreamJob(model: options.model, neuron: neuron, settings: DreamSettings(), start: nil,
                               output: (options.runs as NSString).appendingPathComponent("dream-\(neuron)"))
            _ = start(job, restart: { [self] in perform(.dream(neuron: neuron)) })
        case let .maxText(neuron):
            if withShared({ $0.mismatch }) != nil {
                mailbox.post(.message("maximal text needs the index's own model (see the log)", isError: true))
            } else {
                maxText(neuron: neuron)
            }
        case let .resumeRun(folder): resumeRun(folder)
        case let .rescoreAttack(request):
            labWorker.submit(request) { thread("clipscope.tui.attack-lab") { [self] in attackLabLoop() } }
        case let .saveAttack(imagePath, text, style):
            let (labels, template) = attackLabels
            let stem = ((imagePath as NSString).lastPathComponent as NSString).deletingPathExtension
            let slug = String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(24))
            let job = AttackJob(model: options.model, image: imagePath, text: text, style: style, labels: labels, template: template,
                                output: (options.runs as NSString).appendingPathComponent("attack-\(stem)-\(slug)"))
            _ = start(job, restart: { [self] in perform(effect) })
        case .stroop:
            let name = ((options.model as NSString).lastPathComponent as NSString).deletingPathExtension
            let job = StroopJob(model: options.model, settings: isToy ? ToyStroop.settings : .paper,
                                output: (options.runs as NSString).appendingPathComponent("stroop-\(name)"))
            _ = start(job, restart: { [self] in perform(.stroop) })
        case let .gap(source): gap(source)
        case .quit:
            for token in withShared({ $0.quitting = true; return Array($0.cancels.values) }) { token.cancel() }
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
    func classify(_ path: String, neurons: [(neuron: Int, value: Float)]) {
        thread("clipscope.tui.classify") { [self] in
            guard let model = withShared({ $0.model }) else { return }
            do {
                let top = try executor.run(.interactive) { () -> [(label: String, probability: Float)] in
                    let classifier = try withShared({ $0.classifier }) ?? ZeroShotClassifier(
                        model: model, labels: isToy ? ToyWorld.words : EmbeddedAssets.imageNetLabels,
                        template: isToy ? "a {}" : "a photo of a {}.")
                    withShared { $0.classifier = classifier }
                    let pixels = model.pixels([try DecodedImage.load(path: path)])
                    return classifier.ranked(classifier.probabilities(model.encodeImages(pixels)).rows()[0], top: 5)
                }
                mailbox.post(.imageDetails(ImageDetails(path: path, neurons: neurons, zeroShot: top)))
            } catch {
                mailbox.post(.message("\(path): \(error)", isError: true))
            }
        }
    }

    /// Ranks neurons by the cosine between the query's text embedding and each neuron's
    /// centroid of its top images' embeddings (stored by the scan, or computed once).
    func search(_ query: String) {
        thread("clipscope.tui.search") { [self] in
            guard let model = withShared({ $0.model }), let (index, scan) = opened else { return }
            if let mismatch = withShared({ $0.mismatch }) {
                mailbox.post(.message("search by meaning needs the index's own model: " + mismatch, isError: true))
                return
            }
            do {
                let centroids = try withShared({ $0.centroids }) ?? computeCentroids(model: model, index: index, scan: scan)
                withShared { $0.centroids = centroids }
                let text = try executor.run(.interactive) { try model.embedTexts([query]).l2Normalized().values }
                let scores = centroids.map { neuron, centroid in
                    (neuron: neuron, score: zip(text, centroid).reduce(Float(0)) { $0 + $1.0 * $1.1 })
                }.sorted { $0.score > $1.score }
                mailbox.post(.searchResults(query: query, neurons: scores))
            } catch {
                mailbox.post(.message("search by meaning: \(error)", isError: true))
            }
        }
    }

    func computeCentroids(model: CLIPModel, index: ActivationIndex, scan: ScanInfo) throws -> [Int: [Float]] {
        if scan.embeddingCount < scan.imageCount {
            mailbox.post(.message("embedding the top images of every neuron once (the scan stored no embeddings) ...", isError: false))
        }
        let labeler = try NeuronLabeler(model: model, index: index, scan: scan)
        var centroids: [Int: [Float]] = [:]
        for neuron in 0..<scan.model.neurons {
            centroids[neuron] = try executor.run(.interactive) { try labeler.centroid(neuron: neuron, topK: 10) }
        }
        return centroids
    }

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

    /// Waits until every job this app started has stopped (they stop at their next step
    /// once cancelled, their work committed), `seconds` at most.
    public func waitForJobs(seconds: Double) {
        let waits = withShared { Array($0.waits.values) }
        let done = DispatchSemaphore(value: 0)
        thread("clipscope.tui.wait") {
            for wait in waits { wait() }
            done.signal()
        }
        _ = done.wait(timeout: .now() + seconds)
    }

    /// The modality gap of a folder or CSV of captioned images, or of the toy's own scenes.
    func gap(_ source: String?) {
        let name = source.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "toy"
        let folder = (options.runs as NSString).appendingPathComponent("gap-\(name)")
        var job = GapJob(model: options.model, directory: nil, csv: nil, output: folder)
        if let source {
            if (source as NSString).pathExtension.lowercased() == "csv" { job.csv = source } else { job.directory = source }
        } else if !isToy {
            mailbox.post(.message("usage: :gap DIR (a folder of images named by their captions) or :gap FILE.csv", isError: true))
            return
        }
        thread("clipscope.tui.gap") { [self, job] in
            var job = job
            do {
                if source == nil {
                    job.pairs = try ToyGapScenes.write(resolution: ToyTrainJob.defaultConfig.imageResolution,
                                                       folder: (folder as NSString).appendingPathComponent("scenes"))
                }
                _ = try job.resolvedPairs()
                _ = start(job, restart: { [self] in gap(source) })
            } catch {
                mailbox.post(.message("gap: \(error)", isError: true))
            }
        }
    }

    /// The lab's labels and prompt: the toy's words, or ImageNet's classes.
    var attackLabels: (labels: [String], template: String) {
        isToy ? (ToyAttackDefaults.labels, ToyAttackDefaults.template) : (EmbeddedAssets.imageNetLabels, "This is a photo of a {}")
    }

    /// The lab's evaluator: one request at a time, the newest, on this thread for good.
    func attackLabLoop() {
        var session: AttackLabSession?
        while !withShared({ $0.quitting }) {
            let request = labWorker.next()
            do {
                guard let model = withShared({ $0.model }) else { continue }
                if session == nil {
                    let (labels, template) = attackLabels
                    if !isToy { mailbox.post(.message("embedding the \(labels.count) labels once ...", isError: false)) }
                    let scorer = try executor.run(.interactive) { try AttackScorer(model: model, labels: labels, template: template) }
                    session = AttackLabSession(painter: AttackPainter(font: try Font.standard()), scorer: scorer,
                                               defaultSize: isToy ? ToyAttackDefaults.size : nil)
                }
                if let result = try session!.evaluate(request, executor: executor, isStale: labWorker.isStale) {
                    mailbox.post(.attackScored(result))
                }
            } catch {
                mailbox.post(.message("attack lab: \(request.imagePath): \(error)", isError: true))
            }
        }
    }

    func thread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.stackSize = JobRunner.stackSize
        thread.start()
    }
}
