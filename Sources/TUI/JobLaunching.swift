import Experiments
import Foundation
import Index
import Jobs
import ToyWorld
import Workbench

/// Every job the app launches, in one place: the specs and run folders the effects ask for
/// (`JobRequests`, pure: the `Workbench`'s request builders, so `clipscope` builds the same
/// job into the same folder), how the backend starts them, and which run folders can be
/// started again (`JobCatalog.resume`).
enum JobRequests {
    /// A scan of a folder into the open index (or a new one in the folder).
    static func scan(folder: String, index: String?, options: AppOptions, _ workbench: Workbench) -> ScanJob {
        workbench.scan(folder: folder, index: index ?? options.index)
    }

    /// A feature visualization of one neuron from a preset (`VisualizationPresets`) into
    /// `<runs>/visualize-N-variant[-hash]` (the folder `clipscope visualize` uses for the same settings).
    static func visualize(neuron: Int, recipe: VisualizeRecipe, tweaks: VisualizeTweaks, _ workbench: Workbench) -> VisualizeJob {
        workbench.visualize(neurons: [neuron], settings: tweaks.applied(to: recipe.settings))
    }

    /// Every neuron of a range visualized, 16 a batch, into `<runs>/atlas-<model>-FIRST-LAST[-steps-S]`.
    static func atlas(neurons: ClosedRange<Int>, steps: Int, _ workbench: Workbench) -> VisualizeJob {
        workbench.atlas(neurons: neurons, steps: steps)
    }

    static func dream(neuron: Int, _ workbench: Workbench) -> DreamJob { workbench.dream(neuron: neuron) }

    /// Maximal text for a neuron's top images into `<runs>/maxtext-neuron-N` (the profile's vocabulary).
    static func maxText(neuron: Int, images: [String], _ workbench: Workbench) -> MaxTextJob {
        workbench.maxText(.neuron(neuron, topImages: images))
    }

    /// The lab's attacked image and its scores into `<runs>/attack-<image>-<text>` (the profile's labels and prompt).
    static func attack(imagePath: String, text: String, style: AttackStyle, _ workbench: Workbench) -> AttackJob {
        workbench.attack(image: imagePath, text: text, style: style)
    }

    static func stroop(_ workbench: Workbench) throws -> StroopJob { try workbench.stroop() }

    /// Where `:gap` takes its pairs: a folder or CSV, or (nil) the model's own scenes; nil
    /// when the model has none.
    static func gapSource(_ source: String?, _ workbench: Workbench) -> Workbench.GapSource? {
        if let source { return Workbench.GapSource(path: source) }
        return workbench.profile.hasOwnScenes ? .toyScenes(count: 200) : nil
    }
}

/// Starts a recorded spec (of a type known only at run time) as one of the app's jobs.
struct BackendStarter: JobStarter {
    let backend: Backend
    let folder: String

    func start<Spec: JobSpec>(_ spec: Spec) {
        backend.launchJob(spec, restart: { [backend, folder] in backend.resumeRun(folder) })
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
            start(JobRequests.visualize(neuron: neuron, recipe: recipe, tweaks: tweaks, workbench), again: effect)
        case let .atlas(neurons, steps):
            start(JobRequests.atlas(neurons: neurons, steps: steps, workbench), again: effect)
        case let .dream(neuron):
            start(JobRequests.dream(neuron: neuron, workbench), again: effect)
        case let .maxText(neuron):
            if withShared({ $0.mismatch }) != nil {
                mailbox.post(.message("maximal text needs the index's own model (see the log)", isError: true))
            } else {
                maxText(neuron: neuron)
            }
        case let .saveAttack(imagePath, text, style):
            start(JobRequests.attack(imagePath: imagePath, text: text, style: style, workbench), again: effect)
        case .stroop:
            do {
                start(try JobRequests.stroop(workbench), again: effect)
            } catch {
                mailbox.post(.message("stroop: \(error)", isError: true))
            }
        case let .gap(source): gap(source)
        default: break
        }
    }

    /// Starts a job whose events go to the mailbox; it can be cancelled from the jobs pane,
    /// and R starts `again` (the same effect) once it stopped.
    func start<Spec: JobSpec>(_ spec: Spec, again effect: Effect) {
        launchJob(spec, restart: { [self] in launch(effect) })
    }

    /// Starts a job: one that keeps a run folder in a runner process of its own (it outlives
    /// the app and the terminal), the others (index work) on a thread of the app's.
    func launchJob<Spec: JobSpec>(_ spec: Spec, restart: (@Sendable () -> Void)? = nil) {
        guard JobCatalog.entry(named: Spec.kind)?.writesRunFolder == true, let folder = spec.runFolder else {
            _ = start(spec, restart: restart)
            return
        }
        do {
            let pid = try DetachedRuns.launch(spec, folder: folder, executable: Self.executable)
            follow(folder: folder, runner: pid, restart: restart)
        } catch {
            mailbox.post(.message("\(Spec.kind): \(error)", isError: true))
        }
    }

    /// This program, which the runners are too.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Shows a run folder that a runner (ours, `runner`, or another process's) writes as one of
    /// the app's jobs, until it ends; reaps our runner when it exits.
    func follow(folder: String, runner: pid_t?, restart: (@Sendable () -> Void)? = nil) {
        let follower = UUID()
        guard withShared({ shared -> Bool in
            guard shared.followed[folder] == nil else { return false }
            shared.followed[folder] = follower
            return true
        }) else { return }
        let mailbox = self.mailbox
        thread("clipscope.tui.follow") { [self] in
            let watcher = RunWatcher(folder: folder, writer: runner)
            var id: UUID?
            var runnerEnded = runner == nil
            while !watcher.ended, !withShared({ $0.quitting }) {
                if let runner, !runnerEnded {
                    var status: Int32 = 0
                    runnerEnded = waitpid(runner, &status, WNOHANG) == runner
                }
                if let (runID, events) = watcher.poll() {
                    if id != runID {
                        id = runID
                        withShared {
                            $0.detached[runID] = folder
                            if let restart { $0.restarts[runID] = restart }
                        }
                        mailbox.post(.jobDetached(runID))
                    }
                    for event in events { mailbox.post(.job(runID, event)) }
                } else if runnerEnded {
                    // The runner ended without a record: its log says why.
                    let log = (try? String(contentsOfFile: (folder as NSString).appendingPathComponent(DetachedRuns.logFile), encoding: .utf8)) ?? ""
                    mailbox.post(.message("\(folder): the runner ended: \(log.split(separator: "\n").last ?? "no log")", isError: true))
                    break
                }
                Thread.sleep(forTimeInterval: 0.25)
            }
            if let runner, !runnerEnded, watcher.ended {
                var status: Int32 = 0
                waitpid(runner, &status, 0)
            }
            withShared { if $0.followed[folder] == follower { $0.followed[folder] = nil } }
        }
    }

    func cancelDetached(_ folder: String) {
        do {
            mailbox.post(.message(try DetachedRuns.cancel(folder: folder), isError: false))
        } catch {
            mailbox.post(.message("\(error)", isError: true))
        }
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
        let job = JobRequests.scan(folder: folder, index: withShared { $0.index?.path }, options: options, workbench)
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
                let paths = try Workbench.topImages(index: index, scan: scan, neuron: neuron)
                start(JobRequests.maxText(neuron: neuron, images: paths, workbench), again: .maxText(neuron: neuron))
            } catch {
                mailbox.post(.message("maxtext for neuron \(neuron): \(error)", isError: true))
            }
        }
    }

    /// The modality gap; the toy's scenes are drawn first (on the job's own thread).
    func gap(_ source: String?) {
        guard let pairs = JobRequests.gapSource(source, workbench) else {
            mailbox.post(.message("usage: :gap DIR (a folder of images named by their captions) or :gap FILE.csv", isError: true))
            return
        }
        thread("clipscope.tui.gap") { [self] in
            do {
                start(try workbench.gap(pairs), again: .gap(source))
            } catch {
                mailbox.post(.message("gap: \(error)", isError: true))
            }
        }
    }

    // MARK: Run folders

    /// Starts a run folder's job again from its record.
    func resumeRun(_ folder: String) {
        do {
            let record = try RunFolder(path: folder).read()
            guard let run = try JobCatalog.resume(kind: record.kind, parameters: record.parameters.data, folder: folder) else {
                mailbox.post(.message("\(record.kind) runs cannot be started again from here", isError: false))
                return
            }
            run.start(with: BackendStarter(backend: self, folder: folder))
            mailbox.post(.message("\(record.kind) continues in \(folder)", isError: false))
        } catch {
            mailbox.post(.message("\(folder): cannot resume it: \(error)", isError: true))
        }
    }
}
