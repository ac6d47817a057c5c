import Foundation

/// The kitty graphics protocol (kitty, Ghostty, WezTerm, Konsole): an image is transmitted
/// once under an id, then placed, moved and deleted by id, so showing it again costs a few
/// bytes instead of the picture.
///
/// Every command is an APC sequence `ESC _ G <key=value,...> ; <base64 payload> ESC \`.
public enum KittyGraphics {
    /// Base64 characters per chunk (the protocol's limit; a multiple of 4).
    static let chunkSize = 4096

    /// One graphics command; `controls` like "a=t,i=5".
    public static func command(_ controls: String, payload: Substring = "") -> [UInt8] {
        var bytes = Array("\u{1B}_G\(controls)".utf8)
        if !payload.isEmpty { bytes += Array(";\(payload)".utf8) }
        return bytes + Array("\u{1B}\\".utf8)
    }

    /// `png` sent in base64 chunks: the first carries `controls`, every one but the last `m=1`.
    static func chunked(_ png: Data, controls: String) -> [UInt8] {
        let encoded = png.base64EncodedString()
        var bytes: [UInt8] = []
        var start = encoded.startIndex
        var first = true
        repeat {
            let end = encoded.index(start, offsetBy: chunkSize, limitedBy: encoded.endIndex) ?? encoded.endIndex
            let more = end < encoded.endIndex ? 1 : 0
            bytes += command(first ? "\(controls),m=\(more)" : "m=\(more)", payload: encoded[start..<end])
            first = false
            start = end
        } while start < encoded.endIndex
        return bytes
    }

    /// Sends a PNG under `id` without showing it (`a=t`); replies are suppressed (`q=2`).
    public static func transmit(png: Data, id: UInt32) -> [UInt8] {
        chunked(png, controls: "a=t,f=100,t=d,i=\(id),q=2")
    }

    /// Shows image `id` with its top-left corner at `origin` (1-based row and column), or at
    /// the cursor; `columns` x `rows` cells scale it when given, its own pixels size it
    /// otherwise. The cursor stays where it was (`C=1`). Placing an image again under the
    /// same `placement` id moves it; another id shows it once more.
    public static func place(id: UInt32, placement: UInt32 = 1, columns: Int? = nil, rows: Int? = nil,
                             origin: (row: Int, column: Int)? = nil) -> [UInt8] {
        var controls = "a=p,i=\(id),p=\(placement),C=1,q=2"
        if let columns { controls += ",c=\(columns)" }
        if let rows { controls += ",r=\(rows)" }
        let move = origin.map { Array("\u{1B}[\($0.row);\($0.column)H".utf8) } ?? []
        return move + command(controls)
    }

    /// Takes image `id` (one `placement` of it, or all) off the screen and keeps its data, so
    /// that placing it again sends no picture (`a=d,d=i`).
    public static func hide(id: UInt32, placement: UInt32? = nil) -> [UInt8] {
        command("a=d,d=i,i=\(id)\(placement.map { ",p=\($0)" } ?? ""),q=2")
    }

    /// Takes image `id` off the screen and frees its data (`a=d,d=I`).
    public static func delete(id: UInt32) -> [UInt8] { command("a=d,d=I,i=\(id),q=2") }

    /// Transmits and shows a picture at once (`a=T`) at the cursor, which stays where it was
    /// (`C=1`), for one-off output such as `clipscope show`.
    public static func display(png: Data, columns: Int? = nil, rows: Int? = nil) -> [UInt8] {
        var controls = "a=T,f=100,t=d,C=1,q=2"
        if let columns { controls += ",c=\(columns)" }
        if let rows { controls += ",r=\(rows)" }
        return chunked(png, controls: controls)
    }

    /// The id the support query uses; its reply names it.
    static let queryID = 31

    /// Asks whether the terminal speaks the protocol: a 1x1 RGB image queried (`a=q`), which
    /// a kitty-protocol terminal answers `ESC _ G i=31 ; OK ESC \` without storing or showing
    /// it. Other terminals ignore the APC sequence.
    public static let supportQuery: [UInt8] = command("i=\(queryID),s=1,v=1,a=q,t=d,f=24", payload: "AAAA")

    /// The answer to `supportQuery` in `bytes`: true for OK, false for an error reply, nil
    /// when there is none (yet).
    public static func supportReply(in bytes: [UInt8]) -> Bool? {
        for reply in commands(in: bytes) where reply.controls["i"] == String(queryID) {
            return reply.message == "OK"
        }
        return nil
    }

    /// `bytes` wrapped for tmux's passthrough (`ESC P tmux ; ... ESC \`, each ESC doubled),
    /// which tmux forwards to the outer terminal when `allow-passthrough` is on.
    public static func tmuxPassthrough(_ bytes: [UInt8]) -> [UInt8] {
        var wrapped = Array("\u{1B}Ptmux;".utf8)
        for byte in bytes {
            if byte == 0x1B { wrapped.append(0x1B) }
            wrapped.append(byte)
        }
        return wrapped + Array("\u{1B}\\".utf8)
    }

    /// A graphics command read back from bytes.
    public struct Command: Sendable, Equatable {
        public var controls: [String: String]
        /// What follows the `;`: base64 for a transmission, a message ("OK") for a reply.
        public var message: String
    }

    /// Every complete graphics command in `bytes`, in order (tmux passthrough unwrapped).
    public static func commands(in bytes: [UInt8]) -> [Command] {
        let text = String(decoding: unwrappingPassthrough(bytes), as: UTF8.self)
        var found: [Command] = []
        var rest = text[...]
        while let start = rest.range(of: "\u{1B}_G") {
            guard let end = rest.range(of: "\u{1B}\\", range: start.upperBound..<rest.endIndex) else { break }
            let body = rest[start.upperBound..<end.lowerBound]
            let parts = body.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            var controls: [String: String] = [:]
            for pair in parts[0].split(separator: ",") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                if keyValue.count == 2 { controls[String(keyValue[0])] = String(keyValue[1]) }
            }
            found.append(Command(controls: controls, message: parts.count > 1 ? String(parts[1]) : ""))
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// The pictures transmitted in `bytes` (`a=t` or `a=T`, chunks joined), as PNG data, in order.
    public static func transmittedPictures(in bytes: [UInt8]) -> [(id: UInt32?, png: Data)] {
        var pictures: [(id: UInt32?, png: Data)] = []
        var pending: (id: UInt32?, base64: String)?
        for command in commands(in: bytes) {
            if let action = command.controls["a"], action == "t" || action == "T" {
                pending = (command.controls["i"].flatMap { UInt32($0) }, command.message)
            } else if command.controls["a"] == nil, pending != nil {
                pending?.base64 += command.message
            } else {
                continue
            }
            if command.controls["m"] != "1", let done = pending {
                if let data = Data(base64Encoded: done.base64) { pictures.append((done.id, data)) }
                pending = nil
            }
        }
        return pictures
    }

    /// `bytes` with tmux passthrough wrappers removed (their doubled ESCs undone).
    static func unwrappingPassthrough(_ bytes: [UInt8]) -> [UInt8] {
        let prefix = Array("\u{1B}Ptmux;".utf8)
        var output: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x1B, i + prefix.count <= bytes.count, Array(bytes[i..<i + prefix.count]) == prefix {
                var j = i + prefix.count
                while j < bytes.count {
                    if bytes[j] == 0x1B, j + 1 < bytes.count, bytes[j + 1] == 0x1B {
                        output.append(0x1B); j += 2
                    } else if bytes[j] == 0x1B, j + 1 < bytes.count, bytes[j + 1] == UInt8(ascii: "\\") {
                        j += 2; break
                    } else {
                        output.append(bytes[j]); j += 1
                    }
                }
                i = j
            } else {
                output.append(bytes[i]); i += 1
            }
        }
        return output
    }
}

/// iTerm2's inline images (iTerm2, WezTerm): a whole file in one OSC 1337 sequence.
public enum ITermImages {
    /// Shows a PNG at the cursor, `width` x `height` given in cells or, with `pixels`, in
    /// pixels; the aspect ratio is kept.
    public static func inline(png: Data, width: Int, height: Int, pixels: Bool) -> [UInt8] {
        let unit = pixels ? "px" : ""
        return Array("\u{1B}]1337;File=inline=1;size=\(png.count);width=\(width)\(unit);height=\(height)\(unit);preserveAspectRatio=1:".utf8)
            + Array(png.base64EncodedString().utf8) + [0x07]
    }

    /// The files in `bytes`' OSC 1337 sequences with their arguments (for tests and diagnostics).
    public static func files(in bytes: [UInt8]) -> [(arguments: [String: String], data: Data)] {
        let text = String(decoding: bytes, as: UTF8.self)
        var files: [(arguments: [String: String], data: Data)] = []
        var rest = text[...]
        while let start = rest.range(of: "\u{1B}]1337;File="), let end = rest.range(of: "\u{07}", range: start.upperBound..<rest.endIndex) {
            let body = rest[start.upperBound..<end.lowerBound]
            if let colon = body.firstIndex(of: ":"), let data = Data(base64Encoded: String(body[body.index(after: colon)...])) {
                var arguments: [String: String] = [:]
                for pair in body[..<colon].split(separator: ";") {
                    let keyValue = pair.split(separator: "=", maxSplits: 1)
                    if keyValue.count == 2 { arguments[String(keyValue[0])] = String(keyValue[1]) }
                }
                files.append((arguments, data))
            }
            rest = rest[end.upperBound...]
        }
        return files
    }
}
