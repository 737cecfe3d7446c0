/// An open file, as the file system that opened it knows it.
public struct FileID: Hashable, Sendable {
    public let raw: Int32
    public init(raw: Int32) { self.raw = raw }
}

/// The file operations the storage engine needs, and nothing else. Two implementations: the real
/// POSIX one (`PosixFileSystem`) and the simulator's (`SimFileSystem`), which loses unsynced
/// writes on a crash and injects disk faults. All paths are absolute or relative to the process.
///
/// Durability contract (POSIX): `write` data is durable only after `sync(file)`; a created,
/// renamed or removed name is durable only after `syncDirectory` of its directory.
public protocol FileSystem: AnyObject {
    func makeDirectory(_ path: String) throws(StorageError)
    func exists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// Names in a directory (not `.`/`..`), sorted, so iteration order never depends on the disk.
    func list(_ directory: String) throws(StorageError) -> [String]
    func open(_ path: String, create: Bool) throws(StorageError) -> FileID
    func close(_ file: FileID)
    func size(_ file: FileID) throws(StorageError) -> Int
    func read(_ file: FileID, at offset: Int, count: Int) throws(StorageError) -> [UInt8]
    func write(_ file: FileID, at offset: Int, _ bytes: [UInt8]) throws(StorageError)
    func truncate(_ file: FileID, to size: Int) throws(StorageError)
    /// fdatasync. A failure is fatal for the node (`StorageError.syncFailed`).
    func sync(_ file: FileID) throws(StorageError)
    func rename(_ from: String, to: String) throws(StorageError)
    func remove(_ path: String) throws(StorageError)
    /// Remove an empty directory.
    func removeDirectory(_ path: String) throws(StorageError)
    func syncDirectory(_ path: String) throws(StorageError)
}

extension FileSystem {
    /// Write a whole small file atomically: write a temporary, sync it, rename it over the target,
    /// sync the directory. After a crash the target holds either the old or the new bytes.
    public func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        let tmp = path + ".tmp"
        let f = try open(tmp, create: true)
        do {
            try truncate(f, to: 0)
            try write(f, at: 0, bytes)
            try sync(f)
        } catch {
            close(f)
            throw error
        }
        close(f)
        try rename(tmp, to: path)
        try syncDirectory(directoryOf(path))
    }

    /// Remove a directory and everything under it (files first, then directories).
    public func removeTree(_ path: String) throws(StorageError) {
        guard isDirectory(path) else {
            if exists(path) { try remove(path) }
            return
        }
        for name in try list(path).sorted() { try removeTree(path + "/" + name) }
        try removeDirectory(path)
    }

    public func readWhole(_ path: String) throws(StorageError) -> [UInt8] {
        let f = try open(path, create: false)
        defer { close(f) }
        return try read(f, at: 0, count: try size(f))
    }
}

/// The directory part of a path ("." when there is none).
public func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}
