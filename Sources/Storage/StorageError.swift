/// Operating errors of the storage engine. Each says what is wrong and where, for the operator.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; `errno` and the path say which.
    case io(operation: String, path: String, errno: Int32)
    case diskFull(path: String)
    case notFound(path: String)
    case permissionDenied(path: String)
    /// A file the engine did not write sits in its directory.
    case foreignFile(path: String)
    /// The data directory was created by another node or cluster.
    case identityMismatch(String)
    /// Bytes that fail their checksum (or cannot be what was written).
    case corrupt(path: String, detail: String)
    /// fsync failed: the page cache can no longer be trusted, so the node must stop.
    case syncFailed(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .io(let op, let path, let e): return "\(op) \(path) failed: \(errnoName(e))"
        case .diskFull(let path): return "disk full writing \(path)"
        case .notFound(let path): return "\(path) does not exist"
        case .permissionDenied(let path): return "permission denied: \(path)"
        case .foreignFile(let path): return "\(path) is not a Rill file; move it out of the data directory"
        case .identityMismatch(let why): return "data directory belongs elsewhere: \(why)"
        case .corrupt(let path, let detail): return "corrupt data in \(path): \(detail)"
        case .syncFailed(let path, let e): return "fsync of \(path) failed (\(errnoName(e))): stopping, the page cache cannot be trusted"
        }
    }
}

/// A readable name for common errno values (no Foundation).
func errnoName(_ e: Int32) -> String {
    switch e {
    case 2: return "ENOENT (no such file or directory)"
    case 5: return "EIO (input/output error)"
    case 13: return "EACCES (permission denied)"
    case 17: return "EEXIST (file exists)"
    case 20: return "ENOTDIR (not a directory)"
    case 21: return "EISDIR (is a directory)"
    case 28: return "ENOSPC (no space left on device)"
    case 30: return "EROFS (read-only file system)"
    case 122: return "EDQUOT (disk quota exceeded)"
    default: return "errno \(e)"
    }
}
