import Foundation
import Imaging
import Jobs
import Terminal

/// Puts pictures on the screen after ncurses' refresh: each placement is encoded once
/// for its size and place (off the UI thread; `imageReady` says when), sent only when it
/// was not on screen already, and erased by having ncurses repaint its rows when it goes.
final class ImageCompositor {
    private(set) var capabilities: TerminalCapabilities
    /// Pictures encode two at a time, on two queues taken in turn (decoding, fitting and
    /// sixel encoding use no BLAS).
    private let encoders = [DispatchQueue(label: "clipscope.tui.images.0"), DispatchQueue(label: "clipscope.tui.images.1")]
    private var nextEncoder = 0
    private let mailbox: Mailbox
    private let store = EncodedImages()
    /// What is on the screen now.
    private(set) var shown: Set<ImagePlacement> = []
    /// Bytes sent for pictures since the start (for the latency and bandwidth report).
    private(set) var bytesSent = 0

    init(capabilities: TerminalCapabilities, mailbox: Mailbox) {
        self.capabilities = capabilities
        self.mailbox = mailbox
    }

    var graphicsName: String {
        switch capabilities.graphics {
        case .sixel: capabilities.sixelColors < 256 ? "sixel (\(capabilities.sixelColors) colours)" : "sixel"
        case .kitty: "kitty"
        case .iterm: "iTerm2"
        case .blocks: "blocks"
        case .none: "no graphics"
        }
    }

    func resized(rows: Int, columns: Int, cellSize: CellSize?) {
        capabilities.rows = rows
        capabilities.columns = columns
        if let cellSize { capabilities.cellSize = cellSize }
        shown.removeAll()
    }

    /// The rows to repaint before the refresh: those of pictures that go away. A picture
    /// replaced by another in the same place (a job's next preview) stays until the new one
    /// is ready, then goes just before it is drawn, so a live preview does not blink. (Each
    /// must go: xterm keeps a bounded list of pictures, and ones drawn over without text
    /// in between fill it up until new pictures stop showing.)
    func rowsToErase(for placements: [ImagePlacement]) -> [(top: Int, count: Int)] {
        guard capabilities.graphics != .none else { return [] }
        let next = Set(placements)
        let waiting = waitingPlaces(placements)
        waitingAtErase = waiting
        return shown.subtracting(next).filter { !waiting.contains($0.rect) }.map { ($0.rect.top, $0.rect.height) }
    }

    /// The places still waiting when this frame's rows were repainted: a picture that became
    /// ready since then waits for the next frame, whose repaint clears its predecessor first.
    private var waitingAtErase: Set<Rect> = []

    /// The places of pictures not encoded yet.
    func waitingPlaces(_ placements: [ImagePlacement]) -> Set<Rect> {
        Set(placements.filter { !store.has(ImageKey(source: $0.source, rect: $0.rect, graphics: graphicsName)) }.map(\.rect))
    }

    /// After a full repaint nothing is on screen any more.
    func forgetShown() { shown.removeAll() }

    /// Draws a picture that is not a file at a size in pixels (a chart of the state's data).
    typealias Renderer = @Sendable (_ width: Int, _ height: Int) -> Image

    /// Sends the pictures of the frame that are ready and not on screen; asks for the rest.
    func place(_ placements: [ImagePlacement], previews: [UUID: JobPreview], renderers: [ImageSource: Renderer] = [:]) {
        guard capabilities.graphics != .none else { return }
        let next = Set(placements)
        // Pictures that went (their rows were repainted), except those whose replacement is not ready.
        let waiting = waitingAtErase
        shown = shown.filter { next.contains($0) || waiting.contains($0.rect) }
        var bytes: [UInt8] = []
        for placement in placements where !shown.contains(placement) {
            let key = ImageKey(source: placement.source, rect: placement.rect, graphics: graphicsName)
            if let encoded = store.bytes(for: key) {
                // Ready since the repaint: the next frame clears its predecessor, then draws it.
                if waiting.contains(placement.rect), shown.contains(where: { $0.rect == placement.rect }) { continue }
                bytes += encoded
                shown.insert(placement)
            } else if placement.source.needsRenderer, renderers[placement.source] == nil {
                continue  // its data has not arrived yet
            } else if store.claim(key) {
                encode(key, preview: previewImage(placement.source, previews), renderer: renderers[placement.source])
            }
        }
        guard !bytes.isEmpty else { return }
        // Save and restore the cursor around the pictures so that ncurses' idea of it holds.
        let out = Array("\u{1B}7".utf8) + bytes + Array("\u{1B}8".utf8)
        bytesSent += out.count
        try? TerminalOutput.write(out)
    }

    func previewImage(_ source: ImageSource, _ previews: [UUID: JobPreview]) -> Image? {
        guard case let .preview(id, _) = source, let preview = previews[id] else { return nil }
        return Image(width: preview.width, height: preview.height, channels: 3, pixels: preview.rgb)
    }

    private func encode(_ key: ImageKey, preview: Image?, renderer: Renderer?) {
        let capabilities = self.capabilities, store = self.store, mailbox = self.mailbox
        nextEncoder = (nextEncoder + 1) % encoders.count
        encoders[nextEncoder].async {
            let bytes = Self.encode(key, preview: preview, renderer: renderer, capabilities: capabilities)
            store.set(bytes, for: key)
            mailbox.post(.imageReady(key))
        }
    }

    /// The bytes that draw a picture in its rectangle (1-based origin); a grey box when the
    /// file cannot be read.
    static func encode(_ key: ImageKey, preview: Image?, renderer: Renderer? = nil, capabilities: TerminalCapabilities) -> [UInt8] {
        let image: Image
        if let renderer {
            image = renderer(key.rect.width * capabilities.cellSize.width, key.rect.height * capabilities.cellSize.height)
        } else if let preview {
            image = preview
        } else if case let .file(path) = key.source, let loaded = try? DecodedImage.load(path: path) {
            // As the model sees it: Pillow's convert("RGB") drops alpha, whatever lies under it.
            image = loaded.convertedToRGB()
        } else {
            image = Image(width: 16, height: 16, color: Color(90, 90, 90))
        }
        let rect = key.rect
        return (try? TerminalImage.render(image, columns: rect.width, rows: rect.height, capabilities: capabilities,
                                          origin: (rect.top + 1, rect.left + 1))) ?? []
    }
}

extension ImageSource {
    /// Pictures drawn from the state's data rather than read from a file or a job.
    var needsRenderer: Bool {
        switch self {
        case .cardPanel, .attackLab: true
        default: false
        }
    }
}

/// Encoded pictures by key, shared by the UI thread and the encoder; bounded.
final class EncodedImages: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [ImageKey: [UInt8]] = [:]
    private var order: [ImageKey] = []
    private var pending: Set<ImageKey> = []
    static let limit = 400

    func has(_ key: ImageKey) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return bytes[key] != nil
    }

    func bytes(for key: ImageKey) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        return bytes[key]
    }

    /// True when nobody encodes `key` yet (the caller then does).
    func claim(_ key: ImageKey) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return pending.insert(key).inserted
    }

    func set(_ value: [UInt8], for key: ImageKey) {
        lock.lock()
        defer { lock.unlock() }
        pending.remove(key)
        if bytes[key] == nil { order.append(key) }
        bytes[key] = value
        while order.count > Self.limit { bytes[order.removeFirst()] = nil }
    }
}
