#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What to print if the process traps: a failed precondition in the Raft core or the simulator
/// kills the process, so the seed and fault mix are kept in a static buffer the signal handler can
/// write without allocating.
enum CrashContext {
    static let capacity = 4096
    nonisolated(unsafe) static let buffer: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    nonisolated(unsafe) static var length = 0

    static func set(_ text: String) {
        let bytes = Array("\nCRASH (exit 127) while simulating \(text)\n".utf8.prefix(capacity))
        for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
        length = bytes.count
    }
}

func installCrashReporter() {
    _ = CrashContext.buffer
    let handler: @convention(c) (Int32) -> Void = { _ in
        _ = write(2, CrashContext.buffer, CrashContext.length)
        _exit(127)
    }
    for sig in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] { signal(sig, handler) }
}
