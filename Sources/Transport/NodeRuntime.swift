import Broker
import Foundation
import Logging
import NIOCore
import NIOPosix
import Primitives
import Raft
import RillTLS
import Storage

/// One running node: the deterministic `NodeCore` on a single event loop, its storage on a disk
/// thread, its peer links over mutually authenticated TLS, and a repeating tick. Everything the
/// core sees arrives on the loop; everything it asks for goes out from there.
public final class NodeRuntime: @unchecked Sendable {
    public let settings: NodeSettings
    let loop: EventLoop
    private let group: MultiThreadedEventLoopGroup
    private let diskPool: NIOThreadPool
    private let core: NodeCore
    private let storage: StorageBox
    private let serverTLS: TLSContext
    private let clientTLS: TLSContext
    /// TLS for Kafka clients, when configured.
    private let kafkaTLS: TLSContext?
    var logger: Logger
    private var links: [NodeID: PeerLink] = [:]
    private var peerServer: Channel?
    private var kafkaServer: Channel?
    private var kafkaConnections: [UInt64: KafkaConnectionHandler] = [:]
    private var nextKafkaConnection: UInt64 = 0
    private var statusServer: Channel?
    private var tickTask: RepeatedTask?
    private var stopping = false
    private var stopped: EventLoopPromise<Void>
    /// Problem lines per source (a peer, a remote address): a reason is logged once until it
    /// changes, at most a few lines per source and window, the rest counted (`LogRateLimiter`).
    private var problemLimiter = LogRateLimiter(now: { NIODeadline.now().uptimeNanoseconds })
    /// Consumer group notices (they carry client-chosen group and member ids): 200 lines per 10 s.
    private var noticeLimiter = LogRateLimiter(limits: NodeRuntime.noticeLimits, now: { NIODeadline.now().uptimeNanoseconds })
    private var logFlushTask: RepeatedTask?
    private var linkWatchTask: RepeatedTask?
    private var diskWatchTask: RepeatedTask?
    private var diskAlarm: DiskSpaceAlarm?
    private(set) var diskSpace: DiskSpace?
    private var lastDiskCheck = NIODeadline.uptimeNanoseconds(0)
    static let noticeLimits: LogRateLimiter.Limits = {
        var l = LogRateLimiter.Limits()
        l.linesPerSource = 200
        l.totalLines = 200
        return l
    }()
    /// Peers whose invalid Raft message was logged on their current connection (once each).
    private var rejectionLogged: Set<NodeID> = []
    /// The controller's peer addresses and removed nodes the links were last synced with.
    private var knownPeerAddresses: [PeerRegistration] = []
    private var knownRemoved: [NodeID] = []
    private var random = SystemRandomNumberGenerator()
    private(set) var stats = Stats()
    let metrics: NodeMetrics

    struct Stats {
        var framesSent = 0
        var framesDropped = 0
        var bytesSent = 0
        var framesReceived = 0
        var storageBatches = 0
    }

    /// Storage is touched by one batch at a time on the disk thread, never concurrently.
    private final class StorageBox: @unchecked Sendable {
        let storage: NodeStorage
        init(_ s: NodeStorage) { storage = s }
    }

    struct PeerLink {
        /// Where the peer is dialed; nil for a joining node that dialed in before its address
        /// reached this node's controller state.
        var address: HostPort?
        var channel: Channel?
        var dialing = false
        var backoffMilliseconds = 100
        /// The last frame from the peer on `channel` (a keepalive counts) and the last one sent.
        var lastHeard = NIODeadline.now()
        var lastSent = NIODeadline.now()
    }

    /// A link says something at least this often: an empty Raft frame when nothing else went out.
    var keepaliveInterval: TimeAmount { .milliseconds(Int64(settings.electionTicks * settings.tickMilliseconds / 4)) }
    /// A link on which nothing arrived for this long is dead: a peer whose traffic is dropped
    /// (not reset) by a silent partition keeps its TCP connection "established" for many minutes.
    var peerDeadAfter: TimeAmount { .milliseconds(Int64(3 * settings.electionTicks * settings.tickMilliseconds)) }

    /// Recover storage, bind the listeners and start the loop. Errors name what is wrong (an
    /// unreadable certificate, a data directory of another node, a port in use).
    public static func start(settings: NodeSettings, logger: Logger) throws -> NodeRuntime {
        let runtime = try NodeRuntime(settings: settings, logger: logger)
        do {
            try runtime.bindListeners()
        } catch {
            runtime.stopped.fail(error)
            try? runtime.diskPool.syncShutdownGracefully()
            try? runtime.group.syncShutdownGracefully()
            throw error
        }
        try runtime.loop.submit { runtime.startOnLoop() }.wait()
        return runtime
    }

    private init(settings: NodeSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.metrics = NodeMetrics(node: settings.nodeID, perPartition: settings.metricsPerPartition)
        let ca = try Self.readFile(settings.caFile, what: "tls.ca")
        let cert = try Self.readFile(settings.certificateFile, what: "tls.cert")
        let key = try Self.readFile(settings.keyFile, what: "tls.key")
        let tls = TLSConfiguration.peerLink(certificatePEM: cert, privateKeyPEM: key, clusterCAPEM: ca)
        serverTLS = try TLSContext(role: .server, configuration: tls)
        clientTLS = try TLSContext(role: .client, configuration: tls)
        if settings.kafkaTLS {
            // Kafka clients: this node's certificate; TLS 1.2 and up (what Kafka clients speak);
            // client certificates of the cluster CA only when asked for.
            kafkaTLS = try TLSContext(
                role: .server,
                configuration: TLSConfiguration(
                    certificatePEM: cert, privateKeyPEM: key, trustedCAPEM: settings.kafkaTLSClientAuth ? ca : nil,
                    requireClientCertificate: settings.kafkaTLSClientAuth, minimumVersion: .tls12))
        } else {
            kafkaTLS = nil
        }
        let ownStorage = try NodeStorage(
            fs: PosixFileSystem(), path: settings.dataDirectory, cluster: settings.cluster, node: settings.nodeID)
        // Retention by time compares record timestamps (ms since the epoch) with the wall clock.
        ownStorage.clockMs = NodeRuntime.wallClockMs
        var recovered: [(GroupID, RecoveredState)] = []
        for g in try ownStorage.existingGroups() {
            let (state, dropped) = try ownStorage.open(g)
            if let dropped {
                logger.warning(
                    "storage found damaged entries; they are dropped and will be fetched from peers",
                    metadata: ["group": "\(g)", "entries": "\(dropped)", "repair_through": "\(state.repairThrough)"])
            }
            recovered.append((g, state))
        }
        storage = StorageBox(ownStorage)
        var config = NodeConfig(
            id: settings.nodeID, members: settings.members, kafkaHost: settings.advertisedKafka.host,
            kafkaPort: UInt16(settings.advertisedKafka.port), seed: UInt64.random(in: 1...UInt64.max))
        config.electionTicks = settings.electionTicks
        config.tickMilliseconds = settings.tickMilliseconds
        config.clusterName = settings.cluster
        config.dataDirectory = settings.dataDirectory
        config.autoCreateTopics = settings.autoCreateTopics
        config.defaultPartitions = settings.defaultPartitions
        config.offsetsPartitions = settings.offsetsPartitions
        config.servesTransactions = settings.transactions
        config.transactionStatePartitions = settings.transactionStatePartitions
        config.transactionalIDExpirationMs = settings.transactionalIDExpirationMs
        config.kafkaMemoryBytes = settings.kafkaMemorySnapshotBytes
        config.kafkaMemoryBytesTotal = settings.kafkaMemoryTotalBytes
        config.retentionCheckMs = settings.retentionCheckMs
        config.compactionCheckMs = settings.compactionCheckMs
        config.leaderBalanceMs = settings.leaderRebalanceMs
        config.moveThrottleBytesPerSec = settings.moveThrottleBytesPerSec
        config.groupInitialRebalanceDelayMs = settings.groupInitialRebalanceDelayMs
        config.groupMinSessionTimeoutMs = settings.groupMinSessionTimeoutMs
        config.groupMaxSessionTimeoutMs = settings.groupMaxSessionTimeoutMs
        config.defaultReplicationFactor = settings.defaultReplicationFactor
        config.plantedBug = settings.plantedBug
        config.peerAddress = PeerRegistration(node: settings.nodeID, host: settings.advertisedPeer.host, port: UInt16(settings.advertisedPeer.port))
        core = try NodeCore(config: config, recovered: recovered, departed: ownStorage.departedCopies)
        // LogAppendTime topics: the leader stamps batches with the wall clock.
        core.clockMs = NodeRuntime.wallClockMs
        core.monotonicMs = { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        diskPool = NIOThreadPool(numberOfThreads: 1)
        diskPool.start()
        stopped = loop.makePromise()
        for (id, address) in settings.peers where id != settings.nodeID {
            links[id] = PeerLink(address: address)
        }
        if let bug = settings.plantedBug {
            logger.error("testing.planted_bug = \(bug.rawValue): this node has a deliberate bug and may lose data; for test suites only")
        }
        logger.info(
            "node starting",
            metadata: [
                "node": "\(settings.nodeID)", "cluster": "\(settings.cluster)", "data_dir": "\(settings.dataDirectory)",
                "groups_recovered": "\(recovered.count)",
            ])
    }

    /// Milliseconds since the epoch (CLOCK_REALTIME): the clock record timestamps are on.
    static func wallClockMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func readFile(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError.configuration("\(what): cannot read \(path)")
        }
        return Array(data)
    }

    /// Bind the peer and status listeners (from the starting thread: binding waits).
    private func bindListeners() throws {
        do {
            peerServer = try bindPeerListener()
        } catch {
            throw RuntimeError.configuration("listeners.peer: cannot listen on \(settings.peerListener): \(error)")
        }
        do {
            statusServer = try StatusServer.bind(runtime: self, on: loop, at: settings.metricsListener)
        } catch {
            peerServer?.close(promise: nil)
            throw RuntimeError.configuration("listeners.metrics: cannot listen on \(settings.metricsListener): \(error)")
        }
        do {
            kafkaServer = try KafkaListener.bind(runtime: self, on: loop, at: settings.kafkaListener, tls: kafkaTLS)
        } catch {
            peerServer?.close(promise: nil)
            statusServer?.close(promise: nil)
            throw RuntimeError.configuration("listeners.kafka: cannot listen on \(settings.kafkaListener): \(error)")
        }
    }

    private func bindPeerListener() throws -> Channel {
        try ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.configurePeerPipeline(channel, dialed: nil)
                }
            }
            .bind(host: settings.peerListener.host, port: settings.peerListener.port).wait()
    }

    private func startOnLoop() {
        tickTask = loop.scheduleRepeatedTask(
            initialDelay: .milliseconds(Int64(settings.tickMilliseconds)), delay: .milliseconds(Int64(settings.tickMilliseconds))
        ) { [self] _ in
            self.handle(self.core.tick())
        }
        linkWatchTask = loop.scheduleRepeatedTask(initialDelay: keepaliveInterval, delay: keepaliveInterval) { [self] _ in
            self.watchLinks()
        }
        watchDiskSpace()
        diskWatchTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            self.watchDiskSpace()
        }
        logFlushTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            for line in self.problemLimiter.flush() { self.logger.warning("\(line)") }
            for line in self.noticeLimiter.flush() { self.logger.info("\(line)") }
        }
        for id in links.keys.sorted() where shouldDial(id) { dial(id) }
        syncPeerLinks()
        logger.info(
            "node listening",
            metadata: [
                "peer": "\(peerServer?.localAddress.map { "\($0)" } ?? "?")",
                "status": "\(statusServer?.localAddress.map { "\($0)" } ?? "?")",
                "kafka": "\(kafkaServer?.localAddress.map { "\($0)" } ?? "?")",
            ])
    }

    /// TLS, frames, then the peer handler.
    private func configurePeerPipeline(_ channel: Channel, dialed: NodeID?) throws {
        let timeout = TimeAmount.milliseconds(Int64(settings.handshakeTimeoutMilliseconds))
        let tls: TLSHandler
        if let dialed {
            tls = try TLSHandler(context: clientTLS, handshakeTimeout: timeout) { peer in
                guard let got = peer?.nodeID else { return "certificate names no node (\(peer?.commonName.map { LogText.safe($0) } ?? "none"))" }
                return got == dialed.value ? nil : "certificate is for node \(got), expected node \(dialed)"
            }
        } else {
            tls = try TLSHandler(context: serverTLS, handshakeTimeout: timeout)
        }
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(tls)
        try ops.addHandler(ByteCounter(counter: metrics.bytesReceived))
        // Until the hello: frames of at most 64 KiB, and the hello within the handshake timeout.
        try ops.addHandler(ByteToMessageHandler(PeerFrameDecoder()))
        try ops.addHandler(PeerHelloDeadline(timeout: timeout))
        try ops.addHandler(PeerChannelHandler(runtime: self, dialed: dialed))
    }

    // MARK: - Peer links

    private func dial(_ peer: NodeID) {
        loop.preconditionInEventLoop()
        guard !stopping, var link = links[peer], link.channel == nil, !link.dialing, let address = link.address else { return }
        link.dialing = true
        links[peer] = link
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(1))
            .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.configurePeerPipeline(channel, dialed: peer) }
            }
            .connect(host: address.host, port: address.port)
            .whenFailure { [self] error in
                self.noteProblem(key: "node \(peer)", "cannot connect to node \(peer) at \(address): \(error)")
                self.links[peer]?.dialing = false
                self.scheduleRedial(peer)
            }
    }

    /// Reconnect with jittered exponential backoff, 100 ms doubling to 500 ms: with the 1 s
    /// connect timeout a link is back within about a second of a partition healing (a dial costs
    /// next to nothing; the refusal is logged once).
    private func scheduleRedial(_ peer: NodeID) {
        guard !stopping, var link = links[peer] else { return }
        let base = link.backoffMilliseconds
        link.backoffMilliseconds = min(base * 2, 500)
        links[peer] = link
        let delay = Int64(base / 2 + Int.random(in: 0...base, using: &random))
        loop.scheduleTask(in: .milliseconds(delay)) { [self] in self.dial(peer) }
    }

    func dialEnded(_ peer: NodeID, channel: Channel) {
        guard links[peer]?.dialing == true else { return }
        links[peer]?.dialing = false
        if shouldDial(peer) && (links[peer]?.channel == nil || links[peer]?.channel === channel) { scheduleRedial(peer) }
    }

    /// Whether this node dials `peer`: the lower id of a pair dials (one connection per pair),
    /// and a node joining the cluster dials every member it knows — they cannot reach it before
    /// its address is in their controller state.
    /// A node the cluster removed dials no one (its peers would refuse it).
    func shouldDial(_ peer: NodeID) -> Bool {
        let c = core.controller
        if c.removedNodes.contains(settings.nodeID) { return false }
        return peer > settings.nodeID || !c.members.contains(settings.nodeID)
    }

    /// Whether this node knows where `peer` listens (its node.toml or the controller's state).
    func knowsAddress(of peer: NodeID) -> Bool { links[peer]?.address != nil }

    /// How many members the cluster has now (on the loop).
    var memberCount: Int { core.controller.members.count }

    /// Whether `peer` was removed from the cluster: its links are refused.
    func isRemoved(_ peer: NodeID) -> Bool { core.controller.removedNodes.contains(peer) }

    /// Links follow the controller's membership (after every event; both lists are short): a
    /// node that joined gets a link to the address it announced, dialed by the lower id; a removed
    /// node's link closes and goes.
    private func syncPeerLinks() {
        let c = core.controller
        if c.peerAddresses != knownPeerAddresses {
            knownPeerAddresses = c.peerAddresses
            // node.toml's [peers] entries win for the nodes they name (an operator may route a
            // peer through a proxy or another network); the others are dialed where they said.
            for r in c.peerAddresses where r.node != settings.nodeID && !settings.peers.contains(where: { $0.0 == r.node }) {
                let address = HostPort(host: r.host, port: Int(r.port))
                if links[r.node] == nil {
                    links[r.node] = PeerLink(address: address)
                    logger.info("peer known", metadata: ["peer": "\(r.node)", "address": "\(address)"])
                } else {
                    links[r.node]?.address = address
                }
                if shouldDial(r.node) { dial(r.node) }
            }
        }
        if c.removedNodes != knownRemoved {
            knownRemoved = c.removedNodes
            // This node itself removed: every link goes (the others refuse it now).
            let gone = c.removedNodes.contains(settings.nodeID) ? links.keys.sorted() : c.removedNodes.filter { $0 != settings.nodeID }
            for n in gone {
                guard let link = links.removeValue(forKey: n) else { continue }
                link.channel?.close(promise: nil)
                logger.info("peer removed from the cluster; its link is closed", metadata: ["peer": "\(n)"])
            }
        }
    }

    func peerConnected(_ peer: NodeID, channel: Channel, dialed: Bool) {
        if links[peer] == nil { links[peer] = PeerLink(address: nil) }  // a joining node dialed in
        if let old = links[peer]?.channel, old !== channel { old.close(promise: nil) }
        links[peer]?.channel = channel
        links[peer]?.backoffMilliseconds = 100
        links[peer]?.lastHeard = .now()
        links[peer]?.lastSent = .now()
        problemLimiter.reset("node \(peer)")
        rejectionLogged.remove(peer)
        logger.info(
            "peer connected",
            metadata: ["peer": "\(peer)", "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")", "dialed": "\(dialed)"])
        // Whatever the old link still carried is lost; a group that quiesced meanwhile may have
        // a replica there without its last entries. Waking them lets their leaders resync it.
        handle(core.linkRestored(to: peer))
    }

    func peerDisconnected(_ peer: NodeID, channel: Channel) {
        guard links[peer]?.channel === channel else { return }
        links[peer]?.channel = nil
        logger.info("peer disconnected", metadata: ["peer": "\(peer)"])
        if shouldDial(peer) && !(links[peer]?.dialing ?? false) { scheduleRedial(peer) }
    }

    /// A frame from `peer` arrived on `channel` (a keepalive included; an `alive` frame names the
    /// peer's `run`).
    func peerHeard(_ peer: NodeID, channel: Channel, run: UInt64? = nil) {
        guard links[peer]?.channel === channel else { return }
        links[peer]?.lastHeard = .now()
        // The core's failure detector too (quiesced groups wake when a peer goes or comes back).
        handle(core.heard(from: peer, run: run))
    }

    /// Keepalives on quiet links; a link silent past `peerDeadAfter` is closed (and redialed by
    /// the side that dials), logged and counted — TCP alone would call it connected for minutes.
    private func watchLinks() {
        guard !stopping else { return }
        let now = NIODeadline.now()
        for peer in links.keys.sorted() {
            guard let link = links[peer], let channel = link.channel else { continue }
            let silent = now - link.lastHeard
            if silent > peerDeadAfter {
                metrics.peerLinksDead.increment()
                logger.warning(
                    "peer link dead: nothing received for \(silent.nanoseconds / 1_000_000) ms (deadline \(peerDeadAfter.nanoseconds / 1_000_000) ms, 3 election timeouts); closing it and reconnecting",
                    metadata: ["peer": "\(peer)"])
                links[peer]?.channel = nil
                channel.close(promise: nil)
                logger.info("peer disconnected", metadata: ["peer": "\(peer)"])
                if shouldDial(peer) && !link.dialing { scheduleRedial(peer) }
            } else if now - link.lastSent >= keepaliveInterval {
                send(.raft([]), to: peer)
            }
        }
    }

    /// Free space on the data disk, once a second: a warning below `warnFreeBytes`; below
    /// `minFreeBytes` the core stops taking Kafka writes (NodeCore+DiskSpace) until space is back
    /// above the warning level. A write that meets a full disk would stop the node.
    private func watchDiskSpace() {
        lastDiskCheck = .now()
        guard !stopping, let space = DiskSpace.of(path: settings.dataDirectory) else { return }
        diskSpace = space
        metrics.storageFreeBytes.record(Int64(clamping: space.freeBytes))
        if diskAlarm == nil {
            diskAlarm = DiskSpaceAlarm(minFree: settings.minFreeBytes, warnFree: settings.warnFreeBytes, totalBytes: space.totalBytes)
        }
        let reserve = SpaceReserve(dataDirectory: settings.dataDirectory, bytes: settings.reserveBytes)
        if let alarm = diskAlarm, reserve.bytes > 0 {
            // Full: give the reserve back, so votes and metadata can still be written. Fine again
            // with room to spare: make it (again).
            if alarm.level == .full || space.freeBytes < alarm.minFree, reserve.exists {
                if reserve.release() {
                    logger.warning("released the \(reserve.bytes >> 20) MiB space reserve (\(reserve.path)) for the node's own Raft state")
                }
            } else if alarm.level == .ok && space.freeBytes >= alarm.warnFree + reserve.bytes && !reserve.exists {
                _ = reserve.make()
            }
        }
        guard let level = diskAlarm?.update(free: space.freeBytes), let alarm = diskAlarm else { return }
        let mib = { (b: UInt64) in "\(b >> 20) MiB" }
        let where_ = "\(mib(space.freeBytes)) free of \(mib(space.totalBytes)) on the data disk (\(settings.dataDirectory))"
        switch level {
        case .low:
            logger.warning("free space low: \(where_); below \(mib(alarm.minFree)) the node stops taking writes (storage.min_free_bytes)")
        case .full:
            logger.error("data disk nearly full: \(where_), under storage.min_free_bytes = \(mib(alarm.minFree)); refusing Kafka writes (KAFKA_STORAGE_ERROR) and handing partition leadership to other nodes until \(mib(alarm.warnFree)) are free")
        case .ok:
            logger.info("free space back: \(where_)")
        }
        metrics.storageDiskFull.record(level == .full ? 1 : 0)
        if (level == .full) != core.diskFull { handle(core.setDiskFull(level == .full)) }
    }

    func refused(remote: SocketAddress?, peer: NodeID?, reason: String) {
        let key = peer.map { "node \($0)" } ?? "remote \(remote?.ipAddress ?? "?")"
        noteProblem(key: key, "peer connection refused: \(reason)", remote: remote)
    }

    /// Log a problem once per key until it changes (a peer retrying every second must not flood the
    /// log), and at most a few lines per key and window (a client sending distinct bad requests
    /// must not either): the rest are counted and summarized. `message` must already carry
    /// outside text through `LogText.safe`.
    private func noteProblem(key: String, _ message: String, remote: SocketAddress? = nil) {
        let admission = problemLimiter.admit(key, message: message)
        for line in admission.summaries { logger.warning("\(line)") }
        guard admission.allowed else { return }
        logger.warning("\(message)", metadata: ["who": "\(key)", "remote": "\(remote.map { "\($0)" } ?? "-")"])
    }

    // MARK: - Core events

    func receive(_ envelopes: [PeerEnvelope]) {
        stats.framesReceived += 1
        handle(core.receive(envelopes))
    }

    func receiveForward(_ command: ControllerCommand) { handle(core.receiveForward(command)) }

    func receiveLeaders(_ hints: [LeaderHint]) { handle(core.receiveLeaders(hints)) }

    func receiveRepair(_ m: RepairMessage) { handle(core.receiveRepair(m)) }
    func receiveTransaction(_ m: TransactionPartitionMessage, from peer: NodeID) { handle(core.receiveTransaction(m, from: peer)) }

    // MARK: - Kafka clients

    /// A request from a Kafka connection (on the loop): answered now, later, or refused.
    func kafka(_ request: KafkaRequest) -> KafkaReply {
        metrics.kafkaRequests.increment()
        let (reply, out) = core.handleKafka(request)
        handle(out)
        return reply
    }

    func kafkaConnectionOpened(_ handler: KafkaConnectionHandler) -> UInt64 {
        nextKafkaConnection += 1
        kafkaConnections[nextKafkaConnection] = handler
        metrics.kafkaConnections.record(kafkaConnections.count)
        return nextKafkaConnection
    }

    func kafkaConnectionClosed(_ id: UInt64) {
        kafkaConnections[id] = nil
        metrics.kafkaConnections.record(kafkaConnections.count)
    }

    /// A Kafka client misbehaved (or asked for what this node cannot answer): logged once per
    /// address and reason, then the connection is closed.
    func kafkaRefused(remote: SocketAddress?, reason: String) {
        noteProblem(key: "kafka client \(remote?.ipAddress ?? "?")", "Kafka connection closed: \(reason)", remote: remote)
    }

    /// Carry out what the core asked for (`NodeOutput.dispatch`, the same interpreter the
    /// simulator and the tests use): frames to peers (dropped when a link is down or backed up —
    /// Raft resends), reads and the storage batch to the disk thread, replies to Kafka connections,
    /// log lines.
    private func handle(_ out: NodeOutput) {
        loop.preconditionInEventLoop()
        out.dispatch(to: OutputHandler(runtime: self))
        syncPeerLinks()
    }

    /// How this runtime carries out each effect of a `NodeOutput` (on the loop).
    private struct OutputHandler: NodeOutputHandler {
        let runtime: NodeRuntime

        func sendRaft(_ envelopes: [PeerEnvelope], to peer: NodeID) { runtime.send(.raft(envelopes), to: peer) }

        /// Not counted as dropped when the link is down: the peer is known to be unreachable.
        func sendKeepalive(to peer: NodeID) {
            guard runtime.links[peer]?.channel != nil else { return }
            runtime.send(.alive(run: runtime.core.run), to: peer)
        }

        func sendForward(_ command: ControllerCommand, to peer: NodeID) { runtime.send(.forward(command), to: peer) }

        func sendRepair(_ message: RepairMessage, to peer: NodeID) { runtime.send(.repair(message), to: peer) }
        func sendTransaction(_ message: TransactionPartitionMessage, to peer: NodeID) { runtime.send(.transaction(message), to: peer) }

        func sendLeaders(_ hints: [LeaderHint]) {
            for id in runtime.links.keys.sorted() { runtime.send(.leaders(hints), to: id) }
        }

        func completeKafka(_ c: KafkaCompletion) { runtime.kafkaConnections[c.connection]?.complete(c.sequence, c.response) }

        func logNotice(_ line: String) {
            let admission = runtime.noticeLimiter.admit("consumer group notices")
            for summary in admission.summaries { runtime.logger.info("\(summary)") }
            if admission.allowed { runtime.logger.info("\(line)") }
        }

        func reportDamage(_ report: StorageDamageReport) {
            // Once per damaged run found, once when mended: not rate-limited.
            switch report.kind {
            case .found: runtime.logger.error("\(report.description)")
            case .mended, .handedOff: runtime.logger.notice("\(report.description)")
            }
        }

        func reportRejected(_ r: RejectedMessage, group: GroupID) {
            runtime.metrics.messagesRejected.increment()
            // A peer with a bug (or another version) may send thousands: the first per connection
            // is logged, the rest counted.
            guard runtime.rejectionLogged.insert(r.from).inserted else { return }
            runtime.logger.warning(
                "dropped a Raft message no correct peer sends (logged once per connection; rill_peer_messages_rejected_total counts them)",
                metadata: ["peer": "\(r.from)", "group": "\(group)", "message": "\(r.kind)", "term": "\(r.term)", "reason": "\(r.reason)"])
        }

        func runRead(_ read: StorageRead) {
            // Reads run on the disk thread too, in order with the batches: storage has one owner.
            let box = runtime.storage
            runtime.diskPool.runIfActive(eventLoop: runtime.loop) { box.storage.execute(read) }
                .whenSuccess { [runtime] completion in runtime.handle(runtime.core.readCompleted(completion)) }
        }

        func runBatch(_ batch: StorageBatch) {
            runtime.stats.storageBatches += 1
            runtime.metrics.storageBatches.increment()
            let box = runtime.storage
            let timer = runtime.metrics.storageSync
            let issued = NIODeadline.now()
            runtime.diskPool.runIfActive(eventLoop: runtime.loop) {
                let start = NIODeadline.now()
                let completion = box.storage.execute(batch)
                timer.recordNanoseconds((NIODeadline.now() - start).nanoseconds)
                return completion
            }
                .whenComplete { [runtime] result in
                    switch result {
                    case .success(let completion):
                        runtime.metrics.storageRoundTrip.recordNanoseconds((NIODeadline.now() - issued).nanoseconds)
                        runtime.handle(runtime.core.storageCompleted(completion))
                        if let failure = runtime.core.storageFailure { runtime.fatal("storage failed: \(failure)") }
                        // Free space again after writes, at most every 20 ms: producers on a fast
                        // disk can eat a small reserve well within the 1 s timer.
                        if NIODeadline.now() - runtime.lastDiskCheck >= .milliseconds(20) { runtime.watchDiskSpace() }
                    case .failure(let error):
                        runtime.fatal("disk thread unavailable: \(error)")
                    }
                }
        }
    }

    /// One frame to a peer. Raft messages come already cut into frames within the peer's limit
    /// (`NodeOutput.dispatch`).
    private func send(_ frame: PeerFrame, to peer: NodeID) {
        guard let channel = links[peer]?.channel, channel.isWritable else {
            stats.framesDropped += 1
            metrics.framesDropped.increment()
            return
        }
        var buffer = channel.allocator.buffer(capacity: 256)
        frame.encode(into: &buffer)
        guard buffer.readableBytes - 4 <= PeerFrame.bytesMax else {
            // One message beyond what a peer accepts (a snapshot that large): the peer would close
            // the link on it. Dropped, and said once.
            stats.framesDropped += 1
            metrics.framesDropped.increment()
            noteProblem(key: "node \(peer)", "a frame of \(buffer.readableBytes - 4) bytes for node \(peer) exceeds the \(PeerFrame.bytesMax)-byte peer frame limit; dropped")
            return
        }
        stats.framesSent += 1
        metrics.framesSent.increment()
        metrics.bytesSent.increment(by: buffer.readableBytes)
        links[peer]?.lastSent = .now()
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Prometheus text for `/metrics` (on the loop: the Raft gauges are read from the core).
    func metricsText() -> String {
        loop.preconditionInEventLoop()
        metrics.refresh(from: core, connections: links.values.filter { $0.channel != nil }.count)
        return metrics.render()
    }

    private func fatal(_ why: String) {
        logger.critical("\(why); the node stops")
        stopping = true
        tickTask?.cancel()
        logFlushTask?.cancel()
        linkWatchTask?.cancel()
        diskWatchTask?.cancel()
        stopped.fail(RuntimeError.fatal(why))
    }

    // MARK: - Stopping

    /// Graceful stop: hand leaderships to other nodes (waiting up to `transferWait`), let the
    /// storage batch in flight finish, close every connection.
    public func stop(transferWait: TimeAmount = .seconds(3)) -> EventLoopFuture<Void> {
        loop.flatSubmit { [self] in
            guard !self.stopping else { return self.stopped.futureResult }
            let deadline = NIODeadline.now() + transferWait
            self.handle(self.core.transferLeaderships())
            self.transferStep(deadline: deadline)
            return self.stopped.futureResult
        }
    }

    private func transferStep(deadline: NIODeadline) {
        let leading = core.leadingGroups
        let peersUp = links.values.contains { $0.channel != nil }
        if leading > 0 && peersUp && NIODeadline.now() < deadline {
            loop.scheduleTask(in: .milliseconds(50)) { [self] in self.transferStep(deadline: deadline) }
            return
        }
        if leading > 0 { logger.info("stopping while still leading \(leading) group(s)") }
        finishStop()
    }

    private func finishStop() {
        stopping = true
        tickTask?.cancel()
        logFlushTask?.cancel()
        linkWatchTask?.cancel()
        diskWatchTask?.cancel()
        if core.isStorageBusy {
            loop.scheduleTask(in: .milliseconds(10)) { [self] in self.finishStop() }
            return
        }
        var closes: [EventLoopFuture<Void>] = []
        for id in links.keys.sorted() { if let c = links[id]?.channel { closes.append(c.close()) } }
        if let s = peerServer { closes.append(s.close()) }
        if let s = kafkaServer { closes.append(s.close()) }
        if let s = statusServer { closes.append(s.close()) }
        EventLoopFuture.andAllComplete(closes, on: loop).whenComplete { [self] _ in
            self.logger.info("node stopped")
            self.stopped.succeed()
        }
    }

    /// Completes when the node has stopped (fails when it stopped on a fatal error).
    public var onStopped: EventLoopFuture<Void> { stopped.futureResult }

    /// Release threads after `onStopped`.
    public func shutdownThreads() async {
        try? await diskPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    // MARK: - Status

    /// A snapshot of the node's state for `/status` and `rill cluster status` (on the loop).
    func status() -> NodeStatus {
        loop.preconditionInEventLoop()
        let controllerRaft = core.raftOf(controllerGroup)
        var partitions: [NodeStatus.Partition] = []
        for topic in core.controller.topics {
            for p in topic.partitions {
                let raft = core.raftOf(p.group)
                partitions.append(
                    NodeStatus.Partition(
                        topic: topic.name, partition: p.partition, group: p.group.value, replicas: p.replicas.map(\.value),
                        leader: raft.map { $0.leader.value }, commit: raft?.commitIndex.value, movingTo: p.target?.map(\.value)))
            }
        }
        return NodeStatus(
            node: settings.nodeID.value, cluster: settings.cluster,
            controllerLeader: controllerRaft?.leader.value ?? 0, controllerTerm: controllerRaft?.term.value ?? 0,
            controllerCommit: controllerRaft?.commitIndex.value ?? 0,
            brokers: core.controller.brokers.map { .init(node: $0.node.value, host: $0.host, port: Int($0.kafkaPort)) },
            peers: links.keys.sorted().map { .init(node: $0.value, connected: links[$0]?.channel != nil) },
            partitions: partitions, framesDropped: stats.framesDropped, freeBytes: diskSpace?.freeBytes, diskFull: core.diskFull)
    }

    /// Propose a controller command here if this node leads the controller, else forward it.
    func submitToController(_ command: ControllerCommand) -> String? {
        loop.preconditionInEventLoop()
        do {
            let (out, _) = try core.proposeToController(command)
            handle(out)
            return nil
        } catch RaftError.notLeader(let hint) {
            guard !hint.isNone else { return "no controller leader yet; retry" }
            send(.forward(command), to: hint)
            return nil
        } catch {
            return "\(error)"
        }
    }
}

public enum RuntimeError: Error, CustomStringConvertible {
    case configuration(String)
    case fatal(String)

    public var description: String {
        switch self {
        case .configuration(let s): return s
        case .fatal(let s): return s
        }
    }
}
