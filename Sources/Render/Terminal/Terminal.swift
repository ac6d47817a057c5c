import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the user asked for with `--graphics`.
public enum GraphicsMode: String, Sendable, CaseIterable {
    case auto, sixel, kitty, iterm, blocks, none
}

/// The size of one terminal cell in pixels.
public struct CellSize: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    /// The usual 1:2 cell, assumed when the terminal does not say.
    public static let fallback = CellSize(width: 10, height: 20)
}

/// What the terminal can show and how big it is, found in one round trip.
public struct TerminalCapabilities: Sendable, Equatable {
    /// The graphics to use after applying the user's mode to what the terminal said.
    public enum Graphics: String, Sendable, Equatable { case sixel, kitty, iterm, blocks, none }

    public var graphics: Graphics
    /// Whether the terminal listed sixel (attribute 4) in its DA1 reply.
    public var sixelReported: Bool
    /// Whether the terminal answered the DA1 query before the timeout.
    public var answered: Bool
    public var cellSize: CellSize
    /// Whether `cellSize` came from the terminal (TIOCGWINSZ or `CSI 16 t`) rather than a guess.
    public var cellSizeMeasured: Bool
    public var columns: Int
    public var rows: Int
    /// 24-bit colour (from `COLORTERM`); otherwise blocks use the 256-colour palette.
    public var truecolor: Bool
    /// Palette entries of each sixel picture: fewer send fewer bytes (slow links), 2...256.
    public var sixelColors = 256
    /// Whether the terminal answered the kitty graphics query with OK.
    public var kittyReported = false
    /// Inside tmux (`$TMUX`): kitty and iTerm2 sequences go through its passthrough.
    public var insideTmux = false
    /// Why `auto` chose less than the terminal may show, for the status line (e.g. tmux
    /// without `allow-passthrough` in kitty).
    public var note: String?

    public init(graphics: Graphics, sixelReported: Bool = false, answered: Bool = false,
                cellSize: CellSize = .fallback, cellSizeMeasured: Bool = false,
                columns: Int = 80, rows: Int = 24, truecolor: Bool = true) {
        self.graphics = graphics
        self.sixelReported = sixelReported
        self.answered = answered
        self.cellSize = cellSize
        self.cellSizeMeasured = cellSizeMeasured
        self.columns = columns
        self.rows = rows
        self.truecolor = truecolor
    }

    /// The block palette these capabilities call for.
    public var blockPalette: Blocks.Palette { truecolor ? .truecolor : .xterm256 }

    /// Picture sequences as this terminal takes them: wrapped in tmux's passthrough for kitty
    /// and iTerm2 inside tmux (sixel and blocks go to tmux itself).
    public func forTerminal(_ bytes: [UInt8]) -> [UInt8] {
        guard insideTmux, graphics == .kitty || graphics == .iterm, !bytes.isEmpty else { return bytes }
        return KittyGraphics.tmuxPassthrough(bytes)
    }
}

/// Terminal queries and their replies. The parsers are pure; `query` and `detect` do the I/O.
public enum TerminalQuery {
    /// The DA1 query, `ESC [ c`.
    public static let deviceAttributesRequest: [UInt8] = Array("\u{1B}[c".utf8)
    /// The cell-size query, `CSI 16 t` (answered `ESC [ 6 ; height ; width t`).
    public static let cellSizeRequest: [UInt8] = Array("\u{1B}[16t".utf8)

    /// The parameters of the first complete DA1 reply `ESC [ ? P1 ; P2 ; ... c` (or with the
    /// 8-bit CSI byte 0x9B) in `bytes`, or nil when there is none; malformed sequences and
    /// other bytes are skipped.
    public static func deviceAttributes(in bytes: [UInt8]) -> [Int]? {
        var i = 0
        while i + 1 < bytes.count {
            let introducer: Int
            if bytes[i] == 0x1B, i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "["), bytes[i + 2] == UInt8(ascii: "?") {
                introducer = 3
            } else if bytes[i] == 0x9B, bytes[i + 1] == UInt8(ascii: "?") {
                introducer = 2
            } else {
                i += 1; continue
            }
            var j = i + introducer
            var parameters: [Int] = []
            var current: Int?
            var valid = true
            parse: while j < bytes.count {
                let byte = bytes[j]
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let digit = Int(byte - UInt8(ascii: "0"))
                    let next = (current ?? 0) * 10 + digit
                    guard next < 1_000_000 else { valid = false; break parse }
                    current = next
                case UInt8(ascii: ";"):
                    guard let value = current else { valid = false; break parse }
                    parameters.append(value); current = nil
                case UInt8(ascii: "c"):
                    guard let value = current else { valid = false; break parse }
                    parameters.append(value)
                    return parameters
                default:
                    valid = false; break parse
                }
                j += 1
            }
            if valid { return nil }  // ran out of bytes mid-reply: incomplete, keep reading
            i += 1
        }
        return nil
    }

    /// Whether DA1 parameters list sixel: attribute 4 after the leading device class.
    public static func reportsSixel(_ parameters: [Int]) -> Bool {
        parameters.dropFirst().contains(4)
    }

    /// The cell size in a `ESC [ 6 ; height ; width t` reply in `bytes`, or nil.
    public static func cellSize(in bytes: [UInt8]) -> CellSize? {
        var i = 0
        let prefix = Array("\u{1B}[6;".utf8)
        while i + prefix.count <= bytes.count {
            guard Array(bytes[i..<i + prefix.count]) == prefix else { i += 1; continue }
            var j = i + prefix.count
            var numbers: [Int] = [0]
            var sawDigit = false
            while j < bytes.count {
                let byte = bytes[j]
                if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    numbers[numbers.count - 1] = min(100_000, numbers[numbers.count - 1] * 10 + Int(byte - 48))
                    sawDigit = true
                } else if byte == UInt8(ascii: ";"), sawDigit, numbers.count < 2 {
                    numbers.append(0); sawDigit = false
                } else if byte == UInt8(ascii: "t"), sawDigit, numbers.count == 2 {
                    let (height, width) = (numbers[0], numbers[1])
                    return height > 0 && width > 0 ? CellSize(width: width, height: height) : nil
                } else {
                    break
                }
                j += 1
            }
            i += 1
        }
        return nil
    }

    /// What came back from one query.
    public struct Reply: Sendable, Equatable {
        /// DA1 parameters, nil when no reply came within the timeout.
        public var deviceAttributes: [Int]?
        public var cellSize: CellSize?
        /// The kitty graphics reply: OK (true), an error (false), none (nil).
        public var kittyGraphics: Bool? = nil
        /// Every byte read, for diagnostics.
        public var raw: [UInt8]
    }

    /// Sends DA1 (preceded by `CSI 16 t` when `askCellSize`, and by the kitty graphics query
    /// when `askKitty`, through tmux's passthrough when `insideTmux`) on `output` and reads
    /// `input` until the DA1 reply arrives or `timeout` seconds pass: terminals answer in
    /// order, so DA1 comes last. A terminal `input` is put in raw mode for the exchange and
    /// restored afterwards. Never blocks past the timeout.
    public static func query(input: Int32, output: Int32, timeout: Double, askCellSize: Bool,
                             askKitty: Bool = false, insideTmux: Bool = false) -> Reply {
        var saved = termios()
        let isTerminal = isatty(input) == 1 && tcgetattr(input, &saved) == 0
        if isTerminal {
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutablePointer(to: &raw.c_cc) { cc in
                cc.withMemoryRebound(to: cc_t.self, capacity: Int(NCCS)) { c in
                    c[Int(VMIN)] = 0
                    c[Int(VTIME)] = 0
                }
            }
            tcsetattr(input, TCSANOW, &raw)
        }
        defer { if isTerminal { tcsetattr(input, TCSANOW, &saved) } }

        let kitty = askKitty ? (insideTmux ? KittyGraphics.tmuxPassthrough(KittyGraphics.supportQuery) : KittyGraphics.supportQuery) : []
        let request = kitty + (askCellSize ? cellSizeRequest : []) + deviceAttributesRequest
        guard (try? TerminalOutput.write(request, to: output)) != nil else {
            return Reply(deviceAttributes: nil, cellSize: nil, raw: [])
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { break }
            var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(1, (remaining * 1000).rounded(.up))))
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if ready == 0 { break }
            if descriptor.revents & Int16(POLLIN) == 0 { break }  // hang-up or error
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 { if errno == EINTR || errno == EAGAIN { continue } else { break } }
            if count == 0 { break }  // end of file: nobody will answer
            received.append(contentsOf: buffer[0..<count])
            if deviceAttributes(in: received) != nil { break }
            if received.count > 4096 { break }  // a flood of unrelated input
        }
        return Reply(deviceAttributes: deviceAttributes(in: received), cellSize: cellSize(in: received),
                     kittyGraphics: askKitty ? KittyGraphics.supportReply(in: received) : nil, raw: received)
    }

    /// The terminal's size in cells and pixels from TIOCGWINSZ; pixels are 0 when unknown.
    public static func windowSize(of descriptor: Int32) -> (columns: Int, rows: Int, pixelWidth: Int, pixelHeight: Int)? {
        var size = winsize()
        #if canImport(Glibc)
        let request = UInt(TIOCGWINSZ)
        #else
        let request = TIOCGWINSZ
        #endif
        guard ioctl(descriptor, request, &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row), Int(size.ws_xpixel), Int(size.ws_ypixel))
    }

    /// Finds what the controlling terminal can show, honouring the user's `mode`: `none` and
    /// `blocks` never query; `sixel`, `kitty` and `iterm` force theirs; `auto` asks in one round
    /// (the kitty graphics query, then DA1) and takes kitty when it answers OK, iTerm2's
    /// images where `TERM_PROGRAM`/`LC_TERMINAL` name iTerm2 or WezTerm, sixel when DA1
    /// lists attribute 4, and blocks otherwise (also with no terminal, no answer or garbage).
    public static func detect(mode: GraphicsMode = .auto, timeout: Double = 0.15,
                              environment: [String: String] = ProcessInfo.processInfo.environment) -> TerminalCapabilities {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        defer { if tty >= 0 { close(tty) } }
        return detect(mode: mode, tty: tty, timeout: timeout, environment: environment)
    }

    /// `detect` on a given terminal descriptor (-1: none).
    public static func detect(mode: GraphicsMode, tty: Int32, timeout: Double,
                              environment: [String: String]) -> TerminalCapabilities {
        let truecolor = ["truecolor", "24bit"].contains(environment["COLORTERM"]?.lowercased() ?? "")
        // Size from the tty, else from stdout (e.g. when there is no controlling terminal).
        let window = (tty >= 0 ? windowSize(of: tty) : nil) ?? windowSize(of: STDOUT_FILENO)
        let forced: TerminalCapabilities.Graphics = switch mode {
        case .none: .none
        case .sixel: .sixel
        case .kitty: .kitty
        case .iterm: .iterm
        case .auto, .blocks: .blocks
        }
        var capabilities = TerminalCapabilities(graphics: forced, columns: window?.columns ?? 80, rows: window?.rows ?? 24,
                                                truecolor: truecolor)
        capabilities.insideTmux = !(environment["TMUX"] ?? "").isEmpty
        if let window, window.pixelWidth > 0, window.pixelHeight > 0 {
            capabilities.cellSize = CellSize(width: max(1, window.pixelWidth / window.columns),
                                             height: max(1, window.pixelHeight / window.rows))
            capabilities.cellSizeMeasured = true
        }
        guard mode != .none, mode != .blocks, tty >= 0 else { return capabilities }
        let reply = query(input: tty, output: tty, timeout: timeout, askCellSize: !capabilities.cellSizeMeasured,
                          askKitty: mode == .auto || mode == .kitty, insideTmux: capabilities.insideTmux)
        capabilities.answered = reply.deviceAttributes != nil
        capabilities.sixelReported = reply.deviceAttributes.map(reportsSixel) ?? false
        capabilities.kittyReported = reply.kittyGraphics == true
        if mode == .auto {
            capabilities.graphics = autoGraphics(capabilities, environment: environment)
            if underKitty(environment), capabilities.insideTmux, !capabilities.kittyReported {
                // tmux may pass pictures out but not the terminal's answer back in.
                if tmuxAllowsPassthrough() {
                    capabilities.graphics = .kitty
                } else {
                    capabilities.note = "tmux passes no kitty pictures: `set -g allow-passthrough on` shows them; blocks until then"
                }
            }
        }
        if !capabilities.cellSizeMeasured, let size = reply.cellSize {
            capabilities.cellSize = size
            capabilities.cellSizeMeasured = true
        }
        return capabilities
    }

    /// Terminal programs that show iTerm2's inline images, as `TERM_PROGRAM` or `LC_TERMINAL` name them.
    static let itermPrograms: Set<String> = ["iterm.app", "iterm2", "wezterm"]

    /// `auto`'s choice from what the terminal answered and what the environment says, with a
    /// note when tmux probably stands between a kitty-protocol terminal and the pictures.
    static func autoGraphics(_ capabilities: TerminalCapabilities, environment: [String: String]) -> TerminalCapabilities.Graphics {
        if capabilities.kittyReported { return .kitty }
        let programs = [environment["TERM_PROGRAM"], environment["LC_TERMINAL"]].compactMap { $0?.lowercased() }
        if programs.contains(where: itermPrograms.contains) { return .iterm }
        return capabilities.sixelReported ? .sixel : .blocks
    }

    /// Whether the environment says a kitty-protocol terminal runs this (kitty exports
    /// `KITTY_WINDOW_ID`, and tmux keeps its first client's environment).
    static func underKitty(_ environment: [String: String]) -> Bool {
        environment["KITTY_WINDOW_ID"] != nil || environment["TERM"] == "xterm-kitty"
            || ["ghostty", "kitty"].contains(environment["TERM_PROGRAM"]?.lowercased() ?? "")
    }

    /// tmux's `allow-passthrough` option (off unless set), asked of tmux itself.
    static func tmuxAllowsPassthrough() -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tmux", "show", "-gv", "allow-passthrough"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        // Detection never hangs: a tmux that does not answer within half a second is "off".
        let deadline = Date().addingTimeInterval(0.5)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { process.terminate(); return false }
        let value = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return ["on", "all"].contains(value.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Writing whole images to the terminal.
public enum TerminalOutput {
    /// Writes all of `bytes` to `descriptor` in one write loop (retrying short writes and
    /// EINTR), so that an image is never interleaved with other output of this process.
    public static func write(_ bytes: [UInt8], to descriptor: Int32 = STDOUT_FILENO) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                #if canImport(Glibc)
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                #else
                let written = Darwin.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                #endif
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw TerminalError("cannot write to the terminal: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }
}

/// A terminal I/O failure, as one line.
public struct TerminalError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TerminalError {
    public var errorDescription: String? { description }
}
