#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The real file system: open/pread/pwrite/fdatasync/ftruncate/rename/unlink and fsync of
/// directories, errors mapped to `StorageError` with the path and errno.
public final class PosixFileSystem: FileSystem {
    private var paths: [Int32: String] = [:]

    public init() {}

    private func fail(_ op: String, _ path: String) -> StorageError {
        let e = errno
        switch e {
        case ENOSPC, EDQUOT: return .diskFull(path: path)
        case ENOENT: return .notFound(path: path)
        case EACCES, EPERM: return .permissionDenied(path: path)
        default: return .io(operation: op, path: path, errno: e)
        }
    }

    public func makeDirectory(_ path: String) throws(StorageError) {
        if isDirectory(path) { return }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw fail("mkdir", path) }
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let dir = opendir(directory) else { throw fail("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> FileID {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw fail("open", path) }
        paths[fd] = path
        return FileID(raw: fd)
    }

    public func close(_ file: FileID) {
        paths[file.raw] = nil
        _ = Glibc.close(file.raw)
    }

    private func path(_ f: FileID) -> String { paths[f.raw] ?? "fd \(f.raw)" }

    public func size(_ file: FileID) throws(StorageError) -> Int {
        var st = stat()
        guard fstat(file.raw, &st) == 0 else { throw fail("fstat", path(file)) }
        return Int(st.st_size)
    }

    public func read(_ file: FileID, at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { buf in
                pread(file.raw, buf.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("pread", path(file))
            }
            if n == 0 { throw StorageError.corrupt(path: path(file), detail: "file ends at \(offset + done), expected \(offset + count)") }
            done += n
        }
        return out
    }

    public func write(_ file: FileID, at offset: Int, _ bytes: [UInt8]) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                pwrite(file.raw, buf.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("pwrite", path(file))
            }
            done += n
        }
    }

    public func truncate(_ file: FileID, to size: Int) throws(StorageError) {
        guard ftruncate(file.raw, off_t(size)) == 0 else { throw fail("ftruncate", path(file)) }
    }

    public func sync(_ file: FileID) throws(StorageError) {
        if fdatasync(file.raw) != 0 { throw StorageError.syncFailed(path: path(file), errno: errno) }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        guard Glibc.rename(from, to) == 0 else { throw fail("rename", from) }
    }

    public func remove(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw fail("unlink", path) }
    }

    public func removeDirectory(_ path: String) throws(StorageError) {
        guard rmdir(path) == 0 || errno == ENOENT else { throw fail("rmdir", path) }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("open directory", path) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw StorageError.syncFailed(path: path, errno: errno) }
    }
}
