import Experiments
import Foundation
import Imaging
import Tensor

/// The toy world's own image-caption pairs for a modality-gap run: scenes drawn from a
/// seeded sampler (as the report card's gap uses), written as PNGs so that `GapJob` reads
/// them like any other images.
public enum ToyGapScenes {
    /// Writes `count` scenes as `scene-NNN.png` into `folder` and returns them with their
    /// captions. The same seed gives the same scenes.
    public static func write(count: Int = 200, seed: UInt64 = 2024, resolution: Int, folder: String) throws -> [GapJob.Pair] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let sampler = SceneSampler(resolution: resolution)
        let renderer = SceneRenderer(font: try Font.standard())
        var generator = SeededGenerator(seed: seed)
        return try (0..<count).map { index in
            let scene = sampler.sample(&generator)
            let path = (folder as NSString).appendingPathComponent(String(format: "scene-%03d.png", index))
            try renderer.render(scene.spec).writePNG(path: path)
            return GapJob.Pair(image: path, caption: scene.caption)
        }
    }
}
