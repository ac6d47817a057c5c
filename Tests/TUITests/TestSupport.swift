import CLIP
import Foundation
import Index
@testable import TUI
import XCTest

/// A catalog of `neurons` rows: every third labelled (proposed), top activations 0-6.
func sampleCatalog(neurons: Int = 40) -> NeuronCatalog {
    let identity = ModelIdentity(name: "toy", fingerprint: "f", neurons: neurons, embedDim: 8, resolution: 32)
    let scan = try! JSONDecoder().decode(ScanInfo.self, from: JSONSerialization.data(withJSONObject: [
        "id": 1, "model": ["name": "toy", "fingerprint": "f", "neurons": neurons, "embedDim": 8, "resolution": 32],
        "tap": "conv3", "reduce": "max", "imageCount": 100, "skippedCount": 0, "stale": false, "embeddingCount": 100,
        "updated": 0,
    ] as [String: Any]))
    XCTAssertEqual(scan.model, identity)
    let rows = (0..<neurons).map { n in
        NeuronRow(neuron: n, label: n % 3 == 0 ? "word \(n)" : nil, labelSource: n % 3 == 0 ? .proposed : nil, note: nil,
                  starred: false, top: Float(n % 7), topValues: [3, 2, 1])
    }
    return NeuronCatalog(indexPath: "/tmp/demo.index", scan: scan, rows: rows)
}
