import Primitives

/// A node's data directory: an identity file written at first start, so a directory copied to
/// or mounted on the wrong node — or left from another cluster — is refused with a clear error
/// instead of mixing two histories.
///
/// `rill.id` holds `cluster=<name>\nnode=<id>\n`.
public struct DataDirectory {
    public static let identityFile = "rill.id"

    public let fs: FileSystem
    public let path: String
    public let cluster: String
    public let node: NodeID

    /// Open `path` as the directory of `node` in `cluster`: created (with its identity) when
    /// missing or empty, validated otherwise.
    public init(fs: FileSystem, path: String, cluster: String, node: NodeID) throws(StorageError) {
        precondition(!cluster.isEmpty && !cluster.contains("\n"), "cluster name '\(cluster)'")
        self.fs = fs
        self.path = path
        self.cluster = cluster
        self.node = node
        if fs.exists(path) && !fs.isDirectory(path) {
            throw StorageError.io(operation: "use as data directory", path: path, errno: 20)
        }
        try fs.makeDirectory(path)
        let idPath = path + "/" + Self.identityFile
        let expected = "cluster=\(cluster)\nnode=\(node)\n"
        if fs.exists(idPath) {
            let found = String(decoding: try fs.readWhole(idPath), as: UTF8.self)
            if found != expected {
                throw StorageError.identityMismatch(
                    "\(idPath) says '\(found.split(separator: "\n").joined(separator: ", "))', "
                        + "this node is cluster=\(cluster), node=\(node)")
            }
            return
        }
        let existing = try fs.list(path)
        if let stray = existing.first {
            // A directory with contents but no identity is not one Rill made.
            throw StorageError.foreignFile(path: path + "/" + stray)
        }
        try fs.writeAtomically(idPath, Array(expected.utf8))
    }

    /// The directory of one Raft group's log and state.
    public func groupDirectory(_ group: GroupID) -> String { path + "/group-\(group.value)" }
}
