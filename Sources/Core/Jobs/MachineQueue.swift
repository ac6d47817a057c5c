import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The machine's one queue for heavy work: jobs started by the app's runners or by the
/// command line take turns for the cores, `slots` at a time (one by default).
///
/// A turn is a flock on one of the slot files, so a process that ends, however it ends
/// (kill -9 too), gives its turn back. A waiting job keeps a ticket file named by the time
/// it arrived and its pid: the tickets of live processes before it are the jobs ahead of it,
/// and only the first in line takes a free slot, so turns go in order of arrival.
public final class MachineQueue: Sendable {
    public let directory: String
    public let slots: Int

    public init(directory: String, slots: Int = 1) {
        self.directory = directory
        self.slots = max(1, slots)
    }

    /// `$CLIPSCOPE_QUEUE` (a folder, or `off` for none), else `clipscope/queue` beside the
    /// default runs folder's parent (`~/.local/share/clipscope/queue`); `$CLIPSCOPE_HEAVY_JOBS`
    /// jobs compute at once (1 unless set).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> MachineQueue? {
        let setting = environment["CLIPSCOPE_QUEUE"] ?? ""
        if setting == "off" { return nil }
        let directory = setting.isEmpty
            ? ((RunFolder.defaultRunsDirectory(environment: environment.filter { $0.key != "CLIPSCOPE_RUNS" }) as NSString)
                .deletingLastPathComponent as NSString).appendingPathComponent("queue")
            : setting
        return MachineQueue(directory: directory, slots: Int(environment["CLIPSCOPE_HEAVY_JOBS"] ?? "") ?? 1)
    }

    /// A held turn; released by `release()` or when the process ends.
    public final class Turn: @unchecked Sendable {
        private var descriptor: Int32
        public let slot: Int
        init(descriptor: Int32, slot: Int) {
            self.descriptor = descriptor
            self.slot = slot
        }
        public func release() {
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
        }
        deinit { release() }
    }

    /// Blocks until this process's turn comes; while it waits, tells `report` how many jobs are
    /// ahead each time that changes (0: next in line). A turn free on arrival reports nothing. Throws
    /// `JobCancelled` when `token` is cancelled while waiting.
    public func waitForTurn(token: CancellationToken, poll: Double = 0.2, report: (Int) -> Void) throws -> Turn {
        try FileManager.default.createDirectory(atPath: ticketsFolder, withIntermediateDirectories: true)
        let ticket = (ticketsFolder as NSString).appendingPathComponent(
            String(format: "%020llu-%d", DispatchTime.now().uptimeNanoseconds, getpid()))
        guard FileManager.default.createFile(atPath: ticket, contents: nil) else {
            throw JobFailure(message: "\(directory): cannot join the machine's queue (cannot write a ticket)")
        }
        defer { unlink(ticket) }
        var reported: Int?
        while true {
            if token.isCancelled { throw JobCancelled() }
            let ahead = self.ahead(of: (ticket as NSString).lastPathComponent)
            if ahead == 0, let turn = try takeFreeSlot() { return turn }
            if ahead != reported {
                report(ahead)
                reported = ahead
            }
            usleep(useconds_t(poll * 1_000_000))
        }
    }

    /// How many live processes' tickets come before `ticket`; tickets of dead ones are removed.
    func ahead(of ticket: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ticketsFolder)) ?? []
        var count = 0
        for name in names where name < ticket {
            guard let pid = Int32(name.split(separator: "-").last ?? "") else { continue }
            if pid > 0, kill(pid, 0) == 0 || errno == EPERM {
                count += 1
            } else {
                unlink((ticketsFolder as NSString).appendingPathComponent(name))
            }
        }
        return count
    }

    /// A slot nobody holds, locked for this process, or nil when all are taken.
    func takeFreeSlot() throws -> Turn? {
        for slot in 0..<slots {
            let path = (directory as NSString).appendingPathComponent("slot-\(slot).lock")
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw JobFailure(message: "\(path): cannot open the queue's slot (\(String(cString: strerror(errno))))")
            }
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                let owner = Data("pid \(getpid())\n".utf8)
                _ = ftruncate(descriptor, 0)
                _ = owner.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
                return Turn(descriptor: descriptor, slot: slot)
            }
            close(descriptor)
        }
        return nil
    }

    var ticketsFolder: String { (directory as NSString).appendingPathComponent("waiting") }
}
