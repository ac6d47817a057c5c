import Foundation

/// Every clipscope these tests start takes turns in a queue of this test process's own: test
/// runs side by side (another checkout's suite) never wait on each other's jobs.
enum QueueIsolation {
    static let folder: String = {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("clipscope-test-queue-\(getpid())")
        setenv("CLIPSCOPE_QUEUE", path, 1)
        return path
    }()
}
