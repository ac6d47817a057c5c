import Foundation
import Imaging
import Terminal
import XCTest

/// Kitty graphics and iTerm2 inline images: what is sent decodes back into the picture, and
/// detection picks them in one query round without ever hanging.
final class KittyAndITermTests: XCTestCase {
    /// A picture with detail everywhere, so that its PNG spans several kitty chunks.
    func noisyPicture(width: Int = 160, height: Int = 120) -> Image {
        var generator: UInt64 = 0x9E37_79B9_7F4A_7C15
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                generator = generator &* 6364136223846793005 &+ 1442695040888963407
                pixels += [UInt8(x * 255 / width), UInt8(y * 255 / height), UInt8(truncatingIfNeeded: generator >> 56)]
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    func testATransmittedPictureDecodesBackIntoTheSameImageInChunksOfAtMost4096() throws {
        let picture = noisyPicture()
        let bytes = KittyGraphics.transmit(png: try picture.pngData(), id: 7)
        let commands = KittyGraphics.commands(in: bytes)
        XCTAssertGreaterThan(commands.count, 2, "several chunks")
        XCTAssertTrue(commands.allSatisfy { $0.message.count <= 4096 && $0.message.count % 4 == 0 || $0 == commands.last })
        XCTAssertEqual(commands.first?.controls["a"], "t")
        XCTAssertEqual(commands.first?.controls["i"], "7")
        XCTAssertEqual(commands.first?.controls["q"], "2", "no replies to read back")
        XCTAssertEqual(commands.dropLast().map { $0.controls["m"] }, Array(repeating: "1", count: commands.count - 1))
        XCTAssertEqual(commands.last?.controls["m"], "0")
        let pictures = KittyGraphics.transmittedPictures(in: bytes)
        XCTAssertEqual(pictures.count, 1)
        XCTAssertEqual(pictures.first?.id, 7)
        XCTAssertTrue(try Image.decode(try XCTUnwrap(pictures.first?.png), name: "kitty") == picture, "the same pixels")
    }

    func testPlacingHidingAndDeletingNameTheImageById() {
        let place = KittyGraphics.place(id: 12, columns: 20, rows: 8, origin: (row: 3, column: 41))
        XCTAssertTrue(place.starts(with: Array("\u{1B}[3;41H".utf8)), "moves to the origin first")
        let placed = KittyGraphics.commands(in: place)
        XCTAssertEqual(placed.count, 1)
        XCTAssertEqual(placed[0].controls, ["a": "p", "i": "12", "p": "1", "C": "1", "q": "2", "c": "20", "r": "8"])
        XCTAssertLessThan(place.count, 60, "placing again costs a few bytes")
        XCTAssertEqual(KittyGraphics.commands(in: KittyGraphics.hide(id: 12)).first?.controls["d"], "i", "keeps the data")
        XCTAssertEqual(KittyGraphics.commands(in: KittyGraphics.delete(id: 12)).first?.controls["d"], "I", "frees the data")
    }

    func testRenderedKittyAndITermPicturesDecodeIntoTheFittedImage() throws {
        let picture = noisyPicture(width: 300, height: 200)
        for graphics in [TerminalCapabilities.Graphics.kitty, .iterm] {
            var capabilities = TerminalCapabilities(graphics: graphics, cellSize: CellSize(width: 10, height: 20),
                                                    cellSizeMeasured: true)
            let bytes = try TerminalImage.render(picture, columns: 12, rows: 5, capabilities: capabilities, origin: (row: 2, column: 3))
            XCTAssertTrue(bytes.starts(with: Array("\u{1B}[2;3H".utf8)))
            let fitted = picture.resizedForDisplay(width: 120, height: 80)
            let png: Data
            if graphics == .kitty {
                png = try XCTUnwrap(KittyGraphics.transmittedPictures(in: bytes).first?.png)
                XCTAssertEqual(KittyGraphics.commands(in: bytes).first?.controls["a"], "T")
            } else {
                let file = try XCTUnwrap(ITermImages.files(in: bytes).first)
                XCTAssertEqual(file.arguments["width"], "120px")
                XCTAssertEqual(file.arguments["height"], "80px")
                XCTAssertEqual(file.arguments["size"], String(file.data.count))
                XCTAssertEqual(file.arguments["inline"], "1")
                png = file.data
            }
            XCTAssertTrue(try Image.decode(png, name: "\(graphics)") == fitted, "\(graphics): the fitted picture's pixels")

            // A guessed cell size: the terminal scales the picture into the cells.
            capabilities.cellSizeMeasured = false
            let guessed = try TerminalImage.render(picture, columns: 12, rows: 5, capabilities: capabilities)
            if graphics == .kitty {
                XCTAssertEqual(KittyGraphics.commands(in: guessed).first?.controls["c"], "12")
                XCTAssertEqual(KittyGraphics.commands(in: guessed).first?.controls["r"], "4")
            } else {
                XCTAssertEqual(ITermImages.files(in: guessed).first?.arguments["width"], "12")
            }
        }
    }

    func testInsideTmuxThePicturesGoThroughItsPassthroughAndComeBackWhole() throws {
        let picture = noisyPicture(width: 40, height: 30)
        var capabilities = TerminalCapabilities(graphics: .kitty, cellSizeMeasured: true)
        capabilities.insideTmux = true
        let bytes = try TerminalImage.render(picture, columns: 10, rows: 4, capabilities: capabilities)
        XCTAssertTrue(bytes.starts(with: Array("\u{1B}Ptmux;\u{1B}\u{1B}_G".utf8)))
        let sent = try Image.decode(try XCTUnwrap(KittyGraphics.transmittedPictures(in: bytes).first?.png), name: "tmux")
        XCTAssertTrue(sent == picture.resizedForDisplay(width: 100, height: 75), "fitted into 10x4 cells of 10x20: \(sent.width)x\(sent.height)")
        capabilities.graphics = .sixel
        XCTAssertEqual(capabilities.forTerminal([1, 2]), [1, 2], "sixel goes to tmux itself")
    }

    func testTheSupportQueryAndItsReplies() {
        let query = KittyGraphics.commands(in: KittyGraphics.supportQuery)
        XCTAssertEqual(query.first?.controls["a"], "q")
        XCTAssertEqual(query.first?.controls["i"], "31")
        XCTAssertEqual(KittyGraphics.supportReply(in: Array("\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[?62;22c".utf8)), true)
        XCTAssertEqual(KittyGraphics.supportReply(in: Array("\u{1B}_Gi=31;ENOTSUPPORTED:no\u{1B}\\".utf8)), false)
        for junk in ["", "\u{1B}[?62;4c", "\u{1B}_Gi=31;OK", "\u{1B}_Gi=5;OK\u{1B}\\", "\u{1B}_G\u{1B}\\", "garbage\u{1B}_Gi=3x;OK"] {
            XCTAssertNil(KittyGraphics.supportReply(in: Array(junk.utf8)), junk.debugDescription)
        }
    }

    /// Detects on a pseudo-terminal whose emulator side answers with `reply` (or stays silent).
    func detect(answering reply: String?, environment: [String: String] = [:]) throws -> (TerminalCapabilities, String, Double) {
        let (master, slave) = try openPseudoTerminal()
        defer { close(master); close(slave) }
        let seen = LockedBytes()
        let emulator = Thread {
            var buffer = [UInt8](repeating: 0, count: 256)
            while !String(decoding: seen.bytes, as: UTF8.self).hasSuffix("\u{1B}[c") {
                let count = read(master, &buffer, 256)
                if count <= 0 { return }
                seen.append(buffer.prefix(count))
            }
            if let reply { _ = Array(reply.utf8).withUnsafeBytes { write(master, $0.baseAddress, $0.count) } }
        }
        emulator.start()
        let start = Date()
        let capabilities = TerminalQuery.detect(mode: .auto, tty: slave, timeout: 0.3, environment: environment)
        return (capabilities, String(decoding: seen.bytes, as: UTF8.self), Date().timeIntervalSince(start))
    }

    func testAutoTakesKittyWhenTheTerminalAnswersOKInTheSameRoundAsDA1() throws {
        let (capabilities, sent, elapsed) = try detect(answering: "\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[6;20;10t\u{1B}[?62;22c")
        XCTAssertEqual(capabilities.graphics, .kitty)
        XCTAssertTrue(capabilities.kittyReported)
        XCTAssertLessThan(elapsed, 0.28, "returns when DA1 arrives")
        XCTAssertTrue(sent.hasPrefix("\u{1B}_Gi=31,"), "one round: the kitty query first, then DA1: \(sent.debugDescription)")
    }

    func testAutoTakesSixelOrITermOrBlocksWhenKittyIsNotThere() throws {
        XCTAssertEqual(try detect(answering: "\u{1B}[?62;4;22c").0.graphics, .sixel)
        XCTAssertEqual(try detect(answering: "\u{1B}[?62;22c", environment: ["TERM_PROGRAM": "iTerm.app"]).0.graphics, .iterm)
        XCTAssertEqual(try detect(answering: "\u{1B}[?62;4c", environment: ["TERM_PROGRAM": "WezTerm"]).0.graphics, .iterm)
        XCTAssertEqual(try detect(answering: "\u{1B}_Gi=31;EINVAL:bad\u{1B}\\\u{1B}[?1;2c").0.graphics, .blocks)
    }

    func testASilentTerminalAndOneThatAnswersGarbageFallBackToBlocksWithinTheTimeout() throws {
        for reply in [nil, "\u{1B}_Gi=31;O\u{1B}[?6x;4\u{7}garbage\u{1B}\\\u{1B}["] {
            let (capabilities, _, elapsed) = try detect(answering: reply)
            XCTAssertEqual(capabilities.graphics, .blocks, reply.debugDescription)
            XCTAssertFalse(capabilities.kittyReported)
            XCTAssertLessThan(elapsed, 0.6, "never hangs")
        }
    }
}

/// Bytes appended from one thread and read from another.
final class LockedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [UInt8] = []
    var bytes: [UInt8] { lock.withLock { stored } }
    func append(_ more: ArraySlice<UInt8>) { lock.withLock { stored += more } }
}
