import CLIP
import Experiments
import Foundation
import Imaging
import Index
import Support
import Workbench

/// The backend's model calls, each on its own thread through the compute executor at
/// interactive priority (they go before queued job steps): loading the model, zero-shot of a
/// picture, search by meaning, and the attack lab's evaluator.
extension Backend {
    func loadModel() {
        do {
            let model = ExecutorBound(try CLIPModel.shared(model: options.model, executor: executor), executor: executor)
            let (neurons, fingerprint) = model.run(.interactive) { ($0.config.neuronCount, $0.identity.fingerprint) }
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

    /// Zero-shot top-5 of an image with the profile's classes and prompt (`clipscope classify`'s).
    func classify(_ path: String, neurons: [(neuron: Int, value: Float)]) {
        thread("clipscope.tui.classify") { [self] in
            guard let model = withShared({ $0.model }) else { return }
            do {
                let classifier = try withShared({ $0.classifier }) ?? ExecutorBound(model.run(.interactive) { model in
                    try ZeroShotClassifier(model: model, labels: profile.classLabels, template: profile.zeroShotTemplate)
                }, executor: executor)
                withShared { $0.classifier = classifier }
                let image = try DecodedImage.load(path: path)
                let top = model.run(.interactive) { model in
                    classifier.run(.interactive) { classifier in
                        classifier.ranked(classifier.probabilities(model.encodeImages(model.pixels([image]))).rows()[0], top: 5)
                    }
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
                let text = try model.run(.interactive) { try $0.embedTexts([query]).l2Normalized().values }
                let scores = centroids.map { neuron, centroid in
                    (neuron: neuron, score: zip(text, centroid).reduce(Float(0)) { $0 + $1.0 * $1.1 })
                }.sorted { $0.score > $1.score }
                mailbox.post(.searchResults(query: query, neurons: scores))
            } catch {
                mailbox.post(.message("search by meaning: \(error)", isError: true))
            }
        }
    }

    func computeCentroids(model: ExecutorBound<CLIPModel>, index: ActivationIndex, scan: ScanInfo) throws -> [Int: [Float]] {
        if scan.embeddingCount < scan.imageCount {
            mailbox.post(.message("embedding the top images of every neuron once (the scan stored no embeddings) ...", isError: false))
        }
        let labeler = ExecutorBound(try model.run(.interactive) { try NeuronLabeler(model: $0, index: index, scan: scan) }, executor: executor)
        var centroids: [Int: [Float]] = [:]
        // One neuron a call, so that queued job steps go in between.
        for neuron in 0..<scan.model.neurons {
            centroids[neuron] = try labeler.run(.interactive) { try $0.centroid(neuron: neuron, topK: 10) }
        }
        return centroids
    }

    /// The lab's labels and prompt: the profile's for one image (those `clipscope attack` uses).
    var attackLabels: (labels: [String], template: String) {
        (profile.attackLabels(batch: false), profile.zeroShotTemplate)
    }

    /// The lab's evaluator: one request at a time, the newest, on this thread for good (the
    /// session, with its scorer, never leaves it).
    func attackLabLoop() {
        var session: AttackLabSession?
        while !withShared({ $0.quitting }) {
            let request = labWorker.next()
            do {
                guard let model = withShared({ $0.model }) else { continue }
                if session == nil {
                    let (labels, template) = attackLabels
                    if labels.count > 100 { mailbox.post(.message("embedding the \(labels.count) labels once ...", isError: false)) }
                    let scorer = try model.run(.interactive) { try AttackScorer(model: $0, labels: labels, template: template) }
                    session = AttackLabSession(painter: AttackPainter(font: try Font.standard()), scorer: scorer,
                                               defaultSize: profile.attackSize)
                }
                if let result = try session!.evaluate(request, executor: executor, isStale: labWorker.isStale) {
                    mailbox.post(.attackScored(result))
                }
            } catch {
                mailbox.post(.message("attack lab: \(request.imagePath): \(error)", isError: true))
            }
        }
    }
}
