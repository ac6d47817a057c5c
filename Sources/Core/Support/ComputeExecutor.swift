import Foundation

/// One compute lane for model work, shared by every job and interactive call of a
/// process, and a cache of loaded resources (models) keyed by what they were loaded from.
///
/// Each job keeps its own thread (models and tensors never cross threads while in use),
/// but a model step runs only while its thread holds the lane: the multi-threaded BLAS
/// calls of several jobs are interleaved step by step instead of fighting for the cores.
/// Waiters are served by priority, then in arrival order, so an interactive call (the
/// attack lab's rescore, a search by meaning) runs before the next queued job step.
public final class ComputeExecutor: @unchecked Sendable {
    /// Who is asking for the lane.
    public enum Priority: Int, Sendable, Comparable {
        /// A user waits on the screen for this call.
        case interactive = 0
        /// One step of a background job.
        case job = 1

        public static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }
    }

    /// The process's executor: every job and interactive call uses it unless given another.
    public static let shared = ComputeExecutor()

    // All state below is guarded by `condition`.
    private let condition = NSCondition()
    private var busy = false
    private var holder: Thread?
    private var waiting: [(priority: Priority, ticket: UInt64)] = []
    private var nextTicket: UInt64 = 0
    private var resources: [String: Resource] = [:]
    private var loadCount = 0

    private final class Resource {
        var value: AnyObject?
        var loading = true
    }

    public init() {}

    /// Runs `body` on the calling thread once it holds the lane. Re-entrant: a body that
    /// calls `run` again (a job step that calls a shared helper) runs at once.
    public func run<T>(_ priority: Priority, _ body: () throws -> T) rethrows -> T {
        if holdsLane { return try body() }
        acquire(priority)
        defer { release() }
        return try body()
    }

    /// Calls waiting for the lane now (for showing a job as queued).
    public var waitingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting.count
    }

    /// How many resources `cached` has loaded (not found cached) so far.
    public var loads: Int {
        condition.lock()
        defer { condition.unlock() }
        return loadCount
    }

    /// The resource cached under `key`, loading it with `load` the first time. Callers
    /// asking for a key while it loads wait for that load instead of loading it again; a
    /// failed load is not cached (the next caller tries again). The caller must use what it
    /// gets only inside `run` (resources such as models are not thread-safe).
    public func cached<T: AnyObject>(_ key: String, as type: T.Type = T.self, load: () throws -> T) throws -> T {
        condition.lock()
        while let resource = resources[key], resource.loading { condition.wait() }
        if let value = resources[key]?.value as? T {
            condition.unlock()
            return value
        }
        resources[key] = Resource()
        loadCount += 1
        condition.unlock()
        do {
            let value = try load()
            condition.lock()
            resources[key]?.value = value
            resources[key]?.loading = false
            condition.broadcast()
            condition.unlock()
            return value
        } catch {
            condition.lock()
            resources[key] = nil
            loadCount -= 1
            condition.broadcast()
            condition.unlock()
            throw error
        }
    }

    /// Drops every cached resource (they are freed once no caller holds them).
    public func evictAll() {
        condition.lock()
        resources = resources.filter { $0.value.loading }
        condition.unlock()
    }

    private var holdsLane: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy && holder == Thread.current
    }

    private func acquire(_ priority: Priority) {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        waiting.append((priority, ticket))
        while busy || !isFirst(ticket) { condition.wait() }
        waiting.removeAll { $0.ticket == ticket }
        busy = true
        holder = Thread.current
        condition.unlock()
    }

    private func isFirst(_ ticket: UInt64) -> Bool {
        waiting.min { ($0.priority, $0.ticket) < ($1.priority, $1.ticket) }?.ticket == ticket
    }

    private func release() {
        condition.lock()
        busy = false
        holder = nil
        condition.broadcast()
        condition.unlock()
    }
}
