import Experiments
import Foundation
import Index
import Jobs
import ToyWorld

/// Every job the app launches, in one place (to be routed through the workbench): the specs
/// and run folders the effects ask for (`JobRequests`, pure), how the backend starts them, and
/// which kinds of run folder can be started again (`restart(kind:)`).
enum JobRequests {
    static func folder(_ options: AppOptions, _ name: String) -> String { (options.runs as NSString).appendingPathComponent(name) }

    /// The model's short name for folder names ("toy", "RN50x4").
    static func modelName(_ options: AppOptions) -> String {
        ((options.model as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// A scan of a folder into the open index (or a new one in the folder).
    static func scan(folder: String, index: String?, options: AppOptions) -> ScanJob {
        let indexPath = index ?? options.index ?? (folder as NSString).appendingPathComponent("clipscope.index")
        return ScanJob(model: options.model, folders: [folder], index: indexPath, batchSize: 16, storeEmbeddings: true)
    }

    /// A feature visualization of one neuron into `<runs>/visualize-N-variant[-hash]` (the folder
    /// `clipscope visualize` uses for the same settings, so either continues the other's run).
    static func visualize(neuron: Int, recipe: VisualizeRecipe, tweaks: VisualizeTweaks, options: AppOptions) -> VisualizeJob {
        let settings = tweaks.applied(to: recipe.settings)
        return VisualizeJob(model: options.model, neurons: [neuron], settings: settings,
                            output: folder(options, VisualizeJob.folderName(neurons: [neuron], settings: settings)))
    }

    /// Every neuron of a range visualized, 16 a batch, into `<runs>/atlas-<model>-FIRST-LAST[-steps-S]`.
    static func atlas(neurons: ClosedRange<Int>, steps: Int, options: AppOptions) -> VisualizeJob {
        var settings = VisualizationSettings(variant: .direct)
        settings.steps = steps
        let name = (options.model as NSString).lastPathComponent.split(separator: ".").first.map(String.init) ?? "model"
        var job = VisualizeJob(model: options.model, neurons: Array(neurons), settings: settings,
                               output: folder(options, "atlas-\(name)-\(neurons.lowerBound)-\(neurons.upperBound)"
                                   + (steps == AppState.atlasSteps ? "" : "-steps-\(steps)")))
        job.batchSize = 16
        return job
    }

    static func dream(neuron: Int, options: AppOptions) -> DreamJob {
        DreamJob(model: options.model, neuron: neuron, settings: DreamSettings(), start: nil, output: folder(options, "dream-\(neuron)"))
    }

    /// Maximal text for a neuron's top images into `<runs>/maxtext-neuron-N` (the folder
    /// `clipscope maxtext --index I --neuron N` uses).
    static func maxText(neuron: Int, images: [String], options: AppOptions) -> MaxTextJob {
        MaxTextJob(model: options.model, images: images, settings: MaximalTextSettings(),
                   vocabulary: options.isToy ? ToyWorld.words : nil, output: folder(options, "maxtext-neuron-\(neuron)"))
    }

    /// The lab's attacked image and its scores into `<runs>/attack-<image>-<text>`.
    static func attack(imagePath: String, text: String, style: AttackStyle, labels: [String], template: String, options: AppOptions) -> AttackJob {
        let stem = ((imagePath as NSString).lastPathComponent as NSString).deletingPathExtension
        let slug = String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(24))
        return AttackJob(model: options.model, image: imagePath, text: text, style: style, labels: labels, template: template,
                         output: folder(options, "attack-\(stem)-\(slug)"))
    }

    static func stroop(options: AppOptions) -> StroopJob {
        StroopJob(model: options.model, settings: options.isToy ? ToyStroop.settings : .paper, output: folder(options, "stroop-\(modelName(options))"))
    }

    /// The modality gap of a folder or CSV of captioned images, or (nil) of the toy's own
    /// scenes (written into the run folder before it starts); nil for another model without one.
    static func gap(source: String?, options: AppOptions) -> GapJob? {
        let name = source.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "toy"
        var job = GapJob(model: options.model, directory: nil, csv: nil, output: folder(options, "gap-\(name)"))
        if let source {
            if (source as NSString).pathExtension.lowercased() == "csv" { job.csv = source } else { job.directory = source }
        } else if !options.isToy {
            return nil
        }
        return job
    }
}

extension Backend {
    /// Starts the job an effect asks for.
    func launch(_ effect: Effect) {
        switch effect {
        case let .startScan(folder):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                mailbox.post(.message("\(folder): no such folder", isError: true))
                return
            }
            startScan(folder: folder)
        case let .visualize(neuron, recipe, tweaks):
            _ = start(JobRequests.visualize(neuron: neuron, recipe: recipe, tweaks: tweaks, options: options), again: effect)
        case let .atlas(neurons, steps):
            _ = start(JobRequests.atlas(neurons: neurons, steps: steps, options: options), again: effect)
        case let .dream(neuron):
            _ = start(JobRequests.dream(neuron: neuron, options: options), again: effect)
        case let .maxText(neuron):
            if withShared({ $0.mismatch }) != nil {
                mailbox.post(.message("maximal text needs the index's own model (see the log)", isError: true))
            } else {
                maxText(neuron: neuron)
            }
        case let .saveAttack(imagePath, text, style):
            let (labels, template) = attackLabels
            _ = start(JobRequests.attack(imagePath: imagePath, text: text, style: style, labels: labels, template: template, options: options),
                      again: effect)
        case .stroop:
            _ = start(JobRequests.stroop(options: options), again: effect)
        case let .gap(source): gap(source)
        default: break
        }
    }

    /// Starts a job whose events go to the mailbox; it can be cancelled from the jobs pane,
    /// and R starts `again` (the same effect) once it stopped.
    func start<Spec: JobSpec>(_ spec: Spec, again effect: Effect) -> JobHandle<Spec> {
        start(spec, restart: { [self] in launch(effect) })
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

    /// Runs a job to its end on its own thread (this one waits); true when it finished.
    @discardableResult
    func run<Spec: JobSpec>(_ spec: Spec) -> Bool {
        if case .finished = start(spec).wait() { return true }
        return false
    }

    var demo: ToyDemo { ToyDemo(directory: options.demoDirectory ?? ToyDemo.defaultDirectory()) }

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

    /// Scans a folder into the open index (or a new one in the folder), then reopens it.
    func startScan(folder: String) {
        let job = JobRequests.scan(folder: folder, index: withShared { $0.index?.path }, options: options)
        thread("clipscope.tui.scan") { [self] in
            let handle = start(job, restart: { [self] in startScan(folder: folder) })
            if case .finished = handle.wait() { openIndex(job.index) }
        }
    }

    /// Maximal text for a neuron's top 10 images (read from the index first).
    func maxText(neuron: Int) {
        indexQueue.async { [self] in
            guard let (index, scan) = opened else { return }
            do {
                let paths = try index.ranking(scan: scan, neuron: neuron, k: 10).map(\.entry.path)
                _ = start(JobRequests.maxText(neuron: neuron, images: paths, options: options), again: .maxText(neuron: neuron))
            } catch {
                mailbox.post(.message("maxtext for neuron \(neuron): \(error)", isError: true))
            }
        }
    }

    /// The modality gap; the toy's scenes are drawn first (on the job's own thread).
    func gap(_ source: String?) {
        guard let job = JobRequests.gap(source: source, options: options) else {
            mailbox.post(.message("usage: :gap DIR (a folder of images named by their captions) or :gap FILE.csv", isError: true))
            return
        }
        thread("clipscope.tui.gap") { [self, job] in
            var job = job
            do {
                if source == nil {
                    job.pairs = try ToyGapScenes.write(resolution: ToyTrainJob.defaultConfig.imageResolution,
                                                       folder: (job.output as NSString).appendingPathComponent("scenes"))
                }
                _ = try job.resolvedPairs()
                _ = start(job, again: .gap(source))
            } catch {
                mailbox.post(.message("gap: \(error)", isError: true))
            }
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
        switch JobKind(kind) {
        case .toyTrain: return try resume(ToyTrainJob.self) { $0.output = folder }
        case .dream: return try resume(DreamJob.self) { $0.output = folder }
        case .maxText: return try resume(MaxTextJob.self) { $0.output = folder }
        case .visualize: return try resume(VisualizeJob.self) { $0.output = folder }
        default: return nil
        }
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
}
