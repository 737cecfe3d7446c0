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
