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

    /// OpenBLAS runs one thread per call: our workers run the parts of a large GEMM (see
    /// `gemm`), so no BLAS thread waits spinning while our loops run.
    private static let setSingleThreaded: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    static func singleThreaded() { _ = setSingleThreaded }

    private static let nanosecondsInGEMM = Atomic<UInt64>(0)

    /// Seconds spent inside GEMM calls since the process started: `clipscope bench`
    /// shows which share of a network's time is BLAS and which is ours.
    public static var secondsInGEMM: Double {
        Double(nanosecondsInGEMM.load(ordering: .relaxed)) / 1e9
    }

    /// Adds a GEMM's wall time; a GEMM run beside others on the workers counts its share
    /// of them, so that the total stays a share of wall time.
    static func recordTime(since start: UInt64, concurrently: Bool) {
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        nanosecondsInGEMM.add(concurrently ? elapsed / UInt64(max(Parallel.workers, 1)) : elapsed, ordering: .relaxed)
    }

    private static let computeCallers = Atomic<Int>(0)
    private static let mostComputeCallers = Atomic<Int>(0)

    /// The most threads that ran compute at once (a GEMM or one of our parallel loops,
    /// each counted once however many workers it used) since the process started (or
    /// since `resetConcurrencyRecord`): more than one means callers competed for the
    /// cores, which the compute executor exists to prevent.
    public static var mostConcurrentComputeCallers: Int { mostComputeCallers.load(ordering: .relaxed) }

    public static func resetConcurrencyRecord() { mostComputeCallers.store(0, ordering: .relaxed) }

    static func enterCompute() {
        let now = computeCallers.add(1, ordering: .relaxed).newValue
        var most = mostComputeCallers.load(ordering: .relaxed)
        while now > most {
            let exchanged = mostComputeCallers.compareExchange(expected: most, desired: now, ordering: .relaxed)
            if exchanged.exchanged { break }
            most = exchanged.original
        }
    }

    static func leaveCompute() { computeCallers.subtract(1, ordering: .relaxed) }
}
