import Foundation
import Imaging
import Terminal
import XCTest

final class TerminalTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testDA1RepliesFromRealTerminals() {
        // xterm -ti vt340 style, a VT100-class reply with sixel, a VT125-class reply.
        XCTAssertEqual(TerminalQuery.deviceAttributes(in: bytes("\u{1B}[?62;4;22c")), [62, 4, 22])
        XCTAssertEqual(TerminalQuery.deviceAttributes(in: bytes("\u{1B}[?1;2;4c")), [1, 2, 4])
        XCTAssertEqual(TerminalQuery.deviceAttributes(in: bytes("\u{1B}[?12;4c")), [12, 4])
        XCTAssertTrue(TerminalQuery.reportsSixel([62, 4, 22]))
        XCTAssertTrue(TerminalQuery.reportsSixel([1, 2, 4]))
        XCTAssertTrue(TerminalQuery.reportsSixel([12, 4]))
        XCTAssertEqual(TerminalQuery.deviceAttributes(in: [0x9B] + bytes("?62;4c")), [62, 4], "8-bit CSI")
    }

    func testDA1RepliesWithoutSixel() {
        // xterm default, VTE/GNOME terminal, tmux: attributes without 4 (14, 42, 44 are not 4).
        for reply in ["\u{1B}[?64;1;2;6;9;15;16;17;18;21;22;28c", "\u{1B}[?65;1;9c", "\u{1B}[?1;2c",
                      "\u{1B}[?62;14;42;44c", "\u{1B}[?4c"] {
            let parameters = TerminalQuery.deviceAttributes(in: bytes(reply))
            XCTAssertNotNil(parameters, reply)
            XCTAssertFalse(TerminalQuery.reportsSixel(parameters ?? []), reply)
        }
    }

    func testGarbageAndIncompleteRepliesAreNotDA1() {
        for junk in ["", "hello", "\u{1B}[?62;4;22", "\u{1B}[62;4;22c", "\u{1B}[?62;;4c", "\u{1B}[?c",
                     "\u{1B}[?6x2;4c", "\u{1B}]11;rgb:0000/0000/0000\u{7}", "\u{1B}[?999999999;4c"] {
            XCTAssertNil(TerminalQuery.deviceAttributes(in: bytes(junk)), junk.debugDescription)
        }
        // A reply after typed keys and another escape sequence is still found.
        let mixed = bytes("ab\u{1B}[6;20;10t\u{1B}[?x\u{1B}[?62;4;22c")
        XCTAssertEqual(TerminalQuery.deviceAttributes(in: mixed), [62, 4, 22])
        XCTAssertEqual(TerminalQuery.cellSize(in: mixed), CellSize(width: 10, height: 20))
        XCTAssertNil(TerminalQuery.cellSize(in: bytes("\u{1B}[6;20t\u{1B}[6;0;9t\u{1B}[4;600;800t")))
    }

    func testPipeThatNeverAnswersTimesOut() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        let start = Date()
        let reply = TerminalQuery.query(input: fds[0], output: devNull, timeout: 0.15, askCellSize: true)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertNil(reply.deviceAttributes)
        XCTAssertGreaterThanOrEqual(elapsed, 0.14)
        XCTAssertLessThan(elapsed, 0.5)
    }

    func testSilentTerminalTimesOutAndRestoresItsMode() throws {
        let (master, slave) = try openPseudoTerminal()
        defer { close(master); close(slave) }
        var before = termios()
        XCTAssertEqual(tcgetattr(slave, &before), 0)
        XCTAssertNotEqual(before.c_lflag & tcflag_t(ICANON), 0)
        let start = Date()
        let reply = TerminalQuery.query(input: slave, output: slave, timeout: 0.15, askCellSize: false)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertNil(reply.deviceAttributes)
        XCTAssertLessThan(elapsed, 0.5)
        var after = termios()
        XCTAssertEqual(tcgetattr(slave, &after), 0)
        XCTAssertEqual(after.c_lflag, before.c_lflag)
        // The emulator side received exactly the query.
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(master, &buffer, 64)
        XCTAssertEqual(Array(buffer.prefix(max(0, count))), Array("\u{1B}[c".utf8))
    }

    func testAnsweringTerminalReportsSixelAndCellSize() throws {
        let (master, slave) = try openPseudoTerminal()
        defer { close(master); close(slave) }
        // The emulator answers the two queries in order, as xterm does, after a short delay.
        let emulator = Thread {
            var buffer = [UInt8](repeating: 0, count: 64)
            var seen: [UInt8] = []
            while !String(decoding: seen, as: UTF8.self).hasSuffix("\u{1B}[c") {
                let count = read(master, &buffer, 64)
                if count <= 0 { return }
                seen += buffer.prefix(count)
            }
            usleep(20_000)
            let reply = Array("\u{1B}[6;18;9t\u{1B}[?62;4;22c".utf8)
            _ = reply.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        }
        emulator.start()
        let start = Date()
        let reply = TerminalQuery.query(input: slave, output: slave, timeout: 1, askCellSize: true)
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.9, "returns as soon as DA1 arrives")
        XCTAssertEqual(reply.deviceAttributes, [62, 4, 22])
        XCTAssertEqual(reply.cellSize, CellSize(width: 9, height: 18))
    }

    func testModesThatNeedNoQuery() {
        let none = TerminalQuery.detect(mode: .none, environment: [:])
        XCTAssertEqual(none.graphics, .none)
        XCTAssertFalse(none.answered)
        let blocks = TerminalQuery.detect(mode: .blocks, environment: ["COLORTERM": "truecolor"])
        XCTAssertEqual(blocks.graphics, .blocks)
        XCTAssertTrue(blocks.truecolor)
        XCTAssertEqual(blocks.blockPalette, .truecolor)
        XCTAssertEqual(TerminalQuery.detect(mode: .blocks, environment: ["TERM": "screen"]).blockPalette, .xterm256)
        XCTAssertEqual(GraphicsMode(rawValue: "sixel"), .sixel)
        XCTAssertEqual(GraphicsMode(rawValue: "kitty"), .kitty)
        XCTAssertEqual(GraphicsMode(rawValue: "iterm"), .iterm)
        XCTAssertNil(GraphicsMode(rawValue: "ascii"))
    }

    func testAutoNeverHangs() {
        // Under `swift test` there may or may not be a terminal; either way this returns quickly.
        let start = Date()
        let capabilities = TerminalQuery.detect(mode: .auto, timeout: 0.15)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertNotEqual(capabilities.graphics, .none)
    }

    func testFittedSizeKeepsAspectWithinTheRectangle() {
        let cell = CellSize(width: 10, height: 20)
        XCTAssertEqual(TerminalImage.fittedSize(width: 288, height: 288, columns: 20, rows: 10, cell: cell).width, 200)
        XCTAssertEqual(TerminalImage.fittedSize(width: 400, height: 100, columns: 20, rows: 10, cell: cell).height, 50)
        let small = TerminalImage.fittedSize(width: 50, height: 40, columns: 80, rows: 40, cell: cell, upscale: false)
        XCTAssertEqual(small.width, 50)
        XCTAssertEqual(small.height, 40)
        XCTAssertEqual(TerminalImage.cellsCovered(width: 201, height: 200, cell: cell).columns, 21)
        XCTAssertEqual(TerminalImage.cellsCovered(width: 201, height: 200, cell: cell).rows, 10)
    }

    func testOneWriteDeliversAllBytes() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        final class Received: @unchecked Sendable { var bytes: [UInt8] = [] }
        let received = Received()
        let readEnd = fds[0]
        let done = DispatchSemaphore(value: 0)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count <= 0 { break }
                received.bytes += buffer.prefix(count)
            }
            done.signal()
        }.start()
        try TerminalOutput.write(payload, to: fds[1])
        close(fds[1])
        done.wait()
        XCTAssertEqual(received.bytes, payload)
    }

    func testSixelRenderIsPositionedAtTheOrigin() throws {
        let caps = TerminalCapabilities(graphics: .sixel, cellSize: CellSize(width: 10, height: 20))
        let bytes = try TerminalImage.render(Image.testCard(width: 64, height: 64, seed: 1), columns: 5, rows: 5,
                                             capabilities: caps, origin: (row: 3, column: 7))
        XCTAssertEqual(Array(bytes.prefix(6)), Array("\u{1B}[3;7H".utf8))
        let image = try Sixel.decode(Array(bytes.dropFirst(6)))
        XCTAssertEqual(image.width, 50)
        XCTAssertEqual(image.height, 50)
        XCTAssertEqual(try TerminalImage.render(Image.testCard(width: 8, height: 8, seed: 1), columns: 5, rows: 5,
                                                capabilities: TerminalCapabilities(graphics: .none)), [])
    }

    func testControlCharactersAreShownInCaretNotation() {
        let hostile = "a\u{1B}[2Jb\u{07}\r\u{0}\u{7F}\u{9B}31m\u{85}\tc\nd"
        XCTAssertEqual(hostile.terminalSafe(keepingLineBreaks: true), "a^[[2Jb^G^M^@^?M-^[31mM-^E\tc\nd")
        XCTAssertEqual(hostile.terminalSafe(keepingLineBreaks: false), "a^[[2Jb^G^M^@^?M-^[31mM-^E^Ic^Jd")
        let plain = "ünïcode 🐳 and “quotes”, no controls"
        XCTAssertEqual(plain.terminalSafe(keepingLineBreaks: false), plain)
    }
}

/// A pseudo-terminal: the slave plays our terminal, the master plays the emulator.
func openPseudoTerminal() throws -> (master: Int32, slave: Int32) {
    #if os(Linux)
    // posix_openpt/grantpt/ptsname are hidden from Swift's Glibc; use the ptmx ioctls.
    let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
    guard master >= 0 else { throw XCTSkip("no /dev/ptmx here") }
    var unlock: Int32 = 0, number: UInt32 = 0
    let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
    guard ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
        close(master); throw XCTSkip("cannot unlock a pseudo-terminal")
    }
    let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
    guard slave >= 0 else { close(master); throw XCTSkip("cannot open /dev/pts/\(number)") }
    return (master, slave)
    #else
    var master: Int32 = -1, slave: Int32 = -1
    guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw XCTSkip("no pseudo-terminals here") }
    return (master, slave)
    #endif
}
