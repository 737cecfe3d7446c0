import Primitives
import Storage

/// The simulator's file system, behind the same `FileSystem` interface as the real one. It keeps,
/// per file, what reads see (the page cache) and what is on the platter; per directory, which
/// names are durable. A crash keeps only durable state, plus — with the torn-write chance — a
/// prefix of the unsynced writes cut at a 512-byte sector with garbage in the last sector.
/// Faults for the storage checkers: bit flips in durable bytes and failing fsyncs.
public final class SimFileSystem: FileSystem {
    final class Inode {
        var current: [UInt8] = []
        var durable: [UInt8] = []
        /// Writes not yet durable, in order (sequence, offset, bytes); a truncation has nil bytes.
        var pending: [(seq: Int, offset: Int, bytes: [UInt8]?)] = []
    }

    private var names: [String: Inode] = [:]
    /// Per path: the inode the name points to on the platter (after the last directory sync).
    private var durableNames: [String: Inode] = [:]
    private var directories: Set<String> = []
    private var open: [Int32: Inode] = [:]
    private var openPaths: [Int32: String] = [:]
    private var nextFD: Int32 = 3
    public var random: SeededRandom
    /// Chance that a crash keeps a torn prefix of each file's unsynced writes.
    public var tornWritePPM: UInt32
    /// When set, the next sync fails (and the node must stop).
    public var failNextSync = false
    /// Bytes the disk can still take; writes beyond it fail with `diskFull` after writing what
    /// fits (as a real short write would). nil: unlimited.
    public var freeBytes: Int? = nil
    /// Power fails after this many more mutating operations (write, truncate, sync, rename,
    /// remove, directory sync): every later one throws and changes nothing, until `crash()`.
    public var powerFailsAfter: Int? = nil
    public private(set) var mutatingOperations = 0

    /// Count a mutating operation; throws once the power is gone.
    private func operation(_ what: String) throws(StorageError) {
        if let limit = powerFailsAfter, mutatingOperations >= limit {
            throw StorageError.io(operation: "\(what) after power loss", path: "-", errno: 5)
        }
        mutatingOperations += 1
    }
    public private(set) var syncCount = 0
    public private(set) var writeCount = 0
    /// Deferred mode (the simulator's): `sync` and `syncDirectory` return at once and take effect
    /// only when the simulator says the device finished them (`completeSyncs(through:)`), so a
    /// crash in between loses them. Off: they take effect at once (unit tests).
    public var deferSyncs = false
    /// Debugging aid: called with a line for every name operation and sync.
    public var traceSink: ((String) -> Void)?
    private var operationSeq = 0
    private enum DeferredSync {
        case file(Inode, seq: Int)
        case directory(String, seq: Int, names: [(String, Inode)])

        var seq: Int {
            switch self {
            case .file(_, let seq), .directory(_, let seq, _): return seq
            }
        }
    }
    private var deferred: [DeferredSync] = []
    private var deferredBase = 0  // sequence number of deferred[0]

    /// Sequence number of the last sync requested; pass it to `completeSyncs(through:)`.
    public var lastSyncRequest: Int { deferredBase + deferred.count }

    /// The device finished every sync requested up to `request`: apply them, in order.
    public func completeSyncs(through request: Int) {
        if deferredBase < request { traceSink?("complete syncs \(deferredBase + 1)...\(request)") }
        while deferredBase < request, !deferred.isEmpty {
            switch deferred.removeFirst() {
            case .file(let inode, let seq):
                // Replay the file's operations up to the sync onto the platter, in order (cheaper
                // than keeping a copy of the whole file per sync).
                var k = 0
                while k < inode.pending.count && inode.pending[k].seq <= seq {
                    let op = inode.pending[k]
                    if let bytes = op.bytes {
                        Self.apply(&inode.durable, op.offset, bytes)
                    } else if op.offset < inode.durable.count {
                        inode.durable.removeSubrange(op.offset...)
                    } else {
                        inode.durable.append(contentsOf: [UInt8](repeating: 0, count: op.offset - inode.durable.count))
                    }
                    k += 1
                }
                inode.pending.removeFirst(k)
            case .directory(let path, _, let entries):
                applyDirectorySync(path, entries)
            }
            deferredBase += 1
        }
    }

    public init(random: SeededRandom = SeededRandom(seed: 1), tornWritePPM: UInt32 = 0) {
        self.random = random
        self.tornWritePPM = tornWritePPM
        directories.insert("/")
    }

    // MARK: - FileSystem

    public func makeDirectory(_ path: String) throws(StorageError) {
        // Directory creation is treated as durable at once (mkdir -p of the data directory).
        var p = ""
        for part in path.split(separator: "/") {
            p += "/" + part
            directories.insert(path.hasPrefix("/") ? p : String(p.dropFirst()))
        }
    }

    public func exists(_ path: String) -> Bool { names[path] != nil || directories.contains(path) }
    public func isDirectory(_ path: String) -> Bool { directories.contains(path) }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard directories.contains(directory) else { throw StorageError.notFound(path: directory) }
        let prefix = directory + "/"
        var out: [String] = []
        for path in names.keys where path.hasPrefix(prefix) && !path.dropFirst(prefix.count).contains("/") {
            out.append(String(path.dropFirst(prefix.count)))
        }
        for d in directories where d.hasPrefix(prefix) && !d.dropFirst(prefix.count).contains("/") {
            out.append(String(d.dropFirst(prefix.count)))
        }
        return out.sorted()
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> FileID {
        let inode: Inode
        if let existing = names[path] {
            inode = existing
        } else {
            guard create else { throw StorageError.notFound(path: path) }
            guard directories.contains(directoryOf(path)) else { throw StorageError.notFound(path: directoryOf(path)) }
            try operation("create")
            inode = Inode()
            names[path] = inode
            traceSink?("create \(path)")
        }
        let fd = nextFD
        nextFD += 1
        open[fd] = inode
        openPaths[fd] = path
        return FileID(raw: fd)
    }

    public func close(_ file: FileID) {
        open[file.raw] = nil
        openPaths[file.raw] = nil
    }

    private func inode(_ f: FileID) throws(StorageError) -> Inode {
        guard let i = open[f.raw] else { throw StorageError.io(operation: "use", path: "fd \(f.raw)", errno: 9) }
        return i
    }

    public func size(_ file: FileID) throws(StorageError) -> Int { try inode(file).current.count }

    public func read(_ file: FileID, at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let i = try inode(file)
        guard offset + count <= i.current.count else {
            throw StorageError.corrupt(path: openPaths[file.raw] ?? "?", detail: "read past end")
        }
        return Array(i.current[offset..<offset + count])
    }

    public func write(_ file: FileID, at offset: Int, _ bytes: [UInt8]) throws(StorageError) {
        try operation("write")
        let i = try inode(file)
        if let free = freeBytes {
            let growth = max(0, offset + bytes.count - i.current.count)
            if growth > free {
                let fits = Array(bytes.prefix(max(0, bytes.count - (growth - free))))
                if !fits.isEmpty {
                    Self.apply(&i.current, offset, fits)
                    operationSeq += 1
                    i.pending.append((operationSeq, offset, fits))
                }
                freeBytes = 0
                throw StorageError.diskFull(path: openPaths[file.raw] ?? "?")
            }
            freeBytes = free - growth
        }
        Self.apply(&i.current, offset, bytes)
        operationSeq += 1
        i.pending.append((operationSeq, offset, bytes))
        writeCount += 1
    }

    static func apply(_ content: inout [UInt8], _ offset: Int, _ bytes: [UInt8]) {
        if content.count < offset { content.append(contentsOf: [UInt8](repeating: 0, count: offset - content.count)) }
        let overlap = min(bytes.count, content.count - offset)
        if overlap > 0 { content.replaceSubrange(offset..<offset + overlap, with: bytes[0..<overlap]) }
        if overlap < bytes.count { content.append(contentsOf: bytes[overlap...]) }
    }

    public func truncate(_ file: FileID, to size: Int) throws(StorageError) {
        try operation("truncate")
        let i = try inode(file)
        if size < i.current.count {
            i.current.removeSubrange(size...)
        } else {
            i.current.append(contentsOf: [UInt8](repeating: 0, count: size - i.current.count))
        }
        operationSeq += 1
        i.pending.append((operationSeq, size, nil))
    }

    public func sync(_ file: FileID) throws(StorageError) {
        try operation("sync")
        let i = try inode(file)
        syncCount += 1
        if failNextSync {
            failNextSync = false
            throw StorageError.syncFailed(path: openPaths[file.raw] ?? "?", errno: 5)
        }
        if deferSyncs {
            deferred.append(.file(i, seq: operationSeq))
            return
        }
        i.durable = i.current
        i.pending.removeAll()
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        try operation("rename")
        guard let i = names[from] else { throw StorageError.notFound(path: from) }
        names[from] = nil
        names[to] = i
    }

    public func remove(_ path: String) throws(StorageError) {
        try operation("remove")
        names[path] = nil
        traceSink?("remove \(path)")
    }

    public func removeDirectory(_ path: String) throws(StorageError) {
        try operation("removeDirectory")
        guard directories.contains(path) else { return }
        let prefix = path + "/"
        guard !names.keys.contains(where: { $0.hasPrefix(prefix) }), !directories.contains(where: { $0.hasPrefix(prefix) }) else {
            throw StorageError.io(operation: "rmdir", path: path, errno: 39)  // ENOTEMPTY
        }
        directories.remove(path)
        traceSink?("rmdir \(path)")
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        try operation("syncDirectory")
        syncCount += 1
        if failNextSync {
            failNextSync = false
            throw StorageError.syncFailed(path: path, errno: 5)
        }
        let prefix = path + "/"
        var entries: [(String, Inode)] = []
        for (p, i) in names where p.hasPrefix(prefix) && !p.dropFirst(prefix.count).contains("/") {
            entries.append((p, i))
        }
        traceSink?("syncDirectory \(path) \(entries.map(\.0).sorted()) deferred=\(deferSyncs) request \(lastSyncRequest + 1)")
        if deferSyncs {
            deferred.append(.directory(path, seq: operationSeq, names: entries))
            return
        }
        applyDirectorySync(path, entries)
    }

    /// The directory's durable names become `entries` (the names it had when the sync was asked).
    private func applyDirectorySync(_ path: String, _ entries: [(String, Inode)]) {
        let prefix = path + "/"
        for p in durableNames.keys where p.hasPrefix(prefix) && !p.dropFirst(prefix.count).contains("/") {
            durableNames[p] = nil
        }
        for (p, i) in entries { durableNames[p] = i }
    }

    // MARK: - Faults

    /// Power loss: every open handle is gone; names and contents fall back to what was durable,
    /// except that unsynced writes may survive as a torn prefix.
    public func crash() {
        powerFailsAfter = nil
        open.removeAll()
        openPaths.removeAll()
        // A program blocks in fsync until it completes, so nothing written after a sync that never
        // completed could have been issued on a real machine: such writes cannot survive.
        let cutoff = deferred.first?.seq ?? Int.max
        traceSink?("crash: \(deferred.count) syncs lost; durable names \(durableNames.keys.sorted())")
        deferredBase += deferred.count  // requested syncs that never completed are simply lost
        deferred.removeAll()
        var seen: [ObjectIdentifier: Bool] = [:]
        for path in durableNames.keys.sorted() {
            let i = durableNames[path]!
            if seen[ObjectIdentifier(i)] != nil { continue }
            seen[ObjectIdentifier(i)] = true
            var content = i.durable
            i.pending.removeAll { $0.seq > cutoff }
            if !i.pending.isEmpty && random.chance(ppm: tornWritePPM) {
                // Some prefix of the unsynced operations reached the platter, the last one torn.
                let keep = Int(random.below(UInt64(i.pending.count))) + 1
                for (k, (_, offset, bytes)) in i.pending.prefix(keep).enumerated() {
                    guard let bytes else {
                        if offset < content.count { content.removeSubrange(offset...) }
                        continue
                    }
                    if k == keep - 1 {
                        let cut = Int(random.below(UInt64(bytes.count + 1)))
                        let sectorEnd = min(bytes.count, ((cut + 511) / 512) * 512)
                        var torn = Array(bytes[0..<sectorEnd])
                        for j in cut..<sectorEnd { torn[j] = UInt8(truncatingIfNeeded: random.next()) }
                        Self.apply(&content, offset, torn)
                    } else {
                        Self.apply(&content, offset, bytes)
                    }
                }
            }
            i.current = content
            i.durable = content
            i.pending.removeAll()
        }
        names = durableNames
    }

    /// Flip one bit of a file's durable bytes (bit rot / a latent sector error). Returns false when
    /// the file is missing or empty.
    @discardableResult
    public func flipBit(_ path: String, at offset: Int, bit: Int) -> Bool {
        guard let i = names[path], offset < i.current.count else { return false }
        i.current[offset] ^= UInt8(1 << (bit % 8))
        if offset < i.durable.count { i.durable[offset] ^= UInt8(1 << (bit % 8)) }
        return true
    }

    /// A misdirected write: `count` bytes meant for elsewhere land at `offset` of `path`, over
    /// durable bytes (here, a copy of the same file's bytes at `source`: content that looks like
    /// real entries but sits in the wrong place). Returns false when the range is out of the file.
    @discardableResult
    public func misdirect(_ path: String, from source: Int, to offset: Int, count: Int) -> Bool {
        guard let i = names[path], source + count <= i.durable.count, offset + count <= i.durable.count,
            offset + count <= i.current.count
        else { return false }
        let bytes = Array(i.durable[source..<(source + count)])
        Self.apply(&i.durable, offset, bytes)
        Self.apply(&i.current, offset, bytes)
        return true
    }

    /// Names of every file, sorted.
    public var allFiles: [String] { names.keys.sorted() }
}
