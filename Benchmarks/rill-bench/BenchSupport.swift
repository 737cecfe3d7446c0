#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Run `body` in a fresh directory under `parent` (removed afterwards): the storage and
/// compaction benchmarks write real files there.
func withBenchDirectory<R>(under parent: String, _ body: (String) throws -> R) rethrows -> R {
    var template = Array("\(parent)/rill-bench-XXXXXX".utf8CString)
    let root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    defer { _ = system("rm -rf '\(root)'") }
    return try body(root)
}

/// A measured duration in seconds.
func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
