import CBLAS

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
}
