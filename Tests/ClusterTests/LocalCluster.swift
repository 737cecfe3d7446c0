import Foundation
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// Real `rill serve` processes on loopback, configured by `rill dev --init-only` in a temporary
/// directory on free ports. Everything started is killed in `stop()`.
final class LocalCluster {
    let dir: String
    let nodes: Int
    let kafkaPort: Int
    var processes: [Int: Process] = [:]
    let rill: String

    /// `spareNodes`: ports kept free for nodes that join later (node `nodes + 1` ... ).
    init(nodes: Int = 3, spareNodes: Int = 0) throws {
        rill = try Self.rillExecutable()
        var template = Array("/tmp/rill-cluster-XXXXXX".utf8CString)
        dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        self.nodes = nodes
        kafkaPort = try Self.freePortBase(count: nodes + spareNodes)
        let (status, output) = try runBlocking(rill, ["dev", "--init-only", "--nodes", "\(nodes)", "--dir", dir, "--kafka-port", "\(kafkaPort)"])
        guard status == 0 else { throw TestError("rill dev --init-only failed: \(output)") }
    }

    /// The `rill` built next to the test bundle.
    static func rillExecutable() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle.appendingPathComponent("rill").path, bundle.deletingLastPathComponent().appendingPathComponent("rill").path]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestError("the rill executable is not built next to \(bundle.path); run `swift build --build-tests`")
    }

    /// Ports handed to clusters of this test process. The suites run in parallel: two clusters
    /// created at once could both find a range free before either's nodes bind it, and a node
    /// then fails to start or a status query reaches the other cluster's node (a cluster that
    /// never settled in a CI run). Never handed out twice, even after a cluster stops.
    private static let reservedLock = NSLock()
    nonisolated(unsafe) private static var reserved: Set<Int> = []

    /// A base port such that base..base+nodes-1, +100 and +200 are all free now and reserved for
    /// this cluster alone.
    static func freePortBase(count: Int) throws -> Int {
        reservedLock.lock()
        defer { reservedLock.unlock() }
        for _ in 0..<50 {
            // Below Linux's ephemeral range (32768-60999): a port there that is free now can be
            // taken as a client connection's source port while a node is down, and its restart
            // then fails with "Address already in use" (an interop run hit it).
            let base = Int.random(in: 20_000...32_500)
            let ports = (0..<count).flatMap { [base + $0, base + 100 + $0, base + 200 + $0] }
            if ports.allSatisfy({ !reserved.contains($0) && isFree($0) }) {
                reserved.formUnion(ports)
                return base
            }
        }
        throw TestError("no free port range found")
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return withLoopbackAddress(port: port) { bind(fd, $0, $1) == 0 }
    }

    func configPath(_ n: Int) -> String { dir + "/node-\(n)/node.toml" }
    /// The node's own log (`[log] file` in the config `rill dev` writes), and what it printed.
    func logPath(_ n: Int) -> String { dir + "/node-\(n).log" }
    func stderrPath(_ n: Int) -> String { dir + "/node-\(n).stderr" }
    func statusPort(_ n: Int) -> Int { kafkaPort + 200 + n - 1 }
    func peerPort(_ n: Int) -> Int { kafkaPort + 100 + n - 1 }

    func start(_ n: Int) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: rill)
        p.arguments = ["serve", "--config", configPath(n)]
        if !FileManager.default.fileExists(atPath: stderrPath(n)) { _ = FileManager.default.createFile(atPath: stderrPath(n), contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath(n)))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes[n] = p
    }

    func startAll() throws { for n in 1...nodes { try start(n) } }

    func kill9(_ n: Int) {
        guard let p = processes[n] else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        processes[n] = nil
    }

    /// Whether node `n`'s process is still alive.
    func isRunning(_ n: Int) -> Bool { processes[n]?.isRunning ?? false }

    /// SIGTERM (a graceful stop); returns the exit status once the process has ended.
    func terminate(_ n: Int) async -> Int32? {
        guard let p = processes[n] else { return nil }
        p.terminate()
        await exited(p)
        processes[n] = nil
        return p.terminationStatus
    }

    func stop() {
        for n in processes.keys.sorted() { kill9(n) }
        // RILL_KEEP_CLUSTER=1 keeps the directory (node logs, data) for a look after a failure.
        if ProcessInfo.processInfo.environment["RILL_KEEP_CLUSTER"] != nil {
            print("cluster directory kept: \(dir)")
            return
        }
        _ = try? runBlocking("/bin/rm", ["-rf", dir])
    }

    func status(_ n: Int) -> NodeStatus? {
        guard let (code, body) = try? httpRequest("GET", port: statusPort(n), path: "/status"), code == 200 else { return nil }
        return try? JSONDecoder().decode(NodeStatus.self, from: Data(body.utf8))
    }

    func createTopic(via n: Int, _ name: String, partitions: Int) throws -> Int {
        let (code, _) = try httpRequest("POST", port: statusPort(n), path: "/v1/topics?name=\(name)&partitions=\(partitions)")
        return code
    }

    func log(_ n: Int) -> String {
        ((try? String(contentsOfFile: logPath(n), encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: stderrPath(n), encoding: .utf8)) ?? "")
    }

    /// Wait up to `seconds` until `nodes` (all by default) agree on a controller leader, see
    /// every broker and each other (`ClusterProcessTests.settled`). If they never do, the error
    /// carries what each node reported and the end of its log: a CI run's temporary directory is
    /// gone by the time anyone looks (a cluster that never settled once left nothing to go on).
    func waitSettled(nodes: [Int]? = nil, seconds: Double = 20) async throws {
        let members = nodes ?? Array(1...self.nodes)
        if await waitUntil(seconds: seconds, { ClusterProcessTests.settled(self, nodes: members) }) != nil { return }
        throw TestError("the cluster did not settle within \(Int(seconds)) s\n" + members.map(diagnosis).joined(separator: "\n"))
    }

    /// Node `n`'s ports, its own view of the cluster, and the last lines of its log.
    func diagnosis(_ n: Int) -> String {
        let view: String
        if let s = status(n) {
            let peers = s.peers.map { "\($0.node) \($0.connected ? "up" : "down")" }.joined(separator: ", ")
            view = "controller leader \(s.controllerLeader), \(s.brokers.count) brokers, peers: \(peers)"
        } else {
            view = "no answer on its status port"
        }
        let tail = log(n).split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
        return "node \(n) (kafka \(kafkaPort + n - 1), peer \(peerPort(n)), status \(statusPort(n)), running \(isRunning(n))): \(view)\n\(tail)"
    }

    /// Poll `condition` every 50 ms for up to `seconds`; returns the seconds it took, or nil.
    /// It sleeps with `Task.sleep`: a blocking sleep would hold one of the few threads of Swift's
    /// cooperative pool (two on a 2-core machine) for the whole wait, and with the tests running
    /// in parallel, two such waits starved every other task of the test process — among them the
    /// Swift consumers' heartbeats, whose sessions then expired (a CI failure of
    /// SwiftGroupTests.latePollKeepsMembership).
    @discardableResult
    func waitUntil(seconds: Double, _ condition: () -> Bool) async -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if condition() { return Date().timeIntervalSince(start) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}

/// Call `body` with 127.0.0.1:`port` as a `sockaddr`.
func withLoopbackAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A TCP socket connected to 127.0.0.1:`port` (blocking), or nil.
func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    guard withLoopbackAddress(port: port, { connect(fd, $0, $1) }) == 0 else {
        close(fd)
        return nil
    }
    return fd
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Run a command to its end; returns its exit status and everything it printed. It waits without
/// holding a thread (see `LocalCluster.waitUntil`): the output goes to a file, read at the end.
func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> (Int32, String) {
    let outPath = NSTemporaryDirectory() + "rill-test-run-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: outPath, contents: nil) else { throw TestError("cannot create \(outPath)") }
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    defer { try? out.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.standardOutput = out
    p.standardError = out
    let inPipe = input.map { _ in Pipe() }
    if let inPipe { p.standardInput = inPipe }
    try p.run()
    if let inPipe, let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    await exited(p)
    let data = FileManager.default.contents(atPath: outPath) ?? Data()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Wait for `p` to end, polling: `waitUntilExit` would block a thread of the cooperative pool.
func exited(_ p: Process) async {
    while p.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    p.waitUntilExit()  // ended: returns at once, with the status set
}

/// `run` for the few places that cannot wait asynchronously (an initializer, `stop` in a `defer`):
/// short commands only.
func runBlocking(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A blocking HTTP/1.0 request to a node's status listener on 127.0.0.1.
func httpRequest(_ method: String, port: Int, path: String) throws -> (Int, String) {
    try Transport.httpRequest(method, host: "127.0.0.1", port: port, path: path, timeoutSeconds: 2)
}
