#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Free space on the file system of the data directory, as `statvfs` reports it to an ordinary
/// process (`f_bavail`: the blocks root keeps in reserve do not count).
struct DiskSpace: Equatable {
    var totalBytes: UInt64
    var freeBytes: UInt64

    static func of(path: String) -> DiskSpace? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let unit = UInt64(s.f_frsize)
        return DiskSpace(totalBytes: UInt64(s.f_blocks) * unit, freeBytes: UInt64(s.f_bavail) * unit)
    }
}

/// Whether the data disk is fine, low (warn) or nearly full (refuse writes), with hysteresis: a
/// node that stopped taking writes below `minFree` takes them again only once free space is back
/// above `warnFree`, so it does not flap around one threshold.
struct DiskSpaceAlarm {
    enum Level: String { case ok, low, full }
    let minFree: UInt64
    let warnFree: UInt64
    private(set) var level = Level.ok

    /// Thresholds from the settings, or 5 % of the file system (16 MiB to 1 GiB) and twice that.
    init(minFree: UInt64?, warnFree: UInt64?, totalBytes: UInt64) {
        let min = minFree ?? Swift.min(Swift.max(totalBytes / 20, 16 << 20), 1 << 30)
        self.minFree = min
        self.warnFree = Swift.max(warnFree ?? 2 * min, min + 1)
    }

    /// The level for `free` bytes; returns the new level when it changed.
    mutating func update(free: UInt64) -> Level? {
        let next: Level
        switch level {
        case .full: next = free >= warnFree ? .ok : .full
        case .ok, .low: next = free < minFree ? .full : free < warnFree ? .low : .ok
        }
        guard next != level else { return nil }
        level = next
        return next
    }
}

/// A file of `bytes` preallocated in the data directory (`space-reserve`), released when the
/// disk is nearly full so the node still has room for its own Raft state and metadata (votes,
/// terms, the controller's log) even when something else filled the disk to the last byte, and
/// made again once space is back. CockroachDB keeps a ballast file for the same reason.
struct SpaceReserve {
    let path: String
    let bytes: UInt64

    init(dataDirectory: String, bytes: UInt64) {
        path = dataDirectory + "/space-reserve"
        self.bytes = bytes
    }

    var exists: Bool { access(path, F_OK) == 0 }

    /// Preallocate the reserve (real blocks, not a sparse file); false if it could not be.
    func make() -> Bool {
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard posix_fallocate(fd, 0, off_t(bytes)) == 0, fsync(fd) == 0 else {
            unlink(path)
            return false
        }
        return true
    }

    /// Give the reserve's space back to the file system.
    func release() -> Bool { unlink(path) == 0 }
}
