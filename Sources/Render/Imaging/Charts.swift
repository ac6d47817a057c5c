import Foundation

/// Sizes and colours shared by every chart.
public struct ChartStyle: Sendable {
    public var width: Int
    public var height: Int
    public var background: Color
    /// Axes, tick labels and titles.
    public var foreground: Color
    public var gridColor: Color
    public var fontSize: Double
    public var titleSize: Double
    /// Colours of successive series, groups or bars.
    public var palette: [Color]

    public init(width: Int = 720, height: Int = 440, background: Color = .white,
                foreground: Color = Color(40, 40, 40), gridColor: Color = Color(228, 228, 228),
                fontSize: Double = 13, titleSize: Double = 17, palette: [Color] = Color.categorical) {
        self.width = width
        self.height = height
        self.background = background
        self.foreground = foreground
        self.gridColor = gridColor
        self.fontSize = fontSize
        self.titleSize = titleSize
        self.palette = palette.isEmpty ? Color.categorical : palette
    }

    func color(_ index: Int) -> Color { palette[index % palette.count] }
}

/// Titles and axis labels of a chart.
public struct ChartLabels: Sendable {
    public var title: String?
    public var x: String?
    public var y: String?
    public init(title: String? = nil, x: String? = nil, y: String? = nil) { self.title = title; self.x = x; self.y = y }
}

/// Charts drawn into images: bars, distributions, lines, scatter plots.
public enum Chart {
    /// One bar: a label, a value, and optionally its own colour.
    public struct Bar: Sendable {
        public var label: String
        public var value: Double
        public var color: Color?
        public init(_ label: String, _ value: Double, color: Color? = nil) { self.label = label; self.value = value; self.color = color }
    }

    public enum Orientation: Sendable { case vertical, horizontal }

    /// A named series of (x, y) points.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(_ name: String, _ points: [(x: Double, y: Double)]) { self.name = name; self.points = points }
        /// A series over x = 0, 1, 2... (e.g. loss per step).
        public init(_ name: String, values: [Double]) {
            self.init(name, values.enumerated().map { (Double($0.offset), $0.element) })
        }
    }

    /// A named group of samples (a category's activations).
    public struct Group: Sendable {
        public var name: String
        public var values: [Double]
        public init(_ name: String, _ values: [Double]) { self.name = name; self.values = values }
    }

    /// A point of a scatter plot; `group` picks its colour and legend entry.
    public struct Point: Sendable {
        public var x: Double, y: Double, group: Int
        public init(x: Double, y: Double, group: Int) { self.x = x; self.y = y; self.group = group }
    }

    // MARK: Bars

    /// A bar chart; vertical bars are labelled under the axis, horizontal ones to its left.
    /// Bars start at zero, so negative values point the other way.
    public static func bars(_ bars: [Bar], orientation: Orientation = .vertical, labels: ChartLabels = ChartLabels(),
                            showValues: Bool = true, style: ChartStyle = ChartStyle(), font: Font) -> Image {
        let values = bars.map(\.value).filter(\.isFinite)
        var low = min(0, values.min() ?? 0), high = max(0, values.max() ?? 1)
        if showValues {
            // Room for the value written past each bar's end.
            let span = high - low
            if high > 0 { high += span * 0.1 }
            if low < 0 { low -= span * 0.1 }
        }
        let scale = NiceScale(min: low, max: high)
        let categories = bars.map(\.label)
        var frame: PlotFrame
        switch orientation {
        case .vertical:
            frame = PlotFrame(style: style, font: font, labels: labels, x: .categories(categories), y: .numbers(scale))
        case .horizontal:
            // One readable row per bar, names whole.
            var style = style
            style.height = max(style.height, (labels.title == nil ? 0 : Int(style.titleSize) + 12) + 70 + 22 * bars.count)
            frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(scale), y: .categories(categories),
                              wideCategoryNames: true)
        }
        var image = frame.canvas()
        let valueStyle = TextStyle(size: style.fontSize * 0.85, color: style.foreground)
        let count = max(1, bars.count)
        for (index, bar) in bars.enumerated() where bar.value.isFinite {
            let color = bar.color ?? style.color(0)
            let text = showValues ? PlotFrame.format(bar.value, step: scale.step / 10) : nil
            switch orientation {
            case .vertical:
                let slot = Double(frame.plot.width) / Double(count)
                let x0 = Double(frame.plot.x) + slot * (Double(index) + 0.15)
                let top = frame.py(max(bar.value, 0)), bottom = frame.py(min(bar.value, 0))
                image.fillRect(x: Int(x0.rounded()), y: Int(top.rounded()), width: max(1, Int((slot * 0.7).rounded())),
                               height: max(1, Int((bottom - top).rounded())), color: color)
                if let text {
                    let box = font.measure(text, style: valueStyle)
                    let y = bar.value >= 0 ? Int(top) - box.height - 1 : Int(bottom) + 1
                    image.draw(text: text, x: Int(x0 + slot * 0.35) - box.width / 2, y: y, font: font, style: valueStyle)
                }
            case .horizontal:
                let slot = Double(frame.plot.height) / Double(count)
                let y0 = Double(frame.plot.y) + slot * (Double(index) + 0.15)
                let left = frame.px(min(bar.value, 0)), right = frame.px(max(bar.value, 0))
                image.fillRect(x: Int(left.rounded()), y: Int(y0.rounded()), width: max(1, Int((right - left).rounded())),
                               height: max(1, Int((slot * 0.7).rounded())), color: color)
                if let text {
                    let box = font.measure(text, style: valueStyle)
                    let x = bar.value >= 0 ? Int(right) + 3 : Int(left) - box.width - 3
                    image.draw(text: text, x: x, y: Int(y0 + slot * 0.35) - box.height / 2, font: font, style: valueStyle)
                }
            }
        }
        frame.drawAxes(on: &image)
        return image
    }

    // MARK: Distributions

    /// Gaussian kernel density estimate of `values` at each of `points`; the bandwidth is
    /// Silverman's rule (0.9 min(sd, IQR/1.34) n^-1/5) unless given.
    public static func kernelDensity(_ values: [Double], at points: [Double], bandwidth: Double? = nil) -> [Double] {
        let samples = values.filter(\.isFinite)
        guard !samples.isEmpty else { return points.map { _ in 0 } }
        let h = bandwidth ?? silvermanBandwidth(samples)
        let norm = 1 / (Double(samples.count) * h * (2 * Double.pi).squareRoot())
        return points.map { x in
            var sum = 0.0
            for v in samples { let u = (x - v) / h; sum += exp(-0.5 * u * u) }
            return sum * norm
        }
    }

    /// Silverman's rule-of-thumb bandwidth (positive even for constant samples).
    public static func silvermanBandwidth(_ samples: [Double]) -> Double {
        let n = Double(samples.count)
        let mean = samples.reduce(0, +) / n
        let sd = (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)).squareRoot()
        let sorted = samples.sorted()
        func quantile(_ q: Double) -> Double {
            let position = q * Double(sorted.count - 1)
            let lo = Int(position), hi = min(sorted.count - 1, lo + 1)
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - Double(lo))
        }
        let iqr = quantile(0.75) - quantile(0.25)
        var spread = iqr > 0 ? min(sd, iqr / 1.34) : sd
        if spread <= 0 { spread = max(abs(mean) * 0.1, 1e-3) }
        return 0.9 * spread * pow(n, -0.2)
    }

    /// Distributions per group: with one group a histogram of `bins` bars under its density
    /// curve (scaled to counts); with several, one filled density curve per group and a legend.
    public static func distributions(_ groups: [Group], bins: Int = 30, labels: ChartLabels = ChartLabels(),
                                     style: ChartStyle = ChartStyle(), font: Font) -> Image {
        let all = groups.flatMap(\.values).filter(\.isFinite)
        let lo = all.min() ?? 0, hi = all.max() ?? 1
        let pad = hi > lo ? (hi - lo) * 0.05 : 1
        let xScale = NiceScale(min: lo - pad, max: hi + pad)
        let samples = 240
        let grid = (0..<samples).map { xScale.low + (xScale.high - xScale.low) * Double($0) / Double(samples - 1) }
        let binCount = max(1, bins)
        let binWidth = (hi - lo) / Double(binCount) > 0 ? (hi - lo) / Double(binCount) : 1
        var counts = [Int](repeating: 0, count: binCount)
        if groups.count == 1 {
            for v in groups[0].values where v.isFinite { counts[min(binCount - 1, max(0, Int((v - lo) / binWidth)))] += 1 }
        }
        // One group: y in counts per bin; several: y is probability density.
        let curves: [[Double]] = groups.map { group in
            let density = kernelDensity(group.values, at: grid)
            let scale = groups.count == 1 ? Double(group.values.filter(\.isFinite).count) * binWidth : 1
            return density.map { $0 * scale }
        }
        let top = max(curves.flatMap { $0 }.max() ?? 0, Double(counts.max() ?? 0))
        let yScale = NiceScale(min: 0, max: top > 0 ? top * 1.05 : 1)
        var labels = labels
        if labels.y == nil { labels.y = groups.count == 1 ? "count" : "density" }
        let legend = groups.count > 1 ? groups.enumerated().map { ($0.element.name, style.color($0.offset)) } : []
        let frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(xScale), y: .numbers(yScale), legend: legend)
        var image = frame.canvas()
        if groups.count == 1 {
            let color = style.color(0).withAlpha(150)
            for (index, count) in counts.enumerated() where count > 0 {
                let x0 = frame.px(lo + Double(index) * binWidth), x1 = frame.px(lo + Double(index + 1) * binWidth)
                let y0 = frame.py(Double(count)), y1 = frame.py(0)
                image.fillRect(x: Int(x0.rounded()), y: Int(y0.rounded()), width: max(1, Int((x1 - x0).rounded()) - 1),
                               height: Int((y1 - y0).rounded()), color: color)
            }
        }
        for (index, curve) in curves.enumerated() {
            let points = zip(grid, curve).map { (frame.px($0.0), frame.py($0.1)) }
            let color = groups.count == 1 ? style.color(0).darker() : style.color(index)
            if groups.count > 1 {
                image.fillPolygon(points + [(frame.px(grid.last!), frame.py(0)), (frame.px(grid[0]), frame.py(0))],
                                  color: color.withAlpha(60))
            }
            image.drawPolyline(points, color: color, thickness: 2)
        }
        frame.drawAxes(on: &image)
        return image
    }

    // MARK: Histogram

    /// Counts over adjacent ranges (low, high) as touching bars on a numeric axis.
    public static func histogram(_ bins: [(low: Double, high: Double, count: Int)], labels: ChartLabels = ChartLabels(),
                                 style: ChartStyle = ChartStyle(), font: Font) -> Image {
        let lo = bins.map(\.low).min() ?? 0, hi = bins.map(\.high).max() ?? 1
        let xScale = NiceScale(min: lo, max: hi > lo ? hi : lo + 1)
        let yScale = NiceScale(min: 0, max: Double(max(1, bins.map(\.count).max() ?? 1)) * 1.05)
        var labels = labels
        if labels.y == nil { labels.y = "count" }
        let frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(xScale), y: .numbers(yScale))
        var image = frame.canvas()
        for bin in bins where bin.count > 0 {
            let x0 = frame.px(bin.low), x1 = frame.px(bin.high), top = frame.py(Double(bin.count)), bottom = frame.py(0)
            image.fillRect(x: Int(x0.rounded()), y: Int(top.rounded()), width: max(1, Int((x1 - x0).rounded()) - 1),
                           height: max(1, Int((bottom - top).rounded())), color: style.color(0))
        }
        frame.drawAxes(on: &image)
        return image
    }

    // MARK: Ridges

    /// One row per group, in the order given, each with its full name on the left: the
    /// group's density as a ridge (scaled to its own peak, so shapes compare even when
    /// counts differ), its samples as a strip of ticks underneath, and its mean marked.
    /// Readable with many groups where overlapping densities and a legend are not; one
    /// colour, so nothing repeats. The height grows with the number of groups.
    public static func ridges(_ groups: [Group], labels: ChartLabels = ChartLabels(), rowHeight: Int = 26,
                              style: ChartStyle = ChartStyle(), font: Font) -> Image {
        var style = style
        let titleRoom = labels.title == nil ? 0 : Int(style.titleSize) + 12
        style.height = max(style.height, titleRoom + 70 + rowHeight * max(1, groups.count))
        let all = groups.flatMap(\.values).filter(\.isFinite)
        let lo = all.min() ?? 0, hi = all.max() ?? 1
        let pad = hi > lo ? (hi - lo) * 0.04 : 1
        let xScale = NiceScale(min: lo - pad, max: hi + pad)
        // Room above the first row for its ridge, which rises past its own row.
        let frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(xScale), y: .categories(groups.map(\.name)),
                              wideCategoryNames: true, extraTop: rowHeight * 2 / 3)
        var image = frame.canvas()
        let samples = 160
        let grid = (0..<samples).map { xScale.low + (xScale.high - xScale.low) * Double($0) / Double(samples - 1) }
        let slot = Double(frame.plot.height) / Double(max(1, groups.count))
        let fill = style.color(0), line = style.color(0).darker(0.6)
        let light = Color(UInt8((Int(fill.r) + 2 * 255) / 3), UInt8((Int(fill.g) + 2 * 255) / 3), UInt8((Int(fill.b) + 2 * 255) / 3))
        for (index, group) in groups.enumerated() {
            let values = group.values.filter(\.isFinite)
            let baseline = Double(frame.plot.y) + slot * (Double(index) + 0.8)
            image.fillRect(x: frame.plot.x, y: Int(baseline.rounded()), width: frame.plot.width, height: 1, color: style.gridColor)
            guard !values.isEmpty else { continue }
            let density = kernelDensity(values, at: grid)
            let peak = max(density.max() ?? 0, 1e-12)
            // Ridges rise to 1.4 rows, so neighbours overlap a little; later rows are drawn over earlier ones.
            let points = zip(grid, density).map { (frame.px($0.0), baseline - $0.1 / peak * slot * 1.4) }
            image.fillPolygon(points + [(frame.px(grid.last!), baseline), (frame.px(grid[0]), baseline)], color: light)
            image.drawPolyline(points, color: line, thickness: 1.5)
            // The strip: every sample (at most 400, evenly taken) as a short tick on the baseline.
            let stride = max(1, values.count / 400)
            for value in Swift.stride(from: 0, to: values.count, by: stride).map({ values[$0] }) {
                image.fillRect(x: Int(frame.px(value).rounded()), y: Int(baseline.rounded()) - 3, width: 1, height: 4, color: line.withAlpha(110))
            }
            let mean = values.reduce(0, +) / Double(values.count)
            image.fillRect(x: Int(frame.px(mean).rounded()) - 1, y: Int((baseline - slot * 0.55).rounded()), width: 3,
                           height: Int((slot * 0.55).rounded()) + 3, color: Color(200, 40, 40))
        }
        frame.drawAxes(on: &image)
        return image
    }

    // MARK: Lines

    /// A line chart of one or more series (a legend when there are several).
    public static func lines(_ series: [Series], labels: ChartLabels = ChartLabels(), style: ChartStyle = ChartStyle(),
                             font: Font) -> Image {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xs = points.map(\.x), ys = points.map(\.y)
        let xScale = NiceScale(min: xs.min() ?? 0, max: xs.max() ?? 1, padToTicks: false)
        let yLow = ys.min() ?? 0, yHigh = ys.max() ?? 1
        let yPad = yHigh > yLow ? (yHigh - yLow) * 0.04 : 1
        let yScale = NiceScale(min: yLow - yPad, max: yHigh + yPad)
        let legend = series.count > 1 ? series.enumerated().map { ($0.element.name, style.color($0.offset)) } : []
        let frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(xScale), y: .numbers(yScale), legend: legend)
        var image = frame.canvas()
        for (index, s) in series.enumerated() {
            let pixels = s.points.filter { $0.x.isFinite && $0.y.isFinite }.map { (frame.px($0.x), frame.py($0.y)) }
            image.drawPolyline(pixels, color: style.color(index), thickness: 2)
        }
        frame.drawAxes(on: &image)
        return image
    }

    // MARK: Scatter

    /// A scatter plot: points coloured by group (names in `groups` label the legend),
    /// with thin lines joining each pair of point indices in `pairs` (drawn underneath).
    public static func scatter(_ points: [Point], groups: [String], pairs: [(Int, Int)] = [],
                               labels: ChartLabels = ChartLabels(), equalAspect: Bool = false,
                               pointRadius: Double = 3.5, style: ChartStyle = ChartStyle(), font: Font) -> Image {
        let finite = points.filter { $0.x.isFinite && $0.y.isFinite }
        var xLow = finite.map(\.x).min() ?? 0, xHigh = finite.map(\.x).max() ?? 1
        var yLow = finite.map(\.y).min() ?? 0, yHigh = finite.map(\.y).max() ?? 1
        if equalAspect {
            // Same data units per pixel on both axes, given the plot's rough aspect.
            let aspect = Double(style.width) / Double(style.height)
            let span = max(xHigh - xLow, (yHigh - yLow) * aspect, 1e-9)
            let cx = (xLow + xHigh) / 2, cy = (yLow + yHigh) / 2
            (xLow, xHigh) = (cx - span / 2, cx + span / 2)
            (yLow, yHigh) = (cy - span / aspect / 2, cy + span / aspect / 2)
        }
        let xPad = xHigh > xLow ? (xHigh - xLow) * 0.05 : 1, yPad = yHigh > yLow ? (yHigh - yLow) * 0.05 : 1
        let xScale = NiceScale(min: xLow - xPad, max: xHigh + xPad)
        let yScale = NiceScale(min: yLow - yPad, max: yHigh + yPad)
        let legend = groups.enumerated().map { ($0.element, style.color($0.offset)) }
        let frame = PlotFrame(style: style, font: font, labels: labels, x: .numbers(xScale), y: .numbers(yScale), legend: legend)
        var image = frame.canvas()
        let pairColor = Color(150, 150, 150, 170)
        for (a, b) in pairs where points.indices.contains(a) && points.indices.contains(b) {
            let p = points[a], q = points[b]
            guard p.x.isFinite, p.y.isFinite, q.x.isFinite, q.y.isFinite else { continue }
            image.drawLine(from: (frame.px(p.x), frame.py(p.y)), to: (frame.px(q.x), frame.py(q.y)), color: pairColor)
        }
        for p in finite {
            image.fillCircle(center: (frame.px(p.x), frame.py(p.y)), radius: pointRadius, color: style.color(max(0, p.group)))
        }
        frame.drawAxes(on: &image)
        return image
    }
}

extension Color {
    /// The colour scaled towards black.
    func darker(_ factor: Double = 0.75) -> Color {
        Color(UInt8(Double(r) * factor), UInt8(Double(g) * factor), UInt8(Double(b) * factor), a)
    }
}

/// "Nice" axis bounds and ticks: steps of 1, 2 or 5 times a power of ten.
struct NiceScale {
    var low: Double
    var high: Double
    var step: Double
    var ticks: [Double]

    init(min lo: Double, max hi: Double, targetTicks: Int = 6, padToTicks: Bool = true) {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi <= lo { let c = lo; lo = c - (c == 0 ? 1 : abs(c) * 0.5); hi = c + (c == 0 ? 1 : abs(c) * 0.5) }
        let raw = (hi - lo) / Double(max(1, targetTicks - 1))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10
        step = nice * magnitude
        let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
        if padToTicks { low = first; high = last } else { low = lo; high = hi }
        var ticks: [Double] = []
        var k = (low / step).rounded(.up)
        while k * step <= high + step * 1e-9 {
            ticks.append(abs(k * step) < step * 1e-9 ? 0 : k * step)
            k += 1
        }
        self.ticks = ticks
    }
}

/// The plot rectangle of a chart, its axes, ticks, labels, title and legend.
struct PlotFrame {
    enum Axis {
        case numbers(NiceScale)
        case categories([String])
    }

    let style: ChartStyle
    let font: Font
    let labels: ChartLabels
    let x: Axis
    let y: Axis
    let legend: [(String, Color)]
    var plot: Montage.Rect
    let tickStyle: TextStyle
    let labelStyle: TextStyle
    let titleStyle: TextStyle

    /// `wideCategoryNames`: the left margin takes category names whole (up to half the width).
    init(style: ChartStyle, font: Font, labels: ChartLabels, x: Axis, y: Axis, legend: [(String, Color)] = [],
         wideCategoryNames: Bool = false, extraTop: Int = 0) {
        self.style = style
        self.font = font
        self.labels = labels
        self.x = x
        self.y = y
        self.legend = legend
        let tickStyle = TextStyle(size: style.fontSize, color: style.foreground)
        let labelStyle = TextStyle(size: style.fontSize * 1.05, color: style.foreground)
        let titleStyle = TextStyle(size: style.titleSize, color: style.foreground)
        self.tickStyle = tickStyle
        self.labelStyle = labelStyle
        self.titleStyle = titleStyle
        let margin = 12
        let lineHeight = font.measure("Ag", style: tickStyle).height
        let top = margin + extraTop + (labels.title.map { font.measure($0, style: titleStyle).height + 8 } ?? 0)
        // Left margin: the widest y tick label, plus the y axis label's line.
        let yTickWidth = PlotFrame.tickTexts(y).map { font.measure($0, style: tickStyle).width }.max() ?? 0
        let yLabelWidth = labels.y.map { font.measure($0, style: labelStyle).height + 6 } ?? 0
        let left = margin + yLabelWidth + min(yTickWidth, style.width / (wideCategoryNames ? 2 : 3)) + 8
        let bottom = margin + lineHeight + 8 + (labels.x.map { font.measure($0, style: labelStyle).height + 4 } ?? 0)
        let rightLabel = PlotFrame.tickTexts(x).last.map { font.measure($0, style: tickStyle).width / 2 } ?? 0
        let right = margin + max(8, rightLabel)
        plot = Montage.Rect(x: left, y: top, width: max(10, style.width - left - right), height: max(10, style.height - top - bottom))
    }

    static func tickTexts(_ axis: Axis) -> [String] {
        switch axis {
        case .numbers(let scale): return scale.ticks.map { format($0, step: scale.step) }
        case .categories(let names): return names
        }
    }

    /// A number with as many decimals as the step needs.
    static func format(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 || step <= 0 ? 0 : min(6, Int((-log10(step)).rounded(.up)))
        if abs(value) >= 1e6 || (abs(value) < 1e-4 && value != 0 && decimals >= 6) {
            return String(format: "%.2g", value)
        }
        return String(format: "%.\(decimals)f", value)
    }

    func px(_ value: Double) -> Double {
        guard case .numbers(let scale) = x else { return Double(plot.x) }
        return Double(plot.x) + (value - scale.low) / (scale.high - scale.low) * Double(plot.width)
    }

    func py(_ value: Double) -> Double {
        guard case .numbers(let scale) = y else { return Double(plot.y) }
        return Double(plot.y + plot.height) - (value - scale.low) / (scale.high - scale.low) * Double(plot.height)
    }

    /// The background with grid lines, ready for data.
    func canvas() -> Image {
        var image = Image(width: style.width, height: style.height, color: style.background.withAlpha(255))
        if case .numbers(let scale) = y {
            for tick in scale.ticks { image.fillRect(x: plot.x, y: Int(py(tick).rounded()), width: plot.width, height: 1, color: style.gridColor) }
        }
        if case .numbers(let scale) = x {
            for tick in scale.ticks { image.fillRect(x: Int(px(tick).rounded()), y: plot.y, width: 1, height: plot.height, color: style.gridColor) }
        }
        return image
    }

    /// Axes, ticks, tick labels, axis labels, title and legend, drawn over the data.
    func drawAxes(on image: inout Image) {
        let fg = style.foreground
        let bottom = plot.y + plot.height
        image.fillRect(x: plot.x, y: bottom, width: plot.width, height: 1, color: fg)
        image.fillRect(x: plot.x - 1, y: plot.y, width: 1, height: plot.height + 1, color: fg)
        let tickLine = font.measure("Ag", style: tickStyle)
        switch x {
        case .numbers(let scale):
            for tick in scale.ticks {
                let cx = Int(px(tick).rounded())
                image.fillRect(x: cx, y: bottom, width: 1, height: 5, color: fg)
                let text = PlotFrame.format(tick, step: scale.step)
                let box = font.measure(text, style: tickStyle)
                image.draw(text: text, x: cx - box.width / 2, y: bottom + 6, font: font, style: tickStyle)
            }
        case .categories(let names):
            let slot = Double(plot.width) / Double(max(1, names.count))
            for (index, name) in names.enumerated() {
                let text = fitted(name, width: Int(slot) - 2)
                let box = font.measure(text, style: tickStyle)
                let cx = Int(Double(plot.x) + slot * (Double(index) + 0.5))
                image.draw(text: text, x: cx - box.width / 2, y: bottom + 6, font: font, style: tickStyle)
            }
        }
        switch y {
        case .numbers(let scale):
            for tick in scale.ticks {
                let cy = Int(py(tick).rounded())
                image.fillRect(x: plot.x - 6, y: cy, width: 5, height: 1, color: fg)
                let text = PlotFrame.format(tick, step: scale.step)
                let box = font.measure(text, style: tickStyle)
                image.draw(text: text, x: plot.x - 8 - box.width, y: cy - box.height / 2, font: font, style: tickStyle)
            }
        case .categories(let names):
            let slot = Double(plot.height) / Double(max(1, names.count))
            for (index, name) in names.enumerated() {
                let text = fitted(name, width: plot.x - 14 - (labels.y == nil ? 0 : tickLine.height + 6))
                let box = font.measure(text, style: tickStyle)
                let cy = Int(Double(plot.y) + slot * (Double(index) + 0.5))
                image.draw(text: text, x: plot.x - 8 - box.width, y: cy - box.height / 2, font: font, style: tickStyle)
            }
        }
        if let label = labels.x {
            let box = font.measure(label, style: labelStyle)
            image.draw(text: label, x: plot.x + (plot.width - box.width) / 2, y: bottom + 8 + tickLine.height,
                       font: font, style: labelStyle)
        }
        if let label = labels.y {
            // Vertical label: drawn horizontally into a strip, then rotated a quarter turn.
            let box = font.measure(label, style: labelStyle)
            var strip = Image(width: box.width, height: box.height, color: style.background.withAlpha(255))
            strip.draw(text: label, x: 0, y: 0, font: font, style: labelStyle)
            let rotated = strip.rotatedCounterClockwise()
            image.paste(rotated, x: 12, y: plot.y + (plot.height - rotated.height) / 2)
        }
        if let title = labels.title {
            let box = font.measure(title, style: titleStyle)
            image.draw(text: title, x: max(4, (style.width - box.width) / 2), y: 10, font: font, style: titleStyle)
        }
        drawLegend(on: &image)
    }

    func drawLegend(on image: inout Image) {
        guard !legend.isEmpty else { return }
        let boxes = legend.map { font.measure($0.0, style: tickStyle) }
        let swatch = 12, rowHeight = max(boxes.map(\.height).max() ?? 0, swatch) + 4
        let width = (boxes.map(\.width).max() ?? 0) + swatch + 20
        let height = rowHeight * legend.count + 8
        let x = plot.x + plot.width - width - 8, y = plot.y + 8
        image.fillRect(x: x, y: y, width: width, height: height, color: style.background.withAlpha(220))
        image.strokeRect(x: x, y: y, width: width, height: height, color: style.gridColor.darker(0.85))
        for (index, entry) in legend.enumerated() {
            let rowY = y + 4 + index * rowHeight
            image.fillRect(x: x + 6, y: rowY + (rowHeight - swatch) / 2, width: swatch, height: swatch, color: entry.1)
            image.draw(text: entry.0, x: x + 12 + swatch, y: rowY + (rowHeight - boxes[index].height) / 2,
                       font: font, style: tickStyle)
        }
    }

    func fitted(_ text: String, width: Int) -> String {
        Montage(captionStyle: tickStyle).fitted(text, width: max(0, width), style: tickStyle, font: font)
    }
}

extension Image {
    /// The image turned a quarter turn counter-clockwise (for vertical axis labels).
    func rotatedCounterClockwise() -> Image {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let c = channels
        for y in 0..<height {
            for x in 0..<width {
                // (x, y) goes to (y, width - 1 - x) in a height x width image.
                let source = (y * width + x) * c, target = ((width - 1 - x) * height + y) * c
                for k in 0..<c { out[target + k] = pixels[source + k] }
            }
        }
        return Image(width: height, height: width, channels: c, pixels: out)
    }
}
