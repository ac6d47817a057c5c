import Foundation

/// The image view's slice of the state: one picture, the neurons it excites, its zero-shot.
public struct ImageState {
    public var details: ImageDetails?
    public var selection = 0

    public init() {}

    static let keys = KeyTable(title: "image", bindings: [
        Binding(AppState.stepKeys, "move over the neurons") { state, key in state.moveInImage(key) },
        Binding(AppState.pageKeys, "a page up / down") { state, key in state.moveInImage(key) },
        Binding(AppState.endKeys, "first, last") { state, key in state.moveInImage(key) },
        Binding([.enter], "open that neuron's card") { state, _ in
            guard let image = state.image, image.neurons.indices.contains(state.imageSelection) else { return [] }
            return state.openCard(image.neurons[state.imageSelection].neuron)
        },
        Binding([.character("a")], "attack the image: the typographic attack lab") { state, _ in
            state.image.map { state.openLab($0.path) } ?? []
        },
    ])
}

extension AppState {
    public var image: ImageDetails? {
        get { imagePane.details }
        set { imagePane.details = newValue }
    }
    public var imageSelection: Int {
        get { imagePane.selection }
        set { imagePane.selection = newValue }
    }

    mutating func moveInImage(_ key: Key) -> [Effect] {
        guard let image else { return [] }
        if let moved = Self.moved(imageSelection, count: image.neurons.count, page: 5, by: key) { imageSelection = moved }
        return []
    }
}

// MARK: View

extension ImageState: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.imageView(state, canvas, area) }
}


extension Panes {
    static func imageView(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let image = state.image else {
            canvas.put(area.top + 1, 2, "loading the image ...", .dim)
            return []
        }
        canvas.put(area.top, 0, image.path, width: area.width, .title)
        let (pictureArea, side) = Rect(top: area.top + 1, left: 0, height: area.height - 1, width: area.width)
            .splitLeft(max(20, area.width - 36))
        var row = side.top
        canvas.put(row, side.left + 1, "most excited neurons (Enter opens)", width: side.width - 1, .bold)
        row += 1
        let shown = min(image.neurons.count, max(0, side.height - 8))
        for (index, item) in image.neurons.prefix(shown).enumerated() {
            let label = state.row(of: item.neuron)?.label ?? ""
            canvas.put(row, side.left + 1, String(format: "%6d %7.3f ", item.neuron, item.value) + label, width: side.width - 1,
                       index == state.imageSelection ? .selected : .plain)
            row += 1
        }
        row += 1
        if row < side.bottom { canvas.put(row, side.left + 1, "zero-shot", width: side.width - 1, .bold); row += 1 }
        if image.zeroShot.isEmpty, row < side.bottom { canvas.put(row, side.left + 1, state.modelReady ? "-" : "(model loading)", .dim) }
        for item in image.zeroShot where row < side.bottom {
            canvas.put(row, side.left + 1, String(format: "%5.1f%% ", item.probability * 100) + item.label, width: side.width - 1)
            row += 1
        }
        return [ImagePlacement(source: .file(image.path), rect: pictureArea.inset(0))]
    }
}
