import CBLAS
import Dispatch
import Synchronization

/// The BLAS library this build links, and its threading.
public enum BLAS {
    /// OpenBLAS's own description of its build, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
    public static var description: String {
        guard let config = openblas_get_config() else { return "unknown BLAS" }
        return String(cString: config)
    }

    /// The kernel family OpenBLAS selected for this processor.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// How many threads OpenBLAS uses inside one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    private static let nanosecondsInGEMM = Atomic<UInt64>(0)

    /// Seconds spent inside GEMM calls since the process started: `clipscope bench`
    /// shows which share of a network's time is BLAS and which is ours.
    public static var secondsInGEMM: Double {
        Double(nanosecondsInGEMM.load(ordering: .relaxed)) / 1e9
    }

    static func recordTime(since start: UInt64) {
        nanosecondsInGEMM.add(DispatchTime.now().uptimeNanoseconds - start, ordering: .relaxed)
    }

    private static let callersInGEMM = Atomic<Int>(0)
    private static let mostCallersInGEMM = Atomic<Int>(0)

    /// The most threads that were inside GEMM at once since the process started (or since
    /// `resetConcurrencyRecord`): more than one means multi-threaded BLAS callers competed
    /// for the cores, which the compute executor exists to prevent.
    public static var mostConcurrentGEMMCallers: Int { mostCallersInGEMM.load(ordering: .relaxed) }

    public static func resetConcurrencyRecord() { mostCallersInGEMM.store(0, ordering: .relaxed) }

    static func enterGEMM() {
        let now = callersInGEMM.add(1, ordering: .relaxed).newValue
        var most = mostCallersInGEMM.load(ordering: .relaxed)
        while now > most {
            let exchanged = mostCallersInGEMM.compareExchange(expected: most, desired: now, ordering: .relaxed)
            if exchanged.exchanged { break }
            most = exchanged.original
        }
    }

    static func leaveGEMM() { callersInGEMM.subtract(1, ordering: .relaxed) }
}
