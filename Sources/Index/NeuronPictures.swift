import Foundation
import Imaging

/// The pictures of a neuron that `clipscope top -o` and the TUI's export draw alike.
public enum NeuronPictures {
    /// A grid of images with captions under a title; an unreadable image is a grey tile.
    public static func grid(_ images: [(path: String, caption: String)], title: String, columns: Int = 5,
                            font: Font) -> Image {
        let tiles = images.map { item in
            Montage.Tile((try? Image.load(path: item.path)) ?? Image(width: 8, height: 8, color: Color(128, 128, 128)),
                         caption: item.caption)
        }
        return Montage(columns: columns, title: title).render(tiles, font: font)
    }

    /// The top (or bottom) `k` images of a neuron with their activations and categories.
    public static func ranked(index: ActivationIndex, scan: ScanInfo, neuron: Int, k: Int = 25, bottom: Bool = false,
                              font: Font) throws -> Image {
        let images = try index.ranking(scan: scan, neuron: neuron, k: k, bottom: bottom)
        return grid(images.map { ($0.entry.path, caption(value: $0.value, category: $0.entry.category)) },
                    title: title(neuron: neuron, bottom: bottom, count: images.count, scan: scan), font: font)
    }

    /// "neuron 89: top 25 (RN50x4, conv3, max)".
    public static func title(neuron: Int, bottom: Bool, count: Int, scan: ScanInfo) -> String {
        "neuron \(neuron): \(bottom ? "bottom" : "top") \(count) (\(scan.model.name), \(scan.tap.rawValue), \(scan.reduce.rawValue))"
    }

    public static func caption(value: Float, category: String) -> String {
        String(format: "%.3f", value) + "\n" + category
    }
}
