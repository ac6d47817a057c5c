import Foundation
import Imaging
import Terminal
@testable import TUI
import XCTest

/// The compositor with the kitty protocol: a picture goes to the terminal once per size and
/// is then placed, moved and deleted by id.
final class KittyCompositorTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-kitty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Nine pictures of a card-like grid, each a different colour, as files.
    func grid(top: Int) throws -> [ImagePlacement] {
        try (0..<9).map { index in
            let path = folder.appendingPathComponent("\(index).png").path
            if !FileManager.default.fileExists(atPath: path) {
                try Image(width: 64, height: 48, color: Color(UInt8(index * 25), 100, 200)).writePNG(path: path)
            }
            return ImagePlacement(source: .file(path), rect: Rect(top: top + index / 3 * 6, left: 40 + index % 3 * 14, height: 5, width: 12))
        }
    }

    /// Places until every picture is ready (the encoders post `imageReady`), returning the bytes sent.
    func placeUntilShown(_ compositor: ImageCompositor, _ placements: [ImagePlacement], mailbox: Mailbox) -> [UInt8] {
        var sent: [UInt8] = []
        compositor.output = { sent += $0 }
        let deadline = Date().addingTimeInterval(20)
        while Set(compositor.kittyPlaced.keys) != Set(placements), Date() < deadline {
            compositor.place(placements, previews: [:])
            _ = mailbox.drain()
            usleep(2_000)
        }
        XCTAssertEqual(Set(compositor.kittyPlaced.keys), Set(placements), "every picture placed")
        return sent
    }

    func testAPictureIsSentOnceAndShowingItAgainCostsOnlyPlacements() throws {
        let mailbox = Mailbox()
        let compositor = ImageCompositor(capabilities: TerminalCapabilities(graphics: .kitty, cellSize: CellSize(width: 10, height: 20),
                                                                            cellSizeMeasured: true), mailbox: mailbox)
        let card = try grid(top: 2)
        let first = placeUntilShown(compositor, card, mailbox: mailbox)
        let transmitted = KittyGraphics.transmittedPictures(in: first)
        XCTAssertEqual(transmitted.count, 9, "each picture sent once")
        for (index, picture) in transmitted.enumerated() {
            let image = try Image.decode(picture.png, name: "\(index)")
            XCTAssertEqual(image.width, 120)
            XCTAssertEqual(image.height, 90, "fitted into 12x5 cells of 10x20 as sixel is")
        }
        XCTAssertEqual(Set(transmitted.compactMap(\.id)).count, 9)

        // Away (another neuron's card at another place), then back: no picture data again.
        let other = try grid(top: 3)
        _ = placeUntilShown(compositor, other, mailbox: mailbox)
        let again = placeUntilShown(compositor, card, mailbox: mailbox)
        XCTAssertTrue(KittyGraphics.transmittedPictures(in: again).isEmpty, "nothing transmitted on a repeat view")
        XCTAssertLessThan(again.count, 2048, "a repeat view costs placements only: \(again.count) bytes")
        let commands = KittyGraphics.commands(in: again)
        XCTAssertEqual(commands.filter { $0.controls["a"] == "p" }.count, 9)
        XCTAssertEqual(commands.filter { $0.controls["a"] == "d" }.count, 9, "the other card's placements deleted by id")
        XCTAssertTrue(commands.filter { $0.controls["a"] == "d" }.allSatisfy { $0.controls["d"] == "i" && $0.controls["p"] != nil },
                      "deleted placement by placement, the pictures kept")
    }

    func testAResizeTakesEveryPlacementOffAndQuittingFreesThePictures() throws {
        let mailbox = Mailbox()
        let compositor = ImageCompositor(capabilities: TerminalCapabilities(graphics: .kitty, cellSizeMeasured: true), mailbox: mailbox)
        _ = placeUntilShown(compositor, try grid(top: 1), mailbox: mailbox)
        var sent: [UInt8] = []
        compositor.output = { sent += $0 }
        compositor.resized(rows: 40, columns: 120, cellSize: nil)
        XCTAssertEqual(KittyGraphics.commands(in: sent).map { $0.controls["d"] }, ["a"])
        XCTAssertTrue(compositor.kittyPlaced.isEmpty)
        XCTAssertTrue(compositor.rowsToErase(for: try grid(top: 1)).isEmpty, "kitty pictures are not erased by repainting text")
        sent = []
        compositor.removeEverything()
        XCTAssertEqual(KittyGraphics.commands(in: sent).map { $0.controls["d"] }, ["A"], "the terminal frees every picture")
    }

    /// A held-down key: a picture queued for a frame that is already gone is dropped before
    /// it is encoded, and may be claimed again when a later frame shows it.
    func testPicturesOfAFrameThatWentAreNotEncoded() {
        let store = EncodedImages()
        let key = { (path: String) in ImageKey(source: .file(path), rect: Rect(top: 1, left: 1, height: 5, width: 12), graphics: "sixel") }
        store.want([key("/a.png")])
        XCTAssertTrue(store.claim(key("/a.png")))
        store.want([key("/b.png")])  // the next frame shows another neuron's picture
        XCTAssertFalse(store.stillWanted(key("/a.png")), "dropped unencoded")
        XCTAssertTrue(store.claim(key("/a.png")), "free to be claimed again")
        store.want([key("/a.png")])
        XCTAssertTrue(store.stillWanted(key("/a.png")))
    }
}
