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

    /// `clipscope categories -o`: the categories' mean activations as horizontal bars,
    /// highest first, with their names whole, over the ridges of their activations in the
    /// same order (one colour throughout, so nothing repeats however many there are).
    public static func categories(_ categories: [CategorySummary], values: [String: [Double]], title: String,
                                  font: Font) -> Image {
        let sorted = byMean(categories)
        let bars = Chart.bars(sorted.map { Chart.Bar($0.name, $0.stats.mean) }, orientation: .horizontal,
                              labels: ChartLabels(title: title, x: "mean activation"), font: font)
        let ridges = Chart.ridges(sorted.map { Chart.Group($0.name, values[$0.name] ?? []) },
                                  labels: ChartLabels(title: "activations by category (red: mean)", x: "activation"), font: font)
        var picture = Image(width: max(bars.width, ridges.width), height: bars.height + ridges.height, color: .white)
        picture.paste(bars.converted(toChannels: picture.channels), x: 0, y: 0)
        picture.paste(ridges.converted(toChannels: picture.channels), x: 0, y: bars.height)
        return picture
    }

    /// A card's side panel as one picture of `width` x `height` pixels: category bars by
    /// mean above the histogram of the neuron's activations.
    public static func panel(categories: [CategorySummary], bins: [HistogramBin], width: Int, height: Int,
                             font: Font) -> Image {
        let size = Double(max(9, min(13, width / 36)))
        var style = ChartStyle(width: width, height: height, fontSize: size, titleSize: size * 1.2)
        let histogramHeight = bins.isEmpty ? 0 : max(80, height * 2 / 7)
        style.height = max(60, height - histogramHeight)
        let bars = Chart.bars(byMean(categories).map { Chart.Bar($0.name, $0.stats.mean) }, orientation: .horizontal,
                              labels: ChartLabels(title: "categories by mean"), style: style, font: font)
        var picture = Image(width: width, height: height, color: .white)
        // Many categories need more rows than the panel has: the bars are drawn at their size and fitted in.
        let fittedBars = bars.height > style.height ? bars.resizedForDisplay(width: max(1, bars.width * style.height / bars.height), height: style.height) : bars
        picture.paste(fittedBars.converted(toChannels: picture.channels), x: 0, y: 0)
        if histogramHeight > 0 {
            style.height = histogramHeight
            let histogram = Chart.histogram(bins.map { ($0.low, $0.high, $0.count) }, labels: ChartLabels(title: "histogram"),
                                            style: style, font: font)
            picture.paste(histogram.converted(toChannels: picture.channels), x: 0, y: height - histogramHeight)
        }
        return picture
    }

    /// Highest mean first; ties by name.
    static func byMean(_ categories: [CategorySummary]) -> [CategorySummary] {
        categories.sorted { ($0.stats.mean, $1.name) > ($1.stats.mean, $0.name) }
    }
}
