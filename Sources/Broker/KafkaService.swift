import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A Kafka request as the listener hands it to the node: which connection, its place in that
/// connection's order, the parsed header and the body.
public struct KafkaRequest: Sendable {
    public var connection: UInt64
    public var sequence: UInt64
    public var header: RequestHeader
    public var body: ByteBuffer

    public init(connection: UInt64, sequence: UInt64, header: RequestHeader, body: ByteBuffer) {
        self.connection = connection
        self.sequence = sequence
        self.header = header
        self.body = body
    }
}

/// What to do with a request now.
public enum KafkaReply: Sendable {
    /// Send this framed response.
    case respond(ByteBuffer)
    /// Send nothing (Produce with acks=0), but keep the connection's order.
    case noResponse
    /// The answer comes later, through `NodeOutput.kafkaReplies`.
    case pending
    /// Close the connection (an API or version this broker cannot even answer), with why.
    case close(String)
}

/// A reply that was pending and is now ready.
public struct KafkaCompletion: Sendable {
    public var connection: UInt64
    public var sequence: UInt64
    /// nil: no response (the connection's order still moves on).
    public var response: ByteBuffer?
}

extension NodeCore {
    /// Handle one request. Deterministic: everything it needs is in the core's state.
    public func handleKafka(_ request: KafkaRequest) -> (KafkaReply, NodeOutput) {
        // First: a node that stood still must not answer from leaderships it may have lost.
        let stall = stepDownIfStalled()
        var (reply, out) = handleKafkaRequest(request)
        if let stall { out.notices.append(stall) }
        return (reply, out)
    }

    private func handleKafkaRequest(_ request: KafkaRequest) -> (KafkaReply, NodeOutput) {
        let h = request.header
        guard let key = ApiKey(rawValue: h.apiKey), let served = ServedApis.served(key, transactions: config.servesTransactions) else {
            return (.close("unsupported API key \(h.apiKey)"), NodeOutput())
        }
        if key == .apiVersions && !served.contains(h.apiVersion) {
            // A newer client than this broker opens with a version it does not know: answer error 35
            // in the v0 layout (header v0, body unread), and the client retries with one listed.
            let fallback = ServedApis.apiVersionsResponse(errorCode: .unsupportedVersion, transactions: config.servesTransactions)
            return (.respond(Self.frame(h) { fallback.encode(&$0, version: 0) }), NodeOutput())
        }
        guard served.contains(h.apiVersion) else {
            return (.close("\(key.name) v\(h.apiVersion) is not supported (\(served))"), NodeOutput())
        }
        var r = KafkaReader(request.body)
        do {
            switch key {
            case .apiVersions:
                let a = try ApiVersionsRequest.decode(&r, version: h.apiVersion)
                // v3+ name the client software; Kafka refuses names outside its pattern.
                let valid = h.apiVersion < 3 || (ServedApis.isValidSoftwareName(a.clientSoftwareName) && ServedApis.isValidSoftwareName(a.clientSoftwareVersion))
                let response = valid ? ServedApis.apiVersionsResponse(transactions: config.servesTransactions) : ApiVersionsResponse(errorCode: .invalidRequest)
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), NodeOutput())
            case .metadata:
                let m = try MetadataRequest.decode(&r, version: h.apiVersion)
                perform(MetadataService.metadata(m, request, self))
            case .describeCluster:
                _ = try DescribeClusterRequest.decode(&r, version: h.apiVersion)
                perform(MetadataService.describeCluster(request, self))
                // Nothing but the answer changed: no Raft group needs flushing.
                return (takeReply(for: request), NodeOutput())
            case .describeLogDirs:
                let d = try DescribeLogDirsRequest.decode(&r, version: h.apiVersion)
                perform(LogDirsService.describe(d, request, self))
                return (takeReply(for: request), NodeOutput())
            case .listPartitionReassignments:
                let l = try ListPartitionReassignmentsRequest.decode(&r, version: h.apiVersion)
                perform(ReassignmentService.list(l, request, controller))
                return (takeReply(for: request), NodeOutput())
            case .alterPartitionReassignments:
                perform(reassignments.alter(try AlterPartitionReassignmentsRequest.decode(&r, version: h.apiVersion), request, self))
            case .addPartitionsToTxn:
                perform(transactions.addPartitions(try AddPartitionsToTxnRequest.decode(&r, version: h.apiVersion), request, self))
            case .addOffsetsToTxn:
                perform(transactions.addOffsets(try AddOffsetsToTxnRequest.decode(&r, version: h.apiVersion), request, self))
            case .endTxn:
                perform(transactions.endTransaction(try EndTxnRequest.decode(&r, version: h.apiVersion), request, self))
            case .describeTransactions:
                perform(transactions.describe(try DescribeTransactionsRequest.decode(&r, version: h.apiVersion), request, self))
                return (takeReply(for: request), NodeOutput())
            case .listTransactions:
                perform(transactions.list(try ListTransactionsRequest.decode(&r, version: h.apiVersion), request, self))
                return (takeReply(for: request), NodeOutput())
            case .txnOffsetCommit:
                perform(coordinator.txnOffsetCommit(request, try TxnOffsetCommitRequest.decode(&r, version: h.apiVersion), self))
            case .unregisterBroker:
                perform(removals.unregister(try UnregisterBrokerRequest.decode(&r, version: h.apiVersion), request, self))
            case .createTopics:
                let c = try CreateTopicsRequest.decode(&r, version: h.apiVersion)
                perform(admin.createTopics(c, request, self))
            case .initProducerID:
                let i = try InitProducerIDRequest.decode(&r, version: h.apiVersion)
                if i.transactionalID != nil && config.servesTransactions {
                    perform(transactions.initProducerID(i, request, self, producerIDs: &producerIDs))
                } else {
                    let deadline = ticks + config.ticks(milliseconds: BrokerLimits.producerIDWaitMs)
                    perform(producerIDs.handle(i, request, controller: controller, deadlineTick: deadline))
                }
            case .describeConfigs:
                perform(ConfigDescriptions.describe(try DescribeConfigsRequest.decode(&r, version: h.apiVersion), request, self))
                return (takeReply(for: request), NodeOutput())
            case .alterConfigs:
                perform(admin.alterConfigs(try AlterConfigsRequest.decode(&r, version: h.apiVersion), request, self))
            case .createPartitions:
                perform(admin.createPartitions(try CreatePartitionsRequest.decode(&r, version: h.apiVersion), request, self))
            case .incrementalAlterConfigs:
                perform(admin.incrementalAlterConfigs(try IncrementalAlterConfigsRequest.decode(&r, version: h.apiVersion), request, self))
            case .deleteTopics:
                let d = try DeleteTopicsRequest.decode(&r, version: h.apiVersion)
                perform(admin.deleteTopics(d, request, self))
            case .produce:
                let p = try ProduceRequest.decode(&r, version: h.apiVersion)
                perform(produces.produce(p, request, self))
            case .electLeaders:
                perform(elections.electLeaders(try ElectLeadersRequest.decode(&r, version: h.apiVersion), request, self))
            case .deleteRecords:
                perform(deletions.deleteRecords(try DeleteRecordsRequest.decode(&r, version: h.apiVersion), request, self))
            case .fetch:
                let f = try FetchRequest.decode(&r, version: h.apiVersion)
                perform(fetches.fetch(f, request, self))
            case .offsetForLeaderEpoch:
                let o = try OffsetForLeaderEpochRequest.decode(&r, version: h.apiVersion)
                let response = offsetForLeaderEpoch(o)
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), NodeOutput())
            case .listOffsets:
                let l = try ListOffsetsRequest.decode(&r, version: h.apiVersion)
                perform(listings.listOffsets(l, request, self))
            case .findCoordinator:
                perform(CoordinatorPlacement.findCoordinator(try FindCoordinatorRequest.decode(&r, version: h.apiVersion), request, self))
            case .joinGroup:
                perform(coordinator.joinGroup(request, try JoinGroupRequest.decode(&r, version: h.apiVersion), self))
            case .syncGroup:
                perform(coordinator.syncGroup(request, try SyncGroupRequest.decode(&r, version: h.apiVersion), self))
            case .heartbeat:
                perform(coordinator.heartbeat(request, try HeartbeatRequest.decode(&r, version: h.apiVersion), self))
            case .leaveGroup:
                perform(coordinator.leaveGroup(request, try LeaveGroupRequest.decode(&r, version: h.apiVersion), self))
            case .offsetCommit:
                perform(coordinator.offsetCommit(request, try OffsetCommitRequest.decode(&r, version: h.apiVersion), self))
            case .offsetFetch:
                perform(coordinator.offsetFetch(request, try OffsetFetchRequest.decode(&r, version: h.apiVersion), self))
            case .describeGroups:
                perform(coordinator.describeGroups(request, try DescribeGroupsRequest.decode(&r, version: h.apiVersion), self))
            case .offsetDelete:
                perform(coordinator.offsetDelete(request, try OffsetDeleteRequest.decode(&r, version: h.apiVersion), self))
            case .deleteGroups:
                perform(coordinator.deleteGroups(request, try DeleteGroupsRequest.decode(&r, version: h.apiVersion), self))
            case .listGroups:
                perform(coordinator.listGroups(request, try ListGroupsRequest.decode(&r, version: h.apiVersion), self))
            }
            return (takeReply(for: request), drain())
        } catch {
            return (.close("malformed \(key.name) v\(h.apiVersion): \(error)"), NodeOutput())
        }
    }

    /// A framed response to `header`'s request: size, response header (v1 for flexible versions,
    /// v0 otherwise and always for ApiVersions), body.
    static func frame(_ header: RequestHeader, _ body: (inout KafkaWriter) -> Void) -> ByteBuffer {
        var w = KafkaWriter()
        ResponseHeader.encode(&w, correlationID: header.correlationID, flexible: header.responseHeaderIsFlexible)
        body(&w)
        var out = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &out)
        return out
    }
}
