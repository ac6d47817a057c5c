import Foundation
import Imaging
import Jobs
import Terminal

/// Puts pictures on the screen after ncurses' refresh: each placement is encoded once
/// for its size and place (off the UI thread; `imageReady` says when), sent only when it
/// was not on screen already, and erased by having ncurses repaint its rows when it goes.
/// With the kitty protocol a picture is sent once per size under an id and then placed
/// and deleted by id: its pictures lie above the text, so repainting rows does not erase them.
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
    /// Kitty: the id of each picture (source and size), the ids the terminal holds, and the
    /// placements on screen with their placement ids.
    private var kittyIDs: [ImageKey: UInt32] = [:]
    private var kittyTransmitted: Set<UInt32> = []
    private(set) var kittyPlaced: [ImagePlacement: (id: UInt32, placement: UInt32)] = [:]
    private var nextKittyID: UInt32 = 1, nextKittyPlacement: UInt32 = 1
    /// Where the bytes go (the terminal; a test's buffer).
    var output: ([UInt8]) -> Void = { try? TerminalOutput.write($0) }

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
        removeKittyPlacements()
    }

    /// Kitty: every placement off the screen; the pictures stay in the terminal for later.
    func removeKittyPlacements() {
        guard capabilities.graphics == .kitty, !kittyPlaced.isEmpty else { return }
        kittyPlaced.removeAll()
        send(KittyGraphics.command("a=d,d=a,q=2"))
    }

    /// Before the terminal is given back: kitty's pictures would outlive the app otherwise.
    func removeEverything() {
        guard capabilities.graphics == .kitty, !kittyTransmitted.isEmpty || !kittyPlaced.isEmpty else { return }
        kittyPlaced.removeAll()
        kittyTransmitted.removeAll()
        send(KittyGraphics.command("a=d,d=A,q=2"))
    }

    private func send(_ bytes: [UInt8]) {
        let out = capabilities.forTerminal(bytes)
        bytesSent += out.count
        output(out)
    }

    /// The rows to repaint before the refresh: those of pictures that go away. A picture
    /// replaced by another in the same place (a job's next preview) stays until the new one
    /// is ready, then goes just before it is drawn, so a live preview does not blink. (Each
    /// must go: xterm keeps a bounded list of pictures, and ones drawn over without text
    /// in between fill it up until new pictures stop showing.)
    func rowsToErase(for placements: [ImagePlacement]) -> [(top: Int, count: Int)] {
        guard capabilities.graphics != .none, capabilities.graphics != .kitty else { return [] }
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
    func forgetShown() {
        shown.removeAll()
        removeKittyPlacements()
    }

    /// Draws a picture that is not a file at a size in pixels (a chart of the state's data).
    typealias Renderer = @Sendable (_ width: Int, _ height: Int) -> Image

    /// Sends the pictures of the frame that are ready and not on screen; asks for the rest.
    func place(_ placements: [ImagePlacement], previews: [UUID: JobPreview], renderers: [ImageSource: Renderer] = [:]) {
        guard capabilities.graphics != .none else { return }
        if capabilities.graphics == .kitty { return placeKitty(placements, previews: previews, renderers: renderers) }
        let next = Set(placements)
        store.want(placements.map { ImageKey(source: $0.source, rect: $0.rect, graphics: graphicsName) })
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
        output(out)
    }

    /// Kitty: placements that went are deleted by id (one that is being replaced stays until
    /// its successor is ready, then both change in one write: no flicker); new ones are
    /// placed by id, their picture sent first only if the terminal does not hold it yet.
    private func placeKitty(_ placements: [ImagePlacement], previews: [UUID: JobPreview], renderers: [ImageSource: Renderer]) {
        let next = Set(placements)
        store.want(placements.map(kittyKey))
        let waiting = waitingPlaces(placements)
        var bytes: [UInt8] = []
        for (placement, ids) in kittyPlaced where !next.contains(placement) && !waiting.contains(placement.rect) {
            bytes += KittyGraphics.hide(id: ids.id, placement: ids.placement)
            kittyPlaced[placement] = nil
        }
        for placement in placements where kittyPlaced[placement] == nil {
            let key = kittyKey(placement)
            if let transmission = store.bytes(for: key), let id = kittyIDs[key] {
                for (old, ids) in kittyPlaced where old.rect == placement.rect {
                    bytes += KittyGraphics.hide(id: ids.id, placement: ids.placement)
                    kittyPlaced[old] = nil
                }
                if kittyTransmitted.insert(id).inserted { bytes += transmission }
                let placementID = nextKittyPlacement
                nextKittyPlacement &+= 1
                bytes += KittyGraphics.place(id: id, placement: placementID, origin: (placement.rect.top + 1, placement.rect.left + 1))
                kittyPlaced[placement] = (id, placementID)
            } else if placement.source.needsRenderer, renderers[placement.source] == nil {
                continue  // its data has not arrived yet
            } else if store.claim(key) {
                let id = nextKittyID
                nextKittyID &+= 1
                kittyIDs[key] = id
                encodeKitty(key, id: id, preview: previewImage(placement.source, previews), renderer: renderers[placement.source])
            }
        }
        guard !bytes.isEmpty else { return }
        send(Array("\u{1B}7".utf8) + bytes + Array("\u{1B}8".utf8))
    }

    /// A kitty picture's key: its source and size, wherever it is placed.
    func kittyKey(_ placement: ImagePlacement) -> ImageKey {
        ImageKey(source: placement.source, rect: Rect(top: 0, left: 0, height: placement.rect.height, width: placement.rect.width),
                 graphics: graphicsName)
    }

    private func encodeKitty(_ key: ImageKey, id: UInt32, preview: Image?, renderer: Renderer?) {
        let capabilities = self.capabilities, store = self.store, mailbox = self.mailbox
        nextEncoder = (nextEncoder + 1) % encoders.count
        encoders[nextEncoder].async {
            guard store.stillWanted(key) else { return }
            let image = Self.picture(key, preview: preview, renderer: renderer, capabilities: capabilities)
            let size = TerminalImage.fittedSize(width: image.width, height: image.height, columns: key.rect.width,
                                                rows: key.rect.height, cell: capabilities.cellSize)
            let png = (try? image.resizedForDisplay(width: max(1, size.width), height: max(1, size.height)).pngData()) ?? Data()
            store.set(png.isEmpty ? [] : KittyGraphics.transmit(png: png, id: id), for: key)
            mailbox.post(.imageReady(key))
        }
    }

    func previewImage(_ source: ImageSource, _ previews: [UUID: JobPreview]) -> Image? {
        guard case let .preview(id, _) = source, let preview = previews[id] else { return nil }
        return Image(width: preview.width, height: preview.height, channels: 3, pixels: preview.rgb)
    }

    private func encode(_ key: ImageKey, preview: Image?, renderer: Renderer?) {
        let capabilities = self.capabilities, store = self.store, mailbox = self.mailbox
        nextEncoder = (nextEncoder + 1) % encoders.count
        encoders[nextEncoder].async {
            guard store.stillWanted(key) else { return }
            let bytes = Self.encode(key, preview: preview, renderer: renderer, capabilities: capabilities)
            store.set(bytes, for: key)
            mailbox.post(.imageReady(key))
        }
    }

    /// The bytes that draw a picture in its rectangle (1-based origin); a grey box when the
    /// file cannot be read.
    static func encode(_ key: ImageKey, preview: Image?, renderer: Renderer? = nil, capabilities: TerminalCapabilities) -> [UInt8] {
        let image = picture(key, preview: preview, renderer: renderer, capabilities: capabilities)
        let rect = key.rect
        return (try? TerminalImage.render(image, columns: rect.width, rows: rect.height, capabilities: capabilities,
                                          origin: (rect.top + 1, rect.left + 1))) ?? []
    }

    /// The picture of a key, before fitting.
    static func picture(_ key: ImageKey, preview: Image?, renderer: Renderer?, capabilities: TerminalCapabilities) -> Image {
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
        return image
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
    /// The pictures of the newest frame: a queued picture no longer among them is dropped
    /// unencoded (moving down the list leaves the pictures of the rows passed over).
    private var wanted: Set<ImageKey> = []
    static let limit = 400

    func want(_ keys: [ImageKey]) {
        lock.lock()
        defer { lock.unlock() }
        wanted = Set(keys)
    }

    /// False (and the claim given up, so that a later frame may claim it again) when the
    /// newest frame no longer shows `key`.
    func stillWanted(_ key: ImageKey) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if wanted.contains(key) { return true }
        pending.remove(key)
        return false
    }

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
